"""Default parameters of the default biology, with units in key names and a source per default.

A scenario states only what differs from these (DESIGN.md, principle 6). :func:`profile_defaults`
returns the defaults of a species profile as a scenario-shaped dict; :data:`SOURCES` maps each
dotted key to where its value comes from. Source keys refer to ``../shared/BIOLOGY.md`` and
``BIOLOGY_PARAMETERS.md``: "V" values were read in a source, "U" are order-of-magnitude starting
points, "calibrated" names the calibration target and the value before calibration.
"""

from __future__ import annotations

import copy
from typing import Any

from mscabm.vocab import FIELD_IDS

W85 = "Weinstein, McCullough & Ross 1985 J Invest Dermatol 85:579"

# --------------------------------------------------------------------------------------- fields
# id: (long name, display name, diffusion µm²/min, half-life min, source)
_FIELD_TABLE: dict[str, tuple[str, str, float, float, str]] = {
    "il17a": ("interleukin-17A", "IL-17A", 3000.0, 20.0, "U: 15-30 kDa cytokine, BIOLOGY.md"),
    "il22": ("interleukin-22", "IL-22", 3000.0, 20.0, "U: BIOLOGY.md transport"),
    "tnfa": ("tumour necrosis factor alpha", "TNF-α", 3000.0, 20.0, "U: BIOLOGY.md transport"),
    "ifng": ("interferon gamma", "IFN-γ", 3000.0, 20.0, "U: BIOLOGY.md transport"),
    "il36": ("interleukin-36 (active, truncated)", "IL-36", 3000.0, 20.0, "U"),
    "il10": ("interleukin-10", "IL-10", 3000.0, 20.0, "U: BIOLOGY.md transport"),
    "tgfb": ("transforming growth factor beta", "TGF-β", 3000.0, 30.0, "U: BIOLOGY.md transport"),
    "il1b": ("interleukin-1 beta", "IL-1β", 3000.0, 20.0, "U: BIOLOGY.md transport"),
    "cxcl8": ("CXCL8 (standing for CXCL1/8)", "CXCL8", 4500.0, 30.0, "U: 8 kDa chemokine"),
    "ccl20": ("CCL20", "CCL20", 4500.0, 30.0, "U: 8 kDa chemokine"),
    "ll37": ("LL-37 and other antimicrobial peptides", "LL-37/AMP", 4500.0, 60.0, "U"),
    "vegf": ("vascular endothelial growth factor", "VEGF", 3000.0, 30.0, "U"),
    "il23": ("interleukin-23", "IL-23", 3000.0, 20.0, "U: BIOLOGY.md transport"),
    "il12": ("interleukin-12 (p70)", "IL-12", 3000.0, 20.0, "U: BIOLOGY.md transport"),
    "ifna": ("interferon alpha", "IFN-α", 3000.0, 20.0, "U: BIOLOGY.md transport"),
    "il2": ("interleukin-2", "IL-2", 3000.0, 10.0, "U: short-lived, consumed by T cells"),
    "il4": ("interleukin-4", "IL-4", 3000.0, 20.0, "U: BIOLOGY.md transport"),
    "il6": ("interleukin-6", "IL-6", 3000.0, 20.0, "U: BIOLOGY.md transport"),
    "pge2": ("prostaglandin E2", "PGE2", 12000.0, 5.0, "U: 352 Da lipid, fast and short-lived"),
    "ll37_dna": (
        "LL-37/self-DNA complexes",
        "LL-37/DNA",
        300.0,
        240.0,
        "U: large complexes from NETs and dying cells diffuse slowly and persist",
    ),
}
assert tuple(_FIELD_TABLE) == FIELD_IDS

FIELD_DISPLAY: dict[str, tuple[str, str]] = {k: (v[0], v[1]) for k, v in _FIELD_TABLE.items()}


def _fields() -> dict[str, dict[str, Any]]:
    return {
        field_id: {
            "diffusion_um2_per_min": diffusion,
            "half_life_min": half_life,
            "dermis_half_life_min": half_life,
            "stratum_corneum_half_life_min": 240.0,
            "stratum_corneum_diffusion_factor": 0.01,
            "bottom_bc": "no_flux",
            "bottom_value_pg_per_ml": 0.0,
        }
        for field_id, (_, _, diffusion, half_life, _) in _FIELD_TABLE.items()
    }


# ------------------------------------------------------------------------------------ profiles
_HUMAN: dict[str, Any] = {
    "geometry": {
        "species": "human",
        "dims": 2,
        "voxel_um": 10.0,
        "width_um": 1000.0,
        "depth_um": 100.0,
        "height_um": 700.0,
        "dermis_depth_um": 220.0,
        "bm_undulation_amplitude_um": 15.0,
        "bm_undulation_period_um": 125.0,
        "capillary_depth_um": 20.0,
    },
    "time": {
        "dt_min": 6.0,
        "duration_days": 60.0,
        "frame_interval_days": 1.0,
        "timeseries_interval_hours": 6.0,
        "checkpoint_every_days": None,
        "checkpoint_at_days": [],
    },
    "keratinocyte": {
        "basal_cells_per_column": 2,
        "stem_fraction": 0.3,
        "cycle_time_h": 217.0,
        "cycle_fixed_phase_h": 30.0,
        "stem_quiescence_factor": 2.0,
        "g0_probability": 0.3,
        "g0_factor": 3.0,
        "ta_divisions": 4,
        "committed_delamination_time_h": 2000.0,
        "spinous_duration_days": 24.0,
        "granular_duration_days": 1.5,
        "basal_height_um": 10.0,
        "spinous_height_um": 19.0,
        "granular_height_um": 10.0,
        "corneocyte_height_um": 6.3,
        "stratum_corneum_transit_days": 14.0,
        "maturation_cv": 0.15,
        "column_height_tolerance_um": 20.0,
        "basal_uptake_per_min": 0.0,
    },
    "capillary": {
        "spacing_um": 125.0,
        "dilation_time_h": 24.0,
    },
    "initial_state": "healthy_human",
}

