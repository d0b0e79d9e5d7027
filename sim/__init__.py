"""Simulated visitors and stations: the demo floor, the swarm for load tests, site preparation.

The one package that imports both sides: the real :class:`agent.core.Agent`
with fake OS probes, against the real controller. Neither ``agent/`` nor
``controller/`` imports it (``tests/test_layers.py``); it is not installed on
the stations' PCs in production.
"""
