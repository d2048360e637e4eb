"""ringbridge: call-control bridge for Asterisk."""

__version__ = "0.1.0"