_MOUSE: dict[str, Any] = copy.deepcopy(_HUMAN)
_MOUSE["geometry"].update(
    {
        "species": "mouse",
        "voxel_um": 5.0,
        "width_um": 500.0,
        "depth_um": 50.0,
        "height_um": 400.0,
        "dermis_depth_um": 150.0,
        "bm_undulation_amplitude_um": 0.0,
        "bm_undulation_period_um": 100.0,
        "capillary_depth_um": 15.0,
    }
)
_MOUSE["keratinocyte"].update(
    {
        "basal_cells_per_column": 1,
        "stem_fraction": 0.3,
        "stem_quiescence_factor": 1.0,
        "g0_probability": 0.0,
        "g0_factor": 1.0,
        "cycle_time_h": 100.0,
        "cycle_fixed_phase_h": 14.0,
        "ta_divisions": 5,
        "committed_delamination_time_h": 2000.0,
        "spinous_duration_days": 7.5,
        "granular_duration_days": 1.0,
        "basal_height_um": 5.0,
        "spinous_height_um": 10.0,
        "granular_height_um": 6.0,
        "corneocyte_height_um": 3.0,
        "stratum_corneum_transit_days": 4.0,
        "column_height_tolerance_um": 10.0,
    }
)
_MOUSE["capillary"]["spacing_um"] = 100.0
_MOUSE["initial_state"] = "healthy_mouse"

PROFILES: dict[str, dict[str, Any]] = {"human": _HUMAN, "mouse": _MOUSE}

# --------------------------------------------------------------------------------------- rules
# (cell type, signals, direction, behaviour, saturation, half-max pg/mL, Hill power, source)
# Half-maxima sit at tissue levels (1-30 pg/mL; lesional dermal IL-17A ≈ 10 pg/mL, Kolbinger 2017),
# not at in-vitro working doses (BIOLOGY_PARAMETERS.md §1, §3).
# proliferation = rate of leaving G1/G0 for the fixed S/G2/M phase (1/h); its base is
# 1/(cycle_time_h − cycle_fixed_phase_h). Saturation: psoriatic cycle ≈ 36 h (W85)
# = 30 h fixed + 6 h.
_PROLIF_MAX = 1.0 / 6.0  # calibrated, target 2 (value before calibration 1/10)
# Keratinocyte and vessel responses are sigmoidal (Hill power 2, U): with power 1 the long low
# tail of the curve let healthy background levels (≈ 1 pg/mL) speed the healthy cell cycle.
HILL_POWER = 2.0
# the cytokines that drive the keratinocyte cycle and, with the same half-maxima, speed the
# transit (pg/mL; tissue levels, Kolbinger 2017 for IL-17A)
_KC_DRIVE_HALF_MAX: tuple[tuple[str, float], ...] = (
    ("il17a", 10.0),
    ("il22", 10.0),
    ("tnfa", 10.0),
    ("il36", 30.0),
    ("ifng", 20.0),
)
_RULES: list[dict[str, Any]] = [
    # proliferation (1/h); base 1/cycle_time_h
    *[
        {
            "cell_type": "keratinocyte",
            "signals": [sig],
            "direction": "increases",
            "behaviour": "proliferation",
            "saturation": _PROLIF_MAX,
            "half_max": k,
            "hill_power": HILL_POWER,
        }
        for sig, k in _KC_DRIVE_HALF_MAX
    ],
    *[
        {
            "cell_type": "keratinocyte",
            "signals": [sig],
            "direction": "decreases",
            "behaviour": "proliferation",
            "saturation": 0.5 / 187.0,
            "half_max": k,
            "hill_power": HILL_POWER,
        }
        for sig, k in (("il10", 10.0), ("tgfb", 20.0))
    ],
    # suprabasal proliferation (probability a daughter leaving the basal layer keeps cycling)
    *[
        {
            "cell_type": "keratinocyte",
            "signals": [sig],
            "direction": "increases",
            "behaviour": "suprabasal_proliferation",
            "saturation": 0.95,
            "half_max": k,
            "hill_power": HILL_POWER,
        }
        for sig, k in (("il17a", 10.0), ("il22", 10.0), ("tnfa", 20.0))
    ],
    # maturation speed (multiplier): the signals that speed the cycle also speed the transit
    # (hyperproliferation and a 4-8-day transit go together, W85). With IL-36 driving the cycle
    # alone, a plaque whose IL-17A/TNF-α fell kept dividing at the lesional rate while its cells
    # matured at the healthy speed, and the epidermis overshot to 6× after the trigger stopped.
    *[
        {
            "cell_type": "keratinocyte",
            "signals": [sig],
            "direction": "increases",
            "behaviour": "differentiation",
            "saturation": 5.0,
            "half_max": k,
            "hill_power": HILL_POWER,
        }
        for sig, k in _KC_DRIVE_HALF_MAX
    ],
    # parakeratosis (IL-22, IL-17A, TNF impair terminal differentiation)
    *[
        {
            "cell_type": "keratinocyte",
            "signals": [sig],
            "direction": "increases",
            "behaviour": "parakeratosis",
            "saturation": 0.9,
            "half_max": k,
            "hill_power": HILL_POWER,
        }
        for sig, k in (("il22", 10.0), ("il17a", 10.0), ("tnfa", 20.0))
    ],
    # desquamation speed of the stratum corneum (multiplier)
    *[
        {
            "cell_type": "keratinocyte",
            "signals": [sig],
            "direction": "increases",
            "behaviour": "shedding",
            "saturation": 8.0,
            "half_max": k,
            "hill_power": HILL_POWER,
        }
        for sig, k in (("il17a", 10.0), ("il22", 10.0))
    ],
]
# secretion by keratinocytes (pg/cell/day), raised by IL-17A, TNF-α, IL-22, IL-36
# Keratinocyte secretion (pg/cell/day), base (healthy) and saturation (fully activated).
# In the 2-D section the only clearance is first-order decay, so 1 pg/cell/day of a field with a
# 30-min half-life gives ≈ 6×10⁶ pg/mL; per-cell rates are therefore calibrated for 2-D so that
# tissue levels match measured ones (BIOLOGY_PARAMETERS.md §3), not the per-cell estimates of §2.
# field: (base, saturation, healthy target pg/mL, lesional target pg/mL, source of the targets)
KC_SECRETION: dict[str, tuple[float, float, float, float, str]] = {
    "cxcl8": (3.3e-6, 3.3e-4, 20.0, 2000.0, "lesional epidermis 0.1-10 ng/mL (§3, U)"),
    "ccl20": (5.0e-7, 8.0e-6, 3.0, 50.0, "lesional 10-100, normal 1-10 pg/mL (§3, U)"),
    "ll37": (
        8.0e-6,
        2.2e-4,
        100.0,
        2700.0,
        "hBD-2 in dermal ISF 2,747 vs < 218 pg/mL (Kolbinger 2017, V)",
    ),
    "il36": (2.5e-7, 1.2e-5, 1.0, 50.0, "IL-36γ strongly raised in lesions (§3, V/U)"),
    "il1b": (2.5e-7, 2.5e-6, 1.0, 10.0, "U"),
    "vegf": (1.7e-6, 3.3e-5, 10.0, 200.0, "U"),
    # constitutive, not induced: keratinocytes are the main source of epidermal TGF-β1 (U: the
    # active share of the mostly latent tissue TGF-β is not measured; a few pg/mL assumed)
    "tgfb": (5.0e-7, 5.0e-7, 3.0, 3.0, "keratinocyte TGF-β1, active fraction (U)"),
}
_KC_SECRETION_MAX = {field_id: values[1] for field_id, values in KC_SECRETION.items()}
for _field_id, _maximum in _KC_SECRETION_MAX.items():
    if _maximum == KC_SECRETION[_field_id][0]:
        continue  # constitutive (TGF-β): no induction rules
    for _sig, _k in (("il17a", 10.0), ("tnfa", 10.0), ("il22", 10.0), ("il36", 30.0)):
        if _field_id == "il36" and _sig == "il36":
            continue  # no autocrine IL-36 loop by default (no processing protease modelled yet)
        _RULES.append(
            {
                "cell_type": "keratinocyte",
                "signals": [_sig],
                "direction": "increases",
                "behaviour": f"secrete_{_field_id}",
                "saturation": _maximum,
                "half_max": _k,
                "hill_power": HILL_POWER,
            }
        )
