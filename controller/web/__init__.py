"""aiohttp handlers: thin edges that call into the floor, the rules and the store."""
