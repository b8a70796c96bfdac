"""Real time: the Segment-compatible tracking intake, incremental profile updates, the change feed."""
