"""The PortSIP-style management API: extensions, ring groups, /api/login/oauth."""
