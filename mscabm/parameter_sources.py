"""Sources of the defaults that :data:`mscabm.defaults.SOURCES` does not cover.

:data:`PARAMETER_SOURCES` maps dotted default keys (``fields.<id>.<key>``, ``keratinocyte.*``,
``capillary.*``, ``immune.*``, ``immune.lymph_node.*``, ``immune.types.<type>.<key>``) and rule
groups (``rules.<cell_type>.<behaviour>``) to where the default comes from. A ``mouse.`` prefix
marks a source of the mouse profile only. Keys may hold shell-style wildcards
(``immune.types.*.speed_um_per_min``); :func:`source_for` prefers the exact key, then the most
specific wildcard, then the section key.

Every entry starts with its status, as in ``BIOLOGY.md``:

- ``BIOLOGY.md``: stated in the biology specification (qualitative, or with the citation it
  gives there);
- ``V``: a value read in a source (the citation key refers to the list at the end of
  ``BIOLOGY_PARAMETERS.md``; :data:`REFERENCES` repeats the keys used here);
- ``U``: an order-of-magnitude starting point (a guess to calibrate), with the facts it leans on;
- ``calibrated (target N)``: set against calibration target N of ``BIOLOGY.md``, naming the value
  before calibration where ``mscabm/defaults.py`` records it;
- ``derived``: follows from other parameters or a unit convention;
- ``model choice`` / ``run setting``: not a biological quantity.

Entries name facts with their source keys and never a default value (the values are read from
:mod:`mscabm.defaults`, which other work keeps changing), except the value before a calibration.
"""

from __future__ import annotations

import fnmatch

from mscabm.defaults import KC_SECRETION, SOURCES, W85

__all__ = ["PARAMETER_SOURCES", "REFERENCES", "all_sources", "source_for"]

_TRANSPORT = (
    "BIOLOGY.md transport: a 15-30 kDa cytokine diffuses at ≈ 1×10⁻⁶ cm²/s free "
    "(6,000 µm²/min), effectively 10⁻⁷-10⁻⁶ cm²/s in tissue (600-6,000 µm²/min, ≈)"
)
_HALF_LIFE = (
    "effective first-order decay (receptor uptake, drainage) with half-life ≈ 10-60 min "
    "(BIOLOGY.md transport; BIOLOGY_PARAMETERS.md §5, U)"
)
_TISSUE_K = (
    "half-maxima at tissue levels, K ≈ 1-30 pg/mL, not in-vitro doses (lesional dermal IL-17A "
    "9.8 vs 0.8 pg/mL non-lesional, Kolbinger17, V; BIOLOGY_PARAMETERS.md §1, §3)"
)
_SECRETION_UNIT = (
    "rates in the secretion unit _Q, set by mass balance so that tissue levels come out at "
    "measured pg/mL (docs/model.md §7.2; per-cell estimates of BIOLOGY_PARAMETERS.md §2 are U)"
)
_TREG_SUPPRESSION = (
    "Treg contact and IL-10 lower it: contact-dependent Treg suppression (Nakamura01, "
    "Collison09, V), Treg number and suppressive strength separate parameters (BIOLOGY.md); "
    "IL-10 IC50 ≈ 0.1-1 ng/mL (BIOLOGY_PARAMETERS.md §1, U)"
)
_CLARK = (
    "Clark 2006 J Immunol: normal human skin holds ≈ 1×10⁶ T cells/cm² "
    "(10⁴/mm², conv.), mostly resident memory; the split among subsets is U (their sum is in "
    "docs/model.md §10)"
)

