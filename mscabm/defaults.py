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
        for sig, k in (
            ("il17a", 10.0),
            ("il22", 10.0),
            ("tnfa", 10.0),
            ("il36", 30.0),
            ("ifng", 20.0),
        )
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
    # maturation speed (multiplier)
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
        for sig, k in (("il17a", 10.0), ("il22", 10.0), ("tnfa", 10.0), ("ifng", 20.0))
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
}
_KC_SECRETION_MAX = {field_id: values[1] for field_id, values in KC_SECRETION.items()}
for _field_id, _maximum in _KC_SECRETION_MAX.items():
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
    return profile