# capillary dilation (relative perfusion): VEGF, TNF-α, IL-17A; plaques ≈ 2× (BIOLOGY.md vessels)
for _sig, _k in (("vegf", 100.0), ("tnfa", 10.0), ("il17a", 10.0)):
    _RULES.append(
        {
            "cell_type": "capillary",
            "signals": [_sig],
            "direction": "increases",
            "behaviour": "dilation",
            "saturation": 3.0,
            "half_max": _k,
            "hill_power": HILL_POWER,
        }
    )


# ------------------------------------------------------------------------------- immune system
# Secretion unit of immune cells (calibrated, like KC_SECRETION). A population of density ρ
# (cells/mL of tissue) secreting q pg/cell/day into a field with first-order loss k (1/day) keeps
# a mean level c = ρ q / k. With k = ln2/20 min ≈ 50/day and human skin T cells at
# 10⁴/mm² over ≈ 0.3 mm of dermis (ρ ≈ 3×10⁷/mL; Clark 2006), q = _Q gives ≈ 9 pg/mL, the
# lesional IL-17A level (Kolbinger 2017). Real cells are estimated to make 0.1-1 pg/cell/day
# (BIOLOGY_PARAMETERS.md §2): measured tissue levels are 10⁴× lower than those rates would give
# without receptor consumption and drainage, so per-cell rates are set against tissue levels.
# Immune cells secrete into their voxel without the keratinocytes' voxel-size factor (their
# densities are per volume already, so levels do not depend on the section thickness).
_Q = 1.4e-5
_DAY = 24.0


def _immune_type(
    *,
    resident_per_mm2: float = 0.0,
    home: str = "dermis",
    renewal: str = "none",
    lifetime_h: float | None = None,
    proliferation_per_h: float = 0.0,
    emigration_per_h: float = 0.0,
    speed_um_per_min: float = 0.0,
    chemotaxis_field: str | None = None,
    chemotactic_index: float = 0.0,
    regions: tuple[str, ...] = ("dermis",),
    secretion: dict[str, float] | None = None,
) -> dict[str, Any]:
    return {
        "resident_per_mm2": resident_per_mm2,
        "home": home,
        "renewal": renewal,
        "lifetime_h": lifetime_h,
        "proliferation_per_h": proliferation_per_h,
        "emigration_per_h": emigration_per_h,
        "speed_um_per_min": speed_um_per_min,
        "chemotaxis_field": chemotaxis_field,
        "chemotactic_index": chemotactic_index,
        "regions": list(regions),
        "secretion_pg_per_cell_per_day": dict(secretion or {}),
    }


