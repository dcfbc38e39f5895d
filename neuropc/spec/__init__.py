"""Network spec: schema (pydantic) and YAML loading with line-accurate errors."""

from neuropc.spec.loading import dump_spec, load_spec, parse_spec
from neuropc.spec.schema import EventThresholds, NetworkSpec

__all__ = ["EventThresholds", "NetworkSpec", "dump_spec", "load_spec", "parse_spec"]
