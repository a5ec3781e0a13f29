"""Relatives for the surrender letter: a wanted person's parents, siblings and children in the register."""
