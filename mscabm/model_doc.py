"""The model description ``docs/model.md`` (ODD protocol), generated from the code.

:func:`render_model_doc` returns the whole Markdown text: a hand-written narrative in the ODD
structure (Grimm et al. 2020: overview, design concepts, details) whose numbers are filled in
from the code, followed by generated sections: the parameter tables of both species profiles
(:func:`mscabm.defaults.profile_defaults`) with a source per row
(:func:`mscabm.parameter_sources.source_for`), the default rules, derived quantities, the
vocabulary and the references. ``python scripts/make_model_doc.py`` writes the file and
``--check`` tells whether it is current; a test compares the file with this function, so the
description never drifts from the code.
"""

from __future__ import annotations

import inspect
import itertools
import math
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from mscabm import defaults as _defaults
from mscabm import readouts as _readouts
from mscabm import vocab
from mscabm.parameter_sources import REFERENCES, source_for

__all__ = [
    "PARAMETER_TABLE_HEADER",
    "ParameterRow",
    "parameter_rows",
    "render_model_doc",
    "rule_groups",
]

#: Header row of every generated parameter table (tests find the tables by it).
PARAMETER_TABLE_HEADER = "| key | human | mouse | source |"

#: Sections of the parameter tables: (title, path in the profile dict, how rows are grouped).
_SECTIONS: tuple[tuple[str, str], ...] = (
    ("Geometry", "geometry"),
    ("Time", "time"),
    ("Fields", "fields"),
    ("Keratinocytes", "keratinocyte"),
    ("Capillaries", "capillary"),
    ("Immune system: globals", "immune"),
    ("Immune system: lymph node", "immune.lymph_node"),
    ("Immune system: cell types", "immune.types"),
)

#: Units of behaviour values (saturations in the rule tables), from ``mscabm/vocab.py``.
_BEHAVIOUR_UNITS: dict[tuple[str, str], str] = {
    ("keratinocyte", "proliferation"): "1/h",
    ("keratinocyte", "suprabasal_proliferation"): "probability",
    ("keratinocyte", "differentiation"): "× speed",
    ("keratinocyte", "parakeratosis"): "probability",
    ("keratinocyte", "shedding"): "× speed",
    ("capillary", "dilation"): "× perfusion",
    ("capillary", "recruit_primed_t"): "1/h per circulating cell",
    ("*", "motility"): "µm/min",
    ("*", "chemotaxis"): "index 0-1",
}

_EVENT_MEANINGS: dict[str, str] = {
    "fix_field": "hold a field at `amount` pg/mL in dermis and viable epidermis (not transported)",
    "release_field": "stop holding it",
    "knockout_field": "no cell secretes the field and it is held at 0 everywhere",
    "restore_field": "end a knockout",
    "block_response": "`target` = `cell_type:signal`: that cell type senses the signal as 0",
    "unblock_response": "end a blocked response",
    "start_inducer": "apply the topical inducer now and once a day, `amount` per application",
    "stop_inducer": "no further applications (what was applied still decays)",
    "deplete": "`target` = a population: its cells are removed now and none arrive or form",
    "restore_population": "end a depletion",
    "block_netosis": "`target` = `neutrophil`: no new NETosis commitment",
    "unblock_netosis": "end a NETosis block",
}


# ------------------------------------------------------------------------------- formatting
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _number(value: float, digits: int = 4) -> str:
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        exponent = str(int(exponent)).translate(_SUPERSCRIPT)
        return f"10{exponent}" if mantissa == "1" else f"{mantissa}×10{exponent}"
    return text


