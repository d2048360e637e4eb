"""The RingCentral-style surface: RingOut, the account and its extensions' caller ids,
its OAuth endpoints, its rate limits and its vocabulary (statuses.py)."""
