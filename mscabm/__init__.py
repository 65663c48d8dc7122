"""mscabm: agent-based simulation of inflamed skin and its therapies.

Public API: :class:`Simulation` (a :class:`mesa.Model`), :func:`load_scenario`, :func:`run`
(a scenario to an HDF5 run file) and :func:`open_run` (fields as an xarray Dataset, time series as
a pandas DataFrame).
"""

from mscabm._version import SCHEMA_VERSION, __version__
from mscabm.engine import Simulation, SimulationError
from mscabm.io import RunData, open_run
from mscabm.runner import fork, resume, run
from mscabm.scenario import Scenario, ScenarioError, load_scenario

__all__ = [
    "SCHEMA_VERSION",
    "RunData",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "SimulationError",
    "__version__",
    "fork",
    "load_scenario",
    "open_run",
    "resume",
    "run",
]
