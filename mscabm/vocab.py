"""Names and integer codes of cell types, cell states, lattice codes, signals and behaviours.

Everything a scenario may name lives here, so that a misspelt name fails when the scenario
loads with the list of valid names (DESIGN.md, principle 5). Codes are stable: they are written
into run files (``/lattice/tissue`` attribute ``codes``) and never renumbered.
"""

from __future__ import annotations

import difflib
from enum import IntEnum

#: Mobile (immune) cell types. A state that changes what a cell does (maturation, polarisation)
#: is its own type: a cell changes type through a ``become_<type>`` behaviour, so rules stay
#: per type (DESIGN.md, principle 1: a cell type is an integer code plus a row of parameters).
IMMUNE_TYPES: tuple[str, ...] = (
    "neutrophil",
    "neutrophil_apoptotic",  # dead, waiting to be cleared by a macrophage
    "macrophage_m0",  # resident or recruited monocyte-derived, not polarised
    "macrophage_m1",
    "macrophage_m2",
    "langerhans",  # immature epidermal dendritic cell
    "dermal_dc",  # immature dermal myeloid dendritic cell
    "dc_mature",
    "dc_tolerogenic",
    "pdc",  # plasmacytoid dendritic cell
    "gd_t17",  # dermal γδ T17 cell (innate-like, no priming)
    "th0",  # CD4 effector primed in the lymph node, not yet polarised
    "th1",
    "th2",
    "th17",
    "treg",
    "tr1",
    "tc0",  # CD8 effector primed in the lymph node, not yet polarised
    "tc1",
    "tc17",
    "cd8_trm",  # long-lived resident memory CD8 cell
)

#: Cell types with agents in the population tables (codes = positions).
CELL_TYPES: tuple[str, ...] = ("keratinocyte", "capillary", *IMMUNE_TYPES)

#: First code of the immune types (``CELL_TYPES.index(IMMUNE_TYPES[0])``).
FIRST_IMMUNE_CODE = 2


class CellType(IntEnum):
    """Integer code of a cell type (row of the per-type parameter tables)."""

    KERATINOCYTE = 0
    CAPILLARY = 1
    NEUTROPHIL = 2
    NEUTROPHIL_APOPTOTIC = 3
    MACROPHAGE_M0 = 4
    MACROPHAGE_M1 = 5
    MACROPHAGE_M2 = 6
    LANGERHANS = 7
    DERMAL_DC = 8
    DC_MATURE = 9
    DC_TOLEROGENIC = 10
    PDC = 11
    GD_T17 = 12
    TH0 = 13
    TH1 = 14
    TH2 = 15
    TH17 = 16
    TREG = 17
    TR1 = 18
    TC0 = 19
    TC1 = 20
    TC17 = 21
    CD8_TRM = 22


assert tuple(m.name.lower() for m in CellType) == CELL_TYPES

#: Allowed type changes (``become_<target>`` behaviours) per immune type.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "macrophage_m0": ("macrophage_m1", "macrophage_m2"),
    "macrophage_m1": ("macrophage_m2",),
    "macrophage_m2": ("macrophage_m1",),
    "langerhans": ("dc_mature", "dc_tolerogenic"),
    "dermal_dc": ("dc_mature", "dc_tolerogenic"),
    "dc_mature": ("dc_tolerogenic",),
    "th0": ("th1", "th2", "th17", "treg", "tr1"),
    "treg": ("th17",),  # Treg → IL-17+ plasticity under IL-6/IL-23
    "tc0": ("tc1", "tc17"),
    "tc1": ("cd8_trm",),
    "tc17": ("cd8_trm",),
}

