"""Scenario files: YAML → validated, frozen :class:`Scenario`.

Loading order: read the YAML with a YAML 1.2 safe round-trip loader that keeps line numbers
(``1e5`` is a number, ``on``/``no`` are text, custom tags are refused, nothing is executed);
follow ``extends:`` (a shipped scenario name or a path relative to the file) with cycle
detection; apply ``--set`` overrides; put the species profile's defaults (:mod:`mscabm.defaults`)
underneath; validate with pydantic v2 (strict numbers, unknown keys forbidden); check names
(cell types, signals, behaviours, fields, event kinds) against :mod:`mscabm.vocab`; check that
the lattice holds the epidermis. Every problem becomes one :class:`ScenarioError` that names the
file, the line where known, and the dotted key.

Merging rules: mappings merge key by key (the child wins); ``rules`` merge by their key
(cell type, behaviour, direction, signals) and a rule with ``enabled: false`` removes the
matching rule; ``events`` of a child are appended to those of its parent; other lists are
replaced.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from mscabm import _kernels, vocab
from mscabm import defaults as _defaults

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]


class ScenarioError(ValueError):
    """A scenario that cannot be used: one message naming file, line (when known) and key.

    Parameters
    ----------
    message
        What is wrong and what is allowed.
    file
        The scenario file (or ``"--set"``) the bad value came from.
    line
        1-based line number, when known.
    key
        Dotted key, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ):
        self.message, self.file, self.line, self.key = message, file, line, key
        where = file or "scenario"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Geometry(_Model):
    """Lattice geometry and species profile."""

    species: Literal["human", "mouse"]
    dims: Literal[2, 3]
    voxel_um: PositiveFloat
    width_um: PositiveFloat
    depth_um: PositiveFloat
    height_um: PositiveFloat
    dermis_depth_um: PositiveFloat
    bm_undulation_amplitude_um: NonNegativeFloat
    bm_undulation_period_um: PositiveFloat
    capillary_depth_um: PositiveFloat

    @property
    def shape(self) -> tuple[int, ...]:
        """Lattice shape ``(z, x)`` or ``(z, y, x)`` in voxels."""
        nz = round(self.height_um / self.voxel_um)
        nx = round(self.width_um / self.voxel_um)
        if self.dims == 2:
            return (nz, nx)
        return (nz, round(self.depth_um / self.voxel_um), nx)


class TimeSpec(_Model):
    """Clock, output and checkpoint schedule."""

    dt_min: PositiveFloat
    duration_days: PositiveFloat
    frame_interval_days: PositiveFloat
    timeseries_interval_hours: PositiveFloat
    checkpoint_every_days: PositiveFloat | None
    checkpoint_at_days: tuple[NonNegativeFloat, ...]


class FieldSpec(_Model):
    """Transport of one diffusing field."""

    diffusion_um2_per_min: NonNegativeFloat
    half_life_min: PositiveFloat
    dermis_half_life_min: PositiveFloat
    stratum_corneum_half_life_min: PositiveFloat
    stratum_corneum_diffusion_factor: Fraction
    bottom_bc: Literal["no_flux", "fixed"]
    bottom_value_pg_per_ml: NonNegativeFloat


class KeratinocyteParams(_Model):
    """Keratinocyte lineage, growth and differentiation parameters (sources in defaults)."""

    basal_cells_per_column: Annotated[int, Field(ge=1, le=8, strict=True)]
    stem_fraction: Fraction
    cycle_time_h: PositiveFloat
    cycle_fixed_phase_h: NonNegativeFloat
    stem_quiescence_factor: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False, strict=True)]
    g0_probability: Fraction
    g0_factor: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False, strict=True)]
    ta_divisions: Annotated[int, Field(ge=0, le=12, strict=True)]
    committed_delamination_time_h: PositiveFloat
    spinous_duration_days: PositiveFloat
    granular_duration_days: PositiveFloat
    basal_height_um: PositiveFloat
    spinous_height_um: PositiveFloat
    granular_height_um: PositiveFloat
    corneocyte_height_um: PositiveFloat
    stratum_corneum_transit_days: PositiveFloat
    maturation_cv: Annotated[float, Field(ge=0, le=1)]
    column_height_tolerance_um: PositiveFloat
    basal_uptake_per_min: NonNegativeFloat


class CapillaryParams(_Model):
    """Papillary capillary loops: spacing and dilation kinetics."""

    spacing_um: PositiveFloat
    dilation_time_h: PositiveFloat


Region = Literal["dermis", "epidermis", "corneum"]


class ImmuneTypeParams(_Model):
    """Parameters of one immune cell type (base values of its behaviours; rules modulate them)."""

    resident_per_mm2: NonNegativeFloat
    home: Literal["dermis", "papillary_dermis", "epidermis"]
    renewal: Literal["none", "recruitment"]
    lifetime_h: PositiveFloat | None
    proliferation_per_h: NonNegativeFloat
    emigration_per_h: NonNegativeFloat
    speed_um_per_min: NonNegativeFloat
    chemotaxis_field: str | None
    chemotactic_index: Fraction
    regions: tuple[Region, ...] = Field(min_length=1)
    secretion_pg_per_cell_per_day: dict[str, NonNegativeFloat]


class LymphNodeParams(_Model):
    """The draining lymph node: priming of T cells by emigrated dendritic cells."""

    priming_delay_days: PositiveFloat
    cd4_per_mature_dc: NonNegativeFloat
    cd8_per_mature_dc: NonNegativeFloat
    treg_per_tolerogenic_dc: NonNegativeFloat
    circulation_half_life_days: PositiveFloat


Capacity = Annotated[int, Field(ge=0, le=8, strict=True)]


class ImmuneParams(_Model):
    """The mobile layer, NETs, efferocytosis, the inducer, the lymph node and the cell types."""

    capacity_dermis: Capacity
    capacity_epidermis: Capacity
    capacity_corneum: Capacity
    netosis_delay_h: NonNegativeFloat
    net_half_life_h: PositiveFloat
    net_il17a_production_pg: NonNegativeFloat
    net_ll37_dna_pg_per_day: NonNegativeFloat
    efferocytosis_per_h: NonNegativeFloat
    efferocytosis_memory_h: PositiveFloat
    neutrophil_il17a_capture_per_h: NonNegativeFloat
    inducer_half_life_h: PositiveFloat
    lymph_node: LymphNodeParams
    types: dict[str, ImmuneTypeParams]

    @field_validator("types")
    @classmethod
    def _known_types(cls, value: dict[str, ImmuneTypeParams]) -> dict[str, ImmuneTypeParams]:
        for name in value:
            if name not in vocab.IMMUNE_TYPES:
                raise ValueError(
                    f"unknown immune cell type {name!r}; {vocab.suggest(name, vocab.IMMUNE_TYPES)}"
                )
        return value