_SKIN = ("dermis", "epidermis")
# residence of effector and recirculating memory αβ T cells in skin: days-weeks
# (BIOLOGY_PARAMETERS.md §5, U); CD8 TRM stay (no lifetime). Was 30 days: with local
# proliferation that let primed Tc17 cells grow without bound in a lesion.
_T_RESIDENCE_H = 14 * _DAY
# in the skin effector T cells divide slowly (expansion is mostly in the lymph node): at most
# once a week (U; was 1/72 h, which with a long residence made the lesion's T cells explode)
_T_SKIN_PROLIFERATION_PER_H = 1.0 / 168.0
_IMMUNE_TYPES: dict[str, dict[str, Any]] = {
    "neutrophil": _immune_type(
        lifetime_h=36.0,
        speed_um_per_min=15.0,
        chemotaxis_field="cxcl8",
        chemotactic_index=0.3,
        regions=("dermis", "epidermis", "corneum"),
    ),
    "neutrophil_apoptotic": _immune_type(
        lifetime_h=24.0, regions=("dermis", "epidermis", "corneum")
    ),
    "macrophage_m0": _immune_type(
        resident_per_mm2=1000.0, renewal="recruitment", lifetime_h=30 * _DAY, speed_um_per_min=2.0
    ),
    "macrophage_m1": _immune_type(lifetime_h=3 * _DAY, speed_um_per_min=2.0),
    "macrophage_m2": _immune_type(lifetime_h=30 * _DAY, speed_um_per_min=2.0),
    "langerhans": _immune_type(resident_per_mm2=600.0, home="epidermis", regions=("epidermis",)),
    "dermal_dc": _immune_type(
        resident_per_mm2=600.0,
        home="papillary_dermis",
        renewal="recruitment",
        lifetime_h=10 * _DAY,
        speed_um_per_min=0.5,
    ),
    # mature dermal DCs reach the lymph node in 1-2 days (BIOLOGY_PARAMETERS.md §5, U)
    "dc_mature": _immune_type(
        lifetime_h=3 * _DAY, emigration_per_h=1.0 / 36.0, speed_um_per_min=3.0, regions=_SKIN
    ),
    "dc_tolerogenic": _immune_type(
        lifetime_h=3 * _DAY,
        emigration_per_h=1.0 / 48.0,
        speed_um_per_min=3.0,
        regions=_SKIN,
        secretion={"il10": 3 * _Q, "tgfb": 3 * _Q},
    ),
    "pdc": _immune_type(lifetime_h=5 * _DAY, speed_um_per_min=2.0),
    "gd_t17": _immune_type(speed_um_per_min=2.0, regions=_SKIN),
    "th0": _immune_type(
        lifetime_h=5 * _DAY, speed_um_per_min=6.0, chemotaxis_field="ccl20",
        chemotactic_index=0.3, regions=_SKIN,
    ),
    **{
        name: _immune_type(
            resident_per_mm2=density,
            renewal="recruitment" if density else "none",
            lifetime_h=_T_RESIDENCE_H,
            speed_um_per_min=6.0,
            chemotaxis_field="ccl20",
            chemotactic_index=0.2,
            regions=_SKIN,
        )
        for name, density in (
            ("th1", 3500.0), ("th2", 500.0), ("th17", 1500.0), ("treg", 2000.0), ("tr1", 0.0),
        )
    },
    "tc0": _immune_type(lifetime_h=5 * _DAY, speed_um_per_min=6.0, regions=_SKIN),
    "tc1": _immune_type(
        resident_per_mm2=2000.0, renewal="recruitment", lifetime_h=_T_RESIDENCE_H,
        speed_um_per_min=6.0, regions=_SKIN,
    ),
    "tc17": _immune_type(lifetime_h=_T_RESIDENCE_H, speed_um_per_min=6.0, regions=_SKIN),
    "cd8_trm": _immune_type(
        resident_per_mm2=500.0, home="epidermis", speed_um_per_min=1.5, regions=_SKIN
    ),
}

_IMMUNE: dict[str, Any] = {
    "capacity_dermis": 2,
    "capacity_epidermis": 1,
    "capacity_corneum": 3,
    "netosis_delay_h": 3.0,
    "net_half_life_h": 6.0,
    "net_il17a_production_pg": 0.0,
    "net_ll37_dna_pg_per_day": 2.0e-4,
    "efferocytosis_per_h": 1.0,
    "efferocytosis_memory_h": 24.0,
    # U: neutrophils bind IL-17A made by others (Noordenbos 2012; BIOLOGY.md); 0.5/h binds a
    # quarter of their voxel's IL-17A against its 20-min half-life
    "neutrophil_il17a_capture_per_h": 0.5,
    "inducer_half_life_h": 12.0,
    "lymph_node": {
        "priming_delay_days": 5.0,
        "cd4_per_mature_dc": 4.0,
        "cd8_per_mature_dc": 2.0,
        "treg_per_tolerogenic_dc": 4.0,
        "circulation_half_life_days": 3.0,
    },
    "types": _IMMUNE_TYPES,
}
_HUMAN["immune"] = _IMMUNE
_MOUSE["immune"] = copy.deepcopy(_IMMUNE)
# mouse dermis: γδ T17 cells are resident innate-like IL-17 producers (Cai 2011; Pantelyushin 2012)
_MOUSE["immune"]["types"]["gd_t17"]["resident_per_mm2"] = 2000.0
# they turn over like the αβ residents (U: days-weeks) and are replaced from the circulation
# (Vγ4+ γδ T17 cells recirculate between skin and lymph node); without turnover the cells that
# IL-23 expands never leave and the mouse lesion cannot resolve
_MOUSE["immune"]["types"]["gd_t17"]["lifetime_h"] = _T_RESIDENCE_H
_MOUSE["immune"]["types"]["gd_t17"]["renewal"] = "recruitment"
# mouse dermis is richer in myeloid cells than human (U: dermal macrophages and DCs
# 1,000-5,000/mm² in mouse skin whole mounts)
_MOUSE["immune"]["types"]["macrophage_m0"]["resident_per_mm2"] = 3000.0
_MOUSE["immune"]["types"]["dermal_dc"]["resident_per_mm2"] = 1500.0
_MOUSE["immune"]["types"]["langerhans"]["resident_per_mm2"] = 800.0


