"""Sweep files: YAML → a validated :class:`SweepSpec` → a list of :class:`Row`.

A sweep file names a base scenario, the parameters to vary (``--set`` paths of that scenario),
a design (how design points are chosen), replicates (seeds spawned from a root entropy stored in
the file), the metrics to extract from each run, whether to keep run files, and cluster settings::

    name: imq_dose_il23
    scenario: ../imq_mouse_small.yaml      # shipped name, or a path relative to this file
    days: 2                                # optional: replace the scenario's duration
    overrides: {geometry.width_um: 200}    # fixed --set overrides of every row
    parameters:
      events.0.amount: {values: [0.25, 0.5, 1.0]}
      rules.0.saturation: {low: 1e-4, high: 4e-4, num: 3}
    design: {sampler: grid}                # grid | values | random | latin | morris | sobol
    replicates: {count: 3, root_entropy: 123456789}
    metrics:
      score_day2: {series: score_total, day: 2}
      thickness: {series: viable_epidermis_thickness_um}      # final sample
      nets_max: {series: count_net, reduce: max}
    keep_runs: true
    cluster: {queue: normal, walltime: "01:00:00", memory: 2GB, jobs: 4,
              interpreter: /opt/venvs/mscabm/bin/python, prologue: [module load hdf5]}

A row is ``(scenario, overrides, seed)``; its identity (:attr:`Row.row_id`) is a hash of the
resolved scenario, the overrides, the seed, ``mscabm.__version__`` and the schema version, so an
unchanged row is recognised across invocations (resume) and anything that changes its result
gives it a new identity.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mscabm._version import SCHEMA_VERSION, __version__
from mscabm.scenario import ScenarioError, _read_yaml, load_scenario, shipped_scenarios

__all__ = [
    "SAMPLERS",
    "Metric",
    "Parameter",
    "Row",
    "SweepError",
    "SweepSpec",
    "load_sweep",
    "replicate_seeds",
]

#: Design samplers a sweep file may name.
SAMPLERS = ("grid", "values", "random", "latin", "morris", "sobol")
#: Reductions a metric may apply over its window of samples.
REDUCTIONS = ("last", "max", "min", "mean")
_TOP_KEYS = (
    "name",
    "description",
    "scenario",
    "days",
    "overrides",
    "parameters",
    "design",
    "replicates",
    "metrics",
    "keep_runs",
    "cluster",
)
_CLUSTER_KEYS = (
    "queue",
    "account",
    "walltime",
    "memory",
    "cores",
    "jobs",
    "interpreter",
    "prologue",
    "local_directory",
    "extra_directives",
)


class SweepError(ValueError):
    """A sweep file that cannot be used: one message naming file, line and key.

    Parameters
    ----------
    message
        What is wrong and what is allowed.
    file
        The sweep file.
    line
        1-based line number, when known.
    key
        Dotted key, when known.
    """

    def __init__(self, message: str, *, file: str, line: int | None = None, key: str | None = None):
        self.message, self.file, self.line, self.key = message, file, line, key
        where = file + (f":{line}" if line is not None else "")
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


@dataclass(frozen=True)
class Parameter:
    """One varied scenario parameter.

    Attributes
    ----------
    path
        The parameter's name in the table: its ``--set`` path (``keratinocyte.cycle_time_h``,
        ``events.0.amount``), or a name of your own when ``paths`` is given.
    paths
        ``--set`` paths that all take the parameter's value (linked; e.g. the saturation of
        every rule of one behaviour, which the scenario requires to be equal); default
        ``(path,)``.
    values
        Explicit values (``grid`` and ``values`` samplers), or None.
    low, high
        Range of the sampled designs (and of ``grid`` with ``num``).
    num
        Grid points over ``[low, high]``.
    log
        Sample (and space the grid) uniformly in log10.
    integer
        Round sampled values to integers.
    """

    path: str
    paths: tuple[str, ...] = ()
    values: tuple | None = None
    low: float | None = None
    high: float | None = None
    num: int | None = None
    log: bool = False
    integer: bool = False

    @property
    def set_paths(self) -> tuple[str, ...]:
        """The ``--set`` paths this parameter writes."""
        return self.paths or (self.path,)

    def assignments(self, value: Any) -> list[str]:
        """``path=value`` overrides for one value."""
        return [f"{path}={format_value(value)}" for path in self.set_paths]

    def grid_values(self) -> tuple:
        """The values a grid takes for this parameter."""
        if self.values is not None:
            return self.values
        assert self.low is not None and self.high is not None and self.num is not None
        if self.log:
            raw = np.logspace(math.log10(self.low), math.log10(self.high), self.num)
        else:
            raw = np.linspace(self.low, self.high, self.num)
        return tuple(self.from_unit_value(float(v)) for v in raw)

    def from_unit(self, u: float) -> float | int:
        """Map a design coordinate in [0, 1] to a parameter value."""
        assert self.low is not None and self.high is not None
        if self.log:
            lo, hi = math.log10(self.low), math.log10(self.high)
            value = 10.0 ** (lo + (hi - lo) * u)
        else:
            value = self.low + (self.high - self.low) * u
        return self.from_unit_value(value)

    def from_unit_value(self, value: float) -> float | int:
        """Round to an integer when the parameter is one."""
        return round(value) if self.integer else float(value)


@dataclass(frozen=True)
class Metric:
    """A summary number taken from a run's ``/timeseries``.

    Attributes
    ----------
    name
        Column name in the results table.
    series
        Time-series name in the run file (``score_total``, ``th17_treg_ratio``, ``count_net``).
    day
        Take the sample at this day (nearest within half a sampling interval), or None.
    from_day, to_day
        Window of samples that ``reduce`` applies to (default the whole run).
    reduce
        ``last`` (default), ``max``, ``min`` or ``mean``.
    """

    name: str
    series: str
    day: float | None = None
    from_day: float | None = None
    to_day: float | None = None
    reduce: str = "last"


@dataclass(frozen=True)
class Row:
    """One run of a sweep: a scenario, its overrides and a seed.

    Attributes
    ----------
    index
        Position in the sweep (the stable row order).
    point
        Design point index.
    replicate
        Replicate index (the seed is the same for this index at every design point).
    scenario
        Scenario file path (absolute) or shipped scenario name.
    overrides
        ``dotted.key=value`` strings: the sweep's fixed overrides, then the design point's.
    seed
        uint64 seed.
    days
        Duration override, or None.
    parameters
        The design point's values by parameter path.
    row_id
        Hash of resolved scenario + overrides + seed + version + schema version.
    """

    index: int
    point: int
    replicate: int
    scenario: str
    overrides: tuple[str, ...]
    seed: int
    days: float | None
    parameters: dict[str, Any] = field(hash=False)
    row_id: str

    def command(self, output: str | None = None) -> str:
        """The equivalent ``mscabm run`` command line (the job-array alternative).

        Parameters
        ----------
        output
            Run file for ``-o`` (default: none, ``mscabm run`` picks a new name).

        Returns
        -------
        str
            One shell-quoted command line.
        """
        import shlex

        parts = ["mscabm", "run", shlex.quote(self.scenario), "--seed", str(self.seed)]
        if self.days is not None:
            parts += ["--days", repr(self.days)]
        for item in self.overrides:
            parts += ["--set", shlex.quote(item)]
        if output is not None:
            parts += ["-o", shlex.quote(output), "--quiet"]
        return " ".join(parts)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file.

    Attributes
    ----------
    path
        The sweep file.
    name, description
        Labels.
    scenario
        Absolute scenario path, or shipped scenario name.
    days
        Duration override of every row, or None.
    overrides
        Fixed ``dotted.key=value`` overrides.
    parameters
        The varied parameters, in file order.
    sampler
        One of :data:`SAMPLERS`.
    design
        The sampler's options (``n``, ``levels``, ``seed``, ``num_resamples``, ...).
    replicates
        Number of replicate seeds.
    root_entropy
        Root entropy of the replicate seeds (a non-negative integer).
    metrics
        Metrics to extract.
    keep_runs
        Keep each run's HDF5 file.
    cluster
        Cluster settings (keys of :data:`_CLUSTER_KEYS`).
    text
        The sweep file's text.
    """

    path: Path
    name: str
    description: str
    scenario: str
    days: float | None
    overrides: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    sampler: str
    design: dict[str, Any]
    replicates: int
    root_entropy: int
    metrics: tuple[Metric, ...]
    keep_runs: bool
    cluster: dict[str, Any]
    text: str

    def seeds(self) -> list[int]:
        """The replicate seeds (the same for every design point)."""
        return replicate_seeds(self.root_entropy, self.replicates)

    def problem(self) -> dict[str, Any]:
        """The SALib problem (sampled in the unit cube; values mapped per parameter)."""
        return {
            "num_vars": len(self.parameters),
            "names": [p.path for p in self.parameters],
            "bounds": [[0.0, 1.0]] * len(self.parameters),
        }

    def rows(self) -> list[Row]:
        """Every row of the sweep, in its stable order (design point major, replicate minor).

        Raises
        ------
        SweepError
            When a design point does not give a valid scenario.
        """
        from mscabm.sweep.design import design_points

        points = design_points(self)
        seeds = self.seeds()
        rows: list[Row] = []
        for point_index, values in enumerate(points):
            overrides = (
                *self.overrides,
                *(a for p in self.parameters for a in p.assignments(values[p.path])),
            )
            resolved = self._resolve(overrides, point_index)
            for replicate, seed in enumerate(seeds):
                rows.append(
                    Row(
                        index=len(rows),
                        point=point_index,
                        replicate=replicate,
                        scenario=self.scenario,
                        overrides=overrides,
                        seed=seed,
                        days=self.days,
                        parameters=dict(values),
                        row_id=row_hash(resolved, overrides, seed),
                    )
                )
        return rows

    def _resolve(self, overrides: tuple[str, ...], point: int) -> str:
        try:
            spec = load_scenario(self.scenario, overrides=overrides, duration_days=self.days)
        except ScenarioError as exc:
            raise SweepError(
                f"design point {point} ({', '.join(overrides) or 'no overrides'}) does not give "
                f"a valid scenario: {exc}",
                file=str(self.path),
                key="parameters",
            ) from None
        # canonical JSON of the resolved scenario: the same content as its YAML, 100× cheaper
        return json.dumps(spec.model_dump(mode="json"), sort_keys=True)

    def design_matrix(self) -> np.ndarray:
        """The sampled design in the unit cube (rows = design points), for SALib analysis."""
        from mscabm.sweep.design import unit_design

        return unit_design(self)


