"""Parameter sweeps, sensitivity analysis and virtual cohorts on Dask.

A sweep file (YAML) becomes a list of rows ``(scenario, overrides, seed)`` in a stable order
(:func:`load_sweep`, :meth:`SweepSpec.rows`); executors run rows (:func:`run_sweep`: a Dask
LocalCluster, an existing scheduler, or SLURM/PBS jobs through dask-jobqueue); each finished row
is saved at once and the results are one tidy table (``results.parquet`` / ``results.csv``);
:func:`write_report` turns a sweep directory into a self-contained HTML page and CSV files.
Dask, SALib and pyarrow are the ``sweep`` extra: ``pip install mscabm[sweep]``.
"""

from mscabm.sweep.spec import (
    Metric,
    Parameter,
    Row,
    SweepError,
    SweepSpec,
    load_sweep,
    replicate_seeds,
)

__all__ = [
    "Metric",
    "Parameter",
    "Row",
    "SweepError",
    "SweepSpec",
    "job_script",
    "load_sweep",
    "replicate_seeds",
    "run_sweep",
    "write_report",
]


def __getattr__(name: str):
    # Dask and plotly load only when a sweep runs or a report is written
    if name in ("run_sweep", "job_script"):
        from mscabm.sweep import executors

        return getattr(executors, name)
    if name == "write_report":
        from mscabm.sweep.report import write_report

        return write_report
    raise AttributeError(f"module 'mscabm.sweep' has no attribute {name!r}")
