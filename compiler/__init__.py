"""Lowers a validated spec into placed, verified per-core local update graphs."""