def _fmt(value: Any) -> str:
    """A default value as table text."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, dict):
        return "; ".join(f"{k} {_fmt(v)}" for k, v in value.items()) if value else "none"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value) if value else "none"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _at(tree: dict, path: str) -> Any:
    node: Any = tree
    for part in path.split("."):
        node = node[part]
    return node


# ------------------------------------------------------------------------------- the context
@dataclass(frozen=True)
class ParameterRow:
    """One row of a generated parameter table.

    Attributes
    ----------
    section
        Title of the table section.
    key
        Dotted default key (units in its name).
    human, mouse
        Formatted values of the two profiles (``mouse`` is ``"same"`` when equal).
    source
        Where the default comes from (the mouse source appended when it differs).
    """

    section: str
    key: str
    human: str
    mouse: str
    source: str


class _Context:
    """Everything the document reads from the code, computed once per rendering."""

    @cached_property
    def human(self) -> dict[str, Any]:
        return _defaults.profile_defaults("human")

    @cached_property
    def mouse(self) -> dict[str, Any]:
        return _defaults.profile_defaults("mouse")

    @cached_property
    def scenarios(self) -> dict[str, Any]:
        from mscabm.scenario import load_scenario

        return {s: load_scenario(f"healthy_{s}") for s in ("human", "mouse")}

    @cached_property
    def shipped_states(self) -> dict[str, dict]:
        from mscabm import initial_state

        states = {}
        for name in sorted(initial_state.shipped_states()):
            _, meta = initial_state.load(name)
            states[name] = meta
        return states

    @cached_property
    def derived(self) -> dict[str, str]:
        from mscabm.engine import Simulation
        from mscabm.processes import immune, transport
        from mscabm.scenario import n_capillaries, section_area_mm2

        human = self.human
        rules = human["rules"]
        q = getattr(_defaults, "_Q", None)
        il17a_half_life = human["fields"]["il17a"]["half_life_min"]
        baseline = self.shipped_states.get("healthy_human", {}).get("baseline") or {}
        depth_um = human["geometry"]["dermis_depth_um"] + baseline.get(
            "viable_epidermis_thickness_um", 0.0
        )
        loss_per_day = 1440.0 * math.log(2.0) / il17a_half_life
        t_cells = [t for t in vocab.POPULATIONS["t_cells"] if t in human["immune"]["types"]]
        t_per_mm2 = sum(human["immune"]["types"][t]["resident_per_mm2"] for t in t_cells)
        t_per_ml = t_per_mm2 / (depth_um * 1e-3) * 1e3  # per mm³ → per mL
        scenario = self.scenarios["human"]
        values = {
            "n_rules": str(len(rules)),
            "n_rule_groups": str(len({(r["cell_type"], r["behaviour"]) for r in rules})),
            "hill_powers": ", ".join(sorted({_number(r["hill_power"]) for r in rules})),
            "reference_voxel_um": _number(transport.REFERENCE_VOXEL_UM),
            "papillary_dermis_um": _number(getattr(immune, "_PAPILLARY_DERMIS_UM", float("nan"))),
            "displaced_radius": str(_default_of(immune, "_free_nearby", "radius")),
            "equilibration_steps": str(_default_of(Simulation, "_equilibrate_fields", "max_steps")),
            "readout_window_days": _number(_default_of(_readouts, "measure", "window_days")),
            "microabscess_min": str(_readouts.MICROABSCESS_MIN_NEUTROPHILS),
            "th17_treg_min": str(_readouts.TH17_TREG_MIN_TREGS),
            "q_unit": _number(q) if q is not None else "(see mscabm/defaults.py)",
            "il17a_half_life_min": _number(il17a_half_life),
            "mass_depth_um": _number(round(depth_um)),
            "t_per_mm2": _number(t_per_mm2),
            "t_per_ml": _number(t_per_ml, 2),
            "estimate_level_low": _number(t_per_ml * 0.1 / loss_per_day, 2),
            "estimate_level_high": _number(t_per_ml * 1.0 / loss_per_day, 2),
            "q_level_density": _number(t_per_ml * q / loss_per_day, 2) if q else "?",
            "immune_voxel_factor": _immune_voxel_factor(self.mouse["geometry"]["voxel_um"]),
            "human_area_mm2": _number(section_area_mm2(scenario)),
            "human_capillaries": str(n_capillaries(scenario)),
            "immune_first_id": _power_of_two(int(immune.IMMUNE_FIRST_ID)),
        }
        return values


def _immune_voxel_factor(voxel_um: float) -> str:
    """How immune-cell secretion is scaled with the voxel size (read from the code)."""
    from types import SimpleNamespace

    from mscabm.processes import immune, transport

    probe = SimpleNamespace(layout=SimpleNamespace(voxel_um=voxel_um))
    factor = float(immune.field_mass_per_cell_pg(probe))  # type: ignore[arg-type]
    if math.isclose(factor, 1.0):
        return (
            "without that factor (`field_mass_per_cell_pg` is 1: immune densities are per volume)"
        )
    if math.isclose(factor, (voxel_um / transport.REFERENCE_VOXEL_UM) ** 3):
        return "with the same factor (`field_mass_per_cell_pg`)"
    return f"with the factor `field_mass_per_cell_pg` ({_number(factor)} at {_number(voxel_um)} µm)"


def _power_of_two(value: int) -> str:
    exponent = value.bit_length() - 1
    if value == 1 << exponent:
        return "2" + str(exponent).translate(_SUPERSCRIPT)
    return str(value)


def _default_of(owner: Any, function: str, parameter: str) -> Any:
    """Default value of a parameter of a function in the code (for the narrative)."""
    target = getattr(owner, function, None)
    if target is None:
        return "?"
    value = inspect.signature(target).parameters.get(parameter)
    return "?" if value is None else value.default


# ------------------------------------------------------------------------------ parameters
def _flatten(tree: dict, prefix: str) -> dict[str, Any]:
    return {f"{prefix}.{k}": v for k, v in tree.items()}


def _section_items(profile: dict, path: str) -> dict[str, Any]:
    if path == "fields":
        out: dict[str, Any] = {}
        for field_id, spec in profile["fields"].items():
            out.update(_flatten(spec, f"fields.{field_id}"))
        return out
    if path == "immune":
        return {
            f"immune.{k}": v
            for k, v in profile["immune"].items()
            if k not in ("lymph_node", "types")
        }
    if path == "immune.types":
        out = {}
        for name, params in profile["immune"]["types"].items():
            out.update(_flatten(params, f"immune.types.{name}"))
        return out
    return _flatten(_at(profile, path), path)


def _source_text(key: str) -> str:
    human = source_for(key, "human")
    mouse = source_for(key, "mouse")
    if mouse and mouse != human:
        return f"{human} **Mouse:** {mouse}" if human else f"**Mouse:** {mouse}"
    return human


#: Field keys always listed per field (so every field has rows of its own).
_PER_FIELD_KEYS = ("diffusion_um2_per_min", "half_life_min")


def _field_rows(context: _Context, title: str) -> list[ParameterRow]:
    """Field rows: one ``fields.*.<key>`` row where every field agrees, else one per field."""
    human, mouse = context.human["fields"], context.mouse["fields"]
    field_ids = list(human)
    params = list(dict.fromkeys(k for f in field_ids for k in human[f]))
    shared, per_field = [], []
    for param in params:
        values = {(_fmt(human[f].get(param)), _fmt(mouse.get(f, {}).get(param))) for f in field_ids}
        sources = {_source_text(f"fields.{f}.{param}") for f in field_ids}
        if param not in _PER_FIELD_KEYS and len(values) == 1 and len(sources) == 1:
            ((h, m),) = values
            (source,) = sources
            shared.append(
                ParameterRow(title, f"fields.*.{param}", h, "same" if m == h else m, source)
            )
        else:
            per_field.append(param)
    rows = list(shared)
    for field_id in field_ids:
        for param in per_field:
            key = f"fields.{field_id}.{param}"
            h = _fmt(human[field_id][param]) if param in human[field_id] else "—"
            m = _fmt(mouse[field_id][param]) if param in mouse.get(field_id, {}) else "—"
            rows.append(ParameterRow(title, key, h, "same" if m == h else m, _source_text(key)))
    return rows


def _rows(context: _Context) -> list[ParameterRow]:
    rows = []
    for title, path in _SECTIONS:
        if path == "fields":
            rows += _field_rows(context, title)
            continue
        human = _section_items(context.human, path)
        mouse = _section_items(context.mouse, path)
        for key in [*human, *(k for k in mouse if k not in human)]:
            h = _fmt(human[key]) if key in human else "—"
            m = _fmt(mouse[key]) if key in mouse else "—"
            rows.append(ParameterRow(title, key, h, "same" if m == h else m, _source_text(key)))
    return rows


def parameter_rows() -> list[ParameterRow]:
    """Rows of the generated parameter tables, in document order.

    Returns
    -------
    list of ParameterRow
        One row per default key of the sections geometry, time, fields, keratinocyte,
        capillary, immune globals, lymph node and immune types.
    """
    return _rows(_Context())


def _parameter_section(context: _Context) -> str:
    rows = _rows(context)
    parts = [
        "## 8 Parameters (generated)\n",
        "Every default of the two species profiles, read from `mscabm/defaults.py` "
        "(`profile_defaults`). Units are in the key names (`_um`, `_h`, `_min`, `_days`, "
        "`_per_h`, `_per_mm2`, `_pg_per_ml`, ...). *mouse* shows `same` where the mouse profile "
        "has the human value. Sources come from `mscabm.defaults.SOURCES` and "
        "`mscabm.parameter_sources.PARAMETER_SOURCES` (exact key, else the most specific "
        "wildcard entry); each starts with its status: **BIOLOGY.md** stated in the biology "
        "specification, **V** read in a source, **U** an "
        "order-of-magnitude starting point to calibrate, **calibrated (target N)** with the "
        "value before calibration, **derived**, **model choice** or **run setting**. Citation "
        "keys are listed in section 12.\n",
    ]
    number = 0
    for title, path in _SECTIONS:
        number += 1
        these = [r for r in rows if r.section == title]
        parts.append(f"### 8.{number} {title}\n")
        if path == "fields":
            parts.append(
                "A `fields.*.<key>` row holds for every field (same value and source); the "
                "other keys are listed per field.\n"
            )
        if path == "immune.types":
            for name in context.human["immune"]["types"]:
                prefix = f"immune.types.{name}."
                parts.append(f"#### `{name}`\n")
                parts.append(
                    _table(
                        PARAMETER_TABLE_HEADER.strip("| ").split(" | "),
                        (
                            (f"`{r.key}`", r.human, r.mouse, r.source)
                            for r in these
                            if r.key.startswith(prefix)
                        ),
                    )
                    + "\n"
                )
            continue
        parts.append(
            _table(
                PARAMETER_TABLE_HEADER.strip("| ").split(" | "),
                ((f"`{r.key}`", r.human, r.mouse, r.source) for r in these),
            )
            + "\n"
        )
    return "\n".join(parts)


# ----------------------------------------------------------------------------------- rules
def _behaviour_unit(cell_type: str, behaviour: str) -> str:
    if (cell_type, behaviour) in _BEHAVIOUR_UNITS:
        return _BEHAVIOUR_UNITS[(cell_type, behaviour)]
    if ("*", behaviour) in _BEHAVIOUR_UNITS:
        return _BEHAVIOUR_UNITS[("*", behaviour)]
    if behaviour.startswith("secrete_"):
        return "pg/cell/day"
    if behaviour.startswith("recruit_"):
        return "1/h per capillary"
    return "1/h"


def _signal_text(signals: list[str]) -> str:
    return " AND ".join(f"`{s}`" for s in signals)


def _rules_section(context: _Context) -> str:
    human_rules = context.human["rules"]
    mouse_rules = {
        (r["cell_type"], r["behaviour"], r["direction"], tuple(r["signals"])): r
        for r in context.mouse["rules"]
    }
    human_keys = [
        (r["cell_type"], r["behaviour"], r["direction"], tuple(r["signals"])) for r in human_rules
    ]
    same_rules = (
        "the mouse profile has the same rules"
        if sorted(human_keys) == sorted(mouse_rules)
        else "the mouse profile's rule set differs; only rules present in both are compared"
    )
    parts = [
        "## 9 Rules (generated)\n",
        f'The {context.derived["n_rules"]} default rules of `profile_defaults("human")'
        f'["rules"]` ({same_rules}; mouse saturations that differ, from '
        "`SPECIES_RULE_SATURATION`, are shown as *mouse: x*). Semantics in section 7.1. "
        "Half-maxima are in pg/mL for fields, µm for `height_above_bm_um`, arbitrary units "
        "(1 = one standard dose) for `inducer`, cells (or NETs) in the voxel and its von Neumann "
        "neighbours for `contact_<type>` and `net_contact`, and cleared cells for "
        "`efferocytosis_recent`. A rule with several signals is the product of their Hill "
        "terms (AND).\n",
    ]
    species_saturation = _defaults.SPECIES_RULE_SATURATION
    if species_saturation:
        lines = ["Species-specific saturations (`SPECIES_RULE_SATURATION`):\n"]
        for species, table in species_saturation.items():
            for (cell_type, behaviour, direction), value in table.items():
                key = f"rules.{cell_type}.{behaviour}"
                lines.append(
                    f"- {species}: `{cell_type}` `{behaviour}` ({direction}) saturation "
                    f"{_fmt(value)} — {source_for(key, species, fallback=False)}"
                )
        parts.append("\n".join(lines) + "\n")
    disabled = _defaults.SPECIES_DISABLED_RULES
    if disabled:
        lines = ["Rules a species lacks (`SPECIES_DISABLED_RULES`, disabled in its profile):\n"]
        for species, entries in disabled.items():
            for cell_types, signals, behaviours, reason in entries:
                which = (
                    f" setting {', '.join(f'`{b}`' for b in behaviours)}" if behaviours else ""
                )
                lines.append(
                    f"- {species}: every rule of {', '.join(f'`{t}`' for t in cell_types)} "
                    f"driven by {' + '.join(f'`{g}`' for g in signals)} alone{which} — {reason}"
                )
        parts.append("\n".join(lines) + "\n")
    header = (
        "cell type",
        "signals",
        "direction",
        "behaviour",
        "saturation",
        "unit",
        "half-max",
        "Hill power",
    )
    number = 0
    for cell_type in vocab.CELL_TYPES:
        these = [r for r in human_rules if r["cell_type"] == cell_type]
        if not these:
            continue
        number += 1
        behaviours = list(dict.fromkeys(r["behaviour"] for r in these))
        ordered = sorted(these, key=lambda r: behaviours.index(r["behaviour"]))
        rows = []
        for rule in ordered:
            key = (rule["cell_type"], rule["behaviour"], rule["direction"], tuple(rule["signals"]))
            saturation = _fmt(float(rule["saturation"]))
            mouse = mouse_rules.get(key)
            if mouse is not None and mouse["saturation"] != rule["saturation"]:
                saturation += f" (mouse: {_fmt(float(mouse['saturation']))})"
            half_max = rule["half_max"]
            rows.append(
                (
                    f"`{cell_type}`",
                    _signal_text(rule["signals"]),
                    rule["direction"],
                    f"`{rule['behaviour']}`",
                    saturation,
                    _behaviour_unit(cell_type, rule["behaviour"]),
                    _fmt(half_max if isinstance(half_max, list) else float(half_max)),
                    _fmt(float(rule["hill_power"])),
                )
            )
        parts.append(f"### 9.{number} `{cell_type}`\n")
        parts.append(_table(header, rows) + "\n")
        sources = []
        for behaviour in behaviours:
            key = f"rules.{cell_type}.{behaviour}"
            text = source_for(key, "human", fallback=False)
            mouse_text = source_for(key, "mouse", fallback=False)
            if mouse_text != text:
                text += f" **Mouse:** {mouse_text}"
            sources.append(f"- `{behaviour}`: {text}")
        parts.append("Sources:\n\n" + "\n".join(sources) + "\n")
    return "\n".join(parts)


def rule_groups() -> list[tuple[str, str]]:
    """``(cell_type, behaviour)`` of every default rule group (each needs a source).

    Returns
    -------
    list of tuple
        In document order.
    """
    rules = _defaults.profile_defaults("human")["rules"]
    return list(dict.fromkeys((r["cell_type"], r["behaviour"]) for r in rules))


# --------------------------------------------------------------------------------- derived
def _derived_section(context: _Context) -> str:
    from mscabm.scenario import (
        compile_rules,
        memory_t_entry_per_h,
        n_capillaries,
        recruitment_base,
        section_area_mm2,
    )

    scenarios = context.scenarios
    parts = [
        "## 10 Derived quantities (generated)\n",
        "Computed by the code from the defaults of the shipped healthy scenarios "
        "(`healthy_human`, `healthy_mouse`), whose sections are "
        + " and ".join(
            f"{_fmt(scenarios[s].geometry.width_um)} µm wide ({s})" for s in ("human", "mouse")
        )
        + ".\n",
    ]
    rows = []
    for species in ("human", "mouse"):
        scenario = scenarios[species]
        kc = scenario.keratinocyte
        base = recruitment_base(scenario)
        rows.append(
            (
                species,
                _number(section_area_mm2(scenario)),
                str(n_capillaries(scenario)),
                _number(1.0 / (kc.cycle_time_h - kc.cycle_fixed_phase_h)),
                _number(base["recruit_monocyte"]),
                _number(base["recruit_dermal_dc"]),
            )
        )
    parts.append(
        "Section surface (2-D: width × one voxel), capillary sites, the keratinocyte base "
        "rate of leaving G1/G0 (`1/(cycle_time_h − cycle_fixed_phase_h)`, set by "
        "`compile_rules`) and the base entry rates per capillary at healthy perfusion that "
        "replace resident macrophages and dermal DCs (`scenario.recruitment_base`: "
        "`resident_per_mm2 × surface / lifetime_h / sites`):\n"
    )
    parts.append(
        _table(
            (
                "profile",
                "surface (mm²)",
                "capillary sites",
                "keratinocyte proliferation base (1/h)",
                "recruit_monocyte base (1/h per capillary)",
                "recruit_dermal_dc base (1/h per capillary)",
            ),
            rows,
        )
        + "\n"
    )
    entry = {s: memory_t_entry_per_h(scenarios[s]) for s in ("human", "mouse")}
    names = list(dict.fromkeys([*entry["human"], *entry["mouse"]]))
    parts.append(
        "Entry of recirculating memory T cells (`scenario.memory_t_entry_per_h`: "
        "`resident_per_mm2 × surface / lifetime_h`, cells per hour for the whole section at "
        "healthy perfusion, shared equally among capillary sites):\n"
    )
    parts.append(
        _table(
            ("type", "human (cells/h)", "mouse (cells/h)"),
            (
                (
                    f"`{n}`",
                    _number(entry["human"].get(n, 0.0)),
                    _number(entry["mouse"].get(n, 0.0)),
                )
                for n in names
            ),
        )
        + "\n"
    )
    t_cells = vocab.POPULATIONS["t_cells"]
    totals = {
        species: sum(
            profile["immune"]["types"][t]["resident_per_mm2"]
            for t in t_cells
            if t in profile["immune"]["types"]
        )
        for species, profile in (("human", context.human), ("mouse", context.mouse))
    }
    parts.append(
        "Resident T cells in healthy skin (all T-cell types, `resident_per_mm2` summed): "
        f"human {_number(totals['human'])}/mm², mouse {_number(totals['mouse'])}/mm² "
        "(Clark 2006, BIOLOGY.md: ≈ 1×10⁶ T cells/cm² = 10⁴/mm² in normal human skin).\n"
    )
    compiled = compile_rules(scenarios["human"])
    neutrophil = vocab.CELL_TYPES.index("neutrophil")
    capture = compiled.base[neutrophil, compiled.behaviour_index("il17a_capture")]
    capture_rules = [
        r
        for r in context.human["rules"]
        if r["cell_type"] == "neutrophil" and r["behaviour"] == "il17a_capture"
    ]
    production = context.human["immune"]["net_il17a_production_pg"]
    parts.append(
        f"Neutrophil IL-17A capture (`il17a_capture`): base {_number(float(capture))} /h and "
        f"{len(capture_rules)} default rule(s); NET IL-17A production "
        f"`immune.net_il17a_production_pg` = {_fmt(production)} pg per NET.\n"
    )
    kc_rows = [
        (f"`{f}`", _number(base), _number(sat), _number(healthy), _number(lesional), source)
        for f, (base, sat, healthy, lesional, source) in _defaults.KC_SECRETION.items()
    ]
    parts.append(
        "Keratinocyte secretion (`KC_SECRETION`, pg/cell/day at the "
        f"{context.derived['reference_voxel_um']} µm reference voxel): base (healthy) and "
        "saturation (fully activated) rates and the tissue levels they were calibrated to reach "
        "(section 7.2):\n"
    )
    parts.append(
        _table(
            (
                "field",
                "base",
                "saturation",
                "healthy target (pg/mL)",
                "lesional target (pg/mL)",
                "source of the targets",
            ),
            kc_rows,
        )
        + "\n"
    )
    d = context.derived
    parts.append(
        f"Immune secretion unit `_Q` = {d['q_unit']} pg/cell/day: producers at the density of "
        f"all resident T cells of the human profile ({d['t_per_mm2']}/mm² over ≈ "
        f"{d['mass_depth_um']} µm of dermis and viable epidermis, the dermis plus the healthy "
        f"viable thickness of the shipped human state: ρ ≈ {d['t_per_ml']}/mL) secreting `_Q` "
        f"into a field with the IL-17A half-life ({d['il17a_half_life_min']} min) keep a mean "
        f"level of ≈ {d['q_level_density']} pg/mL; at 0.1-1 pg/cell/day they would keep ≈ "
        f"{d['estimate_level_low']}-{d['estimate_level_high']} pg/mL (section 7.2).\n"
    )
    return "\n".join(parts)


# ------------------------------------------------------------------------------- vocabulary
def _vocabulary_section() -> str:
    parts = ["## 11 Vocabulary (generated from `mscabm/vocab.py`)\n"]
    parts.append(
        "Cell types (code = position; immune types from code "
        f"{vocab.FIRST_IMMUNE_CODE}):\n\n"
        + _table(
            ("code", "cell type"), ((str(i), f"`{t}`") for i, t in enumerate(vocab.CELL_TYPES))
        )
        + "\n"
    )
    parts.append(
        "Transitions (`become_<target>` behaviours):\n\n"
        + _table(
            ("from", "to"),
            (
                (f"`{s}`", ", ".join(f"`{t}`" for t in targets))
                for s, targets in vocab.TRANSITIONS.items()
            ),
        )
        + "\n"
    )
    parts.append(
        "Signals a rule may read (fields first): "
        + ", ".join(f"`{s}`" for s in vocab.signal_names())
        + ".\n"
    )
    secrete = {f"secrete_{f}" for f in vocab.FIELD_IDS}
    immune_sets = [set(vocab.BEHAVIOURS[t]) for t in vocab.IMMUNE_TYPES]
    common = [
        b for b in vocab.BEHAVIOURS[vocab.IMMUNE_TYPES[0]] if all(b in s for s in immune_sets)
    ]

    def listing(behaviours: Iterable[str]) -> str:
        behaviours = list(behaviours)
        shown = [f"`{b}`" for b in behaviours if b not in secrete]
        if secrete <= set(behaviours):
            shown.append("`secrete_<field>` for every field")
        else:
            shown += [f"`{b}`" for b in behaviours if b in secrete]
        return ", ".join(shown)

    rows = [(f"`{t}`", listing(vocab.BEHAVIOURS[t])) for t in ("keratinocyte", "capillary")]
    rows.append(("every immune type", listing(common)))
    for t in vocab.IMMUNE_TYPES:
        extra = [b for b in vocab.BEHAVIOURS[t] if b not in common]
        if extra:
            rows.append((f"`{t}` also", listing(extra)))
    parts.append("Behaviours per cell type:\n\n" + _table(("cell type", "behaviours"), rows) + "\n")
    parts.append(
        "Event kinds:\n\n"
        + _table(
            ("kind", "meaning"),
            (
                (f"`{k}`", _EVENT_MEANINGS.get(k, "see `mscabm/vocab.py`"))
                for k in vocab.EVENT_KINDS
            ),
        )
        + "\n"
    )
    parts.append(
        "Populations (targets of `deplete` / `restore_population`):\n\n"
        + _table(
            ("population", "immune types"),
            (
                (f"`{p}`", ", ".join(f"`{t}`" for t in types))
                for p, types in vocab.POPULATIONS.items()
            ),
        )
        + "\n"
    )
    parts.append(
        "Tissue-layer codes (`/lattice/tissue`): "
        + ", ".join(f"{code} `{name}`" for name, code in vocab.TISSUE_CODES.items())
        + ". Mobile-layer codes (`/lattice/mobile`): 0 none, then "
        + ", ".join(f"{code} `{name}`" for name, code in vocab.MOBILE_CODES.items() if code)
        + "; a voxel shows its occupant of highest display priority.\n"
    )
    return "\n".join(parts)


# ------------------------------------------------------------------------------- narrative
def _engine_step_block() -> str:
    """The numbered step list of :mod:`mscabm.engine`'s docstring, verbatim."""
    from mscabm import engine

    lines = (engine.__doc__ or "").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip().endswith("::"))
    except StopIteration:
        return "(see mscabm/engine.py)"
    block = []
    for line in lines[start + 1 :]:
        if line.strip() and not line[0].isspace():
            break
        block.append(line)
    text = textwrap.dedent("\n".join(block)).strip("\n")
    return "```text\n" + text + "\n```"


