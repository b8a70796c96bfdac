"""Real time (DESIGN §8): Segment-compatible intake, the durable event journal, live profiles and the change feed."""