class Rule(_Model):
    """One Hill rule (DESIGN.md principle 5; semantics in the README)."""

    cell_type: str
    signals: tuple[str, ...] = Field(min_length=1, max_length=4)
    direction: Literal["increases", "decreases"]
    behaviour: str
    saturation: NonNegativeFloat
    half_max: PositiveFloat | tuple[PositiveFloat, ...]
    hill_power: Annotated[float, Field(ge=0, le=20, allow_inf_nan=False, strict=True)] = 1.0
    enabled: bool = Field(default=True, strict=True)

    @model_validator(mode="after")
    def _one_half_max_per_signal(self) -> Rule:
        if isinstance(self.half_max, tuple) and len(self.half_max) != len(self.signals):
            raise ValueError(
                f"half_max has {len(self.half_max)} values for {len(self.signals)} signals: give "
                "one number for all signals or one per signal"
            )
        return self

    @property
    def half_maxima(self) -> tuple[float, ...]:
        """Half-maximal level of each signal."""
        if isinstance(self.half_max, tuple):
            return self.half_max
        return (self.half_max,) * len(self.signals)

    @property
    def key(self) -> tuple:
        """Identity used when a scenario overrides a default rule."""
        return (self.cell_type, self.behaviour, self.direction, tuple(self.signals))


class Event(_Model):
    """A scheduled intervention."""

    day: NonNegativeFloat
    kind: str
    target: str
    amount: float = Field(default=0.0, allow_inf_nan=False, strict=True)
    note: str = ""


class Outputs(_Model):
    """What a run writes besides the time series."""

    fields: Literal["all"] | tuple[str, ...] = "all"
    cells: bool = Field(default=True, strict=True)


class Scenario(_Model):
    """A validated, frozen scenario. Build it with :func:`load_scenario`."""

    name: str
    description: str = ""
    geometry: Geometry
    time: TimeSpec
    fields: dict[str, FieldSpec]
    keratinocyte: KeratinocyteParams
    capillary: CapillaryParams
    immune: ImmuneParams
    rules: tuple[Rule, ...]
    events: tuple[Event, ...] = ()
    outputs: Outputs = Outputs()
    initial_state: str | None = None
    seed: Annotated[int, Field(ge=0, lt=2**64, strict=True)] | None = None

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for field_id in value:
            if field_id not in vocab.FIELD_IDS:
                raise ValueError(
                    f"unknown field {field_id!r}; {vocab.suggest(field_id, vocab.FIELD_IDS)}"
                )
        return value

    @property
    def field_ids(self) -> tuple[str, ...]:
        """Field ids in their fixed vocabulary order."""
        return tuple(f for f in vocab.FIELD_IDS if f in self.fields)

    def to_yaml(self) -> str:
        """The resolved scenario as YAML text (written into every run file)."""
        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        yaml.sort_base_mapping_type_on_output = False
        stream = io.StringIO()
        yaml.dump(_plain(self.model_dump(mode="json")), stream)
        return stream.getvalue()


# ------------------------------------------------------------------------------- YAML handling
Marks = dict[tuple, tuple[str, int]]