def _rule(cell_type, signals, direction, behaviour, saturation, half_max, power=HILL_POWER):
    if isinstance(signals, str):
        signals = [signals]
    if isinstance(half_max, int | float):
        half_max = float(half_max)
    else:
        half_max = [float(k) for k in half_max]
    return {
        "cell_type": cell_type,
        "signals": list(signals),
        "direction": direction,
        "behaviour": behaviour,
        "saturation": saturation,
        "half_max": half_max,
        "hill_power": power,
    }


_UP, _DOWN = "increases", "decreases"
_EFFECTORS_17 = ("th17", "tc17", "gd_t17", "cd8_trm")
_IMMUNE_RULES: list[dict[str, Any]] = [
    # --- recruitment at capillaries (1/h per capillary at healthy perfusion; × perfusion)
    # neutrophils: CXCL8 with endothelial activation by TNF-α or IL-17A (BIOLOGY.md)
    _rule("capillary", ["cxcl8", "tnfa"], _UP, "recruit_neutrophil", 0.2, (100.0, 5.0)),
    _rule("capillary", ["cxcl8", "il17a"], _UP, "recruit_neutrophil", 0.2, (100.0, 5.0)),
    _rule("capillary", "cxcl8", _UP, "recruit_neutrophil", 0.2, 2000.0),
    _rule("capillary", "tnfa", _UP, "recruit_monocyte", 0.03, 10.0),
    _rule("capillary", "il1b", _UP, "recruit_monocyte", 0.03, 10.0),
    _rule("capillary", "inducer", _UP, "recruit_monocyte", 0.03, 0.3),
    _rule("capillary", "ifna", _UP, "recruit_pdc", 0.05, 10.0),
    _rule("capillary", "tnfa", _UP, "recruit_pdc", 0.05, 10.0),
    _rule("capillary", "inducer", _UP, "recruit_pdc", 0.05, 0.3),
    _rule("capillary", "ccl20", _UP, "recruit_dermal_dc", 0.05, 30.0),
    _rule("capillary", "tnfa", _UP, "recruit_dermal_dc", 0.05, 10.0),
    _rule("capillary", "ccl20", _UP, "recruit_primed_t", 0.05, 30.0),
    _rule("capillary", "tnfa", _UP, "recruit_primed_t", 0.05, 10.0),
    # --- keratinocytes meet NETs: hBD-2/LL-37 and IL-36 processing (PMC6372007)
    _rule("keratinocyte", "net_contact", _UP, "secrete_ll37", KC_SECRETION["ll37"][1], 1.0),
    _rule("keratinocyte", "net_contact", _UP, "secrete_il36", KC_SECRETION["il36"][1], 1.0),
    _rule("keratinocyte", "il17a", _UP, "secrete_il6", 0.05 * _Q, 10.0),
    _rule("keratinocyte", "tnfa", _UP, "secrete_il6", 0.05 * _Q, 10.0),
    # --- neutrophils
    _rule("neutrophil", "cxcl8", _UP, "chemotaxis", 0.8, 100.0),
    _rule("neutrophil", "tnfa", _UP, "netosis", 0.02, 20.0),
    _rule("neutrophil", "ll37", _UP, "netosis", 0.02, 3000.0),
    _rule("neutrophil", ["cxcl8", "tnfa"], _UP, "netosis", 0.02, (500.0, 10.0)),
    _rule("neutrophil", "tnfa", _UP, "secrete_cxcl8", 5 * _Q, 10.0),
    _rule("neutrophil", "tnfa", _UP, "secrete_il1b", 1 * _Q, 10.0),
    # --- macrophages: M1 under IFN-γ/TNF-α and the inducer, M2 under IL-10/IL-4/PGE2/efferocytosis
    *[
        _rule(m, sig, _UP, "become_macrophage_m1", 0.1, k)
        for m in ("macrophage_m0", "macrophage_m2")
        for sig, k in (("ifng", 10.0), ("inducer", 0.3))
    ],
    *[
        _rule(m, sig, _UP, "become_macrophage_m2", 0.1, k)
        for m in ("macrophage_m0", "macrophage_m1")
        for sig, k in (
            ("il10", 10.0), ("il4", 10.0), ("pge2", 350.0), ("efferocytosis_recent", 1.0),
        )
    ],
    # TLR7 ligation (the inducer) makes M1 macrophages secrete IL-23/IL-12; IFN-γ keeps their
    # TNF-α, IL-1β and IL-6 going but not IL-23
    *[
        _rule("macrophage_m1", sig, _UP, f"secrete_{f}", rate, k)
        for f, rate in (("tnfa", 5 * _Q), ("il1b", 5 * _Q), ("il6", 5 * _Q))
        for sig, k in (("ifng", 10.0), ("inducer", 0.3))
    ],
    _rule("macrophage_m1", "inducer", _UP, "secrete_il23", 8 * _Q, 0.3),
    _rule("macrophage_m1", "inducer", _UP, "secrete_il12", 1 * _Q, 0.3),
    *[
        _rule("macrophage_m2", "efferocytosis_recent", _UP, f"secrete_{f}", 5 * _Q, 1.0)
        for f in ("il10", "tgfb")
    ],
    # --- dendritic cells: maturation, tolerance, cytokines, emigration
    *[
        _rule(dc, sig, _UP, "become_dc_mature", 0.05, k)
        for dc in ("langerhans", "dermal_dc")
        for sig, k in (("ifna", 5.0), ("tnfa", 20.0), ("il1b", 20.0), ("inducer", 0.3),
                       ("ll37_dna", 200.0))
    ],
    *[
        _rule(dc, sig, _UP, "become_dc_tolerogenic", 0.05, k)
        for dc in ("langerhans", "dermal_dc", "dc_mature")
        for sig, k in (("il10", 10.0), ("pge2", 350.0))
    ],
    *[_rule(dc, sig, _DOWN, "become_dc_mature", 0.0, k)
      for dc in ("langerhans", "dermal_dc") for sig, k in (("il10", 10.0), ("tgfb", 50.0))],
    _rule("dc_mature", "tnfa", _UP, "emigration", 1.0 / 12.0, 10.0),
    _rule("dc_mature", "il1b", _UP, "emigration", 1.0 / 12.0, 10.0),
    _rule("dc_tolerogenic", "il10", _UP, "emigration", 1.0 / 24.0, 10.0),
    # on IFN-α and TNF-α as well in the human profile only (mouse: SPECIES_DISABLED_RULES)
    *[
        _rule("dc_mature", sig, _UP, f"secrete_{f}", rate, k)
        for f, rate in (("il23", 10 * _Q), ("tnfa", 5 * _Q), ("il6", 5 * _Q), ("il1b", 2 * _Q))
        for sig, k in (("inducer", 0.3), ("ll37_dna", 50.0), ("ifna", 5.0), ("tnfa", 20.0))
    ],
    _rule("dc_mature", "ifng", _UP, "secrete_il12", 2 * _Q, 20.0),
    _rule("dc_mature", "il10", _DOWN, "secrete_tnfa", 0.0, 10.0),
    _rule("dc_mature", "il10", _DOWN, "secrete_il23", 0.0, 10.0),
    _rule("dc_mature", "il10", _DOWN, "secrete_il12", 0.0, 10.0),
    # plasmacytoid DCs sense LL-37/self-DNA and the inducer and make IFN-α
    _rule("pdc", "ll37_dna", _UP, "secrete_ifna", 10 * _Q, 200.0),
    _rule("pdc", "inducer", _UP, "secrete_ifna", 10 * _Q, 0.3),
    # --- γδ T17 cells: IL-23 and IL-1β without priming (Cai 2011; Pantelyushin 2012); IL-1β
    #     acts together with IL-23 (synergy; alone it is weak: Sutton 2009 Immunity 31:331, U)
    *[
        _rule("gd_t17", sig, _UP, f"secrete_{f}", rate, k)
        for f, rate in (("il17a", 2 * _Q), ("il22", 1 * _Q), ("tnfa", 0.5 * _Q))
        for sig, k in (("il23", 5.0), (["il23", "il1b"], (1.0, 10.0)))
    ],
    # they expand under IL-23 with IL-1β (Sutton 2009), not IL-23 alone
    _rule("gd_t17", ["il23", "il1b"], _UP, "proliferation", 1.0 / 96.0, (5.0, 10.0)),
    # local crowding stops their expansion (U)
    _rule("gd_t17", "contact_gd_t17", _DOWN, "proliferation", 0.0, 2.0),
    # --- polarisation of primed CD4 cells (IL-23 is absent on purpose: naive cells lack its
    #     receptor; BIOLOGY.md)
    # half-maxima at tissue levels: active TGF-β ≈ 3 pg/mL (keratinocytes), IL-6 ≈ 5-20
    _rule("th0", ["il6", "tgfb"], _UP, "become_th17", 0.1, (10.0, 3.0)),
    _rule("th0", "il12", _UP, "become_th1", 0.1, 5.0),
    _rule("th0", "ifng", _UP, "become_th1", 0.1, 20.0),
    _rule("th0", "il4", _UP, "become_th2", 0.1, 10.0),
    _rule("th0", ["tgfb", "il2"], _UP, "become_treg", 0.1, (3.0, 10.0)),
    _rule("th0", "contact_dc_tolerogenic", _UP, "become_treg", 0.1, 0.5),
    _rule("th0", "il6", _DOWN, "become_treg", 0.0, 10.0),
    _rule("th0", "il10", _UP, "become_tr1", 0.05, 20.0),
    _rule("th0", "contact_dc_mature", _UP, "secrete_il2", 2 * _Q, 0.5),
    _rule("tc0", "il12", _UP, "become_tc1", 0.1, 5.0),
    _rule("tc0", ["il6", "tgfb"], _UP, "become_tc17", 0.1, (10.0, 3.0)),
    _rule("tc1", "tgfb", _UP, "become_cd8_trm", 0.005, 10.0),
    _rule("tc17", "tgfb", _UP, "become_cd8_trm", 0.005, 10.0),
    _rule("treg", ["il6", "il23"], _UP, "become_th17", 0.01, (20.0, 10.0)),
    # --- effector output, activation and proliferation; Treg contact and IL-10 suppress
    *[
        _rule(t, sig, _UP, f"secrete_{f}", rate, k)
        for t, outputs in (
            ("th17", (("il17a", 1 * _Q), ("il22", 1 * _Q), ("tnfa", 0.5 * _Q))),
            ("tc17", (("il17a", 1 * _Q), ("il22", 0.5 * _Q))),
            ("cd8_trm", (("il17a", 1 * _Q), ("ifng", 1 * _Q))),
        )
        for f, rate in outputs
        for sig, k in (("il23", 5.0), ("contact_dc_mature", 0.5), (["il23", "il1b"], (1.0, 10.0)))
    ],
    *[
        _rule(t, sig, _UP, f"secrete_{f}", rate, k)
        for t, outputs in (
            ("th1", (("ifng", 2 * _Q), ("tnfa", 1 * _Q), ("il2", 1 * _Q))),
            ("tc1", (("ifng", 2 * _Q), ("tnfa", 1 * _Q))),
        )
        for f, rate in outputs
        for sig, k in (("il12", 5.0), ("contact_dc_mature", 0.5))
    ],
    _rule("th2", "contact_dc_mature", _UP, "secrete_il4", 1 * _Q, 0.5),
    *[
        _rule(t, sig, _UP, f"secrete_{f}", rate, k)
        for t, outputs in (
            ("treg", (("il10", 2 * _Q), ("tgfb", 2 * _Q))),
            ("tr1", (("il10", 5 * _Q),)),
        )
        for f, rate in outputs
        for sig, k in (("il2", 10.0), ("contact_dc_mature", 0.5), ("contact_dc_tolerogenic", 0.5))
    ],
    # expansion happens mostly in the lymph node; in the skin effector cells divide slowly
    # IL-23 expands Th17/Tc17 cells that see antigen on a mature DC (both needed: IL-23 alone
    # made lesional Tc17 cells grow without bound)
    *[
        _rule(t, ["il23", "contact_dc_mature"], _UP, "proliferation",
              _T_SKIN_PROLIFERATION_PER_H, (5.0, 0.5))
        for t in ("th17", "tc17")
    ],
    *[
        _rule(t, sig, _UP, "proliferation", _T_SKIN_PROLIFERATION_PER_H, k)
        for t in ("th1", "tc1", "th2", "treg")
        for sig, k in (("il2", 10.0), ("contact_dc_mature", 0.5))
    ],
    # crowding: T cells expanding in the skin compete for space and survival cytokines (IL-2,
    # IL-7, IL-15, not modelled as fields); division stops where T cells pack their
    # neighbourhood (U: lesional T-cell densities are ≈ 5-10× normal, BIOLOGY.md)
    *[
        _rule(t, "contact_t_cells", _DOWN, "proliferation", 0.0, 1.5)
        for t in ("th17", "tc17", "th1", "tc1", "th2", "treg", "gd_t17")
    ],
    # Treg suppression: contact (number = Tregs in reach, strength = how far output falls)
    *[
        _rule(t, sig, _DOWN, f"secrete_{f}", 0.0, k)
        for t, fields in (
            ("th17", ("il17a", "il22", "tnfa")), ("tc17", ("il17a", "il22")),
            ("gd_t17", ("il17a", "il22")), ("th1", ("ifng", "tnfa", "il2")),
            ("tc1", ("ifng", "tnfa")), ("cd8_trm", ("il17a", "ifng")),
        )
        for f in fields
        for sig, k in (("contact_treg", 1.0), ("il10", 20.0))
    ],
    *[
        _rule(t, sig, _DOWN, "proliferation", 0.0, k)
        for t in ("th17", "tc17", "th1", "tc1", "gd_t17")
        for sig, k in (("contact_treg", 1.0), ("il10", 20.0))
    ],
]
_RULES.extend(_IMMUNE_RULES)