PARAMETER_SOURCES: dict[str, str] = {
    # ------------------------------------------------------------------------------ geometry
    "geometry.species": (
        "model choice: BIOLOGY.md species profiles (mouse, human) set geometry and time constants"
    ),
    "geometry.dims": (
        "model choice: BIOLOGY.md default is a 2-D vertical section; the same engine runs 3-D "
        "blocks"
    ),
    "geometry.depth_um": "run setting: y extent of a 3-D block (unused in 2-D)",
    "geometry.height_um": (
        "derived: lattice height = dermis + room for a thickened epidermis + air; a scenario is "
        "refused unless it holds the dermis, the undulation, 4 × a healthy epidermis and 2 voxels"
    ),
    "geometry.bm_undulation_period_um": (
        "U: spacing of dermal papillae and rete ridges (BIOLOGY.md: undulating basement "
        "membrane; no measured spacing in the sheets)"
    ),
    "geometry.capillary_depth_um": (
        "U: capillary loops sit in the papillary dermis (BIOLOGY.md), just below the papilla tip"
    ),
    "mouse.geometry.width_um": (
        "run setting: default width of the mouse section (BIOLOGY.md asks for ≥ 1 mm lateral; "
        "the imq_mouse scenarios widen it)"
    ),
    "mouse.geometry.dermis_depth_um": (
        "U: thinner dermis in the mouse section (BIOLOGY.md asks for ≥ 200 µm of dermis)"
    ),
    "mouse.geometry.bm_undulation_amplitude_um": (
        "U: flat basement membrane in the mouse profile (no rete ridges; not stated in BIOLOGY.md)"
    ),
    # ---------------------------------------------------------------------------------- time
    "time.duration_days": "run setting: BIOLOGY.md runs of 7-120 simulated days",
    "time.frame_interval_days": "run setting: output frames (lattice, fields, cells)",
    "time.timeseries_interval_hours": "run setting: scalar readouts",
    "time.checkpoint_every_days": "run setting: checkpoints (DESIGN.md principle 10)",
    "time.checkpoint_at_days": "run setting: checkpoints (DESIGN.md principle 10)",
    # -------------------------------------------------------------------------------- fields
    "fields.*.diffusion_um2_per_min": f"U: {_TRANSPORT}",
    "fields.cxcl8.diffusion_um2_per_min": (
        f"U: an ≈ 8.4 kDa chemokine (BIOLOGY_PARAMETERS.md conversions), smaller than the "
        f"15-30 kDa cytokines of {_TRANSPORT}"
    ),
    "fields.ccl20.diffusion_um2_per_min": (
        f"U: an ≈ 8 kDa chemokine (BIOLOGY_PARAMETERS.md conversions), smaller than the "
        f"15-30 kDa cytokines of {_TRANSPORT}"
    ),
    "fields.ll37.diffusion_um2_per_min": (
        f"U: small antimicrobial peptides, no value in the sheets; {_TRANSPORT}"
    ),
    "fields.pge2.diffusion_um2_per_min": (
        "U: PGE2 is a 352.5 g/mol lipid (BIOLOGY_PARAMETERS.md conversions), faster than "
        "proteins; no measured value in the sheets"
    ),
    "fields.ll37_dna.diffusion_um2_per_min": (
        "U: large LL-37/self-DNA complexes from NETs and dying cells diffuse slowly "
        "(no value in the sheets)"
    ),
    "fields.*.half_life_min": f"U: viable epidermis; {_HALF_LIFE}",
    "fields.il2.half_life_min": f"U: short-lived, consumed by T cells; {_HALF_LIFE}",
    "fields.pge2.half_life_min": "U: short-lived lipid mediator (no value in the sheets)",
    "fields.ll37_dna.half_life_min": (
        "U: LL-37/self-DNA complexes persist (no value in the sheets; NETs themselves last "
        "2-12 h, BIOLOGY_PARAMETERS.md §5, U)"
    ),
    "fields.*.dermis_half_life_min": (
        f"U: dermis; defaults.py sets it to the field's half_life_min; {_HALF_LIFE}"
    ),
    "fields.*.stratum_corneum_half_life_min": (
        "U: slow loss in the dead stratum corneum (no receptor uptake or drainage there); no "
        "value in the sheets"
    ),
    "fields.*.stratum_corneum_diffusion_factor": (
        "U: the stratum corneum is a diffusion barrier (DESIGN.md principle 4); no value in the "
        "sheets"
    ),
    "fields.*.bottom_bc": "model choice: no flux through the bottom of the lattice (deep dermis)",
    "fields.*.bottom_value_pg_per_ml": (
        "model choice: level of the ghost voxel below the lattice, used only when bottom_bc is "
        "'fixed'"
    ),
    # -------------------------------------------------------------------------- keratinocyte
    "keratinocyte.basal_height_um": (
        "U: basal cells are columnar (BIOLOGY.md geometry); no measured height in the sheets"
    ),
    "keratinocyte.granular_height_um": (
        "U: granular cells are flattened; no measured height in the sheets"
    ),
    "keratinocyte.maturation_cv": (
        "U: cell-to-cell variability of maturation speed (lognormal factor with mean 1); no "
        "value in the sheets"
    ),
    "keratinocyte.basal_uptake_per_min": (
        "U: uptake of every field by basal keratinocytes, inside the implicit operator "
        "(DESIGN.md principle 4); 0 switches it off"
    ),
    "mouse.keratinocyte.basal_cells_per_column": (
        "U: the mouse column is one (smaller) voxel wide (cell width follows the profile's "
        "voxel size, DESIGN.md Space)"
    ),
    "mouse.keratinocyte.stem_fraction": (
        "calibrated (target 1, mouse stationarity over 30 days): with 0.15 the mouse basal "
        "layer declined (defaults.py SOURCES, mouse.keratinocyte.stem_quiescence_factor); "
        "was 0.15"
    ),
    "mouse.keratinocyte.g0_probability": (
        "U: no G0 delay in the mouse profile, as its stem cells cycle at the full rate "
        "(single progenitor population: Clayton et al. 2007 Nature 446:185)"
    ),
    "mouse.keratinocyte.g0_factor": (
        "U: no G0 delay in the mouse profile, as its stem cells cycle at the full rate "
        "(single progenitor population: Clayton et al. 2007 Nature 446:185)"
    ),
    "mouse.keratinocyte.cycle_fixed_phase_h": (
        "U: S+G2+M and minimal G1 of the faster mouse cycle (no value in the sheets)"
    ),
    "mouse.keratinocyte.spinous_duration_days": (
        "U: mouse epidermal turnover ≈ 1-2 weeks (BIOLOGY.md, unverified); stationarity of the "
        "healthy mouse (target 1) is checked"
    ),
    "mouse.keratinocyte.granular_duration_days": (
        "U: mouse epidermal turnover ≈ 1-2 weeks (BIOLOGY.md, unverified); granular residence "
        "≈ 1 day in human skin (BIOLOGY_PARAMETERS.md §5, U)"
    ),
    "mouse.keratinocyte.stratum_corneum_transit_days": (
        "U: mouse epidermal turnover ≈ 1-2 weeks (BIOLOGY.md, unverified); no mouse value for "
        "the stratum corneum in the sheets"
    ),
    "mouse.keratinocyte.basal_height_um": (
        "U: mouse epidermis ≈ 20 µm with 2-3 viable layers (BIOLOGY.md)"
    ),
    "mouse.keratinocyte.spinous_height_um": (
        "U: mouse epidermis ≈ 20 µm with 2-3 viable layers (BIOLOGY.md)"
    ),
    "mouse.keratinocyte.granular_height_um": (
        "U: mouse epidermis ≈ 20 µm with 2-3 viable layers (BIOLOGY.md)"
    ),
    "mouse.keratinocyte.corneocyte_height_um": (
        "U: corneocyte layer per mouse column (corneocytes ≈ 0.5-1 µm thick each, BIOLOGY.md); "
        "no derivation in defaults.py"
    ),
    "mouse.keratinocyte.column_height_tolerance_um": (
        "U: scaled down with the smaller mouse cells (no value in the sheets)"
    ),
    # ----------------------------------------------------------------------------- capillary
    "capillary.spacing_um": (
        "U: one capillary loop per dermal papilla (BIOLOGY.md: capillary loops in the "
        "papillary dermis); loops are placed at papilla tips"
    ),
    "capillary.dilation_time_h": (
        "U: vessels respond over about a day: after TNF/IL-1, E-selectin peaks at 4 h, VCAM-1 "
        "at 8-24 h and ICAM-1 plateaus by 24 h (Karmann96, V)"
    ),
    "mouse.capillary.spacing_um": (
        "U: one capillary loop per undulation period of the mouse basement membrane (no mouse "
        "value in the sheets)"
    ),
    # -------------------------------------------------------------------------------- immune
    "immune.capacity_dermis": (
        "U: mobile cells a dermal voxel holds beside its tissue (DESIGN.md Space: a small "
        "capacity per voxel)"
    ),
    "immune.capacity_epidermis": (
        "U: mobile cells a viable-epidermis voxel holds beside its keratinocyte (DESIGN.md "
        "Space: a neutrophil can sit in the epidermis without displacing a keratinocyte)"
    ),
    "immune.capacity_corneum": (
        "U: mobile cells a stratum-corneum voxel holds (room for Munro microabscesses, BIOLOGY.md)"
    ),
    "immune.netosis_delay_h": ("U: NETosis about 2-4 h after strong activation (BIOLOGY.md, ≈)"),
    "immune.net_half_life_h": (
        "U: NET half-life in tissue 2-12 h (BIOLOGY_PARAMETERS.md §5, U); NETs are degraded by "
        "DNase I (Leffler13, V)"
    ),
    "immune.net_il17a_production_pg": (
        "U: ≤ 0.01 pg per NETting cell, one-off (BIOLOGY_PARAMETERS.md §2, U); BIOLOGY.md: NET "
        "IL-17A is mostly IL-17A captured from others (Lin et al. 2011 J Immunol 187:490; "
        "Noordenbos et al. 2012 Arthritis Rheum 64:99), with a small optional production term"
    ),
    "immune.net_ll37_dna_pg_per_day": (
        "U: NETs expose LL-37/self-DNA complexes (BIOLOGY.md); no rate in the sheets; in the "
        "secretion unit of immune cells (docs/model.md §7.2)"
    ),
    "immune.efferocytosis_per_h": (
        "U: macrophages clear apoptotic neutrophils and NETs (BIOLOGY.md); no rate in the sheets"
    ),
    "immune.efferocytosis_memory_h": (
        "U: how long clearing keeps a macrophage's efferocytosis signal up (efferocytosis turns "
        "macrophages M2-like, BIOLOGY.md); no value in the sheets"
    ),
    "immune.neutrophil_il17a_capture_per_h": (
        "U: neutrophils hold IL-17A made by others (Lin et al. 2011 J Immunol 187:490; Noordenbos "
        "et al. 2012 Arthritis Rheum 64:99; BIOLOGY.md); 0.5/h binds about a fifth of their "
        "voxel's IL-17A against its 20-min half-life; no measured rate in the sheets"
    ),
    "immune.inducer_half_life_h": (
        "U: topical imiquimod-like inducer applied daily (BIOLOGY.md; van der Fits 2009 J "
        "Immunol 182:5836), arbitrary units; no skin half-life in the sheets"
    ),
    "immune.lymph_node.priming_delay_days": (
        "U: lymph-node priming delay ≈ 4-7 days (BIOLOGY.md, ≈)"
    ),
    "immune.lymph_node.cd4_per_mature_dc": (
        "U: primed CD4 effectors returned per mature DC reaching the lymph node (BIOLOGY.md: "
        "the lymph node is fed by emigrating mature DCs); no value in the sheets"
    ),
    "immune.lymph_node.cd8_per_mature_dc": (
        "U: primed CD8 effectors returned per mature DC reaching the lymph node; no value in "
        "the sheets"
    ),
    "immune.lymph_node.treg_per_tolerogenic_dc": (
        "U: Tregs returned per tolerogenic DC (BIOLOGY.md: tolerogenic DCs favour Treg over "
        "Th17); no value in the sheets"
    ),
    "immune.lymph_node.circulation_half_life_days": (
        "U: how long primed effectors stay in the blood, available to enter the skin; no value "
        "in the sheets"
    ),
    # ------------------------------------------------------------------------ immune types
    "immune.types.*.resident_per_mm2": (
        "model choice: not resident in healthy skin; cells of this type enter by recruitment "
        "or arise by a change of type"
    ),
    "immune.types.*.home": "U: where resident cells are seeded (processes/immune.py)",
    "immune.types.*.renewal": (
        "model choice: 'recruitment' replaces the losses of residents (resident_per_mm2 / "
        "lifetime_h) by entry at healthy perfusion, so healthy skin stays stationary (target "
        "1); 'none': residents are not replaced"
    ),
    "immune.types.*.lifetime_h": (
        "U: no tissue lifetime for this type in the sheets (none: no death; cells leave by a "
        "change of type, emigration or depletion)"
    ),
    "immune.types.*.proliferation_per_h": (
        "U: base division rate in the skin; rules may add cytokine- and contact-driven division "
        "(expansion happens mostly in the lymph node, defaults.py)"
    ),
    "immune.types.*.emigration_per_h": (
        "model choice: base rate of leaving the dermis for the lymph node; only mature and "
        "tolerogenic dendritic cells act on it (processes/immune.py)"
    ),
    "immune.types.*.speed_um_per_min": "U: no measured speed for this type in the sheets",
    "immune.types.*.chemotaxis_field": (
        "model choice: the field the biased walk climbs (none: an unbiased walk)"
    ),
    "immune.types.*.chemotactic_index": (
        "U: weight of the gradient in the walk (0 = unbiased); no value for this type in the sheets"
    ),
    "immune.types.*.regions": "U: regions the type may stand in (from BIOLOGY.md's description)",
    "immune.types.*.secretion_pg_per_cell_per_day": (
        f"model choice: base secretion (none: all secretion comes from rules); {_SECRETION_UNIT}"
    ),
    # neutrophils
    "immune.types.neutrophil.lifetime_h": (
        "U: neutrophils live 1-2 days in inflamed tissue (BIOLOGY.md; BIOLOGY_PARAMETERS.md §5, "
        "U); blood half-life ≈ 19 h (LahozBeneytez16, V)"
    ),
    "immune.types.neutrophil.speed_um_per_min": (
        "V: Butler10: neutrophil chemotaxis 17 ± 6 µm/min (V); 10-20 µm/min in the dermis "
        "(Lämmermann review, V/U)"
    ),
    "immune.types.neutrophil.chemotaxis_field": "BIOLOGY.md: neutrophils chemotax up CXCL8",
    "immune.types.neutrophil.chemotactic_index": (
        "V/U: chemotactic index 0.3-0.8 in gradients (Lämmermann review, V/U); the CXCL8 rule "
        "raises it"
    ),
    "immune.types.neutrophil.regions": (
        "BIOLOGY.md: neutrophils migrate into the epidermis and stratum corneum (Munro "
        "microabscesses)"
    ),
    "immune.types.neutrophil_apoptotic.lifetime_h": (
        "U: apoptotic neutrophils are cleared by macrophages (BIOLOGY.md); uncleared ones are "
        "removed after this time (no value in the sheets)"
    ),
    "immune.types.neutrophil_apoptotic.regions": (
        "model choice: apoptotic neutrophils stay where neutrophils go (BIOLOGY.md: epidermis "
        "and stratum corneum)"
    ),
    "immune.types.neutrophil_apoptotic.speed_um_per_min": "model choice: dead cells do not move",
    # macrophages
    "immune.types.macrophage_m0.resident_per_mm2": (
        "U: dermal resident macrophages (BIOLOGY.md); no density in the sheets"
    ),
    "mouse.immune.types.macrophage_m0.resident_per_mm2": (
        "U: mouse dermis is richer in myeloid cells than human: dermal macrophages and DCs "
        "1,000-5,000/mm² in mouse skin whole mounts (defaults.py, U)"
    ),
    "immune.types.macrophage_m*.lifetime_h": (
        "U: macrophage lifetime in the dermis; no value in the sheets"
    ),
    # dendritic cells
    "immune.types.langerhans.resident_per_mm2": (
        "U: Langerhans cells ≈ 400-1,000 /mm², 2-4 % of epidermal cells (BIOLOGY.md, ≈)"
    ),
    "immune.types.langerhans.home": "BIOLOGY.md: Langerhans cells live in the epidermis",
    "immune.types.langerhans.regions": "BIOLOGY.md: Langerhans cells live in the epidermis",
    "immune.types.langerhans.speed_um_per_min": (
        "V: Langerhans cells are sessile, cycling dendrites; inflammation triggers motility "
        "and emigration (Kissenpfennig05, Nishibu, V)"
    ),
    "immune.types.langerhans.lifetime_h": (
        "U: long-lived epidermal residents that leave by maturation (antigen-bearing LCs remain "
        "in the epidermis 10 d after a sensitiser, VanWilsem94, V)"
    ),
    "immune.types.dermal_dc.resident_per_mm2": (
        "U: dermal myeloid (CD11c+) DCs (BIOLOGY.md); no density in the sheets"
    ),
    "mouse.immune.types.dermal_dc.resident_per_mm2": (
        "U: mouse dermis is richer in myeloid cells than human: dermal macrophages and DCs "
        "1,000-5,000/mm² in mouse skin whole mounts (defaults.py, U)"
    ),
    "immune.types.dermal_dc.home": (
        "V: in steady state dermal DCs sit along vessels (Tal11, V), i.e. in the papillary dermis"
    ),
    "immune.types.dermal_dc.speed_um_per_min": (
        "V: dermal DCs are sessile along vessels in steady state; inflammation raises their "
        "interstitial motility 2.5-fold (Tal11, V)"
    ),
    "immune.types.dermal_dc.lifetime_h": "U: dermal DC turnover; no value in the sheets",
    "immune.types.dc_*.speed_um_per_min": (
        "V/U: inflamed dermal DCs 2-5 µm/min (Tal11: 2.5-fold gain V, speed U)"
    ),
    "immune.types.dc_*.regions": (
        "U: maturing DCs cross epidermis and dermis on their way to the lymphatics (BIOLOGY.md)"
    ),
    "immune.types.dc_*.lifetime_h": (
        "U: activated DCs that do not emigrate die in the skin; no value in the sheets"
    ),
    "immune.types.dc_mature.emigration_per_h": (
        "U: dermal DCs reach the lymph node in 1-2 days, LCs in 2-4 (BIOLOGY_PARAMETERS.md §5, "
        "U); dermal DCs arrive before LCs (Kissenpfennig05, V)"
    ),
    "immune.types.dc_tolerogenic.emigration_per_h": (
        "U: DC emigration skin → lymph node 1-4 days (BIOLOGY_PARAMETERS.md §5, U)"
    ),
    "immune.types.dc_tolerogenic.secretion_pg_per_cell_per_day": (
        "U: tolerogenic DCs make IL-10 (BIOLOGY.md; TGF-β U); " + _SECRETION_UNIT
    ),
    "immune.types.pdc.lifetime_h": "U: pDC lifetime in lesions; no value in the sheets",
    "immune.types.pdc.resident_per_mm2": (
        "BIOLOGY.md: plasmacytoid DCs are absent from normal skin and recruited in lesions"
    ),
    # γδ T17
    "immune.types.gd_t17.resident_per_mm2": (
        "BIOLOGY.md: resident dermal γδ T17 cells are described in mouse skin; none in the "
        "human profile"
    ),
    "mouse.immune.types.gd_t17.resident_per_mm2": (
        "BIOLOGY.md: resident dermal γδ T17 cells are the main early IL-17A/IL-22 producers in "
        "mouse skin (Cai 2011 Immunity 35:596; Pantelyushin 2012 J Clin Invest 122:2252); "
        "density U"
    ),
    "immune.types.gd_t17.lifetime_h": "U: none in the human profile (no γδ T17 residents)",
    "mouse.immune.types.gd_t17.lifetime_h": (
        "U: turnover like the αβ residents (days-weeks, BIOLOGY_PARAMETERS.md §5); without it "
        "the cells IL-23 expands never leave and the imiquimod lesion cannot resolve (target 3)"
    ),
    "mouse.immune.types.gd_t17.renewal": (
        "U: replaced from the circulation at healthy perfusion (Vγ4+ γδ T17 cells recirculate "
        "between skin and lymph node)"
    ),
    "immune.types.gd_t17.regions": (
        "U: dermal γδ T17 cells (BIOLOGY.md) may also enter the epidermis"
    ),
    # αβ T cells (th*, tc*, treg, tr1)
    "immune.types.t*.resident_per_mm2": f"BIOLOGY.md: {_CLARK}",
    "immune.types.th0.resident_per_mm2": (
        "model choice: CD4 effectors primed in the lymph node arrive through the vessels "
        "(BIOLOGY.md), not resident"
    ),
    "immune.types.tc0.resident_per_mm2": (
        "model choice: CD8 effectors primed in the lymph node arrive through the vessels "
        "(BIOLOGY.md), not resident"
    ),
    "mouse.immune.types.t*.resident_per_mm2": (
        "U: the mouse profile uses the human T-cell densities (Clark 2006 is human skin; no "
        "mouse value in the sheets)"
    ),
    "immune.types.t*.lifetime_h": (
        "U: effector T-cell residence in inflamed skin days-weeks (BIOLOGY_PARAMETERS.md §5, U)"
    ),
    "immune.types.t*.speed_um_per_min": (
        "U: effector T cells 5-10 µm/min in the dermis (BIOLOGY_PARAMETERS.md §4, U); T-cell "
        "speeds in tissues span < 2 to > 8 µm/min (Torres23, V)"
    ),
    "immune.types.t*.chemotaxis_field": (
        "BIOLOGY.md: CCL20 recruits CCR6+ Th17 cells; Th1 cells follow CXCL9/10 and CCL17/22, "
        "which are not fields of the model"
    ),
    "immune.types.t*.chemotactic_index": (
        "U: no measured chemotactic index for T cells in the sheets"
    ),
    "immune.types.t*.regions": (
        "BIOLOGY.md: T cells in dermis and epidermis; CD8 cells are the largest increase in "
        "lesional epidermis"
    ),
    "immune.types.cd8_trm.resident_per_mm2": (
        "BIOLOGY.md: most skin T cells are resident memory (Clark 2006); CD8 TRM remain in "
        "resolved lesions and drive relapse; density U"
    ),
    "immune.types.cd8_trm.home": (
        "V: epidermal TRM squeeze between keratinocytes (Zaid17, V; BIOLOGY_PARAMETERS.md §4)"
    ),
    "immune.types.cd8_trm.regions": (
        "V: CD8 TRM in the epidermis (Zaid17, V) and dermis (BIOLOGY.md)"
    ),
    "immune.types.cd8_trm.lifetime_h": ("U: TRM persist for years (BIOLOGY_PARAMETERS.md §5, U)"),
    "immune.types.cd8_trm.speed_um_per_min": (
        "V/U: epidermal TRM/CD8 1-2 µm/min, dendritic squeezing (Zaid17: mode V, speed U)"
    ),
    # -------------------------------------------------------------------------------- rules
    "rules.keratinocyte.proliferation": (
        "calibrated (target 2): IL-17A, IL-22, TNF-α, IL-36 and IFN-γ raise proliferation, "
        "IL-10/TGF-β restrain it (BIOLOGY.md); saturation: the psoriatic 36 h cycle (W85) as "
        "the fixed S/G2/M phase plus a short G1 (defaults.py), was 1/10; "
        + _TISSUE_K
        + "; Hill power 2 (U: with power "
        "1 healthy background levels sped the healthy cycle); the decreasing saturation is U"
    ),
    "rules.keratinocyte.suprabasal_proliferation": (
        "U: suprabasal mitoses are a psoriatic sign (≥ 1 per 100 basal cells is diagnostic) "
        "and in psoriasis more than half of cycling cells sit suprabasally (BIOLOGY.md); "
        "saturation U; " + _TISSUE_K
    ),
    "rules.keratinocyte.differentiation": (
        "U: faster maturation shortens transit to the psoriatic ≈ 3-7 days "
        "(BIOLOGY_PARAMETERS.md §5, U; turnover about 7 days, W85); saturation U; " + _TISSUE_K
    ),
    "mouse.rules.keratinocyte.differentiation": (
        "calibrated (target 3): under a saturating drive the mouse epidermis thickened only "
        "1.2× in 6 days with the human value (faster maturation outran the added cells); was 5.0"
    ),
    "rules.keratinocyte.parakeratosis": (
        "U: IL-17A, IL-22 and TNF-α impair differentiation (parakeratosis: corneocytes keep "
        "nuclei, BIOLOGY.md); IL-22 blocks differentiation (Boniface05, V); saturation U; "
        + _TISSUE_K
    ),
    "rules.keratinocyte.shedding": (
        "U: stratum-corneum transit ≈ 14 d normal vs 2-4 d in psoriasis (BIOLOGY_PARAMETERS.md "
        "§5, U); saturation U; " + _TISSUE_K
    ),
    "rules.keratinocyte.secrete_il6": (
        "U: activated keratinocytes secrete IL-6 (BIOLOGY.md); IL-17A/F + TNF synergy on IL-6 in "
        "stromal cells (Frontiers19, V); " + _SECRETION_UNIT
    ),
    # capillaries
    "rules.capillary.dilation": (
        "U: papillary capillaries dilate under VEGF, TNF-α and IL-17A; plaque perfusion ≈ 2× "
        "uninvolved skin (high-frequency ultrasound, BIOLOGY.md); saturation U"
    ),
    "rules.capillary.recruit_neutrophil": (
        "U: neutrophils enter in proportion to local CXCL8 and endothelial activation: TNF-α "
        "and IL-17A raise adhesion molecules (BIOLOGY.md; Karmann96, V); IL-17A alone on "
        "endothelium is weak (Frontiers19, V), hence CXCL8 AND TNF-α / IL-17A; rates U, per "
        "site standing for 1,200 µm² of skin (scaled to the site's area, docs/model.md §7.5.2)"
    ),
    "rules.capillary.recruit_monocyte": (
        "U: monocyte entry rises under TNF-α, IL-1β and the inducer; the base rate replaces "
        "resident macrophages (derived, docs/model.md §10); rates U"
    ),
    "rules.capillary.recruit_pdc": (
        "U: pDCs are absent from normal skin and recruited in lesions (BIOLOGY.md); signals "
        "and rates U"
    ),
    "rules.capillary.recruit_dermal_dc": (
        "U: dermal DC entry rises under CCL20 and TNF-α; the base rate replaces resident dermal "
        "DCs (derived, docs/model.md §10); rates U"
    ),
    "rules.capillary.recruit_primed_t": (
        "U: primed T cells return through the vessels, recruited by CCL20 (CCR6+ Th17), "
        "CXCL9/10 (Th1) and CCL17/22 (BIOLOGY.md); only CCL20 and TNF-α are modelled; rates U"
    ),
    # neutrophils
    "rules.neutrophil.chemotaxis": (
        "V/U: CXCL8 is potent at low nM, bell-shaped optimum 1-10 nM (Ludwig97, V/U); "
        "chemotactic index 0.3-0.8 in gradients (Lämmermann review, V/U); half-max U"
    ),
    "rules.neutrophil.netosis": (
        "U: activated neutrophils (CXCL8, TNF, LL-37, immune complexes) may undergo NETosis "
        "(BIOLOGY.md); rates and half-maxima U"
    ),
    "rules.neutrophil.secrete_*": (
        "U: not in BIOLOGY.md (no source in the sheets); " + _SECRETION_UNIT
    ),
    # macrophages
    "rules.macrophage_m?.become_macrophage_m1": (
        "U: M1-like under IFN-γ/TNF (BIOLOGY.md); imiquimod activates macrophages (van der "
        "Fits 2009, BIOLOGY.md); rates U"
    ),
    "rules.macrophage_m?.become_macrophage_m2": (
        "U: M2-like under IL-10, IL-4, PGE2 (and TSG-6, MSC contact, BIOLOGY.md); "
        "efferocytosis turns macrophages M2-like (BIOLOGY.md); PGE2 half-max ≈ 1 nM (1 nM = "
        "352 pg/mL, conv.); rates U"
    ),
    "rules.macrophage_m1.secrete_*": (
        "U: M1-like macrophages make TNF-α, IL-1β and IL-23 (BIOLOGY.md); IL-6 and IL-12 U; "
        "IL-23/IL-12 only under TLR7 ligation by the inducer (defaults.py); " + _SECRETION_UNIT
    ),
    "rules.macrophage_m2.secrete_*": (
        "U: M2-like macrophages make IL-10 and TGF-β; efferocytosis turns them M2-like "
        "(BIOLOGY.md); " + _SECRETION_UNIT
    ),
    # dendritic cells
    "rules.*.become_dc_mature": (
        "V/U: imiquimod activates myeloid DCs (van der Fits 2009, BIOLOGY.md); LL-37 + self-RNA "
        "matures mDCs through TLR8 (Ganguly09, mechanism V, dose U); IFN-α on DC maturation "
        "500-1000 IU/mL (U); IL-10 and TGF-β hold DCs back (tolerogenic DCs, BIOLOGY.md); "
        "rates and half-maxima U"
    ),
    "rules.*.become_dc_tolerogenic": (
        "U: tolerogenic DCs arise under IL-10, TGF-β, PGE2 and MSC contact (BIOLOGY.md); PGE2 "
        "half-max ≈ 1 nM (352 pg/mL, conv.); rates U"
    ),
    "rules.dc_mature.emigration": (
        "U: maturing DCs emigrate through lymphatics to the draining lymph node (BIOLOGY.md); "
        "dermal DCs 1-2 days (BIOLOGY_PARAMETERS.md §5, U)"
    ),
    "rules.dc_tolerogenic.emigration": (
        "U: DC emigration skin → lymph node 1-4 days (BIOLOGY_PARAMETERS.md §5, U)"
    ),
    "rules.dc_mature.secrete_*": (
        "BIOLOGY.md: maturing myeloid DCs make IL-23 (p19 mRNA ≈ 22× in lesions, IL-12 p35 "
        "unchanged: Lee 2004 J Exp Med) and IL-12; inflammatory TIP-DCs make TNF-α (Lowes 2005 "
        "PNAS); in the mouse only on a pattern-recognition signal (defaults.py "
        "SPECIES_DISABLED_RULES); IL-10 suppresses DC IL-12/IL-23 (IC50 ≈ 0.1-1 ng/mL, "
        "BIOLOGY_PARAMETERS.md §1, U); mature DC 0.001-0.01 pg/cell/day bulk (§2, U); "
        + _SECRETION_UNIT
    ),
    "rules.pdc.secrete_ifna": (
        "V: pDCs sense LL-37/self-DNA (TLR9) and imiquimod and make IFN-α (Ganguly09, mechanism "
        "V; BIOLOGY.md); 1-2 IU per cell per stimulation (Fitzgerald-Bocarsly93, V); "
        + _SECRETION_UNIT
    ),
    # γδ T17
    "rules.gd_t17.secrete_*": (
        "BIOLOGY.md: dermal γδ T17 cells answer IL-23 and IL-1β within hours with IL-17A/IL-22, "
        "without priming (Cai 2011; Pantelyushin 2012); IL-1β acts together with "
        "IL-23 (Sutton 2009 Immunity 31:331, U, defaults.py); "
        + _TREG_SUPPRESSION
        + "; "
        + _SECRETION_UNIT
    ),
    "rules.gd_t17.proliferation": (
        "U: γδ T17 cells expand under IL-23 together with IL-1β (Sutton 2009 Immunity 31:331, "
        "U); local crowding stops their expansion (defaults.py, U); " + _TREG_SUPPRESSION
    ),
    # CD4 polarisation
    "rules.th0.become_th17": (
        "V/U: Th17 from naive cells by IL-6 + TGF-β (+ IL-1β) (BIOLOGY.md; Manel08: recipe V, "
        "doses U); IL-23 does not polarise naive cells, which lack its receptor (BIOLOGY.md); "
        "rates U"
    ),
    "rules.th0.become_th1": "U: Th1 by IL-12/IFN-γ (BIOLOGY.md); rates U",
    "rules.th0.become_th2": "U: Th2 by IL-4 (BIOLOGY.md); rates U",
    "rules.th0.become_treg": (
        "V/U: FoxP3 Treg by TGF-β with IL-2 (BIOLOGY.md; Rao05: effect V, doses U); TGF-β with "
        "IL-6 tips toward Th17 instead, and tolerogenic DCs favour Treg over Th17 (BIOLOGY.md); "
        "rates U"
    ),
    "rules.th0.become_tr1": "U: IL-10 induces Tr1 (IL-10-producing) cells (BIOLOGY.md); rates U",
    "rules.th0.secrete_il2": (
        "U: activated T cells make IL-2; single-cell IL-2 ≈ 0.9 pg/cell/day (Viselli89, V); "
        + _SECRETION_UNIT
    ),
    "rules.tc0.become_tc1": (
        "U: CD8 effectors polarise to Tc1/Tc17 (BIOLOGY.md); signals by analogy with CD4 cells, U"
    ),
    "rules.tc0.become_tc17": (
        "U: CD8 effectors polarise to Tc1/Tc17 (BIOLOGY.md); signals by analogy with CD4 cells, U"
    ),
    "rules.tc*.become_cd8_trm": (
        "U: CD8 TRM persist after resolution (BIOLOGY.md); TGF-β as the signal and the rate U"
    ),
    "rules.treg.become_th17": ("U: Treg → IL-17+ plasticity under IL-6/IL-23 (BIOLOGY.md); rate U"),
    # effector output
    "rules.th17.secrete_*": (
        "V/U: Th17 cells make IL-17A/IL-22/TNF-α (BIOLOGY.md); IL-23 expands and maintains Th17 "
        "and induces IL-17 and IL-22 (ArthRheum07, V); activated Th17 → IL-17A 0.1-1 "
        "pg/cell/day (BIOLOGY_PARAMETERS.md §2, U); " + _TREG_SUPPRESSION + "; " + _SECRETION_UNIT
    ),
    "rules.tc17.secrete_*": (
        "U: Tc17 cells by analogy with Th17 (BIOLOGY.md: CD8 Tc1/Tc17); "
        + _TREG_SUPPRESSION
        + "; "
        + _SECRETION_UNIT
    ),
    "rules.cd8_trm.secrete_*": (
        "U: long-lived IL-17-producing CD8 TRM drive relapse (BIOLOGY.md); "
        + _TREG_SUPPRESSION
        + "; "
        + _SECRETION_UNIT
    ),
    "rules.th1.secrete_*": (
        "U: Th1 cells make IFN-γ/TNF-α (BIOLOGY.md); Th1 → IFN-γ 0.5-5 pg/cell/day "
        "(BIOLOGY_PARAMETERS.md §2, U); " + _TREG_SUPPRESSION + "; " + _SECRETION_UNIT
    ),
    "rules.tc1.secrete_*": (
        "U: Tc1 cells by analogy with Th1 (BIOLOGY.md: CD8 Tc1/Tc17); "
        + _TREG_SUPPRESSION
        + "; "
        + _SECRETION_UNIT
    ),
    "rules.th2.secrete_il4": "U: Th2 cells make IL-4/IL-13 (BIOLOGY.md); " + _SECRETION_UNIT,
    "rules.treg.secrete_*": (
        "U: Tregs make IL-10/TGF-β (BIOLOGY.md); Treg → IL-10 0.01-0.3, TGF-β 0.05-0.5 "
        "pg/cell/day (BIOLOGY_PARAMETERS.md §2, U); " + _SECRETION_UNIT
    ),
    "rules.tr1.secrete_il10": (
        "U: Tr1 cells are IL-10-producing regulatory cells (BIOLOGY.md); " + _SECRETION_UNIT
    ),
    "rules.t*.proliferation": (
        "U: expansion happens mostly in the lymph node; in the skin effector cells divide "
        "slowly (defaults.py); IL-23 expands IL-23R+ Th17 cells (BIOLOGY.md); " + _TREG_SUPPRESSION
    ),
}

