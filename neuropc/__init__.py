"""neuropc: local learning (tPC-RTRL) for recurrent networks, compiled for neuromorphic chips."""

__version__ = "0.1.0"
