"""Token rules: access-token claims and lifetimes, refresh families, revocation."""
