"""Profile traits: per-UID features computed in SQL on the engine, as of a date."""