def _shipped_states_text(context: _Context) -> str:
    rows = []
    for name, meta in context.shipped_states.items():
        baseline = meta.get("baseline") or {}
        rows.append(
            (
                f"`{name}`",
                str(meta.get("species", "?")),
                _fmt(meta.get("voxel_um")),
                str(meta.get("n_columns", "?")),
                _fmt(meta.get("equilibration_days")),
                _number(float(baseline.get("viable_epidermis_thickness_um", float("nan"))), 3),
                _number(float(baseline.get("stratum_corneum_thickness_um", float("nan"))), 3),
                _number(float(baseline.get("perfusion", float("nan"))), 3),
            )
        )
    return _table(
        (
            "state",
            "species",
            "voxel (µm)",
            "columns",
            "equilibrated (days)",
            "baseline viable (µm)",
            "baseline corneum (µm)",
            "baseline perfusion",
        ),
        rows,
    )


def _scenarios_text() -> str:
    from mscabm.scenario import load_scenario, shipped_scenarios

    rows = []
    for name in sorted(shipped_scenarios()):
        spec = load_scenario(name)
        rows.append(
            (
                f"`{name}`",
                spec.geometry.species,
                _fmt(spec.time.duration_days),
                str(len(spec.events)),
                spec.description,
            )
        )
    return _table(("scenario", "species", "days", "events", "description"), rows)


