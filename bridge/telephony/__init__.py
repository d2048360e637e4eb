"""Call flows and the engine that runs them on Asterisk."""