# Keratinocyte secretion: base and saturation calibrated against tissue levels (KC_SECRETION).
for _field_id, (_base, _saturation, _healthy, _lesional, _target_source) in KC_SECRETION.items():
    _text = (
        f"calibrated (2-D section, mass balance): base and saturation give ≈ {_healthy:g} pg/mL "
        f"in healthy and ≈ {_lesional:g} pg/mL in lesional tissue ({_target_source}); "
        "activated keratinocytes secrete CXCL8, CCL20, antimicrobial peptides, IL-36, IL-1β and "
        "VEGF (BIOLOGY.md); raised by cytokines with " + _TISSUE_K
    )
    if _field_id in ("ll37", "il36"):
        _text += (
            "; NETs induce hBD-2 in keratinocytes (BIOLOGY.md) and neutrophil proteases activate "
            "IL-36γ (PMC6372007, V)"
        )
    PARAMETER_SOURCES.setdefault(f"rules.keratinocyte.secrete_{_field_id}", _text)

#: The citation keys used above, as ``BIOLOGY_PARAMETERS.md`` lists them (W85: ``defaults.W85``).
REFERENCES: dict[str, str] = {
    "ArthRheum07": "doi 10.1002/art.22866",
    "Boniface05": "J Immunol (IL-22, S100A7/8/9)",
    "Butler10": "PLoS One 5:e11921 (Bionumbers 112247)",
    "Collison09": "J Immunol 182:6121",
    "Fitzgerald-Bocarsly93": "Pharmacol Ther 60:39 (PMID 8127923)",
    "Frontiers19": "fimmu.2019.01726",
    "Ganguly09": "J Exp Med 206:1983",
    "Karmann96": "J Exp Med 184:173",
    "Kissenpfennig05": "Immunity 22:643",
    "Kolbinger17": "J Allergy Clin Immunol 139:923 (doi 10.1016/j.jaci.2016.06.038)",
    "LahozBeneytez16": "Blood 127:3431",
    "Leffler13": "Arthritis Res Ther 15:R84",
    "Ludwig97": "Blood 90:4588",
    "Manel08": "Nat Immunol 9:641 (PMC2597394)",
    "Nakamura01": "J Exp Med (PMC2195935)",
    "PMC6372007": "IL-36γ/cathepsin G",
    "Rao05": "J Immunol (TGF-β iTreg)",
    "Tal11": "J Exp Med 208:2141",
    "Torres23": "eLife 84916",
    "VanWilsem94": "J Invest Dermatol 103:217",
    "Viselli89": "J Immunol Methods",
    "W85": W85,
    "Zaid17": "J Immunol",
}


