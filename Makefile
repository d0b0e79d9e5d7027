# Espace — set-up, tests, demo and benchmarks on a fresh Debian machine.
# `make demo` and `make test` do all their own set-up (a .venv, and as root the
# Debian packages that are missing), then run.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

# Debian packages the tests use: a real browser, node (the kiosk's grant rule), X server and a real window manager
# with the XDG autostart runner (the station install test), printing system, DNS-SD client.
TEST_DEBS := chromium nginx nodejs openssl xvfb xdotool x11-utils openbox dex imagemagick cups printer-driver-cups-pdf bind9-dnsutils libxss1 libx11-6 iproute2 python3-tk python3-venv

.PHONY: help setup setup-test demo test bench lint clean

help:
	@echo "make demo   - set up, then run the controller with a simulated floor of 61 stations on http://127.0.0.1:8080"
	@echo "make test   - set up (Python packages, Debian packages as root), then run the whole test suite"
	@echo "make bench  - run the benchmarks; each figure prints as 'bench <name>: <value> <unit>'"
	@echo "make lint   - ruff on the packages and tests, mypy on the packages (Linux, and the station side for Windows)"

$(VENV)/bin/activate:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv && $(PYTHON) -m venv $(VENV); \
	  else echo "error: '$(PYTHON) -m venv' failed: install python3-venv (Python 3.11 or newer)"; exit 1; fi; }

$(VENV)/.installed: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -U pip
	$(PIP) install -q -e '.[test]'
	@touch $@

setup: $(VENV)/.installed

setup-test: setup
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "warning: missing Debian packages (run as root to install):$$missing; their tests will be skipped"; fi; \
	fi

demo: setup
	$(VENV)/bin/espace-sim demo

# Two processes, a file each (module fixtures stay whole): most of the suite waits on timers and
# child processes. Two parts run after, in one plain pytest: the HTTP fuzz (under pytest-xdist
# schemathesis runs none of its operations: each is a sub-test that xdist does not see) and the Tk
# screens (an xdist worker running them died in Tcl once on CI, and the run then hung), and the
# station install (it installs a real desktop; beside another worker openbox once took over 20 s).
SERIAL := tests/controller/test_openapi_fuzz.py tests/agent/ui tests/e2e/test_station_install.py
test: setup-test
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 2 --dist loadfile $(addprefix --ignore=,$(SERIAL))
	$(VENV)/bin/pytest -q -p no:cacheprovider -p no:xdist $(SERIAL)

bench: setup-test
	$(PY) tests/bench/run.py

lint: setup
	$(VENV)/bin/ruff check agent controller dashboard espace sim tests
	$(VENV)/bin/mypy agent controller espace sim
	$(VENV)/bin/mypy --platform win32 agent espace

clean:
	rm -rf $(VENV) var build *.egg-info
