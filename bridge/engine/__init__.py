"""The engine that runs the call flows on Asterisk: routes ARI events to flows, starts a
flow for each call, controls live calls, takes over what a restart left, and keeps
extensions, parking lots and recordings in step with Asterisk."""
