"""What the agent reads from and does to the station's OS, one seam per concern.

Each seam is a small protocol in :mod:`agent.probes.base` with a Linux and a
Windows implementation and a fake for tests and the demo.
"""