def shipped_scenarios() -> dict[str, Path]:
    """Shipped scenario files by name."""
    folder = resources.files("mscabm") / "scenarios"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def _plain(value: Any) -> Any:
    """Ruamel types → plain Python types (dict, list, str, int, float, bool, None)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _read_yaml(path: Path) -> tuple[dict, Marks]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("file not found", file=name) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"cannot read the file ({err})", file=name) from None
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    try:
        data = yaml.load(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = (err.problem or err.context or "invalid YAML").strip()
        raise ScenarioError(f"YAML syntax error: {problem}", file=name, line=line) from None
    except YAMLError as err:
        raise ScenarioError(f"YAML error: {err}", file=name) from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ScenarioError("the top level must be a mapping of keys to values", file=name, line=1)
    marks: Marks = {}
    _collect_marks(data, (), name, marks)
    return _plain(data), marks


def _collect_marks(node: Any, path: tuple, file: str, marks: Marks) -> None:
    if getattr(node, "tag", None) is not None and type(node).__name__ == "TaggedScalar":
        raise ScenarioError(
            "custom YAML tags are not allowed", file=file, key=".".join(map(str, path))
        )
    if isinstance(node, Mapping):
        for key, value in node.items():
            line = node.lc.key(key)[0] + 1 if hasattr(node, "lc") else None
            if line is not None:
                marks[(*path, str(key))] = (file, line)
            _collect_marks(value, (*path, str(key)), file, marks)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if hasattr(node, "lc"):
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    marks[(*path, index)] = (file, node.lc.item(index)[0] + 1)
            _collect_marks(value, (*path, index), file, marks)
    elif not isinstance(node, str | int | float | bool | type(None)):
        raise ScenarioError(
            f"value of type {type(node).__name__} is not allowed (custom YAML tags are refused)",
            file=file,
            key=".".join(map(str, path)),
        )


def _rule_key(rule: Mapping) -> tuple:
    signals = rule.get("signals", [])
    return (
        rule.get("cell_type"),
        rule.get("behaviour"),
        rule.get("direction"),
        tuple(signals) if isinstance(signals, list) else signals,
    )


def _merge(base: dict, child: dict) -> dict:
    merged = dict(base)
    for key, value in child.items():
        if key == "rules" and isinstance(value, list) and isinstance(base.get(key), list):
            merged[key] = _merge_rules(base[key], value)
        elif key == "events" and isinstance(value, list) and isinstance(base.get(key), list):
            merged[key] = [*base[key], *value]
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


def _merge_rules(base: list, child: list) -> list:
    rules = [dict(r) if isinstance(r, dict) else r for r in base]
    index = {_rule_key(r): i for i, r in enumerate(rules) if isinstance(r, dict)}
    for rule in child:
        key = _rule_key(rule) if isinstance(rule, dict) else None
        if key is not None and key in index:
            position = index[key]
            rules[position] = {**rules[position], **rule}
        else:
            if key is not None:
                index[key] = len(rules)
            rules.append(rule)
    return (
        rules  # disabled rules stay until compile_rules drops them (a child may disable a default)
    )


def _resolve_extends(path: Path, chain: tuple[str, ...], marks: Marks) -> dict:
    data, file_marks = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        marks.update(file_marks)
        return data
    if not isinstance(parent, str):
        file, line = file_marks.get(("extends",), (str(path), None))
        raise ScenarioError(
            "must be a shipped scenario name or a path", file=file, line=line, key="extends"
        )
    shipped = shipped_scenarios()
    candidate = (path.parent / parent).resolve()
    if parent in shipped and not candidate.exists():
        parent_path = shipped[parent].resolve()
    elif candidate.exists():
        parent_path = candidate
    else:
        file, line = file_marks.get(("extends",), (str(path), None))
        raise ScenarioError(
            f"{parent!r} is neither a shipped scenario nor an existing file "
            f"(shipped: {', '.join(sorted(shipped))})",
            file=file,
            line=line,
            key="extends",
        )
    if str(parent_path) in chain:
        cycle = " → ".join(Path(p).name for p in (*chain, str(parent_path)))
        file, line = file_marks.get(("extends",), (str(path), None))
        raise ScenarioError(f"extends cycle: {cycle}", file=file, line=line, key="extends")
    base = _resolve_extends(parent_path, (*chain, str(parent_path)), marks)
    inherited = base.get("events")
    if isinstance(inherited, list) and isinstance(data.get("events"), list):
        # the merged list puts the parent's events first: the child's event j is at
        # len(inherited) + j, and its lines are looked up there
        file_marks = {
            (key[0], key[1] + len(inherited), *key[2:])
            if len(key) > 1 and key[0] == "events" and isinstance(key[1], int)
            else key: mark
            for key, mark in file_marks.items()
        }
    marks.update(file_marks)  # the child's lines win
    return _merge(base, data)


def _apply_set(data: dict, assignment: str) -> None:
    if "=" not in assignment:
        raise ScenarioError(f"expected dotted.key=value, got {assignment!r}", file="--set")
    dotted, text = assignment.split("=", 1)
    keys = dotted.strip().split(".")
    if not all(keys):
        raise ScenarioError(f"bad key {dotted!r}", file="--set")
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 2)
    try:
        value = _plain(yaml.load(text)) if text.strip() else ""
    except YAMLError as err:
        raise ScenarioError(
            f"cannot parse the value {text!r}: {err}", file="--set", key=dotted
        ) from None
    node = data
    for depth, key in enumerate(keys[:-1]):
        if isinstance(node, list):
            try:
                node = node[int(key)]
                continue
            except (ValueError, IndexError):
                raise ScenarioError(
                    f"{'.'.join(keys[: depth + 1])} is not an index of that list",
                    file="--set",
                    key=dotted,
                ) from None
        node = node.setdefault(key, {})
        if not isinstance(node, dict | list):
            raise ScenarioError(
                f"{'.'.join(keys[: depth + 1])} is not a mapping", file="--set", key=dotted
            )
    if isinstance(node, list):
        try:
            node[int(keys[-1])] = value
        except (ValueError, IndexError):
            raise ScenarioError("not an index of that list", file="--set", key=dotted) from None
    else:
        node[keys[-1]] = value


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class whose fields are valid at ``loc`` (for 'did you mean')."""
    model: Any = Scenario
    for part in loc:
        if model is None or not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        annotation = info.annotation
        if str(part) == "fields":
            return FieldSpec
        if str(part) in ("rules", "events"):
            return Rule if part == "rules" else Event
        model = annotation if isinstance(annotation, type) else None
    return model


def _line_of(loc: tuple, marks: Marks, default_file: str) -> tuple[str, int | None]:
    for cut in range(len(loc), 0, -1):
        mark = marks.get(tuple(loc[:cut]))
        if mark is not None:
            return mark
    return default_file, None


_TYPE_TAGS = frozenset({"float", "int", "str", "bool", "none", "tuple", "list", "dict"})


def _is_union_tag(part: object) -> bool:
    """Whether a pydantic error location part names a member of a union, not a key."""
    return isinstance(part, str) and (
        "[" in part or part.startswith(("constrained-", "function-")) or part in _TYPE_TAGS
    )

#: What a union member expects, by pydantic error type, as a user reads a YAML file.
_EXPECTED = {
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "string_type": "text",
    "bool_type": "true or false",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "a mapping",
}


def _first_problem(errors: list[dict]) -> tuple[tuple, str, int]:
    """Location, message and number of problems of a failed validation.

    A value that may take several forms (``outputs.fields``: 'all' or a list of names;
    ``half_max``: a number or one per signal) fails once per form, at locations tagged with
    the form; those count as one problem, reported at the key itself: the form's own
    problem when the value had that form (e.g. an out-of-range number, the second item of a
    list), else what the key accepts.
    """
    first = errors[0]
    loc = tuple(first["loc"])
    cut = next((i for i, part in enumerate(loc) if _is_union_tag(part)), None)
    if cut is None:
        return loc, _describe_error(first), len(errors)
    key = loc[:cut]
    forms = [e for e in errors if tuple(e["loc"])[:cut] == key and len(e["loc"]) > cut]
    forms = [e for e in forms if _is_union_tag(e["loc"][cut])]
    n_problems = len(errors) - len(forms) + 1
    # a form whose own check failed (the value had that form) says the most
    own = [
        e
        for e in forms
        if len(e["loc"]) > cut + 1 or e["type"] not in (*_EXPECTED, "literal_error")
    ]
    if own:
        chosen = max(own, key=lambda e: len(e["loc"]))
        where = tuple(p for p in chosen["loc"] if not _is_union_tag(p))
        return where, _describe_error({**chosen, "loc": where}), n_problems
    accepted = []
    for e in forms:
        if e["type"] == "literal_error":
            wanted = e["msg"].replace("Input should be ", "")
        else:
            wanted = _EXPECTED[e["type"]]
        if wanted not in accepted:
            accepted.append(wanted)
    value = first.get("input")
    return key, f"{value!r} is not allowed: expected {' or '.join(accepted)}", n_problems


