"""The live floor: every station's state, derived from what its agent reports."""
