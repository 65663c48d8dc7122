"""Readouts measured from simulated events and the current state, never read from parameters.

Counts per mm² of skin surface come from counts per mm of section through one conversion: the
2-D section is one voxel thick, so ``per mm² = per mm of section × 1000 / voxel_um``; per mm of
basement membrane divides the per-mm-of-section value by the basement-membrane length per mm of
surface (:attr:`mscabm.layout.Layout.bm_length_ratio`). In 3-D the lattice area is used directly.

Definitions (BIOLOGY.md "Readouts"):

- ``cycle_time_measured_h``: mean interval between successive mitoses of a lineage (a cell's
  division and the division that made it, or its previous one), over divisions in the last
  ``window_days``.
- ``growth_fraction_measured``: share of the germinative compartment (basal cells and cycling
  suprabasal cells) whose last mitosis (own division or birth by division) lies within the last
  measured cycle time — what continuous labelling for one cycle time shows.
- ``production_per_day_*``: cells finishing the spinous stage (entering the granular layer, or
  cornifying directly when parakeratotic) per day over the last ``window_days``.
- ``transit_time_days``: median age at shedding of corneocytes shed in the last ``window_days``
  (at steady state the median transit of a newborn cohort).
- ``suprabasal_mitotic_index``: suprabasal divisions in the last hour per 100 basal cells.
- Scores: the fixed tables of BIOLOGY.md on ratios to the healthy baseline of the profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mscabm.vocab import CELL_TYPES, IMMUNE_TYPES, POPULATIONS, KeratinocyteState

if TYPE_CHECKING:  # pragma: no cover
    from mscabm.engine import Simulation

KS = KeratinocyteState

THICKNESS_BINS = (1.25, 1.75, 2.5, 3.5)
SCALING_BINS = (0.25, 0.75, 1.5, 2.5)
ERYTHEMA_BINS = (1.2, 1.5, 2.0, 2.5)


def score(value: float, bins: tuple[float, ...]) -> float:
    """Score 0-4 from a fixed table: the number of bin edges at or below ``value``."""
    if not np.isfinite(value):
        return float("nan")
    return float(np.searchsorted(np.asarray(bins), value, side="right"))


def baseline(sim: Simulation) -> dict[str, float]:
    """Quantities of the current state used as the healthy baseline of a profile."""
    return {
        "viable_epidermis_thickness_um": float(
            np.mean(sim.state.viable_top_um - sim.layout.bm_height_um)
        ),
        "stratum_corneum_thickness_um": float(np.mean(sim.state.sc_height_um)),
        "perfusion": float(np.mean(sim.state.capillaries.dilation[sim.state.capillaries.rows()])),
    }


def measure(sim: Simulation, window_days: float = 7.0) -> dict[str, float]:
    """All scalar readouts of the current state.

    Parameters
    ----------
    sim
        The simulation.
    window_days
        Window for event-based rates (production, cycle time, transit).

    Returns
    -------
    dict
        Readout name → value (NaN where undefined, e.g. no event in the window).
    """
    state, layout, step = sim.state, sim.layout, sim.steps
    steps_per_day = 1440.0 / sim.dt_min
    dt_h = sim.dt_min / 60.0
    out: dict[str, float] = {}
    viable = state.viable_top_um - layout.bm_height_um
    sc = state.sc_height_um
    out["viable_epidermis_thickness_um"] = float(np.mean(viable))
    out["viable_epidermis_thickness_um_sd"] = float(np.std(viable))
    out["stratum_corneum_thickness_um"] = float(np.mean(sc))
    out["stratum_corneum_thickness_um_sd"] = float(np.std(sc))
    out["epidermal_thickness_um"] = float(np.mean(viable + sc))
    out["epidermal_thickness_um_sd"] = float(np.std(viable + sc))

    base = sim.baseline
    thickness_ratio = out["viable_epidermis_thickness_um"] / base["viable_epidermis_thickness_um"]
    sc_ratio = out["stratum_corneum_thickness_um"] / max(base["stratum_corneum_thickness_um"], 1e-9)
    total_sc = float(np.sum(sc))
    para_fraction = float(np.sum(state.sc_parakeratotic_um) / total_sc) if total_sc > 0 else 0.0
    capillaries = state.capillaries.rows()
    perfusion = (
        float(np.mean(state.capillaries.dilation[capillaries]))
        if len(capillaries)
        else float("nan")
    )
    perfusion_ratio = perfusion / base["perfusion"]
    out["proxy_thickness_ratio"] = thickness_ratio
    out["proxy_sc_ratio"] = sc_ratio
    out["proxy_parakeratosis_fraction"] = para_fraction
    out["proxy_perfusion_ratio"] = perfusion_ratio
    out["perfusion"] = perfusion
    out["score_thickness"] = score(thickness_ratio, THICKNESS_BINS)
    out["score_scaling"] = score((sc_ratio - 1.0) + 4.0 * para_fraction, SCALING_BINS)
    out["score_erythema"] = score(perfusion_ratio, ERYTHEMA_BINS)
    out["score_total"] = out["score_thickness"] + out["score_scaling"] + out["score_erythema"]

    kc = state.kc
    rows = kc.rows()
    kc_state, basal = kc.state[rows], kc.basal[rows]
    out["count_keratinocyte"] = float(len(rows))
    out["count_basal"] = float(np.count_nonzero(basal))
    out["count_stem"] = float(np.count_nonzero(kc_state == KS.STEM))
    out["count_ta"] = float(np.count_nonzero(kc_state == KS.TA))
    out["count_suprabasal_ta"] = float(np.count_nonzero((kc_state == KS.TA) & ~basal))
    out["count_committed"] = float(np.count_nonzero(kc_state == KS.COMMITTED))
    out["count_spinous"] = float(np.count_nonzero((kc_state == KS.SPINOUS) & ~basal))
    out["count_granular"] = float(np.count_nonzero(kc_state == KS.GRANULAR))
    out["count_corneocyte"] = float(np.count_nonzero(state.sc.primary[state.sc.rows()]))
    out["count_capillary"] = float(len(capillaries))

    # event-based kinetics
    log = state.events
    window_steps = window_days * steps_per_day
    since = step - window_steps
    elapsed_days = min(window_days, step / steps_per_day) if step > 0 else 0.0
    division_steps = log.concatenated("division_step")
    recent = division_steps > since
    intervals = log.concatenated("division_interval_steps")[recent]
    cycle_time_h = float(np.mean(intervals) * dt_h) if len(intervals) else float("nan")
    out["cycle_time_measured_h"] = cycle_time_h
    germinative = basal | ((kc_state == KS.TA) & ~basal)
    window_cycle_steps = (
        cycle_time_h if np.isfinite(cycle_time_h) else sim.spec.keratinocyte.cycle_time_h
    ) / dt_h
    labelled = kc.last_mitosis_step[rows] > step - window_cycle_steps
    n_germinative = np.count_nonzero(germinative)
    out["growth_fraction_measured"] = (
        float(np.count_nonzero(labelled & germinative) / n_germinative)
        if n_germinative
        else float("nan")
    )
    suprabasal_divisions = log.concatenated("division_suprabasal")
    last_hour = division_steps > step - 60.0 / sim.dt_min
    n_basal = max(np.count_nonzero(basal), 1)
    out["suprabasal_mitotic_index"] = float(
        100.0 * np.count_nonzero(suprabasal_divisions & last_hour) / n_basal
    )
    out["divisions_per_day"] = (
        float(np.count_nonzero(recent) / elapsed_days) if elapsed_days > 0 else float("nan")
    )

    produced = np.count_nonzero(log.concatenated("production_step") > since)
    per_day = produced / elapsed_days if elapsed_days > 0 else float("nan")
    if len(layout.shape) == 2:
        per_mm_section = per_day / layout.width_mm
        out["production_per_day_per_mm2"] = per_mm_section * 1000.0 / layout.voxel_um
        out["production_per_day_per_mm_bm"] = per_mm_section / layout.bm_length_ratio
    else:
        per_mm2 = per_day / layout.surface_mm2
        out["production_per_day_per_mm2"] = per_mm2
        out["production_per_day_per_mm_bm"] = (
            per_mm2 * layout.voxel_um / 1000.0 / layout.bm_length_ratio
        )
    shed_steps = log.concatenated("shed_step")
    ages = log.concatenated("shed_age_steps")[shed_steps > since]
    out["transit_time_days"] = float(np.median(ages) / steps_per_day) if len(ages) else float("nan")

    out.update(immune_readouts(sim))

    for index, field_id in enumerate(sim.field_ids):
        conc = state.conc[index]
        epi = state.region == 2
        derm = state.region == 3
        out[f"mean_{field_id}_epidermis"] = (
            float(np.mean(conc[epi])) if np.any(epi) else float("nan")
        )
        out[f"mean_{field_id}_dermis"] = (
            float(np.mean(conc[derm])) if np.any(derm) else float("nan")
        )
    return out


#: A microabscess: at least this many neutrophils (living or apoptotic) in one connected
#: (von Neumann) cluster of voxels in the viable epidermis or stratum corneum.
MICROABSCESS_MIN_NEUTROPHILS = 3
#: Th17/Treg is reported as missing when fewer Tregs than this are present (BIOLOGY.md).
TH17_TREG_MIN_TREGS = 5
_IMMUNE_COUNT_NAMES = (
    *IMMUNE_TYPES,
    "neutrophils_total",
    "macrophages_total",
    "dc_total",
    "t_cells_total",
    "net",
    "microabscess",
    "neutrophils_epidermis",
)


def immune_readouts(sim: Simulation) -> dict[str, float]:
    """Counts of every immune type and subset, NETs, microabscesses and immune ratios.

    ``count_<type>`` for every immune type; totals ``count_neutrophils_total`` (living and
    apoptotic), ``count_macrophages_total``, ``count_dc_total`` (all dendritic cells),
    ``count_t_cells_total``; ``count_net``; ``count_microabscess`` (clusters of at least
    :data:`MICROABSCESS_MIN_NEUTROPHILS` neutrophils in connected epidermal or corneal voxels;
    clusters across the periodic side edge count twice); ``count_neutrophils_epidermis``;
    ``th17_treg_ratio`` (NaN below :data:`TH17_TREG_MIN_TREGS` Tregs) and
    ``tolerogenic_dc_fraction`` (tolerogenic among mature and tolerogenic DCs; NaN when none);
    ``count_dc_mature`` is the mature count; ``inducer_level``; ``circulating_primed_t`` (lymph
    node effectors in the blood); ``net_il17a_released_pg`` (cumulative).
    """
    from scipy import ndimage

    table = sim.state.immune
    rows = table.rows()
    types = table.type[rows]
    counts = {name: int(np.count_nonzero(types == CELL_TYPES.index(name))) for name in IMMUNE_TYPES}
    out = {f"count_{name}": float(n) for name, n in counts.items()}
    for total, members in (
        ("neutrophils_total", POPULATIONS["neutrophils"]),
        ("macrophages_total", POPULATIONS["macrophages"]),
        ("dc_total", POPULATIONS["dendritic_cells"]),
        ("t_cells_total", POPULATIONS["t_cells"]),
    ):
        out[f"count_{total}"] = float(sum(counts[m] for m in members))
    nets = sim.state.nets
    out["count_net"] = float(nets.count())
    neutrophil_codes = [CELL_TYPES.index(m) for m in POPULATIONS["neutrophils"]]
    neutrophil_voxels = table.voxel[rows[np.isin(types, neutrophil_codes)]]
    region = sim.state.region
    in_epidermis = np.isin(region[neutrophil_voxels], (1, 2))
    out["count_neutrophils_epidermis"] = float(np.count_nonzero(in_epidermis))
    per_voxel = np.bincount(neutrophil_voxels[in_epidermis], minlength=region.size)
    labels, n_clusters = ndimage.label(per_voxel.reshape(sim.layout.shape) > 0)
    if n_clusters:
        sizes = ndimage.sum(
            per_voxel.reshape(sim.layout.shape), labels, np.arange(1, n_clusters + 1)
        )
        out["count_microabscess"] = float(np.count_nonzero(sizes >= MICROABSCESS_MIN_NEUTROPHILS))
    else:
        out["count_microabscess"] = 0.0
    out["th17_treg_ratio"] = (
        counts["th17"] / counts["treg"] if counts["treg"] >= TH17_TREG_MIN_TREGS else float("nan")
    )
    mature, tolerogenic = counts["dc_mature"], counts["dc_tolerogenic"]
    out["tolerogenic_dc_fraction"] = (
        tolerogenic / (mature + tolerogenic) if mature + tolerogenic else float("nan")
    )
    out["inducer_level"] = float(sim.inducer_level)
    out["circulating_primed_t"] = float(sum(sim.circulating.values()))
    out["net_il17a_released_pg"] = float(sim.net_il17a_released_pg)
    return out


def readout_names(field_ids: tuple[str, ...]) -> tuple[str, ...]:
    """Names of every readout :func:`measure` returns, in a stable order."""
    names = [
        "viable_epidermis_thickness_um",
        "viable_epidermis_thickness_um_sd",
        "stratum_corneum_thickness_um",
        "stratum_corneum_thickness_um_sd",
        "epidermal_thickness_um",
        "epidermal_thickness_um_sd",
        "proxy_thickness_ratio",
        "proxy_sc_ratio",
        "proxy_parakeratosis_fraction",
        "proxy_perfusion_ratio",
        "perfusion",
        "score_thickness",
        "score_scaling",
        "score_erythema",
        "score_total",
        "count_keratinocyte",
        "count_basal",
        "count_stem",
        "count_ta",
        "count_suprabasal_ta",
        "count_committed",
        "count_spinous",
        "count_granular",
        "count_corneocyte",
        "count_capillary",
        "cycle_time_measured_h",
        "growth_fraction_measured",
        "suprabasal_mitotic_index",
        "divisions_per_day",
        "production_per_day_per_mm2",
        "production_per_day_per_mm_bm",
        "transit_time_days",
        *(f"count_{name}" for name in _IMMUNE_COUNT_NAMES),
        "th17_treg_ratio",
        "tolerogenic_dc_fraction",
        "inducer_level",
        "circulating_primed_t",
        "net_il17a_released_pg",
    ]
    for field_id in field_ids:
        names += [f"mean_{field_id}_epidermis", f"mean_{field_id}_dermis"]
    return tuple(names)