def _describe_error(err: dict) -> str:
    kind, value = err["type"], err.get("input")
    loc = err["loc"]
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1]) if len(loc) > 1 else Scenario
        if len(loc) >= 2 and loc[0] in ("rules", "events") and isinstance(loc[1], int):
            parent = _model_at(loc[:1])
            if len(loc) > 3:
                parent = None
        if len(loc) >= 2 and loc[0] == "fields":
            parent = FieldSpec
        valid = tuple(parent.model_fields) if parent is not None else ()
        return (
            f"unknown key {loc[-1]!r}; {vocab.suggest(str(loc[-1]), valid)}"
            if valid
            else (f"unknown key {loc[-1]!r}")
        )
    if kind in ("float_type", "int_type", "float_parsing") and isinstance(value, str):
        return f"expected a number, got the text {value!r} (remove quotes; write 1e5 or 100000)"
    if kind == "missing":
        return "this key is required"
    if kind == "literal_error":
        return f"{value!r} is not allowed: {err['msg'].replace('Input should be ', 'expected ')}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{value!r} is out of range: {err['msg'].replace('Input should be ', 'must be ')}"
    if kind == "finite_number":
        return "must be a finite number"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {value!r}"
    message = err["msg"].removeprefix("Value error, ")
    return f"{message} (got {value!r})" if not isinstance(value, dict | list) else message


def load_scenario(
    source: str | Path | Mapping,
    *,
    overrides: Iterable[str] = (),
    duration_days: float | None = None,
    seed: int | None = None,
) -> Scenario:
    """Load, merge, validate and freeze a scenario.

    Parameters
    ----------
    source
        A path to a YAML file, the name of a shipped scenario (``"healthy_human"``), or an
        already-parsed mapping (then lines are unknown).
    overrides
        ``"dotted.key=value"`` strings applied after ``extends`` (values parsed as YAML); one
        such string on its own is one override.
    duration_days
        Replace ``time.duration_days``.
    seed
        Replace ``seed``.

    Returns
    -------
    Scenario
        The frozen scenario with every default filled in.

    Raises
    ------
    ScenarioError
        With the file, line and key of the first problem.
    """
    return _load(source, overrides, duration_days, seed, stored=False)


def reload_scenario(
    scenario: Scenario | Mapping,
    *,
    overrides: Iterable[str] = (),
    duration_days: float | None = None,
    seed: int | None = None,
) -> Scenario:
    """Validate again a scenario that was validated before, with changes.

    A scenario shortened when it was made (``--days``, ``duration_days``) keeps the events
    its file schedules after the new end; they never fire. Loading it again (a run resumed
    or forked from its stored scenario, a :class:`Scenario` run with overrides) passes over
    those events as the first load did, where :func:`load_scenario` would report them.
    Events given in ``overrides`` after the end are still an error.

    Parameters
    ----------
    scenario
        A :class:`Scenario`, or the resolved scenario a run file stores, parsed.
    overrides, duration_days, seed
        As for :func:`load_scenario`.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        With the key of the first problem.
    """
    if isinstance(scenario, Scenario):
        scenario = scenario.model_dump(mode="json")
    return _load(scenario, overrides, duration_days, seed, stored=True)


def _load(
    source: str | Path | Mapping,
    overrides: Iterable[str],
    duration_days: float | None,
    seed: int | None,
    stored: bool,
) -> Scenario:
    """:func:`load_scenario`; ``stored``: events of ``source`` after its end are passed over."""
    marks: Marks = {}
    if isinstance(source, Mapping):
        file_name = "<mapping>"
        data = _plain(source)
        if "extends" in data:
            raise ScenarioError("extends is only supported in files", file=file_name, key="extends")
    else:
        path = Path(source)
        shipped = shipped_scenarios()
        if not path.exists() and str(source) in shipped:
            path = shipped[str(source)]
        elif not path.exists() and path.suffix == "" and path.with_suffix(".yaml").exists():
            path = path.with_suffix(".yaml")
        if not path.exists():
            raise ScenarioError(
                f"no such file, and not a shipped scenario (shipped: {', '.join(sorted(shipped))})",
                file=str(source),
            )
        file_name = str(path)
        data = _resolve_extends(path.resolve(), (str(path.resolve()),), marks)
        # report lines against the name the user typed
        marks = {
            k: ((file_name if f == str(path.resolve()) else f), line)
            for k, (f, line) in marks.items()
        }
    if isinstance(overrides, str):  # one "dotted.key=value", not a list of its characters
        overrides = [overrides]
    for assignment in overrides:
        _apply_set(data, assignment)
        dotted = assignment.split("=", 1)[0].strip()
        key = tuple(dotted.split("."))
        # everything under the key now comes from --set: the file's lines there are stale
        marks = {k: v for k, v in marks.items() if k[: len(key)] != key}
        marks[key] = ("--set " + dotted, None)  # type: ignore[assignment]
    if duration_days is not None:
        data.setdefault("time", {})["duration_days"] = float(duration_days)
    if seed is not None:
        data["seed"] = int(seed)
    data.setdefault("name", Path(file_name).stem)
    species = (
        data.get("geometry", {}).get("species", "human")
        if isinstance(data.get("geometry"), dict)
        else "human"
    )
    if species not in _defaults.PROFILES:
        file, line = _line_of(("geometry", "species"), marks, file_name)
        raise ScenarioError(
            f"unknown species {species!r}; valid: {', '.join(_defaults.PROFILES)}",
            file=file,
            line=line,
            key="geometry.species",
        )
    if isinstance(data.get("fields"), dict):
        for field_id in data["fields"]:
            if field_id not in vocab.FIELD_IDS:
                file, line = _line_of(("fields", field_id), marks, file_name)
                raise ScenarioError(
                    f"unknown field {field_id!r}; {vocab.suggest(field_id, vocab.FIELD_IDS)}",
                    file=file,
                    line=line,
                    key=f"fields.{field_id}",
                )
    immune_types = (
        (data.get("immune") or {}).get("types") if isinstance(data.get("immune"), dict) else None
    )
    if isinstance(immune_types, dict):
        for type_name in immune_types:
            if type_name not in vocab.IMMUNE_TYPES:
                file, line = _line_of(("immune", "types", type_name), marks, file_name)
                raise ScenarioError(
                    f"unknown immune cell type {type_name!r}; "
                    f"{vocab.suggest(type_name, vocab.IMMUNE_TYPES)}",
                    file=file,
                    line=line,
                    key=f"immune.types.{type_name}",
                )
    defaults = _defaults.profile_defaults(species)
    resolved = _merge(defaults, data)
    # rules merge into the defaults: report a rule by its position in the user's own list
    user_rules = data.get("rules") if isinstance(data.get("rules"), list) else []
    user_index = {_rule_key(r): j for j, r in enumerate(user_rules) if isinstance(r, dict)}
    merged_to_user = {
        i: user_index[_rule_key(r)]
        for i, r in enumerate(resolved.get("rules", []))
        if isinstance(r, dict) and _rule_key(r) in user_index
    }
    _check_disabled_rules(resolved, defaults, species, merged_to_user, marks, file_name)
    try:
        scenario = Scenario.model_validate(resolved)
    except ValidationError as exc:
        loc, message, n_problems = _first_problem(exc.errors())
        if len(loc) > 1 and loc[0] == "rules" and loc[1] in merged_to_user:
            loc = ("rules", merged_to_user[loc[1]], *loc[2:])
        file, line = _line_of(loc, marks, file_name)
        more = (
            f" (and {n_problems - 1} more problem{'s' if n_problems > 2 else ''})"
            if n_problems > 1
            else ""
        )
        raise ScenarioError(
            message + more, file=file, line=line, key=_key_in_file(loc, marks, file)
        ) from None
    shortened = duration_days is not None
    _check_names(scenario, marks, file_name, merged_to_user, shortened, stored)
    _check_geometry(scenario, marks, file_name)
    _check_checkpoint_days(scenario, marks, file_name, shortened or stored)
    return scenario


