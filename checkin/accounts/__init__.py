"""Staff accounts and kiosks: passwords, signed session tokens, kiosk tokens (no web code)."""