#: Populations an intervention may deplete, and the immune types each one covers.
POPULATIONS: dict[str, tuple[str, ...]] = {
    "neutrophils": ("neutrophil", "neutrophil_apoptotic"),
    "macrophages": ("macrophage_m0", "macrophage_m1", "macrophage_m2"),
    "dendritic_cells": ("langerhans", "dermal_dc", "dc_mature", "dc_tolerogenic", "pdc"),
    "pdcs": ("pdc",),
    "gd_t17": ("gd_t17",),
    "tregs": ("treg", "tr1"),
    "cd4_t_cells": ("th0", "th1", "th2", "th17", "treg", "tr1"),
    "cd8_t_cells": ("tc0", "tc1", "tc17", "cd8_trm"),
    "t_cells": (
        "gd_t17", "th0", "th1", "th2", "th17", "treg", "tr1", "tc0", "tc1", "tc17", "cd8_trm",
    ),
}


class KeratinocyteState(IntEnum):
    """Lineage state of a viable keratinocyte (corneocytes live in the stratum-corneum stacks)."""

    STEM = 1
    TA = 2  # transit-amplifying: a limited number of divisions left
    COMMITTED = 3  # post-mitotic, still in the basal layer, waiting to delaminate
    SPINOUS = 4
    GRANULAR = 5


#: Codes of ``/lattice/tissue`` (uint8). 0 is air (nothing).
TISSUE_CODES: dict[str, int] = {
    "air": 0,
    "dermis": 1,
    "capillary": 2,
    "basal_stem": 3,
    "basal_ta": 4,
    "basal_committed": 5,
    "suprabasal_ta": 6,
    "spinous": 7,
    "granular": 8,
    "stratum_corneum": 9,
    "parakeratotic_corneum": 10,
}

#: Codes of ``/lattice/mobile`` (uint8): 0 = none, then 20 + the immune type's position. A
#: voxel shows its occupant of highest display priority (:data:`MOBILE_DISPLAY_PRIORITY`).
MOBILE_CODES: dict[str, int] = {"none": 0, **{t: 20 + i for i, t in enumerate(IMMUNE_TYPES)}}

#: Display priority of mobile occupants (higher wins): NET-forming and clustering neutrophils
#: first, then T cells, dendritic cells, macrophages.
MOBILE_DISPLAY_PRIORITY: dict[str, int] = {
    "neutrophil": 30, "neutrophil_apoptotic": 29, "th17": 28, "gd_t17": 27, "tc17": 26,
    "treg": 25, "tr1": 24, "th1": 23, "tc1": 22, "th2": 21, "th0": 20, "tc0": 19,
    "cd8_trm": 18, "dc_mature": 17, "dc_tolerogenic": 16, "pdc": 15, "langerhans": 14,
    "dermal_dc": 13, "macrophage_m1": 12, "macrophage_m2": 11, "macrophage_m0": 10,
}  # fmt: skip

#: All codes written as the ``codes`` attribute of the lattice layers (tissue and mobile).
LATTICE_CODES: dict[str, int] = {**TISSUE_CODES, **{k: v for k, v in MOBILE_CODES.items() if v}}

#: Cytokine and signal fields known to the default biology (ASCII snake_case ids).
FIELD_IDS: tuple[str, ...] = (
    "il17a",
    "il22",
    "tnfa",
    "ifng",
    "il36",
    "il10",
    "tgfb",
    "il1b",
    "cxcl8",
    "ccl20",
    "ll37",
    "vegf",
    "il23",
    "il12",
    "ifna",
    "il2",
    "il4",
    "il6",
    "pge2",
    "ll37_dna",
)

