"""Readable numpy reference of every learning rule: the ground truth for all other paths."""
