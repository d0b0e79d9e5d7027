"""Helpers shared by the tests: real Xvfb, real cupsd, process runners."""