def _check_disabled_rules(
    resolved: dict,
    profile: dict,
    species: str,
    merged_to_user: dict[int, int],
    marks: Marks,
    file_name: str,
) -> None:
    """An ``enabled: false`` that matches no default rule nor one its files define is an error.

    Such an entry would otherwise be read as a new rule and fail on its missing values.
    ``profile`` is the species' defaults that ``resolved`` was merged into.
    """
    rules = resolved.get("rules")
    if not isinstance(rules, list):
        return
    defaults = {_rule_key(r) for r in profile.get("rules", [])}
    for index, rule in enumerate(rules):
        if (
            isinstance(rule, dict)
            and rule.get("enabled") is False
            and _rule_key(rule) not in defaults
            and "saturation" not in rule
        ):
            cell_type, behaviour, direction, signals = _rule_key(rule)
            near = [
                f"{d} by [{', '.join(map(str, sig))}]"
                for c, b, d, sig in sorted(defaults, key=str)
                if c == cell_type and b == behaviour and isinstance(sig, tuple)
            ]
            raise _fail(
                f"no rule to disable: neither the {species} defaults nor the files extended "
                f"have a rule of {cell_type} on {behaviour} that {direction} by "
                f"{list(signals) if isinstance(signals, tuple) else signals} (a rule is found by "
                "cell_type, behaviour, direction and signals together; "
                + (
                    f"those on {behaviour}: {'; '.join(near)}"
                    if near
                    else f"none of its rules is on {behaviour}"
                )
                + "; docs/model.md section 9 lists them all)",
                ("rules", merged_to_user.get(index, index), "enabled"),
                marks,
                file_name,
            )


def _fail(message: str, loc: tuple, marks: Marks, file_name: str) -> ScenarioError:
    file, line = _line_of(loc, marks, file_name)
    return ScenarioError(message, file=file, line=line, key=_key_in_file(loc, marks, file))


def _key_in_file(loc: tuple, marks: Marks, file: str) -> str:
    """The dotted key of ``loc`` as it reads in ``file``.

    A scenario's events come after those of the scenario it extends; an event is named by
    its position in its own file's list (``events.0``), not in the merged one.
    """
    if len(loc) > 1 and loc[0] == "events" and isinstance(loc[1], int):
        first = min(
            (
                key[1]
                for key, mark in marks.items()
                if len(key) == 2 and key[0] == "events" and isinstance(key[1], int)
                and mark[0] == file
            ),
            default=0,
        )  # fmt: skip
        loc = ("events", loc[1] - first, *loc[2:])
    return ".".join(map(str, loc))


#: Event kinds whose target is always the same word.
_FIXED_EVENT_TARGETS = {
    "block_netosis": "neutrophil",
    "unblock_netosis": "neutrophil",
    "start_inducer": "inducer",
    "stop_inducer": "inducer",
}

#: Event kinds that read ``amount``, and what it is to them.
_EVENT_AMOUNTS = {
    "fix_field": "the level held (pg/mL)",
    "start_inducer": "the dose per application",
}

#: Event kinds that change the same thing of their target (two of one group on one target and
#: day would leave the outcome to their order in the file).
_EVENT_GROUPS = {
    kind: group
    for group, kinds in {
        "field": ("fix_field", "release_field", "knockout_field", "restore_field"),
        "response": ("block_response", "unblock_response"),
        "inducer": ("start_inducer", "stop_inducer"),
        "population": ("deplete", "restore_population"),
        "netosis": ("block_netosis", "unblock_netosis"),
    }.items()
    for kind in kinds
}


