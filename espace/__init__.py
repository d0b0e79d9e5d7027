"""Code shared by the agent and the controller: the wire protocol, the clock, the catalogs."""