def replicate_seeds(root_entropy: int, count: int) -> list[int]:
    """Replicate seeds as DESIGN.md defines them.

    Parameters
    ----------
    root_entropy
        The sweep's root entropy.
    count
        Number of replicates.

    Returns
    -------
    list of int
        ``SeedSequence(root).spawn(count)[r].generate_state(1, np.uint64)[0]`` for each ``r``.
    """
    children = np.random.SeedSequence(root_entropy).spawn(count)
    return [int(child.generate_state(1, np.uint64)[0]) for child in children]


def format_value(value: Any) -> str:
    """A value as ``--set`` text that reads back as the same value (floats round-trip)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return text if ("." in text or "e" in text or "n" in text) else text + ".0"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def row_hash(resolved_scenario: str, overrides: tuple[str, ...], seed: int) -> str:
    """The identity of a row (hex SHA-256, 16 characters)."""
    payload = json.dumps(
        {
            "scenario": resolved_scenario,
            "overrides": list(overrides),
            "seed": int(seed),
            "mscabm_version": __version__,
            "schema_version": SCHEMA_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- loading


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file.

    Parameters
    ----------
    path
        The sweep YAML file.

    Returns
    -------
    SweepSpec
        The validated sweep.

    Raises
    ------
    SweepError
        With the file, line and key of the first problem and the allowed values.
    """
    path = Path(path)
    name = str(path)
    try:
        data, marks = _read_yaml(path)
    except ScenarioError as exc:
        raise SweepError(exc.message, file=name, line=exc.line) from None
    text = path.read_text(encoding="utf-8")

    def fail(message: str, *keys: str) -> SweepError:
        line = None
        for cut in range(len(keys), 0, -1):
            mark = marks.get(tuple(keys[:cut]))
            if mark is not None:
                line = mark[1]
                break
        return SweepError(message, file=name, line=line, key=".".join(keys) or None)

    for key in data:
        if key not in _TOP_KEYS:
            raise fail(f"unknown key {key!r}; valid: {', '.join(_TOP_KEYS)}", key)
    if "scenario" not in data:
        raise fail("the base scenario is required (a shipped name or a path)", "scenario")
    scenario = _scenario_source(data["scenario"], path, fail)
    days = _number(data.get("days"), fail, "days", positive=True, optional=True)
    overrides = _overrides(data.get("overrides", {}), fail)
    parameters = _parameters(data.get("parameters"), fail)
    design = data.get("design") or {}
    if not isinstance(design, Mapping):
        raise fail("expected a mapping (sampler: ..., options)", "design")
    design = dict(design)
    sampler = design.pop("sampler", "grid")
    if sampler not in SAMPLERS:
        raise fail(
            f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}", "design", "sampler"
        )
    _check_design(sampler, design, parameters, fail)
    replicates, root = _replicates(data.get("replicates"), fail)
    metrics = _metrics(data.get("metrics"), fail)
    keep_runs = data.get("keep_runs", True)
    if not isinstance(keep_runs, bool):
        raise fail(f"expected true or false, got {keep_runs!r}", "keep_runs")
    cluster = data.get("cluster") or {}
    if not isinstance(cluster, Mapping):
        raise fail("expected a mapping", "cluster")
    for key in cluster:
        if key not in _CLUSTER_KEYS:
            raise fail(f"unknown key {key!r}; valid: {', '.join(_CLUSTER_KEYS)}", "cluster", key)
    spec = SweepSpec(
        path=path,
        name=str(data.get("name") or path.stem),
        description=str(data.get("description") or ""),
        scenario=scenario,
        days=days,
        overrides=overrides,
        parameters=parameters,
        sampler=sampler,
        design=design,
        replicates=replicates,
        root_entropy=root,
        metrics=metrics,
        keep_runs=keep_runs,
        cluster=dict(cluster),
        text=text,
    )
    _check_paths(spec, fail)
    return spec