#: Rules a species lacks: (cell types, signals, behaviours or None for all, reason) → every rule
#: of those cell types driven by exactly those signals (and, if given, setting one of those
#: behaviours) is disabled (``enabled: false``) in that species' profile.
SPECIES_DISABLED_RULES: dict[
    str, list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...] | None, str]]
] = {
    "mouse": [
        # LL-37 with self-RNA activates human myeloid DCs through TLR8 (Ganguly 2009 J Exp Med
        # 206:1983); murine TLR8 does not sense RNA (Heil 2004 Science 303:1526), so mouse
        # myeloid DCs neither mature nor make cytokines on LL-37/nucleic acids (pDCs still do)
        (
            ("langerhans", "dermal_dc", "dc_mature"),
            ("ll37_dna",),
            None,
            "murine TLR8 does not sense RNA (Heil 2004 Science 303:1526): no LL-37/self-RNA "
            "activation of myeloid DCs (human: Ganguly 2009 J Exp Med 206:1983)",
        ),
        *[
            (
                ("dc_mature",),
                (signal,),
                ("secrete_il23", "secrete_tnfa", "secrete_il6", "secrete_il1b"),
                "calibrated (target 3): mouse DCs make IL-23/TNF-α/IL-6/IL-1β only on a "
                "pattern-recognition signal (the inducer), as cytokine-matured DCs make little "
                "IL-12/IL-6 (Spörri & Reis e Sousa 2005 Nat Immunol 6:163); with these rules "
                "the lesion outlived the last dose by > 16 days in 5/5 seeds. Not in the human "
                "profile: there the same restriction left the IL-23/IL-12 fold ratio at 4.3-4.5 "
                "and no plaque in 2/5 seeds (target 4, full size, commit 516cfec)",
            )
            for signal in ("ifna", "tnfa")
        ],
    ],
}

