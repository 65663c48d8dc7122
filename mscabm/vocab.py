"""Names and integer codes of cell types, cell states, lattice codes, signals and behaviours.

Everything a scenario may name lives here, so that a misspelt name fails when the scenario
loads with the list of valid names (DESIGN.md, principle 5). Codes are stable: they are written
into run files (``/lattice/tissue`` attribute ``codes``) and never renumbered.
"""

from __future__ import annotations

import difflib
from enum import IntEnum

#: Cell types with agents in the population table.
CELL_TYPES: tuple[str, ...] = ("keratinocyte", "capillary")


class CellType(IntEnum):
    """Integer code of a cell type (row of the per-type parameter tables)."""

    KERATINOCYTE = 0
    CAPILLARY = 1


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

#: Codes of ``/lattice/mobile`` (uint8): immune cells and MSCs arrive with the next issues.
MOBILE_CODES: dict[str, int] = {"none": 0}

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
)

#: Signals a rule may read that are not fields.
EXTRA_SIGNALS: tuple[str, ...] = ("height_above_bm_um", "perfusion")

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
    "capillary": ("dilation",),  # relative perfusion, 1 = healthy
}

#: Kinds of scheduled events.
EVENT_KINDS: tuple[str, ...] = (
    "fix_field",  # hold a field at `amount` pg/mL in the tissue (a "psoriatic drive")
    "release_field",  # stop holding it
    "knockout_field",  # no cell secretes it and its level is held at zero
    "restore_field",  # end a knockout
    "block_response",  # `target` = "cell_type:signal": that cell type no longer senses the signal
    "unblock_response",
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