def _score_table() -> str:
    rows = []
    for label, bins, proxy in (
        ("thickness", _readouts.THICKNESS_BINS, "r = viable thickness / healthy baseline"),
        (
            "scaling",
            _readouts.SCALING_BINS,
            "s = (corneum thickness ratio − 1) + 4 × parakeratotic fraction",
        ),
        ("erythema", _readouts.ERYTHEMA_BINS, "p = perfusion / healthy baseline"),
    ):
        edges = [_number(b) for b in bins]
        cells = [f"< {edges[0]}"]
        cells += [f"{a}–{b}" for a, b in itertools.pairwise(edges)]
        cells.append(f"≥ {edges[-1]}")
        rows.append((label, proxy, *cells))
    return _table(("score", "proxy", "0", "1", "2", "3", "4"), rows)


def _purposes_text() -> str:
    from mscabm.random import EntityKind, Purpose

    purposes = ", ".join(f"{p.value} `{p.name}`" for p in Purpose)
    kinds = ", ".join(f"{k.value} `{k.name}`" for k in EntityKind)
    return f"Purposes: {purposes}. Entity kinds: {kinds}."


def _schema_text() -> str:
    from mscabm import state

    rows = []
    for entity, schema in (
        ("keratinocyte", state.KERATINOCYTE_SCHEMA),
        ("corneocyte", state.CORNEOCYTE_SCHEMA),
        ("capillary", state.CAPILLARY_SCHEMA),
        ("immune cell", state.IMMUNE_SCHEMA),
        ("NET", state.NET_SCHEMA),
    ):
        rows.append((entity, ", ".join(f"`{c}`" for c in ("id", "alive", *schema))))
    return _table(("population table", "columns"), rows)


def _fields_text() -> str:
    return ", ".join(
        f"`{f}` ({_defaults.FIELD_DISPLAY[f][1]})" if f in _defaults.FIELD_DISPLAY else f"`{f}`"
        for f in vocab.FIELD_IDS
    )


_PLACEHOLDER = re.compile(r"\{\{(h|m|d|x):([A-Za-z0-9_.]+)\}\}")