def _check_names(
    scenario: Scenario,
    marks: Marks,
    file_name: str,
    merged_to_user: dict[int, int],
    shortened: bool = False,
    stored: bool = False,
) -> None:
    signals = vocab.signal_names()
    saturations: dict[tuple, tuple[float, int]] = {}
    for index, rule in enumerate(scenario.rules):
        loc = ("rules", merged_to_user.get(index, index))
        if rule.cell_type not in vocab.CELL_TYPES:
            raise _fail(
                f"unknown cell type {rule.cell_type!r}; "
                f"{vocab.suggest(rule.cell_type, vocab.CELL_TYPES)}",
                (*loc, "cell_type"),
                marks,
                file_name,
            )
        behaviours = vocab.BEHAVIOURS[rule.cell_type]
        if rule.behaviour not in behaviours:
            raise _fail(
                f"unknown behaviour {rule.behaviour!r} for {rule.cell_type}; "
                f"{vocab.suggest(rule.behaviour, behaviours)}",
                (*loc, "behaviour"),
                marks,
                file_name,
            )
        for position, signal in enumerate(rule.signals):
            if signal not in signals:
                raise _fail(
                    f"unknown signal {signal!r}; {vocab.suggest(signal, signals)}",
                    (*loc, "signals", position),
                    marks,
                    file_name,
                )
            if signal in vocab.FIELD_IDS and signal not in scenario.fields:
                raise _fail(
                    f"field {signal!r} is not in this scenario's fields",
                    (*loc, "signals"),
                    marks,
                    file_name,
                )
        key = (rule.cell_type, rule.behaviour, rule.direction)
        if key in saturations and not math.isclose(
            saturations[key][0], rule.saturation, rel_tol=1e-12
        ):
            # blame a rule the user wrote (this one, or else the earlier one)
            here, there = index, saturations[key][1]
            if here not in merged_to_user and there in merged_to_user:
                here, there = there, here

            def named(i: int) -> str:
                if i in merged_to_user:
                    return f"rules[{merged_to_user[i]}]"
                return f"the default rule on {', '.join(scenario.rules[i].signals)}"

            raise _fail(
                f"saturation {scenario.rules[here].saturation:g} differs from "
                f"{scenario.rules[there].saturation:g} of {named(there)} for the same cell "
                "type, behaviour and direction (one saturation per behaviour and direction)",
                ("rules", merged_to_user.get(here, here), "saturation"),
                marks,
                file_name,
            )
        saturations[key] = (rule.saturation, index)
    changes: dict[tuple, tuple[int, str]] = {}  # (group, target, day) -> (event, its file)
    for index, event in enumerate(scenario.events):
        loc = ("events", index)
        if event.kind not in vocab.EVENT_KINDS:
            raise _fail(
                f"unknown event kind {event.kind!r}; "
                f"{vocab.suggest(event.kind, vocab.EVENT_KINDS)}",
                (*loc, "kind"),
                marks,
                file_name,
            )
        if event.kind in ("block_response", "unblock_response"):
            cell_type, _, signal = event.target.partition(":")
            if cell_type not in vocab.CELL_TYPES or signal not in signals:
                raise _fail(
                    "target must be 'cell_type:signal' "
                    f"(cell types: {', '.join(vocab.CELL_TYPES)}; "
                    f"signals: {', '.join(signals)}), got {event.target!r}",
                    (*loc, "target"),
                    marks,
                    file_name,
                )
        elif event.kind in ("deplete", "restore_population"):
            if event.target not in vocab.POPULATIONS:
                raise _fail(
                    f"unknown population {event.target!r}; "
                    f"{vocab.suggest(event.target, tuple(vocab.POPULATIONS))}",
                    (*loc, "target"),
                    marks,
                    file_name,
                )
        elif event.kind in _FIXED_EVENT_TARGETS:
            if event.target != _FIXED_EVENT_TARGETS[event.kind]:
                raise _fail(
                    f"target must be {_FIXED_EVENT_TARGETS[event.kind]!r}, got {event.target!r}",
                    (*loc, "target"),
                    marks,
                    file_name,
                )
            if event.kind == "start_inducer" and event.amount <= 0:
                raise _fail(
                    "the dose per application must be > 0 (arbitrary units, 1 = standard)",
                    (*loc, "amount"),
                    marks,
                    file_name,
                )
        elif event.target not in scenario.fields:
            raise _fail(
                f"unknown field {event.target!r}; "
                f"{vocab.suggest(event.target, scenario.field_ids)}",
                (*loc, "target"),
                marks,
                file_name,
            )
        if event.kind == "fix_field" and event.amount < 0:
            raise _fail("a fixed level must be ≥ 0 pg/mL", (*loc, "amount"), marks, file_name)
        if event.kind not in _EVENT_AMOUNTS and event.amount != 0.0:
            uses = "; ".join(f"{kind}: {what}" for kind, what in _EVENT_AMOUNTS.items())
            raise _fail(
                f"{event.kind} does not use amount (only {uses}); remove it",
                (*loc, "amount"),
                marks,
                file_name,
            )
        # in one file two such events are a mistake; a child's event comes after its parent's
        # (appended), so it wins on their common day
        same = (_EVENT_GROUPS[event.kind], event.target, event.day)
        source = _line_of(loc, marks, file_name)[0]
        if same in changes and changes[same][1] == source:
            earlier = scenario.events[changes[same][0]]
            where, line = _line_of(("events", changes[same][0]), marks, file_name)
            raise _fail(
                f"{earlier.kind} ({Path(where).name}{f':{line}' if line else ''}) and "
                f"{event.kind} both change "
                f"{event.target!r} on day {event.day:g}: which one wins would depend on their "
                "order; keep one, or put them on different days",
                (*loc, "kind"),
                marks,
                file_name,
            )
        changes[same] = (index, source)
        # a run shortened on the command line (--days, --set time.duration_days) or by a file
        # that extends the event's file simply ends before later events, and so does a
        # scenario loaded again (``stored``: it was shortened when first loaded); an event
        # written where its run's end is written (one file) or given with --set is a mistake
        if event.day > scenario.time.duration_days and not shortened:
            if not _given_with_its_end((*loc, "day"), marks, file_name, stored):
                continue  # inherited from the file this one extends, or from the first load
            raise _fail(
                f"day {event.day} is after the end of the run ({scenario.time.duration_days} days)",
                (*loc, "day"),
                marks,
                file_name,
            )
    for name, params in scenario.immune.types.items():
        loc = ("immune", "types", name)
        if params.chemotaxis_field is not None and params.chemotaxis_field not in scenario.fields:
            raise _fail(
                f"unknown field {params.chemotaxis_field!r}; "
                f"{vocab.suggest(params.chemotaxis_field, scenario.field_ids)}",
                (*loc, "chemotaxis_field"),
                marks,
                file_name,
            )
        for field_id in params.secretion_pg_per_cell_per_day:
            if field_id not in scenario.fields:
                raise _fail(
                    f"unknown field {field_id!r}; {vocab.suggest(field_id, scenario.field_ids)}",
                    (*loc, "secretion_pg_per_cell_per_day", field_id),
                    marks,
                    file_name,
                )
    if scenario.outputs.fields != "all":
        for position, field_id in enumerate(scenario.outputs.fields):
            if field_id not in scenario.fields:
                raise _fail(
                    f"unknown field {field_id!r}; {vocab.suggest(field_id, scenario.field_ids)}",
                    ("outputs", "fields", position),
                    marks,
                    file_name,
                )
    if scenario.keratinocyte.cycle_fixed_phase_h >= scenario.keratinocyte.cycle_time_h:
        raise _fail(
            "must be shorter than keratinocyte.cycle_time_h "
            f"({scenario.keratinocyte.cycle_time_h} h)",
            ("keratinocyte", "cycle_fixed_phase_h"),
            marks,
            file_name,
        )