#: Signals a rule may read that are not fields: the cell's height above the basement membrane,
#: the perfusion of a capillary, the topical inducer's level (arbitrary units, tissue voxels),
#: NETs in the cell's voxel and its neighbours, immune cells of a type in the cell's voxel and
#: its neighbours (``contact_<type>``), and the cells a phagocyte cleared in the last day.
CONTACT_TYPES: tuple[str, ...] = (
    "neutrophil", "neutrophil_apoptotic", "dc_mature", "dc_tolerogenic", "treg", "th17",
    "macrophage_m2", "gd_t17",
)  # fmt: skip
#: Populations (POPULATIONS) whose members are also counted together as ``contact_<population>``
#: (crowding: e.g. all T cells in reach).
CONTACT_POPULATIONS: tuple[str, ...] = ("t_cells",)
EXTRA_SIGNALS: tuple[str, ...] = (
    "height_above_bm_um",
    "perfusion",
    "inducer",
    "net_contact",
    *(f"contact_{t}" for t in CONTACT_TYPES),
    *(f"contact_{p}" for p in CONTACT_POPULATIONS),
    "efferocytosis_recent",
)

#: Behaviours per cell type: the quantities rules modulate.
BEHAVIOURS: dict[str, tuple[str, ...]] = {
    "keratinocyte": (
        "proliferation",  # cell-cycle speed, 1/h
        "suprabasal_proliferation",  # probability that a daughter leaving the basal layer cycles
        "differentiation",  # multiplier of the maturation speed of suprabasal cells
        "parakeratosis",  # probability that a cell cornifies without a granular stage
        "shedding",  # multiplier of the desquamation speed of its corneocytes
        *(f"secrete_{field_id}" for field_id in FIELD_IDS),  # pg/cell/day
    ),
    "capillary": (
        "dilation",  # relative perfusion, 1 = healthy
        # entry of circulating cells at this capillary (1/h, multiplied by its perfusion)
        "recruit_neutrophil",
        "recruit_monocyte",  # enter as macrophage_m0
        "recruit_pdc",
        "recruit_dermal_dc",
        "recruit_primed_t",  # per circulating lymph-node effector
    ),
    **{
        immune_type: (
            "death",  # 1/h (neutrophils become neutrophil_apoptotic; others are removed)
            "proliferation",  # 1/h, the daughter takes a free neighbouring voxel
            "motility",  # speed, µm/min
            "chemotaxis",  # chemotactic index in [0, 1] up the type's chemotaxis field
            "netosis",  # 1/h (neutrophils only act on it)
            "emigration",  # 1/h into the lymph node, from the dermis (dendritic cells)
            "il17a_capture",  # 1/h, share of the voxel's IL-17A bound per hour (neutrophils)
            *(f"become_{target}" for target in TRANSITIONS.get(immune_type, ())),
            *(f"secrete_{field_id}" for field_id in FIELD_IDS),  # pg/cell/day
        )
        for immune_type in IMMUNE_TYPES
    },
}

#: Kinds of scheduled events.
EVENT_KINDS: tuple[str, ...] = (
    "fix_field",  # hold a field at `amount` pg/mL in the tissue (a "psoriatic drive")
    "release_field",  # stop holding it
    "knockout_field",  # no cell secretes it and its level is held at zero
    "restore_field",  # end a knockout
    "block_response",  # `target` = "cell_type:signal": that cell type no longer senses the signal
    "unblock_response",
    "start_inducer",  # topical inducer applied daily from this day, `amount` per application
    "stop_inducer",  # no further applications (what was applied still decays)
    "deplete",  # `target` = a population (POPULATIONS): removed now, no new ones arrive
    "restore_population",  # end a depletion
    "block_netosis",  # `target` = "neutrophil"
    "unblock_netosis",
)


def suggest(name: str, valid: tuple[str, ...] | list[str]) -> str:
    """Return a hint naming the closest valid names and listing all of them.

    Parameters
    ----------
    name
        The name a user wrote.
    valid
        The names that are allowed.

    Returns
    -------
    str
        ``"did you mean 'x'? valid: a, b, c"``.
    """
    close = difflib.get_close_matches(name, list(valid), n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"{hint}valid: {', '.join(valid)}"


def signal_names() -> tuple[str, ...]:
    """All signal names a rule may read, fields first."""
    return FIELD_IDS + EXTRA_SIGNALS
