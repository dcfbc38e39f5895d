"""Event-driven hardware simulator for compiled neuropc artifacts."""
