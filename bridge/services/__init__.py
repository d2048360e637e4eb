"""Business rules; the only layer the API calls."""
