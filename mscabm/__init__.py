"""mscabm: agent-based simulation of inflamed skin and its therapies."""

from mscabm._version import SCHEMA_VERSION, __version__

__all__ = ["SCHEMA_VERSION", "__version__"]
