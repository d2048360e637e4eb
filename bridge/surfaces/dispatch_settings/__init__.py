"""/api/dispatch: a tenant's dispatch (webhook) settings."""
