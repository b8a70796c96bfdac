"""The data subject's rights over the whole store (DESIGN §10): erasure that reaches every
table, raw copy, journal and destination; subject access; retention."""