def all_sources() -> dict[str, str]:
    """Every source: :data:`PARAMETER_SOURCES` overlaid by :data:`mscabm.defaults.SOURCES`.

    Returns
    -------
    dict
        Dotted key (possibly with wildcards) → source text. Where both define a key, the
        source kept beside the value in ``mscabm/defaults.py`` wins.
    """
    return {**PARAMETER_SOURCES, **SOURCES}


def _specificity(pattern: str) -> tuple[int, int]:
    wild = sum(pattern.count(c) for c in "*?[")
    return (wild, -len(pattern))


def source_for(dotted_key: str, species: str = "human", *, fallback: bool = True) -> str:
    """Source of one default.

    Lookup order: the exact key (``mouse.<key>`` first for the mouse profile), then the most
    specific wildcard entry matching it (fewest wildcards, then the longest pattern; mouse
    entries first), then, when ``fallback`` is true, the nearest section key (``rules``,
    ``fields``, ``immune.types``, ...).

    Parameters
    ----------
    dotted_key
        A default's dotted key, e.g. ``"immune.types.neutrophil.speed_um_per_min"`` or a rule
        group ``"rules.keratinocyte.proliferation"``.
    species
        ``"human"`` or ``"mouse"``.
    fallback
        Whether a section key may answer when no exact or wildcard entry does.

    Returns
    -------
    str
        The source text, or ``""`` when none is known.
    """
    sources = all_sources()
    keys = [f"mouse.{dotted_key}", dotted_key] if species == "mouse" else [dotted_key]
    for key in keys:
        if key in sources:
            return sources[key]
    patterns = [p for p in sources if any(c in p for c in "*?[")]
    for key in keys:
        matches = sorted((p for p in patterns if fnmatch.fnmatchcase(key, p)), key=_specificity)
        if matches:
            return sources[matches[0]]
    if fallback:
        parts = dotted_key.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            section = ".".join(parts[:cut])
            for key in ([f"mouse.{section}"] if species == "mouse" else []) + [section]:
                if key in sources:
                    return sources[key]
    return ""
