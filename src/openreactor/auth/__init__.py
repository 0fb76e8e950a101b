"""API keys (stored hashed) and the short-lived JWTs minted from them (PROTOCOL.md §2.2)."""