def _fill(template: str, context: _Context, extra: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        kind, name = match.group(1), match.group(2)
        if kind == "h":
            return _fmt(_at(context.human, name)).strip("`")
        if kind == "m":
            return _fmt(_at(context.mouse, name)).strip("`")
        if kind == "d":
            return context.derived[name]
        return extra[name]

    return _PLACEHOLDER.sub(replace, template)


def _references_section(text: str) -> str:
    used = [k for k in sorted(REFERENCES, key=str.lower) if re.search(rf"\b{re.escape(k)}\b", text)]
    lines = [
        "## 12 References\n",
        "Citation keys as in `BIOLOGY_PARAMETERS.md` (the project's mechanism-level parameter "
        "sheet, beside `BIOLOGY.md`, the biology specification). Other sources are cited "
        "in full where they are used.\n",
    ]
    lines += [f"- **{k}**: {REFERENCES[k]}" for k in used]
    if "Lämmermann" in text or "Nishibu" in text:
        lines.append(
            "- **Lämmermann review**, **Nishibu**: as cited in `BIOLOGY_PARAMETERS.md` §4."
        )
    lines.append(
        "- Grimm V., Railsback S. F., Vincenot C. E. et al. 2020 The ODD protocol for describing "
        "agent-based and other simulation models: a second update to improve clarity, "
        "replication, and structural realism. J Artif Soc Soc Simul 23(2):7."
    )
    return "\n".join(lines) + "\n"


_NARRATIVE = r"""# mscabm model description

<!-- Generated by `python scripts/make_model_doc.py` from `mscabm/model_doc.py` (narrative) and
the code (every number and table): edit those, not this file. -->

This page describes the model in the ODD protocol (Overview, Design concepts, Details; Grimm et
al. 2020). Every number in the text and every table from section 8 on is read from the code when
the page is generated, and a test fails when this file and the code disagree.
`mscabm validate SCENARIO --show` prints every value a scenario resolves to. `BIOLOGY.md` and
`BIOLOGY_PARAMETERS.md` are the project's biology specification and its mechanism-level
parameter sheet; the citation keys used with them (Kolbinger17, Butler10, ...) are listed in
section 12.

## 1 Purpose and patterns

**Purpose.** To simulate a vertical section (or a 3-D block) of human or mouse skin in which
keratinocytes, papillary capillaries, immune cells and diffusing cytokine fields interact through
cell-level rules, so that psoriasis-like disease (its onset, persistence and resolution) and
interventions on it (knocked-out cytokines, blocked responses, depleted populations, blocked
NETosis, starting and stopping an inducer; cell and vesicle therapies in a later stage) can be
studied. Its users run scenario files and compare runs.

**Patterns** (the public calibration targets of `BIOLOGY.md`, measured by
`mscabm validate-biology` over ≥ 5 seeds):

1. Healthy human epidermis: thickness stationary within ±10 % over ≥ 60 days; cycle time
   200-460 h, growth fraction 0.5-0.7, production 1,000-1,500 cells/day/mm² (Weinstein,
   McCullough & Ross 1985 (W85): 311 h, 60 %, 1,246 cells/day/mm²). Healthy mouse epidermis
   stationary within ±10 % over 30 days.
2. Sustained psoriatic drive (human): cycle 30-100 h, growth fraction ≥ 0.9, production ≥ 10×
   healthy, transit 4-8 days, viable thickness 2-3.5× healthy, suprabasal mitotic index ≥ 1 per
   100 basal cells.
3. Imiquimod-like induction (mouse, daily for 6 days): viable thickness at day 6 2.5-5× vehicle
   (Luo 2016 Exp Biol Med: 85.6 ± 17.6 vs 20.0 ± 3.7 µm), total score ≥ 6 of 12, and resolution
   (thickness ratio < 1.5) within 14 days after the last dose.
4. Human lesional state: IL-23 fold over healthy ≥ 5× the IL-12 fold; Th17/Treg ≥ 3× healthy;
   hysteresis: the lesion persists ≥ 30 days after the inducing stimulus stops, while a quarter
   of the stimulus leaves none (the bistability of published psoriasis models, `BIOLOGY.md`).

Whether a pattern appears is measured, not built in: readouts (section 7.6) come from simulated
events and state, never from parameters.

## 2 Entities, state variables and scales

### 2.1 Entities and state variables

All cells of a kind live in one population table of NumPy columns (`mscabm/state.py`): a dead
row is reused, an id (uint64) never; immune-cell ids start at {{d:immune_first_id}} so that they
never meet keratinocyte ids. A cell type is an integer code plus a row of parameters; a change
of state that changes behaviour (maturation, polarisation, apoptosis) is a change of type
(section 11).

{{x:schemas}}

- **Keratinocytes**: lineage state (stem, transit-amplifying (TA), committed, spinous,
  granular), basal and stem flags, column, order in the column's suprabasal stack (`stack_key`),
  height and bottom height (µm), birth and last-mitosis steps, divisions left, S/G2/M flag and
  hours left, G0 flag, maturation (0-1 spinous, 1-2 granular, ≥ 2 ready to cornify), individual
  maturation speed, parakeratotic flag, step of becoming committed.
- **Corneocytes** are not lattice cells but entries of a stack per column: column, height (µm),
  birth step of their cell, entry step, age in the corneum (days, advanced at the column's
  shedding speed), shedding age, parakeratotic flag, and `primary` (a corneocyte is spread over
  its column and the lateral neighbours; the entry in its own column is the primary one).
- **Capillaries**: voxel, column, dilation (relative perfusion, 1 = healthy).
- **Immune cells**: type, voxel, birth step, step of taking the current type, hours left until
  the NET (< 0: not committed to NETosis), IL-17A bound (pg), recent efferocytosis (cleared
  cells, decaying).
- **NETs**: voxel, birth step.
- **Fields**: concentration per voxel (pg/mL, float64) of {{x:fields}}.
- **Global state**: fields held at fixed levels, knocked-out fields, blocked responses (cell
  type, signal), depleted immune types, whether NETosis is blocked, the inducer's level, dose
  and next application, the lymph-node queue (step, type, count), primed cells circulating in
  the blood, and counters (NETs formed, IL-17A released by NETs, DC arrivals in the lymph node).
  Checkpoints store all state.

### 2.2 Space and lattice layers

A 2-D vertical section `(z, x)` one voxel thick, or a 3-D block `(z, y, x)`, of cubic voxels
({{h:geometry.voxel_um}} µm in the human profile, {{m:geometry.voxel_um}} µm in the mouse
profile). Axis 0 is depth, index 0 the deepest dermis; heights are µm above the bottom of the
lattice. Lateral borders are periodic for cells, columns and fields. The basement membrane of a
column lies at `dermis_depth_um + bm_undulation_amplitude_um × u`, with u the mean over the
lateral axes of `cos(2π x / bm_undulation_period_um)` at the column centre: dermal papillae where
it is highest, rete ridges where it is lowest. Papillary capillary loops sit
`capillary_depth_um` below the basement membrane, every `capillary.spacing_um` along each
lateral axis from the first column (a papilla tip).

Keratinocytes do not sit in voxels: each lateral column holds `basal_cells_per_column` basal
slots on the basement membrane and a stack of suprabasal cells of individual heights, topped by
its corneocyte stack. Thickness readouts use these heights. After every change of the columns
the tissue layer is painted from them (a voxel takes the code of what covers its centre), and
the tissue code gives each voxel its region:

{{x:region_table}}

Layers: the tissue layer (uint8 codes, section 11); the mobile layer, where immune cells stand
beside the tissue cell, up to the region's capacity per voxel (so a neutrophil can sit in the
epidermis without displacing a keratinocyte), each type only in its `regions`; the NET mask
(NETs are entries of their own table with a voxel).

### 2.3 Scales, units and the 2-D section

Time advances in steps of `dt_min` ({{h:time.dt_min}} min); simulated time is steps × dt,
computed, never accumulated. Runs last days to months (`BIOLOGY.md`: 7-120 days). Units are in
the key names; concentrations are pg/mL, secretion pg/cell/day, rates per hour unless the key
says otherwise.

Conventions of the 2-D section, which is one voxel thick:

- It stands for a skin surface of width × one voxel. Resident immune cells number density
  (`resident_per_mm2`) × that surface, and counts per mm² of skin come from counts per mm of
  section as `per mm² = per mm of section × 1000 / voxel_um`; per mm of basement membrane divides
  by the basement-membrane length per mm of surface. In 3-D the lattice area is used directly.
- Concentrations are per voxel volume. A keratinocyte's secretion goes into the voxel holding
  its centre, scaled by `(voxel_um / {{d:reference_voxel_um}} µm)³`, so that per-cell rates
  calibrated on the {{d:reference_voxel_um}} µm human voxel give the same tissue levels with a
  smaller voxel, which holds one keratinocyte in a smaller volume. Immune cells secrete into
  their voxel {{d:immune_voxel_factor}}.
- Per-cell secretion rates are effective rates calibrated against measured tissue levels by a
  mass balance (section 7.2), not per-cell measurements.

## 3 Process overview and scheduling

One step runs the processes in a fixed order (`Simulation.step` in `mscabm/engine.py`; the list
is that module's docstring):

{{x:engine_steps}}

- **sense**: every cell reads its signals at the start of the step and the rules give its
  behaviour values (section 7.1), which the later processes of the step use. Keratinocytes read
  the fields at the voxel of their centre, their height above the basement membrane,
  `net_contact` and the inducer (in tissue voxels); capillaries read the fields at their voxel;
  immune cells read the fields at their voxel, the inducer (in tissue voxels), `net_contact`,
  `contact_<type>` (cells of that type in the voxel and its von Neumann neighbours, the cell
  itself not counted) and their `efferocytosis_recent`. A blocked response reads 0; so does any
  signal of the vocabulary that a cell type does not read. (Field levels and contact counts are
  gathered by `gather_signals` in `mscabm/_kernels.py`.)
- **fields**: the secretion behaviours of keratinocytes and immune cells and the LL-37/DNA
  release of NETs become sources; one implicit step advances every transported field; held and
  knocked-out fields are set (section 7.2). Then neutrophils capture IL-17A (section 7.5.5).
- **cycle** to **geometry**: the keratinocyte submodel (section 7.3), then the tissue layer,
  regions, field coefficients and the immune regions are rebuilt.
- **immune**: one phase in this order (`processes/immune.py`, `advance`): (0) displaced cells
  step aside or go, and NETs in air are shed; (1) NETs form from committed neutrophils whose
  delay has run out; (2) fates of the other cells: NETosis commitment, death, change of type,
  emigration, proliferation; (3) efferocytosis by macrophages, then NET decay; (4) recruitment
  at capillaries; (5) movement; (6) lymph node and inducer (section 7.5).
- **vessels**: section 7.4. **events**: events due at the new time (section 6).

Readouts are measured at the end of every step that closes a `time.timeseries_interval_hours`
interval (into Mesa's DataCollector and the run file); output frames and checkpoints are taken by
the runner between steps. Updates that
compete for space or targets (divisions, basal migration, column levelling, displaced and
dividing immune cells, efferocytosis, movement) are ordered by hash permutations of the ids,
never by table order or threads; recruitment visits its channels and the capillary sites in a
fixed order.

## 4 Design concepts

- **Basic principles.** Biology is data: each cell type has base behaviour values that Hill rules
  of its signals modulate (PhysiCell's behaviour grammar; DESIGN.md principle 5). Half-maxima sit
  at measured tissue levels, not in-vitro doses (`BIOLOGY_PARAMETERS.md` §1). The lesion is meant
  to sustain itself through loops named in `BIOLOGY.md` (and in the `psoriasis_human` scenario):
  IL-23 → IL-17A/IL-22 → keratinocyte CXCL8, CCL20, antimicrobial peptides → neutrophils, NETs
  and LL-37/self-DNA → pDC IFN-α and DC maturation → IL-23 and lymph-node priming of Th17 cells.
- **Emergence.** Epidermal thickness, cell production, cycle time, growth fraction, transit,
  parakeratosis, perfusion, immune-cell numbers, NETs, microabscesses, Th17/Treg and the scores
  emerge from division, maturation, shedding, recruitment, movement and fate events.
- **Adaptation.** Cells change behaviour with their signals through the rules and change type
  (maturation, polarisation, apoptosis) at rates the rules set. There are no objectives, learning
  or prediction.
- **Sensing.** Local only: fields at the cell's voxel (at a keratinocyte's centre), contacts in
  the voxel and its von Neumann neighbours, height above the basement membrane, the inducer in
  tissue, the cell's recent efferocytosis (section 3).
- **Interaction.** Mostly indirect, through the fields; direct through contact signals (Treg
  suppression, contact with mature or tolerogenic DCs, crowding of γδ T17 cells, NET contact),
  efferocytosis, column shoving and crowding-induced delamination of keratinocytes, and exclusion
  on the mobile layer (capacity per voxel).
- **Stochasticity.** Every random number is a pure function of its key (seed, step, purpose,
  entity kind, entity id, draw index), hashed with the SplitMix64 finaliser and mapped to
  `(k >> 11) · 2⁻⁵³` in [0, 1) (`mscabm/random.py`); normal (Box-Muller), exponential and
  lognormal draws are computed from these uniforms, and permutations sort ids by their hash.
  There is no generator state, so the same seed gives bit-identical runs whatever the thread
  count or resume point, and runs forked from one checkpoint share their random numbers.
  {{x:purposes}} Draws decide: leaving G1/G0, G0 entry, the placement of daughters and the
  cell that delaminates under crowding, spontaneous delamination, parakeratosis, maturation
  speeds, shedding ages, immune fates and the new type, efferocytosis, NET decay, recruitment,
  the number, order and direction of hops, seeding and the placement of displaced cells.
- **Collectives.** Keratinocyte columns; Munro-like microabscesses, counted as connected
  (von Neumann) clusters of at least {{d:microabscess_min}} neutrophils, living or apoptotic, in
  voxels of the viable epidermis or stratum corneum.
- **Observation.** Readouts (section 7.6) are computed after steps from events and the current
  state and written as time series; frames hold the lattice layers, fields and cells (README,
  "Run files").

## 5 Initialisation

Runs start from shipped equilibrated healthy tissue states (`mscabm/data/initial_states/`),
made by `scripts/make_initial_states.py`, which runs a freshly built tissue under the healthy
scenario to steady state and checks its stationarity (and, for the human profile, target 1).
The profiles name them by default (`initial_state`: human `{{x:human_initial_state}}`, mouse
`{{x:mouse_initial_state}}`):

{{x:shipped_states}}

A state holds the keratinocyte and corneocyte tables and the healthy baseline of its profile
(mean viable and corneum thickness, perfusion) that the scores use. It fits any lattice of the
same voxel size: column c of the new lattice copies old column `(x + 7y) mod n_old`, every cell
is restacked on the new basement membrane, ids are assigned afresh and event times shifted so
that the state's moment is step 0. `initial_state: null` builds a young tissue instead (basal
layer and a near-steady suprabasal stack, not equilibrated), whose baseline is measured at the
start.

The shipped states hold no immune cells: resident populations are seeded at the start,
`resident_per_mm2` × section surface cells per type (the fraction decided by a draw), each in a
free voxel of its `home` drawn uniformly: `dermis`, `papillary_dermis` (the top
{{d:papillary_dermis_um}} µm of the dermis) or the viable `epidermis`. A state or checkpoint
that holds immune cells restores them instead. Capillaries start at dilation 1. Events due at
step 0 are applied, then the fields are brought to steady state under the initial cells (at most
{{d:equilibration_steps}} implicit steps, stopping when the largest change is ≤ 10⁻⁹ of the
largest level).

## 6 Input data

The model reads no external time series. A scenario file (YAML, README "Scenario files") states
what differs from the defaults of its species profile, may `extends:` another, and may schedule
events (section 11 lists the kinds). An event with day d is applied at step
`round(d × steps per day)`, after that step's processes (at step 0 before the fields are
equilibrated). The shipped scenarios:

{{x:shipped_scenarios}}

## 7 Submodels

### 7.1 Rules: from signals to behaviour values

A rule is a row *cell type, signal(s), increases | decreases, behaviour, saturation, half-max,
Hill power* (DESIGN.md principle 5; `evaluate_rules` in `mscabm/_kernels.py`). For a cell of
type t and behaviour j with base value b₀:

```text
H = Π_i s_iⁿ / (K_iⁿ + s_iⁿ)          one Hill term per signal of the rule (s ≤ 0 gives 0)
U = 1 − Π (1 − H)                     over the increasing rules of (t, j)
D = 1 − Π (1 − H)                     over the decreasing rules of (t, j)
b = b₀ + (b_up − b₀) · U,   then   b ← b + (b_down − b) · D
```

b_up and b_down are the saturation values of the increasing and decreasing rules (one per
behaviour and direction: a scenario giving two is an error); a behaviour without rules keeps b₀.
Base values: keratinocytes from `BASE_BEHAVIOURS` (`proliferation` = 1/(`cycle_time_h` −
`cycle_fixed_phase_h`), secretion the `KC_SECRETION` base, multipliers 1, probabilities 0);
capillaries dilation 1 and the recruitment bases of section 10; immune types from
`immune.types` (death 1/`lifetime_h`, 0 without a lifetime; `proliferation_per_h`,
`emigration_per_h`, motility `speed_um_per_min`, chemotaxis `chemotactic_index`, secretion
`secretion_pg_per_cell_per_day`); everything else 0. A rate r (per hour) becomes the per-step
probability `1 − exp(−r · dt)`. The {{d:n_rules}} default rules ({{d:n_rule_groups}} cell type
and behaviour groups, section 9) use Hill power {{d:hill_powers}}: keratinocyte and vessel
responses are sigmoidal because with power 1 the long low tail let healthy background levels
(≈ 1 pg/mL) speed the healthy cell cycle (`mscabm/defaults.py`).

### 7.2 Cytokine fields

Each field c (pg/mL) is advanced by one backward-Euler step per cell step
(`mscabm/diffusion.py`):

```text
(I + dt · (Λ − ∇·D∇)) c' = c + dt · s
```

D (µm²/min) and the first-order loss Λ (1/min) are per voxel, by region (section 2.2): D =
`diffusion_um2_per_min` in dermis and viable epidermis, × `stratum_corneum_diffusion_factor` in
the stratum corneum, 0 in air (no flux into it; a voxel that turns into air, e.g. shed corneum,
loses what it held, so air holds 0); Λ = ln 2 / half-life with `half_life_min` in
the viable epidermis, `dermis_half_life_min` in the dermis and `stratum_corneum_half_life_min` in
the corneum, plus the uptake `basal_uptake_per_min` in voxels holding basal keratinocytes, inside
the implicit operator. Cell-centred finite volumes with a 5-point (2-D) or 7-point (3-D) stencil
and the harmonic mean of D on faces. Boundaries: lateral periodic, top no-flux, bottom per field
(`bottom_bc`: no-flux, or fixed at `bottom_value_pg_per_ml` in a ghost voxel). When D and Λ vary
with depth only, the system is solved exactly (a lateral DCT/FFT and one tridiagonal solve per
mode); otherwise by conjugate gradients (relative residual 10⁻⁶), warm-started from the current
field and preconditioned by a lateral-only multigrid V-cycle with line Gauss-Seidel smoothing.
Coefficients are rebuilt only when the regions (or basal voxels, with uptake) change.

Sources: a secreting keratinocyte adds `rate × (voxel_um / {{d:reference_voxel_um}} µm)³ /
(1440 × voxel volume in mL)` pg/mL/min to the voxel of its centre; immune cells add their rate
to their voxel in the same way but {{d:immune_voxel_factor}}, and each NET adds
`immune.net_ll37_dna_pg_per_day` to `ll37_dna` like an immune cell. A knocked-out field gets
no sources and is held at 0 everywhere; a field held by `fix_field` is set to its level in
dermis and viable epidermis after every field step. Neither is transported.

**Mass balance and secretion units.** With no-flux and periodic boundaries diffusion moves mass
but removes none, so at steady state decay balances secretion: producers at density ρ (cells/mL
of tissue) secreting q pg/cell/day into tissue with one loss rate k = 1440 · ln 2 / t½ (per day)
keep a mean level `c̄ = ρ q / k`. The resident T cells of the human profile ({{d:t_per_mm2}}/mm²;
healthy human skin holds ≈ 10⁴/mm², Clark 2006) spread over ≈ {{d:mass_depth_um}} µm of dermis
and viable epidermis are ρ ≈ {{d:t_per_ml}}/mL; at the per-cell estimates of 0.1-1 pg/cell/day
(`BIOLOGY_PARAMETERS.md` §2, U) and the IL-17A half-life ({{d:il17a_half_life_min}} min) they
would keep ≈ {{d:estimate_level_low}}-{{d:estimate_level_high}} pg/mL, while measured interstitial
levels are a few pg/mL (lesional dermal IL-17A 9.8 pg/mL, Kolbinger17). The per-cell rates of
the model are therefore effective rates, calibrated against measured tissue levels as
`BIOLOGY_PARAMETERS.md` ("How to use") asks (fit per-cell secretion so that lesional interstitial
fluid holds ≈ 10 pg/mL IL-17A), not measured per-cell rates:

- keratinocyte secretion (`KC_SECRETION`): a base (healthy) and a saturation (fully activated)
  rate per field, set so that healthy and lesional tissue reach the target levels listed in
  section 10;
- immune secretion: multiples of the unit `_Q` = {{d:q_unit}} pg/cell/day (`mscabm/defaults.py`);
  producers at the density above secreting `_Q` keep ≈ {{d:q_level_density}} pg/mL, so a rule
  saturation of n `_Q` stands for ≈ n × {{d:q_level_density}} pg/mL from a population that
  dense (and proportionally less from a sparser one).

No further rescaling is applied in 3-D: a layer of secreting cells gives the same mean level in
2-D and 3-D, while the reach of an isolated source differs (the 2-D field of a point source is
logarithmic in r, `BIOLOGY_PARAMETERS.md`).

### 7.3 Keratinocytes

**Cell cycle.** Cycling cells (stem and TA cells, basal or suprabasal) wait in G1/G0 and leave it
with per-step probability `1 − exp(−r · dt)`, where `r = proliferation − (1 − 1/f) · b₀`, b₀ =
1/(`cycle_time_h` − `cycle_fixed_phase_h`) the base rate, and f = `stem_quiescence_factor` for
stem cells, multiplied by `g0_factor` for cells in G0 (else 1). At rest stem cells and G0 cells
are slower; cytokine-driven increases of `proliferation` apply in full, so a drive recruits
quiescent cells. A cell that leaves G1/G0 divides after the fixed S/G2/M phase
`cycle_fixed_phase_h`, so the intermitotic time is the fixed phase plus an exponential wait:
mostly the wait in health, mostly the fixed phase under a psoriatic drive (W85: 311 h vs 36 h,
growth fraction 60 % vs ≈ 100 %). After a division mother and daughter each start in G0 with
probability `g0_probability` (until their next division). Stem cells divide without limit and
their daughter is a TA cell with `ta_divisions` divisions; a TA division leaves mother and
daughter with one division less; with none left both are post-mitotic (a basal mother becomes
*committed*, a suprabasal one spinous).

**Placement and column shoving.** Dividing cells are handled in a hash order. A cycling daughter
of a basal division takes a free basal slot in its own column or one within two lateral steps
(the least filled, nearest first); failing that, it takes the slot of a committed basal cell in
the nearest such column (one of them, drawn at random), which delaminates (crowding-induced
delamination: Miroshnikova et al. 2018 Nat Cell Biol 20:69); failing that, and always for a
post-mitotic daughter,
it enters the bottom of its column's suprabasal stack and pushes the stack up (column shoving).
A cycling daughter that leaves the basal layer keeps cycling with probability
`suprabasal_proliferation`, else it becomes spinous. A suprabasal division puts
the daughter right above its mother, at the mother's maturation and maturation speed. Committed
basal cells also delaminate at rate 1/`committed_delamination_time_h`. Basal cells migrate: a
column with a free basal slot takes one non-stem basal cell from a full lateral neighbour
(columns in a hash order, each in at most one move per step). A column whose viable top stands
more than `column_height_tolerance_um` above its lowest lateral neighbour hands that neighbour
the suprabasal cell at the neighbour's top level (tissue tension).

**Maturation, cornification, shedding.** Suprabasal cells (suprabasal TA cells too) mature:
`dm/dt = differentiation · v / spinous_duration_days` while spinous (m < 1) and
`differentiation · v / granular_duration_days` while granular (1 ≤ m < 2), where v is an
individual lognormal speed (mean 1, CV `maturation_cv`) drawn for each daughter at birth
(daughters of a suprabasal division take their mother's). Spinous cells grow from
`basal_height_um` to `spinous_height_um` as m goes from 0 to 1; granular cells have
`granular_height_um`. At m = 1 a cell becomes granular (a suprabasal TA cell stops cycling), or
with probability `parakeratosis` keeps its nucleus and is ready to cornify at once; either way
it counts as one cell produced. The top viable cell of a column cornifies when m ≥ 2: its
corneocyte (`corneocyte_height_um`) is spread equally over its column and the lateral
neighbours, with a shedding age drawn lognormal (mean `stratum_corneum_transit_days`, CV 0.2, a
constant of `processes/keratinocytes.py`). Corneocytes age at their column's shedding speed (the
largest `shedding` value among the column's viable keratinocytes) and leave from the top, oldest
first, once their age reaches their shedding age.

### 7.4 Capillaries

Each capillary site's dilation d relaxes toward the value of its `dilation` behaviour (base 1,
raised by the default rules on VEGF, TNF-α and IL-17A):
`d ← d + (target − d) · (1 − exp(−dt / dilation_time_h))`. Perfusion, the mean dilation over the
sites, drives the erythema score, and each site's dilation multiplies every entry rate there
(section 7.5.2).

### 7.5 Immune cells

**7.5.1 Residents and renewal.** Residents are seeded at the start (section 5). A type with
`renewal: recruitment` loses N / `lifetime_h` cells per hour (N its resident number in the
section), and entry at healthy perfusion replaces them: macrophages (entering as monocytes, type
`macrophage_m0`) and dermal DCs through the base rates of `recruit_monocyte` and
`recruit_dermal_dc` per capillary; recirculating memory T cells of each such type at
N / `lifetime_h` cells per hour for the section (`scenario.recruitment_base`,
`memory_t_entry_per_h`; values in section 10).

**7.5.2 Recruitment.** At every capillary site and step, channels in a fixed order:
`recruit_neutrophil` (→ `neutrophil`), `recruit_monocyte` (→ `macrophage_m0`), `recruit_pdc`
(→ `pdc`), `recruit_dermal_dc` (→ `dermal_dc`), each memory T-cell type (its section rate shared
equally among sites), then each primed type in circulation (`recruit_primed_t` × the number
circulating). A channel of rate r (1/h, from the capillary's rules) brings one cell with
probability `1 − exp(−r · dilation · dt)`; the cell takes a free voxel allowed to its type among
the capillary's voxel and its von Neumann neighbours (drawn uniformly), or does not enter. A
primed cell that enters leaves the circulation. Depleted types are not recruited.
Leukocyte entry is a flux per area of skin, so the saturations of the rules for
`recruit_neutrophil`, `recruit_monocyte`, `recruit_pdc` and `recruit_dermal_dc` are per site
standing for 1,200 µm² of skin (the human 2-D section: a loop every 12 voxels of 10 µm, one
voxel thick) and are multiplied by the site's own area over 1,200 µm²
(`scenario.capillary_site_scale`: 1 for the human 2-D default, 0.42 for the mouse section's
5 µm voxels and 100 µm loops, 12 for a human 3-D lattice); the base rates that replace
residents are per site already, and `recruit_primed_t` is per circulating cell.

**7.5.3 Movement.** A cell of speed v (`motility`, µm/min) makes ⌊v · dt / voxel⌋ hop attempts
per step, plus one with probability equal to the remainder; neutrophils committed to NETosis do
not move. Hops happen in rounds; in each round the cells with attempts left act one at a time in
a hash order (`_kernels.mobile_walk`). A cell at voxel v takes the k_v von Neumann neighbours it
may stand in and weighs them

```text
p_j = (1 − b) / k_v + b · g_j / G,   g_j = max(0, c(n_j) − c(v)),   G = Σ_j g_j
```

with b its `chemotaxis` value clipped to [0, 1] and c its type's `chemotaxis_field`
(p_j = 1/k_v without a field or when G = 0). It draws a neighbour from p and hops there if that
voxel is below its capacity; otherwise it stays and the attempt is spent.

**7.5.4 Fates.** Each cell draws its fates in this fixed order, one uniform each, and at most
one happens per step (rates become probabilities `1 − exp(−r · dt)`):

1. NETosis commitment (neutrophils, rate `netosis`; not while NETosis is blocked): the NET forms
   `immune.netosis_delay_h` later; a committed neutrophil has no other fate and stops moving;
2. death (rate `death`, base 1/`lifetime_h`): a neutrophil becomes `neutrophil_apoptotic`; any
   other cell (an apoptotic neutrophil too) is removed;
3. change of type: total rate = the sum of its `become_<type>` behaviours, the target drawn in
   proportion to them; a cell that would become a depleted type is removed;
4. emigration (mature and tolerogenic DCs standing in the dermis, rate `emigration`): the cell
   reaches the lymph node (7.5.7);
5. proliferation (rate `proliferation`): the daughter takes a free allowed voxel among the
   cell's voxel and its von Neumann neighbours (drawn uniformly), else there is no division.

**7.5.5 NETs and IL-17A.** After the field step every living neutrophil binds the share
`1 − exp(−il17a_capture · dt)` of its voxel's IL-17A (several in one voxel share that loss in
proportion to their rates); what leaves the field is what the cells hold. When its NETosis delay
has run out a neutrophil dies, a NET takes its voxel, and the IL-17A it held plus
`immune.net_il17a_production_pg` (a small optional production term) is added to that voxel:
IL-17A mass is conserved, so a NET cannot create IL-17A beyond that term (`BIOLOGY.md`:
neutrophils largely capture IL-17 made by others, Noordenbos et al. 2012). The capture rate and
production term of the defaults are in section 10. NETs release LL-37/self-DNA
(`immune.net_ll37_dna_pg_per_day` into `ll37_dna`), give nearby cells the `net_contact` signal
(NETs in the voxel and its von Neumann neighbours), decay DNase-like with
`immune.net_half_life_h` (one draw per NET and step), are cleared by macrophages, and are shed
when their voxel becomes air.

**7.5.6 Efferocytosis.** Each macrophage (any polarisation), in a hash order, with probability
`1 − exp(−efferocytosis_per_h · dt)`, clears one apoptotic neutrophil in its voxel or a von
Neumann neighbour (its own voxel first), or else one NET there. Each clearing adds 1 to its
`efferocytosis_recent` signal, which decays with time constant `efferocytosis_memory_h`; the
default rules turn macrophages M2 with it and make M2 macrophages secrete IL-10 and TGF-β.

**7.5.7 Lymph node.** A mature DC reaching the lymph node schedules `cd4_per_mature_dc` `th0`
and `cd8_per_mature_dc` `tc0` cells, a tolerogenic DC `treg_per_tolerogenic_dc` `treg` cells,
ready `priming_delay_days` later. Ready cells join the circulation (unless their type is
depleted); circulating numbers decay with `circulation_half_life_days`, and cells enter the skin
through `recruit_primed_t` (7.5.2). Primed `th0` and `tc0` cells polarise in the skin, by the
rules (section 9).

**7.5.8 Inducer.** `start_inducer` adds its dose to the inducer level at once and again every
day until `stop_inducer`; the level decays with `immune.inducer_half_life_h`. Keratinocytes and
immune cells in tissue voxels sense the level as the signal `inducer` (arbitrary units, 1 = one
standard dose); capillaries read fields only (section 3).

**7.5.9 Interventions.** `deplete` removes a population's cells at once; until
`restore_population` none of its types are recruited, made by a change of type or released
from the lymph node, and its circulating cells are dropped. `block_netosis` stops new
NETosis commitments (already committed neutrophils still form NETs). Knockouts and blocked
responses act on fields and sensing (section 3, 7.2).

**7.5.10 Displacement.** A cell whose voxel is no longer allowed to its type (the stratum
corneum grew over it, or was shed above it) moves, in a hash order, to a free allowed voxel at
the smallest von Neumann distance ≤ {{d:displaced_radius}} (drawn uniformly among the nearest),
or is removed with the corneum.

### 7.6 Readouts and scores

Measured from simulated events and the current state, never read back from parameters
(`mscabm/readouts.py`); event rates use a window of {{d:readout_window_days}} days:

- thickness of the viable epidermis, the stratum corneum and both (mean and SD over columns),
  from cell heights;
- cycle time: mean interval between successive mitoses of a lineage (a cell's division and the
  division that made it, or its previous one) over the divisions in the window;
- growth fraction: share of the germinative compartment (basal cells and cycling suprabasal
  cells) whose last mitosis lies within the last measured cycle time;
- production: cells finishing the spinous stage (entering the granular layer, or cornifying
  directly when parakeratotic) per day, per mm² and per mm of basement membrane (section 2.3);
- transit time: median age at shedding of the corneocytes shed in the window (at steady state
  the median transit of a newborn cohort);
- suprabasal mitotic index: suprabasal divisions in the last hour (the length of M phase) per
  100 basal cells, a snapshot like the histological count;
- counts of keratinocyte states and of every immune type, totals per population, NETs,
  microabscesses (section 4), neutrophils in the epidermis and corneum, Th17/Treg (missing when
  fewer than {{d:th17_treg_min}} Tregs are present), the tolerogenic share of mature and
  tolerogenic DCs, the inducer level, circulating primed cells, the IL-17A released by NETs so
  far, and the mean level of every field in epidermis and dermis;
- perfusion (mean capillary dilation).

Scores: the fixed tables of `BIOLOGY.md` (mouse-style, after van der Fits 2009;
`readouts.THICKNESS_BINS`, `SCALING_BINS`, `ERYTHEMA_BINS`), on ratios to the healthy baseline
of the profile stored with the initial state; 0-4 each, total 0-12, the raw proxies stored
beside them:

{{x:score_table}}
"""


def _region_table(context: _Context) -> str:
    """Regions of the lattice, their tissue codes, transport and mobile capacity."""
    codes = vocab.TISSUE_CODES
    special = {"air", "stratum_corneum", "parakeratotic_corneum", "dermis", "capillary"}
    epidermis = [name for name in codes if name not in special]
    immune_h, immune_m = context.human["immune"], context.mouse["immune"]

    def capacity(region: str) -> str:
        key = f"capacity_{region}"
        return f"{immune_h[key]}, {immune_m[key]}"

    rows = [
        ("air", "`air`", "closed: no diffusion into it; holds no cytokine (set to 0)", "0"),
        (
            "stratum corneum",
            "`stratum_corneum`, `parakeratotic_corneum`",
            "D × `stratum_corneum_diffusion_factor`; `stratum_corneum_half_life_min`",
            capacity("corneum"),
        ),
        (
            "viable epidermis",
            ", ".join(f"`{c}`" for c in epidermis),
            "D; `half_life_min`",
            capacity("epidermis"),
        ),
        ("dermis", "`dermis`, `capillary`", "D; `dermis_half_life_min`", capacity("dermis")),
    ]
    return _table(
        ("region", "tissue codes", "diffusion; decay", "mobile capacity (human, mouse)"), rows
    )


def render_model_doc() -> str:
    """Build the whole Markdown text of ``docs/model.md``.

    Returns
    -------
    str
        The ODD narrative (numbers filled in from the code) followed by the generated
        parameter, rule, derived-quantity, vocabulary and reference sections.
    """
    context = _Context()
    extra = {
        "engine_steps": _engine_step_block(),
        "shipped_states": _shipped_states_text(context),
        "shipped_scenarios": _scenarios_text(),
        "score_table": _score_table(),
        "purposes": _purposes_text(),
        "schemas": _schema_text(),
        "region_table": _region_table(context),
        "fields": _fields_text(),
        "human_initial_state": str(context.human.get("initial_state")),
        "mouse_initial_state": str(context.mouse.get("initial_state")),
    }
    body = "\n".join(
        [
            _fill(_NARRATIVE, context, extra).strip() + "\n",
            _parameter_section(context),
            _rules_section(context),
            _derived_section(context),
            _vocabulary_section(),
        ]
    )
    return body + "\n" + _references_section(body)
