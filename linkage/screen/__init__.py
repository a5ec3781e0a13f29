"""Screening at the desk: one person (or a few) against the wanted list in milliseconds."""
