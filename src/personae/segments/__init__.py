"""Segmentations: RFM, lifecycle, rule segments, memberships with history, microsegments."""
