"""The package version, importable without the front door."""

__version__ = "0.1.0"
