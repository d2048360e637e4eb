"""The HTTP API: one blueprint per surface."""
