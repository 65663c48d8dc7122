"""Version of mscabm, set by hand at releases (sweeps hash it; never a per-commit string)."""

__version__ = "0.1.0"
SCHEMA_VERSION = 1