def _given_with_its_end(loc: tuple, marks: Marks, file_name: str, stored: bool) -> bool:
    """Whether a day after the run's end at ``loc`` is a mistake, not an inherited one.

    It is when given with ``--set``, or written where the run's end is written (one file)
    unless the scenario is ``stored`` (loaded again: its first load accepted it).
    """
    source = _line_of(loc, marks, file_name)[0]
    if source.startswith("--set"):
        return True
    return not stored and source == _line_of(("time", "duration_days"), marks, file_name)[0]


def _check_checkpoint_days(
    scenario: Scenario, marks: Marks, file_name: str, shortened: bool
) -> None:
    """A checkpoint day after the run's end is a mistake where the end is written too.

    As for events: a run shortened on the command line or by a file that extends the one
    asking for the checkpoint simply ends first (``shortened`` covers the first and a
    scenario loaded again).
    """
    time = scenario.time
    late = [day for day in time.checkpoint_at_days if day > time.duration_days]
    if not late or shortened:
        return
    loc = ("time", "checkpoint_at_days")
    if not _given_with_its_end(loc, marks, file_name, stored=False):
        return  # inherited from the file this one extends
    raise _fail(
        f"checkpoint day {late[0]:g} is after the end of the run ({time.duration_days:g} days)",
        loc,
        marks,
        file_name,
    )


def _check_geometry(scenario: Scenario, marks: Marks, file_name: str) -> None:
    geometry, time = scenario.geometry, scenario.time
    for key in ("width_um", "height_um", "dermis_depth_um") + (
        ("depth_um",) if geometry.dims == 3 else ()
    ):
        ratio = getattr(geometry, key) / geometry.voxel_um
        if abs(ratio - round(ratio)) > 1e-9:
            raise _fail(
                f"{getattr(geometry, key)} is not a whole number of {geometry.voxel_um} µm voxels",
                ("geometry", key),
                marks,
                file_name,
            )
    shape = geometry.shape
    if min(shape[1:]) < 4:
        raise _fail(
            "the section must be at least 4 voxels wide", ("geometry", "width_um"), marks, file_name
        )
    kc = scenario.keratinocyte
    # room needed above the deepest basement membrane: a healthy epidermis with its stratum
    # corneum at least four times over (psoriatic thickening) plus two voxels of air
    healthy_um = kc.basal_height_um + 4 * kc.spinous_height_um + 2 * kc.corneocyte_height_um
    needed = (
        geometry.dermis_depth_um
        + geometry.bm_undulation_amplitude_um
        + 4 * healthy_um
        + 2 * geometry.voxel_um
    )
    if geometry.height_um < needed:
        raise _fail(
            f"{geometry.height_um} µm is too small for the epidermis: the dermis "
            f"({geometry.dermis_depth_um} µm), basement-membrane undulation and room for a "
            "thickened "
            f"epidermis need ≥ {math.ceil(needed / geometry.voxel_um) * geometry.voxel_um:g} µm",
            ("geometry", "height_um"),
            marks,
            file_name,
        )
    if (
        geometry.capillary_depth_um + geometry.bm_undulation_amplitude_um
        >= geometry.dermis_depth_um
    ):
        raise _fail(
            "capillaries would lie below the lattice",
            ("geometry", "capillary_depth_um"),
            marks,
            file_name,
        )
    steps_per_day = 1440.0 / time.dt_min
    if abs(steps_per_day - round(steps_per_day)) > 1e-9:
        raise _fail(
            "dt_min must divide a day (1440 min) evenly", ("time", "dt_min"), marks, file_name
        )
    for key in ("frame_interval_days", "duration_days"):
        steps = getattr(time, key) * steps_per_day
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
            raise _fail(
                f"must be a whole number of {time.dt_min}-minute steps",
                ("time", key),
                marks,
                file_name,
            )


# --------------------------------------------------------------------------------- rule compile
@dataclass(frozen=True)
class CompiledRules:
    """A scenario's rules as index arrays, with the names of their signal and behaviour axes.

    Attributes
    ----------
    signal_names, behaviour_names
        Column order of the signal and behaviour matrices (all cell types share one behaviour
        axis; a type only uses its own behaviours).
    base, saturation_up, saturation_down
        ``(n_types, n_behaviours)`` base values b0 and the saturations of increasing and
        decreasing rules (equal to the base where a behaviour has no such rule).
    table
        The rule table the kernel reads.
    """

    signal_names: tuple[str, ...]
    behaviour_names: tuple[str, ...]
    base: np.ndarray
    saturation_up: np.ndarray
    saturation_down: np.ndarray
    table: _kernels.CompiledRules

    def behaviour_index(self, name: str) -> int:
        """Column of a behaviour."""
        return self.behaviour_names.index(name)

    @functools.cached_property
    def prepared(self) -> _kernels.PreparedRules:
        """The tables checked once (the base and saturations become read-only)."""
        for array in (self.base, self.saturation_up, self.saturation_down):
            array.flags.writeable = False
        return _kernels.prepare_rules(
            self.base, self.saturation_up, self.saturation_down, *self.table.arrays()
        )

    def evaluate(self, signals: np.ndarray, cell_type: np.ndarray) -> np.ndarray:
        """Behaviour values ``(n_cells, n_behaviours)`` of cells with the given signals."""
        return self.prepared.evaluate(signals, cell_type)


