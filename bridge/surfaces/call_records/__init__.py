"""/api/call_records: a call's path, its dispatch deliveries and its recording."""
