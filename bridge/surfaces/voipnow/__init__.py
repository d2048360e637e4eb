"""The VoIPNow UnifiedAPI-style surface: live phone calls and parking."""
