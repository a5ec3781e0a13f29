"""The wanted list against itself: several wanted records of one person."""
