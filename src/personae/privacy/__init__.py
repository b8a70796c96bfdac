"""Privacy's data (DESIGN §10): consent per purpose, the suppression list of erased people,
hashed identifiers for advertising destinations, and the audit log. Low enough that
ingest, identity, traits and the delivery loop can honour it."""