def compile_rules(scenario: Scenario) -> CompiledRules:
    """Compile the scenario's enabled rules (names were checked when it loaded).

    Parameters
    ----------
    scenario
        A validated scenario.

    Returns
    -------
    CompiledRules
    """
    signal_names = vocab.signal_names()
    behaviour_names = tuple(dict.fromkeys(b for t in vocab.CELL_TYPES for b in vocab.BEHAVIOURS[t]))
    n_types, n_behaviours = len(vocab.CELL_TYPES), len(behaviour_names)
    base = np.zeros((n_types, n_behaviours))
    for type_name, values in _defaults.BASE_BEHAVIOURS.items():
        for behaviour, value in values.items():
            base[vocab.CELL_TYPES.index(type_name), behaviour_names.index(behaviour)] = value
    kc = scenario.keratinocyte
    base[vocab.CellType.KERATINOCYTE, behaviour_names.index("proliferation")] = 1.0 / (
        kc.cycle_time_h - kc.cycle_fixed_phase_h
    )
    for type_name, params in scenario.immune.types.items():
        row = vocab.CELL_TYPES.index(type_name)
        base[row, behaviour_names.index("death")] = (
            1.0 / params.lifetime_h if params.lifetime_h is not None else 0.0
        )
        base[row, behaviour_names.index("proliferation")] = params.proliferation_per_h
        base[row, behaviour_names.index("emigration")] = params.emigration_per_h
        base[row, behaviour_names.index("motility")] = params.speed_um_per_min
        base[row, behaviour_names.index("chemotaxis")] = params.chemotactic_index
        for field_id, rate in params.secretion_pg_per_cell_per_day.items():
            base[row, behaviour_names.index(f"secrete_{field_id}")] = rate
    base[vocab.CellType.NEUTROPHIL, behaviour_names.index("il17a_capture")] = (
        scenario.immune.neutrophil_il17a_capture_per_h
    )
    capillary_row = int(vocab.CellType.CAPILLARY)
    for behaviour, rate in recruitment_base(scenario).items():
        base[capillary_row, behaviour_names.index(behaviour)] = rate
    saturation_up = base.copy()
    saturation_down = base.copy()
    rows = []
    for rule in (r for r in scenario.rules if r.enabled):
        cell_type = vocab.CELL_TYPES.index(rule.cell_type)
        behaviour = behaviour_names.index(rule.behaviour)
        increases = rule.direction == "increases"
        saturation = rule.saturation
        if rule.cell_type == "capillary" and rule.behaviour in SITE_SCALED_RECRUITMENT:
            saturation *= capillary_site_scale(scenario) if increases else 1.0
        (saturation_up if increases else saturation_down)[cell_type, behaviour] = saturation
        terms = [
            (signal_names.index(s), k, rule.hill_power)
            for s, k in zip(rule.signals, rule.half_maxima, strict=True)
        ]
        rows.append((cell_type, behaviour, 1 if increases else -1, terms))
    return CompiledRules(
        signal_names=signal_names,
        behaviour_names=behaviour_names,
        base=base,
        saturation_up=saturation_up,
        saturation_down=saturation_down,
        table=_kernels.CompiledRules.from_rules(rows),
    )


def section_area_mm2(scenario: Scenario) -> float:
    """Skin surface (mm²) the lattice stands for (2-D: width × one voxel of thickness).

    The same number as :attr:`mscabm.layout.Layout.surface_mm2`.
    """
    geometry = scenario.geometry
    lateral_mm = [n * geometry.voxel_um / 1000.0 for n in geometry.shape[1:]]
    if len(lateral_mm) == 1:
        lateral_mm.append(geometry.voxel_um / 1000.0)
    return float(np.prod(lateral_mm))


def n_capillaries(scenario: Scenario) -> int:
    """Number of capillary sites :func:`mscabm.layout.build_layout` places (one per spacing)."""
    spacing = max(1, round(scenario.capillary.spacing_um / scenario.geometry.voxel_um))
    return int(np.prod([-(-n // spacing) for n in scenario.geometry.shape[1:]]))


#: Skin surface (µm²) one capillary site stands for in the section on which the saturations of
#: the recruitment rules are calibrated: the human 2-D section, a papillary loop every 12 voxels
#: of 10 µm, one 10 µm voxel thick (``capillary.spacing_um`` 125 rounds to 12 voxels).
REFERENCE_CAPILLARY_SITE_UM2 = 1200.0

#: Capillary behaviours whose rule saturations are entries per reference site and scale with
#: the skin a site stands for (``recruit_primed_t`` is per circulating cell and does not).
SITE_SCALED_RECRUITMENT = (
    "recruit_neutrophil",
    "recruit_monocyte",
    "recruit_pdc",
    "recruit_dermal_dc",
)


def capillary_site_area_um2(scenario: Scenario) -> float:
    """Skin surface (µm²) one capillary site stands for.

    Sites sit every ``round(capillary.spacing_um / voxel_um)`` voxels along each lateral axis
    (:func:`mscabm.layout.build_layout`); a 2-D section is one voxel thick.
    """
    geometry = scenario.geometry
    spacing_voxels = max(1, round(scenario.capillary.spacing_um / geometry.voxel_um))
    spacing_um = spacing_voxels * geometry.voxel_um
    lateral_axes = len(geometry.shape) - 1
    return spacing_um * (spacing_um if lateral_axes == 2 else geometry.voxel_um)


def capillary_site_scale(scenario: Scenario) -> float:
    """Factor on the recruitment rule saturations: site area / the reference site's.

    Entry of leukocytes is a flux per area of skin (per length of papillary vessel), so a site
    that stands for less skin (a thinner section, denser loops) admits proportionally fewer
    cells. Exactly 1 for the human 2-D default geometry. The base rates that keep residents
    stationary (:func:`recruitment_base`) are already per site and are not scaled.
    """
    return capillary_site_area_um2(scenario) / REFERENCE_CAPILLARY_SITE_UM2


def recruitment_base(scenario: Scenario) -> dict[str, float]:
    """Base entry rates per capillary (1/h) that keep resident populations stationary.

    A type with ``renewal: recruitment`` loses ``N / lifetime_h`` cells per hour (N its resident
    number in the section); entry at healthy perfusion replaces them. Monocytes enter as
    ``macrophage_m0``.

    Returns
    -------
    dict
        ``recruit_monocyte`` and ``recruit_dermal_dc`` (per capillary, 1/h). Memory T cells
        enter through :func:`memory_t_entry_per_h`.
    """
    area = section_area_mm2(scenario)
    sites = n_capillaries(scenario)
    rates = {"recruit_monocyte": 0.0, "recruit_dermal_dc": 0.0}
    for name, params in scenario.immune.types.items():
        if params.renewal != "recruitment" or params.lifetime_h is None:
            continue
        loss_per_h = params.resident_per_mm2 * area / params.lifetime_h
        key = {"macrophage_m0": "recruit_monocyte", "dermal_dc": "recruit_dermal_dc"}.get(name)
        if key is not None:
            rates[key] += loss_per_h / sites
    return rates


def memory_t_entry_per_h(scenario: Scenario) -> dict[str, float]:
    """Entry rate (cells/h, whole section, healthy perfusion) of recirculating memory T cells.

    One per T-cell type with ``renewal: recruitment``: ``N / lifetime_h``.
    """
    area = section_area_mm2(scenario)
    return {
        name: params.resident_per_mm2 * area / params.lifetime_h
        for name, params in scenario.immune.types.items()
        if params.renewal == "recruitment"
        and params.lifetime_h is not None
        and name not in ("macrophage_m0", "dermal_dc")
    }


def scenario_json_schema() -> dict:
    """JSON schema of the scenario format (for editor completion)."""
    return Scenario.model_json_schema()