#: Saturations that differ by species: (cell type, behaviour, direction) → value.
SPECIES_RULE_SATURATION: dict[str, dict[tuple[str, str, str], float]] = {
    # calibrated (target 3): under a saturating drive the mouse epidermis thickened only 1.2×
    # in 6 days with the human value 5 (faster maturation outran the added cells); 3.0 gives
    # ≈ 2.7× vehicle at day 6 (5 seeds: 2.46-2.85) and resolution 11-12 days after the last
    # dose (was 5.0)
    "mouse": {("keratinocyte", "differentiation", "increases"): 3.0},
}

BASE_BEHAVIOURS: dict[str, dict[str, float]] = {
    # base values b0 per cell type; proliferation's base comes from cycle_time_h at compile time
    "keratinocyte": {
        "proliferation": 1.0 / 187.0,
        "suprabasal_proliferation": 0.0,
        "differentiation": 1.0,
        "parakeratosis": 0.0,
        "shedding": 1.0,
        **{f"secrete_{f}": 0.0 for f in FIELD_IDS},
        **{f"secrete_{f}": values[0] for f, values in KC_SECRETION.items()},
    },
    "capillary": {"dilation": 1.0},
    # immune types: base values come from the scenario's immune.types (compile_rules)
}

SOURCES: dict[str, str] = {
    "geometry.voxel_um": "BIOLOGY.md geometry: 10 µm human, finer (5 µm) for mouse",
    "geometry.dermis_depth_um": "BIOLOGY.md: dermis ≥ 200 µm",
    "geometry.width_um": "BIOLOGY.md: section ≥ 1 mm wide (human)",
    "geometry.bm_undulation_amplitude_um": "U: dermal papillae/rete ridges",
    "time.dt_min": "BIOLOGY.md: 6-minute cell step",
    "keratinocyte.cycle_time_h": (
        f"calibrated (target 1): intermitotic time of a cycling cell outside G0, so that with G0 "
        f"and slow stem cells the measured mean is ≈ 330-350 h (germinative cycle 311 h, {W85}); "
        "was 311"
    ),
    "keratinocyte.g0_probability": (
        "calibrated (target 1 growth fraction 60 %, W85): share of newborn cycling cells that "
        "start in G0; was 0"
    ),
    "keratinocyte.g0_factor": "calibrated (target 1): G0 cells leave G1/G0 3× slower at rest",
    "keratinocyte.basal_cells_per_column": (
        "calibrated (target 1 production 1,000-1,500 cells/day/mm² with the 311 h cycle): "
        "2 basal cells per 10×10 µm patch = 20,000/mm² (was 3 ≈ (10 µm / 6 µm)², from W85's "
        "27,000 germinative cells/mm²)"
    ),
    "keratinocyte.cycle_fixed_phase_h": (
        "U: S+G2+M and minimal G1 ≈ 30 h, so that the psoriatic 36 h cycle (W85) is mostly fixed "
        "(growth fraction ≈ 1) while the healthy 311 h cycle is mostly an exponential G1/G0 wait "
        "(growth fraction ≈ 0.6 measured over one cycle time, W85)"
    ),
    "keratinocyte.stem_fraction": (
        "calibrated (target 1: production, growth fraction and stationarity over 200-day runs): "
        "0.3 with stem_quiescence_factor 2 and ta_divisions 4; was 0.15 (U: 10-20 % stem cells), "
        "with which the basal layer slowly emptied"
    ),
    "keratinocyte.committed_delamination_time_h": (
        "U: post-mitotic basal cells leave mostly when a dividing neighbour needs the space "
        "(crowding-induced delamination, Miroshnikova et al. 2018 Nat Cell Biol 20:69); the "
        "spontaneous route is slow. 24 h let the basal layer empty (target 1 stationarity)"
    ),
    "keratinocyte.stem_quiescence_factor": (
        "calibrated (target 1 growth fraction; 2-4 tried): stem cells are slow-cycling at rest "
        "(label-retaining cells): their unstimulated G1/G0 exit rate is divided by this factor; "
        "cytokine-driven increases apply in full"
    ),
    "keratinocyte.column_height_tolerance_um": (
        "U: neighbouring columns differ by less than about two spinous cells (tissue tension)"
    ),
    "keratinocyte.ta_divisions": "U: TA cells divide 3-5 times (BIOLOGY.md)",
    "keratinocyte.spinous_duration_days": (
        "calibrated (target 1 stationarity, transit 4-8 weeks): was 20"
    ),
    "keratinocyte.granular_duration_days": (
        "U: granular residence ≈ 1 day (BIOLOGY_PARAMETERS.md §5)"
    ),
    "keratinocyte.stratum_corneum_transit_days": "U: ≈ 14 d normal (BIOLOGY_PARAMETERS.md §5)",
    "keratinocyte.corneocyte_height_um": (
        "derived: corneocyte ≈ 0.7 µm × 900 µm² over a 10×10 µm column footprint (BIOLOGY.md)"
    ),
    "keratinocyte.spinous_height_um": "derived: spinous cell ≈ 1,900 µm³ over a 100 µm² footprint",
    "mouse.keratinocyte.stem_quiescence_factor": (
        "Clayton et al. 2007 Nature 446:185: mouse interfollicular epidermis is maintained by one "
        "progenitor population, no slow-cycling compartment: stem cells cycle at the full rate; "
        "stem_fraction 0.3 calibrated (stationarity of target 1 mouse; 0.15 let the layer decline)"
    ),
    "mouse.keratinocyte.cycle_time_h": (
        "U: mouse epidermal turnover 1-2 weeks (BIOLOGY.md, unverified)"
    ),
    "rules": (
        "BIOLOGY_PARAMETERS.md §1: half-maxima at tissue levels 1-30 pg/mL; calibrated, target 2"
    ),
    "fields": "BIOLOGY.md transport: D ≈ 10⁻⁷-10⁻⁶ cm²/s in tissue, half-life 10-60 min",
}


def profile_defaults(species: str) -> dict[str, Any]:
    """Return the defaults of a species profile as a scenario-shaped dict (a fresh copy).

    Parameters
    ----------
    species
        ``"human"`` or ``"mouse"``.

    Returns
    -------
    dict
        Keys ``geometry``, ``time``, ``fields``, ``keratinocyte``, ``capillary``, ``rules``,
        ``initial_state``.
    """
    profile = copy.deepcopy(PROFILES[species])
    profile["fields"] = _fields()
    profile["rules"] = copy.deepcopy(_RULES)
    for rule in profile["rules"]:
        key = (rule["cell_type"], rule["behaviour"], rule["direction"])
        if key in SPECIES_RULE_SATURATION.get(species, {}):
            rule["saturation"] = SPECIES_RULE_SATURATION[species][key]
        for cell_types, signals, behaviours, _reason in SPECIES_DISABLED_RULES.get(species, []):
            if (
                rule["cell_type"] in cell_types
                and tuple(rule["signals"]) == signals
                and (behaviours is None or rule["behaviour"] in behaviours)
            ):
                rule["enabled"] = False
    return profile
