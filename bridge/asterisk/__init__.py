"""Clients for Asterisk's control interfaces (ARI and AMI)."""
