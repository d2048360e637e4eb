"""One package per API surface; each exposes `surface.register(app, deps)`."""
