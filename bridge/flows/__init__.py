"""The call flows (a hunt of a ring group, a RingOut), their collaborators, and the typed
events they publish. They act through ARI and the engine's side they are given
(`calls.Flows`); they never import the engine that runs them."""
