"""The operator panel: a live web page of a tenant's agents, ring groups, parking lot and
calls, with the actions people take on them (docs/panel.md)."""
