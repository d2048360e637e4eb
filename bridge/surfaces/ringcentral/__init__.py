"""The RingCentral-style surface: RingOut, its OAuth endpoints, its rate limits and
its vocabulary (statuses.py)."""
