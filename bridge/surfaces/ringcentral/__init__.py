"""The RingCentral surface: RingOut and its OAuth, in RingCentral's own vocabulary."""
