"""A real agent finds a real controller by mDNS, inside a private network namespace.

Each test re-executes ``tests/support/zeroconf_ns.py`` under ``unshare --net``
with only loopback up and multicast routed to it (DESIGN.md, "Testing"), so no
packet can reach a real network; the helper itself refuses to run if it sees
any interface but ``lo``. It starts the controller (``zeroconf = true``,
``zeroconf_interfaces = ["127.0.0.1"]``) and an agent that has no URL at all,
and reports what it saw as JSON; the judging happens here.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_e2e_nginx import NGINX
from tests.support.zeroconf_ns import SITE_NAME, STATION

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "tests" / "support" / "zeroconf_ns.py"
NETNS_SETUP = "ip link set lo up; ip link set lo multicast on; ip route add 224.0.0.0/4 dev lo"


def _require(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    probe = subprocess.run(["unshare", "--net", "sh", "-c", NETNS_SETUP], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a private network namespace here (unshare --net needs root): {probe.stderr.strip()}")


def run_in_namespace(scenario: str, tmp: Path) -> dict[str, Any]:
    command = f"{NETNS_SETUP}; exec {shlex.quote(sys.executable)} {shlex.quote(str(HELPER))} {scenario} {shlex.quote(str(tmp))}"
    out = subprocess.run(["unshare", "--net", "sh", "-c", command], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert out.returncode == 0, f"namespace helper failed ({out.returncode}):\n{out.stderr[-4000:]}"
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["namespace_only_lo"] is True
    return seen


def _sections(dig: str) -> dict[str, list[str]]:
    """dig's answer, section by section, without comments."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in dig.splitlines():
        m = re.match(r";; (\w+) SECTION:", line)
        if m:
            current = sections.setdefault(m.group(1), [])
        elif not line.strip():
            current = None
        elif current is not None and not line.startswith(";"):
            current.append(" ".join(line.split()))
    return sections


def test_agent_without_url_finds_the_controller_and_dig_reads_the_advert(tmp_path: Path) -> None:
    _require("unshare", "ip", "dig")
    seen = run_in_namespace("find", tmp_path)
    why = json.dumps(seen, indent=1)[-6000:]
    assert seen["advertised_after_s"] is not None, why

    # the advertisement, read by a DNS-SD client nobody here wrote (bind9's dig, unicast reply from port 5353)
    dig = seen["dig"]
    assert "status: NOERROR" in dig, dig
    s = _sections(dig)
    instance = SITE_NAME.replace(".", "").replace(" ", r"\032") + "._espace._tcp.local."  # the dot is sanitised away
    assert s.get("ANSWER") == [f"_espace._tcp.local. 4500 IN PTR {instance}"], dig
    extra = s.get("ADDITIONAL", [])
    srv = [r for r in extra if r.startswith(f"{instance} ") and " IN SRV " in r]
    txt = [r for r in extra if r.startswith(f"{instance} ") and " IN TXT " in r]
    a = [r for r in extra if " IN A " in r]
    assert len(srv) == 1, dig
    target = srv[0].split()[-1]  # the controller's host name, NAME.local.
    assert srv[0] == f"{instance} 120 IN SRV 0 0 {seen['port1']} {target}", dig
    assert len(txt) == 1, dig
    assert '"v=1"' in txt[0], dig
    assert '"path=/ws/agent"' in txt[0], dig
    assert f'"site={SITE_NAME}"' in txt[0], dig
    assert "tls=" not in txt[0], dig  # plain HTTP: no fingerprint advertised
    assert a == [f"{target} 120 IN A 127.0.0.1"], dig

    # the agent, which has no URL, found it by mDNS and connected
    assert seen["connected1_after_s"] is not None, why
    assert f"at ws://127.0.0.1:{seen['port1']}/ws/agent" in seen["agent.log"], why
    assert f"{STATION}@127.0.0.1: connected" in seen["controller-1.log"]


def test_agent_follows_the_controller_to_a_new_port(tmp_path: Path) -> None:
    _require("unshare", "ip")
    seen = run_in_namespace("follow", tmp_path)
    why = json.dumps(seen, indent=1)[-6000:]
    assert seen["connected1_after_s"] is not None, why
    # a clean stop withdraws the advertisement (goodbye packets), and the agent hears it
    assert "zeroconf: withdrew" in seen["controller-1.log"], why
    assert seen["goodbye_after_s"] is not None, why
    # the controller comes back on another port: the agent follows, with no URL configured
    assert seen["port2"] != seen["port1"]
    assert seen["connected2_after_s"] is not None, why
    assert f"at ws://127.0.0.1:{seen['port2']}/ws/agent" in seen["agent.log"], why
    assert f"{STATION}@127.0.0.1: connected" in seen["controller-2.log"], why


def test_agent_follows_a_controller_that_crashed_and_came_back_elsewhere(tmp_path: Path) -> None:
    """No goodbye (SIGKILL): the re-announcement's cache-flush SRV moves the agent to the new port."""
    _require("unshare", "ip")
    seen = run_in_namespace("follow-crash", tmp_path)
    why = json.dumps(seen, indent=1)[-6000:]
    assert seen["connected1_after_s"] is not None, why
    assert "zeroconf: withdrew" not in seen["controller-1.log"], why
    assert seen["port2"] != seen["port1"]
    assert seen["connected2_after_s"] is not None, why
    assert f"at ws://127.0.0.1:{seen['port2']}/ws/agent" in seen["agent.log"], why
    assert f"{STATION}@127.0.0.1: connected" in seen["controller-2.log"], why


def test_behind_nginx_the_advert_names_nginx_and_its_certificate_and_the_agent_pins_it(tmp_path: Path) -> None:
    """The public-LAN layout (deploy/controller/README.md): the controller on 127.0.0.1, nginx in front.

    With ``zeroconf_port`` and ``zeroconf_tls_cert`` an agent with no URL finds nginx, not the
    controller's own port, connects ``wss://`` through it and pins the certificate nginx serves.
    """
    _require("unshare", "ip", "dig")
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (make setup-test installs it)")
    seen = run_in_namespace("proxy", tmp_path)
    why = json.dumps(seen, indent=1)[-6000:]
    assert seen["advertised_after_s"] is not None, why
    s = _sections(seen["dig"])
    extra = s.get("ADDITIONAL", [])
    srv = [r for r in extra if " IN SRV " in r]
    txt = [r for r in extra if " IN TXT " in r]
    assert len(srv) == 1, seen["dig"]
    assert srv[0].split()[-2] == str(seen["nginx_port"]), seen["dig"]  # nginx's port, not the controller's
    assert seen["nginx_port"] != seen["port1"]
    assert f'"tls={seen["fingerprint"]}"' in txt[0], seen["dig"]
    assert seen["connected1_after_s"] is not None, why
    assert f"at wss://127.0.0.1:{seen['nginx_port']}/ws/agent" in seen["agent.log"], why
    assert seen["pin"] == seen["fingerprint"], why
    assert f"{STATION}@127.0.0.1: connected" in seen["controller-1.log"], why
