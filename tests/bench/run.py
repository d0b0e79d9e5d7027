"""Run every benchmark: each ``tests/bench/bench_*.py`` as its own process.

``make bench`` calls this. Output is streamed as it comes; figures are the
lines ``bench <name>: <value> <unit>``. Exits non-zero only when a script
crashes (non-zero exit); a figure that misses its target is not a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main(argv: list[str]) -> int:
    only = set(argv)
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not only or p.stem in only or p.name in only)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    failed: list[str] = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
        rc = proc.wait()
        print(f"== {script.name}: exit {rc} after {time.monotonic() - t0:.0f} s", flush=True)
        if rc != 0:
            failed.append(script.name)
    if failed:
        print(f"benchmarks that crashed: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
