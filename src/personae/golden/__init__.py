"""The golden record: one row per person in ``profiles``, each value with its source and time."""