def _scenario_source(value: Any, sweep_path: Path, fail) -> str:
    if not isinstance(value, str) or not value:
        raise fail("expected a shipped scenario name or a path", "scenario")
    candidate = (sweep_path.parent / value).resolve()
    if candidate.exists():
        return str(candidate)
    shipped = shipped_scenarios()
    if value in shipped:
        return value
    raise fail(
        f"{value!r} is neither a file (relative to the sweep file) nor a shipped scenario "
        f"(shipped: {', '.join(sorted(shipped))})",
        "scenario",
    )


def _number(value: Any, fail, *keys: str, positive=False, optional=False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(f"expected a number, got {value!r}", *keys)
    if positive and value <= 0:
        raise fail(f"must be > 0, got {value!r}", *keys)
    return float(value)


def _overrides(value: Any, fail) -> tuple[str, ...]:
    if isinstance(value, Mapping):
        return tuple(f"{k}={format_value(v)}" for k, v in value.items())
    if isinstance(value, list) and all(isinstance(v, str) and "=" in v for v in value):
        return tuple(value)
    raise fail("expected a mapping of dotted.key: value (or a list of 'key=value')", "overrides")


def _parameters(value: Any, fail) -> tuple[Parameter, ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise fail(
            "expected a mapping of --set paths to {values: [...]} or {low, high}", "parameters"
        )
    allowed = ("paths", "values", "low", "high", "num", "log", "integer")
    out = []
    for path, options in value.items():
        keys = ("parameters", path)
        if isinstance(options, list):
            options = {"values": options}
        if not isinstance(options, Mapping):
            raise fail("expected {values: [...]} or {low: .., high: .., num: ..}", *keys)
        for key in options:
            if key not in allowed:
                raise fail(f"unknown key {key!r}; valid: {', '.join(allowed)}", *keys, key)
        values = options.get("values")
        if values is not None:
            if not isinstance(values, list) or not values:
                raise fail("values must be a non-empty list", *keys, "values")
            values = tuple(values)
        low, high = options.get("low"), options.get("high")
        log = bool(options.get("log", False))
        if (low is None) != (high is None):
            raise fail("give both low and high", *keys)
        if low is not None:
            low = _number(low, fail, *keys, "low")
            high = _number(high, fail, *keys, "high")
            if not high > low:
                raise fail(
                    f"empty range: high ({high:g}) must be greater than low ({low:g})", *keys
                )
            if log and low <= 0:
                raise fail(f"log range needs low > 0, got {low:g}", *keys, "low")
        if values is None and low is None:
            raise fail("give values: [...] or a range (low, high)", *keys)
        paths = options.get("paths", [])
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not all(isinstance(x, str) and x for x in paths):
            raise fail("paths must be a list of dotted --set paths", *keys, "paths")
        num = options.get("num")
        if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 1):
            raise fail(f"num must be a positive integer, got {num!r}", *keys, "num")
        out.append(
            Parameter(
                path=str(path),
                paths=tuple(paths),
                values=values,
                low=low,
                high=high,
                num=num,
                log=log,
                integer=bool(options.get("integer", False)),
            )
        )
    return tuple(out)


_DESIGN_OPTIONS = {
    "grid": (),
    "values": (),
    "random": ("n", "seed"),
    "latin": ("n", "seed"),
    "morris": ("n", "levels", "seed", "num_resamples", "conf_level"),
    "sobol": ("n", "seed", "calc_second_order", "num_resamples", "conf_level", "scramble"),
}


def _check_design(sampler: str, design: dict, parameters: tuple[Parameter, ...], fail) -> None:
    for key in design:
        if key not in _DESIGN_OPTIONS[sampler]:
            valid = ", ".join(("sampler", *_DESIGN_OPTIONS[sampler]))
            raise fail(
                f"unknown option {key!r} for sampler {sampler}; valid: {valid}", "design", key
            )
    if not parameters and sampler != "grid":
        raise fail(f"sampler {sampler} needs parameters", "parameters")
    if sampler == "grid":
        for p in parameters:
            if p.values is None and p.num is None:
                raise fail("a grid needs values: [...] or low, high and num", "parameters", p.path)
    elif sampler == "values":
        lengths = {len(p.values) if p.values is not None else -1 for p in parameters}
        if -1 in lengths or len(lengths) != 1:
            raise fail(
                "sampler values zips explicit lists: every parameter needs values of one length",
                "parameters",
            )
    else:
        for p in parameters:
            if p.low is None:
                raise fail(f"sampler {sampler} needs a range (low, high)", "parameters", p.path)
        n = design.get("n")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise fail(f"n must be a positive integer, got {n!r}", "design", "n")
        if sampler == "sobol" and n & (n - 1):
            raise fail(
                f"Sobol' sequences need n a power of two, got {n} "
                f"(nearest: {1 << (n.bit_length() - 1)} or {1 << n.bit_length()})",
                "design",
                "n",
            )
        if sampler == "morris":
            levels = design.get("levels", 4)
            if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2 or levels % 2:
                raise fail(
                    f"levels must be an even integer >= 2, got {levels!r}", "design", "levels"
                )


def _replicates(value: Any, fail) -> tuple[int, int]:
    if not isinstance(value, Mapping):
        raise fail(
            "replicates: {count: N, root_entropy: INTEGER} is required (the root entropy makes "
            f"the seeds reproducible; e.g. root_entropy: {np.random.SeedSequence().entropy})",
            "replicates",
        )
    count = value.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise fail(f"count must be a positive integer, got {count!r}", "replicates", "count")
    root = value.get("root_entropy")
    if isinstance(root, bool) or not isinstance(root, int) or root < 0:
        raise fail(
            "root_entropy must be a non-negative integer stored in the file (e.g. "
            f"{np.random.SeedSequence().entropy}), got {root!r}",
            "replicates",
            "root_entropy",
        )
    for key in value:
        if key not in ("count", "root_entropy"):
            raise fail(f"unknown key {key!r}; valid: count, root_entropy", "replicates", key)
    return count, root


def _metrics(value: Any, fail) -> tuple[Metric, ...]:
    if not isinstance(value, Mapping) or not value:
        raise fail("metrics: {name: {series: ..., day: ...}} is required", "metrics")
    allowed = ("series", "day", "from_day", "to_day", "reduce")
    out = []
    for metric_name, options in value.items():
        keys = ("metrics", metric_name)
        if isinstance(options, str):
            options = {"series": options}
        if not isinstance(options, Mapping) or "series" not in options:
            raise fail("expected {series: NAME, day: D | reduce: max|min|mean|last}", *keys)
        for key in options:
            if key not in allowed:
                raise fail(f"unknown key {key!r}; valid: {', '.join(allowed)}", *keys, key)
        reduce = options.get("reduce", "last")
        if reduce not in REDUCTIONS:
            raise fail(
                f"unknown reduce {reduce!r}; valid: {', '.join(REDUCTIONS)}", *keys, "reduce"
            )
        day = _number(options.get("day"), fail, *keys, "day", optional=True)
        if day is not None and ("reduce" in options or "from_day" in options):
            raise fail("give either day or reduce/from_day/to_day", *keys)
        out.append(
            Metric(
                name=str(metric_name),
                series=str(options["series"]),
                day=day,
                from_day=_number(options.get("from_day"), fail, *keys, "from_day", optional=True),
                to_day=_number(options.get("to_day"), fail, *keys, "to_day", optional=True),
                reduce=reduce,
            )
        )
    return tuple(out)


def _check_paths(spec: SweepSpec, fail) -> None:
    """Every parameter path and metric series must exist in the base scenario."""
    base_overrides = list(spec.overrides)
    try:
        base = load_scenario(spec.scenario, overrides=base_overrides, duration_days=spec.days)
    except ScenarioError as exc:
        raise fail(
            f"the base scenario with the fixed overrides is invalid: {exc}", "overrides"
        ) from None
    for p in spec.parameters:
        probe = p.values[0] if p.values is not None else p.from_unit(0.5)
        try:
            load_scenario(
                spec.scenario,
                overrides=[*base_overrides, *p.assignments(probe)],
                duration_days=spec.days,
            )
        except ScenarioError as exc:
            raise fail(
                f"unknown or invalid parameter path for scenario {Path(spec.scenario).name}: "
                f"{exc.message}",
                "parameters",
                p.path,
            ) from None
    from mscabm import readouts

    known = set(readouts.readout_names(base.field_ids))
    for m in spec.metrics:
        if m.series not in known:
            from mscabm import vocab

            raise fail(
                f"unknown time series {m.series!r}; {vocab.suggest(m.series, sorted(known))}",
                "metrics",
                m.name,
                "series",
            )
    duration = base.time.duration_days
    for m in spec.metrics:
        if m.day is not None and m.day > duration + 1e-9:
            raise fail(
                f"day {m.day:g} is after the end of the runs (day {duration:g})",
                "metrics",
                m.name,
                "day",
            )


def iter_grid(parameters: tuple[Parameter, ...]) -> list[dict[str, Any]]:
    """Cartesian product of the parameters' grid values (last parameter fastest)."""
    if not parameters:
        return [{}]
    axes = [p.grid_values() for p in parameters]
    return [
        {p.path: v for p, v in zip(parameters, combo, strict=True)}
        for combo in itertools.product(*axes)
    ]
