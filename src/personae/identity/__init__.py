"""Identity resolution: deterministic links, probabilistic (fuzzy) matching, stable UIDs."""
