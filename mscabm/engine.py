"""The simulation: a :class:`mesa.Model` that owns all state and steps it in a fixed order.

One step (``dt_min``, 6 minutes by default) runs, in this order (:meth:`Simulation.step`)::

    1. sense      every cell reads its signals; rules give its behaviours
    2. fields     secretion → sources; one implicit diffusion–decay–uptake step; fixed levels
    3. cycle      G1/G0 exit, S/G2/M, divisions with placement and column shoving
    4. delaminate committed basal cells leave the basal layer
    5. mature     spinous → granular (or parakeratotic), growth in height
    6. cornify    the top viable cell of a column becomes corneocytes
    7. shed       corneocytes leave from the top
    8. relax      basal cells spread into free slots; tall columns hand cells to neighbours
    9. geometry   restack columns, paint the tissue layer, new field coefficients
   10. immune     NETs, fates, efferocytosis, recruitment, movement, lymph node, inducer
                  (:mod:`mscabm.processes.immune`)
   11. vessels    capillary dilation relaxes toward its target
   12. events     scheduled events due at the new time are applied
   13. measure    every ``time.timeseries_interval_hours``: the readouts, into the DataCollector

Step 1 senses keratinocytes, capillaries and immune cells; step 2 adds the secretion of all of
them (and of NETs) and, after the field step, lets neutrophils capture IL-17A.

Frames and checkpoints are taken by the caller (:mod:`mscabm.runner`) between steps; it writes
the readouts step 13 measured (and measures the last step of a run if that is off the interval).
Randomness comes only from :class:`mscabm.random.RandomStream` (never Mesa's ``rng``/``random``).
"""

from __future__ import annotations

import bisect
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from mscabm import _kernels
from mscabm import initial_state as _initial
from mscabm import readouts as _readouts
from mscabm.diffusion import FieldSolver
from mscabm.grid import Grid
from mscabm.layout import Layout, build_layout
from mscabm.processes import immune, keratinocytes, transport, vessels
from mscabm.random import RandomStream
from mscabm.scenario import (
    Scenario,
    compile_rules,
    load_scenario,
    memory_t_entry_per_h,
    reload_scenario,
)
from mscabm.state import (
    CAPILLARY_SCHEMA,
    CORNEOCYTE_SCHEMA,
    IMMUNE_SCHEMA,
    KERATINOCYTE_SCHEMA,
    NET_SCHEMA,
    EventLog,
    Table,
)
from mscabm.vocab import CELL_TYPES, IMMUNE_TYPES, POPULATIONS, CellType, KeratinocyteState

KS = KeratinocyteState


class SimulationError(RuntimeError):
    """A problem a user can fix (e.g. the epidermis outgrew the lattice)."""


@dataclass
class SimulationState:
    """Everything that changes during a run (checkpoints store all of it)."""

    kc: Table
    sc: Table
    capillaries: Table
    conc: np.ndarray
    immune: Table = field(default_factory=lambda: _immune_table())
    nets: Table = field(default_factory=lambda: Table(NET_SCHEMA))
    events: EventLog = field(default_factory=EventLog)
    viable_top_um: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sc_height_um: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sc_parakeratotic_um: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tissue: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    region: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    basal_voxels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _immune_table() -> Table:
    table = Table(IMMUNE_SCHEMA)
    table.next_id = immune.IMMUNE_FIRST_ID
    return table


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"rng must be a uint64 integer seed, got {seed!r}")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"rng must be a uint64 integer seed in [0, 2**64), got {seed}")
    return seed


class Simulation(mesa.Model):
    """Agent-based skin: keratinocyte columns, capillaries and cytokine fields.

    Parameters
    ----------
    spec
        A :class:`~mscabm.scenario.Scenario`, a scenario file path, or a shipped scenario name
        (default ``"healthy_human"``). Named ``spec`` because Mesa 3.5 owns ``scenario=``.
    rng
        The run's uint64 seed. Defaults to the scenario's ``seed``, else a fresh random seed
        (recorded in :attr:`seed` and in the run file).
    overrides
        ``"dotted.key=value"`` scenario overrides (only when ``spec`` is not a Scenario).
    days
        Replace the scenario's duration.
    initial_state
        Arrays and metadata of a state to start from (:func:`mscabm.initial_state.load`);
        default: the scenario's ``initial_state``.
    **parameters
        Scenario overrides as keywords, ``__`` standing for a dot:
        ``Simulation("healthy_human", keratinocyte__cycle_time_h=300)``. This is what
        ``mesa.batch_run(Simulation, parameters={...})`` passes.

    Attributes
    ----------
    spec : Scenario
        The resolved, frozen scenario.
    seed : int
        The uint64 seed.
    state : SimulationState
        All changing state.
    layout : Layout
        The fixed geometry.
    readouts : dict
        The latest readouts (updated by :meth:`measure`).
    """

    def __init__(
        self,
        spec: Scenario | str | Path | None = None,
        *,
        rng: int | None = None,
        overrides: Iterable[str] = (),
        days: float | None = None,
        initial_state: tuple[dict[str, np.ndarray], dict] | None = None,
        **parameters: Any,
    ):
        overrides = [
            *overrides,
            *(f"{k.replace('__', '.')}={json.dumps(v)}" for k, v in parameters.items()),
        ]
        if isinstance(spec, Scenario):
            if overrides or days is not None:
                spec = reload_scenario(spec, overrides=overrides, duration_days=days)
        else:
            spec = load_scenario(
                spec if spec is not None else "healthy_human",
                overrides=overrides,
                duration_days=days,
            )
        seed = rng if rng is not None else spec.seed
        seed = _check_seed(seed) if seed is not None else secrets.randbits(64)
        super().__init__(rng=seed)
        self.seed: int = seed
        self.spec: Scenario = spec
        self.parameters = dict(parameters)
        self.rules = compile_rules(spec)
        self.layout: Layout = build_layout(spec)
        self.neighbour_table = Grid(self.layout.shape, "periodic").neighbour_table()
        self.chemotaxis_field_row = np.array(
            [
                self.field_ids_index(spec.immune.types[name].chemotaxis_field, spec)
                for name in IMMUNE_TYPES
            ],
            dtype=np.int32,
        )
        self.random_stream = RandomStream(seed)
        self.dt_min = spec.time.dt_min
        self.steps_per_day = round(1440.0 / self.dt_min)
        self.total_steps = round(spec.time.duration_days * self.steps_per_day)
        #: steps between the readouts a step measures itself (the scenario's time-series
        #: interval): the DataCollector fills as the model steps, as in any Mesa model
        self.collect_every_steps = max(
            1, round(spec.time.timeseries_interval_hours * 60.0 / self.dt_min)
        )
        self.field_ids = spec.field_ids
        #: column of each field (in ``field_ids`` order) in the signal matrix
        self.field_signal_columns = np.array(
            [self.rules.signal_names.index(f) for f in self.field_ids], dtype=np.int64
        )
        #: signal column of each column of ``immune.contact_counts`` (contact groups, NETs)
        self.contact_signal_columns = immune.contact_signal_columns(self.rules.signal_names)
        self.fixed_levels: dict[str, float] = {}
        self.knocked_out: set[str] = set()
        self.blocked: set[tuple[int, int]] = set()
        self.depleted_types: set[str] = set()
        self.netosis_blocked = False
        self.inducer_level = 0.0
        self.inducer_dose = 0.0
        self.inducer_next_step = 0
        # (ready step, type, count) in order of ready step (ties in order of arrival)
        self.lymph_node_queue: list[tuple[int, str, float]] = []
        self.circulating: dict[str, float] = {}
        self.memory_t_entry_per_h = memory_t_entry_per_h(spec)
        self.net_events = 0
        self.lymph_node_dc_arrivals = 0
        self.net_il17a_released_pg = 0.0
        self.capillary_behaviour = np.zeros((0, 0))
        self.applied_events: list[tuple[float, str, str, float, str]] = []
        self._event_steps = [round(e.day * self.steps_per_day) for e in spec.events]
        self._fast_forward = False
        self._mark = _no_mark
        self.phase_seconds: dict[str, float] = {}
        self.readouts: dict[str, float] = {}
        self.readout_names = _readouts.readout_names(self.field_ids)
        self.solver = FieldSolver(
            self.layout.shape,
            self.layout.voxel_um,
            self.dt_min,
            len(self.field_ids),
            lateral_bc="periodic",
            bottom_bc=[spec.fields[f].bottom_bc for f in self.field_ids],
            bottom_value=[spec.fields[f].bottom_value_pg_per_ml for f in self.field_ids],
            rtol=1e-4,
        )
        self.state = SimulationState(
            kc=Table(KERATINOCYTE_SCHEMA),
            sc=Table(CORNEOCYTE_SCHEMA),
            capillaries=Table(CAPILLARY_SCHEMA),
            conc=np.zeros((len(self.field_ids), self.layout.n_voxels)),
        )
        capillary_voxels = self.layout.capillary_voxels
        self.state.capillaries.add(
            len(capillary_voxels),
            voxel=capillary_voxels,
            column=capillary_voxels % self.layout.n_columns,
            dilation=1.0,
        )
        if initial_state is None:
            initial_state = _initial.for_scenario(self)
        _initial.apply(self, *initial_state)
        self._coefficients = transport.Coefficients(self)
        self._allowed_by_region = immune.allowed_by_region(spec)
        self._update_geometry()
        if "immune/type" in initial_state[0]:
            self.state.immune.load_arrays("immune", initial_state[0])
        else:
            immune.seed_residents(self)
        self.baseline = dict(initial_state[1].get("baseline") or _readouts.baseline(self))
        self._apply_due_events()
        self._equilibrate_fields()
        self.datacollector = mesa.DataCollector(
            model_reporters={name: _reporter(name) for name in self.readout_names}
        )
        self.measure()

    # ------------------------------------------------------------------------------ the clock
    @property
    def time_days(self) -> float:
        """Simulated days: completed steps × dt (computed, never accumulated)."""
        return self.steps * self.dt_min / 1440.0

    def step(self) -> None:
        """Advance the tissue by one cell step (the order is in the module docstring)."""
        if self._fast_forward:
            return
        mark = self._mark
        counts = immune.contact_counts(self)  # one count per step for every contact signal
        kc_rows, kc_behaviour = self._sense(self.state.kc, CellType.KERATINOCYTE, counts)
        cap_rows, cap_behaviour = self._sense(self.state.capillaries, CellType.CAPILLARY)
        self.capillary_behaviour = cap_behaviour
        immune_rows, immune_behaviour = immune.sense(self, counts)
        mark("sense")
        self._advance_fields(kc_rows, kc_behaviour, immune_rows, immune_behaviour)
        immune.capture_il17a(self, immune_rows, immune_behaviour)
        mark("fields")
        keratinocytes.cycle_and_divide(self, kc_rows, kc_behaviour)
        keratinocytes.delaminate(self)
        mark("cycle")
        alive = self.state.kc.alive[kc_rows]
        keratinocytes.mature(self, kc_rows[alive], kc_behaviour[alive])
        keratinocytes.cornify(self)
        keratinocytes.shed(self, self._column_shedding_speed(kc_rows, kc_behaviour))
        mark("differentiate")
        keratinocytes.spread_basal(self)
        moved = keratinocytes.relax_columns(self)  # restacks first; the columns that changed
        self._update_geometry(columns=moved)
        mark("geometry")
        immune.advance(self, immune_rows, immune_behaviour)
        mark("immune")
        vessels.dilate(self, cap_rows, cap_behaviour)
        self._apply_due_events()
        if self.steps % self.steps_per_day == 0:
            self.state.events.trim(self.steps - 30 * self.steps_per_day)
        mark("vessels+events")
        if self.steps % self.collect_every_steps == 0:
            self.measure()  # readouts and the DataCollector, every time-series interval
            mark("measure")

    def profile_phases(self, enabled: bool = True) -> None:
        """Accumulate wall time per process in :attr:`phase_seconds` (for benchmarks)."""
        self.phase_seconds = {}
        self._phase_clock = time.perf_counter()
        self._mark = self._mark_phase if enabled else _no_mark

    def _mark_phase(self, name: str) -> None:
        now = time.perf_counter()
        self.phase_seconds[name] = self.phase_seconds.get(name, 0.0) + now - self._phase_clock
        self._phase_clock = now

    def fast_forward(self, steps: int) -> None:
        """Advance Mesa's step counter and clock to ``steps`` without simulating (resume)."""
        self._fast_forward = True
        try:
            while self.steps < steps:
                self.step()  # Mesa's wrapped step: advances its clock and counter only
        finally:
            self._fast_forward = False

    # ------------------------------------------------------------------------------ processes
    @staticmethod
    def field_ids_index(field_id: str | None, spec: Scenario) -> int:
        """Row of a field in the concentration array, or -1 for ``None``."""
        return -1 if field_id is None else spec.field_ids.index(field_id)

    def lymph_node_arrivals(self, type_code: int) -> None:
        """A dendritic cell reached the lymph node: schedule the T cells it primes."""
        ln = self.spec.immune.lymph_node
        ready = self.steps + round(ln.priming_delay_days * self.steps_per_day)
        if type_code == CellType.DC_MATURE:
            primed = (("th0", ln.cd4_per_mature_dc), ("tc0", ln.cd8_per_mature_dc))
        else:
            primed = (("treg", ln.treg_per_tolerogenic_dc),)
        for type_name, count in primed:
            if count > 0:
                bisect.insort_right(
                    self.lymph_node_queue, (ready, type_name, float(count)), key=_ready_step
                )
        self.lymph_node_dc_arrivals += 1

    def lymph_node_ready(self) -> list[tuple[int, str, float]]:
        """Take the primed cells whose delay has passed off the lymph-node queue, in order."""
        n_ready = bisect.bisect_right(self.lymph_node_queue, self.steps, key=_ready_step)
        ready = self.lymph_node_queue[:n_ready]
        del self.lymph_node_queue[:n_ready]
        return ready

    def _signals(
        self, table: Table, rows: np.ndarray, cell_type: int, counts: np.ndarray | None = None
    ) -> np.ndarray:
        names = self.rules.signal_names
        if table is self.state.kc:
            centre = table.z_bottom_um[rows] + 0.5 * table.height_um[rows]
            voxels = self.layout.voxel_of(table.column[rows], centre)
            # keratinocytes count the immune cells and NETs around them
            contact = immune.contact_arguments(self, counts) if len(rows) else {}
        else:
            voxels = table.voxel[rows]
            contact = {}
        signals = _kernels.gather_signals(
            self.state.conc, voxels, self.field_signal_columns, len(names), **contact
        )
        if table is self.state.kc:
            signals[:, names.index("height_above_bm_um")] = (
                centre - self.layout.bm_height_um[table.column[rows]]
            )
        if len(rows):
            # the topical inducer reaches every tissue voxel (keratinocytes, vessels)
            in_tissue = self.state.region[voxels] != 0
            signals[:, names.index("inducer")] = np.where(in_tissue, self.inducer_level, 0.0)
        if table is self.state.capillaries and len(rows):
            signals[:, names.index("perfusion")] = table.dilation[rows]
        for blocked_type, signal in self.blocked:
            if blocked_type == cell_type:
                signals[:, signal] = 0.0
        return signals

    def _sense(
        self, table: Table, cell_type: int, counts: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = table.rows()
        signals = self._signals(table, rows, cell_type, counts)
        types = np.full(len(rows), int(cell_type), dtype=np.int32)
        return rows, self.rules.evaluate(signals, types)

    def _advance_fields(
        self,
        kc_rows: np.ndarray,
        kc_behaviour: np.ndarray,
        immune_rows: np.ndarray | None = None,
        immune_behaviour: np.ndarray | None = None,
    ) -> None:
        if not self.field_ids:
            return
        source = transport.secretion_sources(self, kc_rows, kc_behaviour)
        if immune_rows is None:
            immune_rows, immune_behaviour = immune.sense(self)
        immune.add_sources(self, source, immune_rows, immune_behaviour)
        # fields held at a fixed level or knocked out are set, not transported
        transported = np.array(
            [f not in self.fixed_levels and f not in self.knocked_out for f in self.field_ids]
        )
        self.solver.step(
            self.state.conc.reshape((len(self.field_ids), *self.layout.shape)),
            source.reshape((len(self.field_ids), *self.layout.shape)),
            active=transported,
        )
        transport.hold_levels(self, self.state.conc, self.state.region)

    def _equilibrate_fields(self, max_steps: int = 200) -> None:
        """Bring fields to steady state with the current cells before the run starts."""
        kc_rows, kc_behaviour = self._sense(self.state.kc, CellType.KERATINOCYTE)
        for _ in range(max_steps):
            previous = self.state.conc.copy()
            self._advance_fields(kc_rows, kc_behaviour)
            scale = max(float(np.max(np.abs(self.state.conc))), 1e-12)
            if float(np.max(np.abs(self.state.conc - previous))) <= 1e-9 * scale:
                break

    def _column_shedding_speed(self, kc_rows: np.ndarray, kc_behaviour: np.ndarray) -> np.ndarray:
        speed = np.ones(self.layout.n_columns)
        alive = self.state.kc.alive[kc_rows]
        if np.any(alive):
            columns = self.state.kc.column[kc_rows[alive]]
            values = kc_behaviour[alive, self.rules.behaviour_index("shedding")]
            top = np.zeros(self.layout.n_columns)
            np.maximum.at(top, columns, values)
            speed = np.where(top > 0, top, 1.0)
        return speed

    def _update_geometry(self, restack: bool = True, columns: np.ndarray | None = None) -> None:
        """Restack (all columns, or only ``columns`` when given), paint, new coefficients."""
        if columns is not None:
            if len(columns):
                keratinocytes.restack(self, columns)
        elif restack:
            keratinocytes.restack(self)
        self.state.tissue = keratinocytes.rasterize(self)
        region = transport.regions(self.state.tissue)
        kc = self.state.kc
        alive = kc.rows()
        basal = alive[kc.basal[alive]]
        centre = kc.z_bottom_um[basal] + 0.5 * kc.height_um[basal]
        basal_voxels = np.unique(self.layout.voxel_of(kc.column[basal], centre))
        # coefficients depend only on the regions (and on where basal cells take up cytokines):
        # update the voxels that changed, rebuild the solver's operator only when any did
        previous = self.state.region
        self.state.region = region
        self.state.basal_voxels = basal_voxels
        # air holds no cytokine: what a voxel held when it turned into air (shed corneum, a
        # lower surface) is gone with it, so maps show none above the skin and the solver's
        # tolerance (relative to the whole right-hand side) is not set by stale values there
        if previous.shape != region.shape or not hasattr(self, "allowed"):
            self.allowed = np.take(self._allowed_by_region, region, axis=1)
            self.state.conc[:, region == transport.REGION_AIR] = 0.0
        else:  # the voxels whose region changed
            changed = np.flatnonzero(region != previous)
            if len(changed):
                self.allowed[:, changed] = self._allowed_by_region[:, region[changed]]
                self.state.conc[:, changed[region[changed] == transport.REGION_AIR]] = 0.0
        if self.field_ids and self._coefficients.update(region, basal_voxels):
            shape = self.layout.shape
            self.solver.set_coefficients(
                self._coefficients.diffusion.reshape((-1, *shape)),
                self._coefficients.decay.reshape((-1, *shape)),
                coefficient_set=self._coefficients.coefficient_set,
            )

    def raise_outgrown(self) -> None:
        """Stop with a clear message when the epidermis no longer fits the lattice."""
        top = float(np.max(self.state.viable_top_um + self.state.sc_height_um))
        raise SimulationError(
            f"the epidermis outgrew the lattice at day {self.time_days:.2f}: its surface reached "
            f"{top:.0f} µm of {self.spec.geometry.height_um:.0f} µm (geometry.height_um); "
            "increase geometry.height_um"
        )

    # --------------------------------------------------------------------------------- events
    def _apply_due_events(self) -> None:
        for event, event_step in zip(self.spec.events, self._event_steps, strict=True):
            if event_step == self.steps:
                self._apply_event(event)

    def _apply_event(self, event: Any) -> None:
        kind, target = event.kind, event.target
        if kind == "fix_field":
            self.fixed_levels[target] = float(event.amount)
        elif kind == "release_field":
            self.fixed_levels.pop(target, None)
        elif kind == "knockout_field":
            self.knocked_out.add(target)
        elif kind == "restore_field":
            self.knocked_out.discard(target)
        elif kind in ("block_response", "unblock_response"):
            type_name, _, signal = target.partition(":")
            key = (CELL_TYPES.index(type_name), self.rules.signal_names.index(signal))
            (self.blocked.add if kind == "block_response" else self.blocked.discard)(key)
        elif kind == "start_inducer":
            self.inducer_dose = float(event.amount)
            self.inducer_level += self.inducer_dose
            self.inducer_next_step = self.steps + self.steps_per_day
        elif kind == "stop_inducer":
            self.inducer_dose = 0.0
        elif kind == "deplete":
            immune.deplete(self, target)
        elif kind == "restore_population":
            self.depleted_types.difference_update(POPULATIONS[target])
        elif kind in ("block_netosis", "unblock_netosis"):
            self.netosis_blocked = kind == "block_netosis"
        self.applied_events.append((self.time_days, kind, target, float(event.amount), event.note))
        if self.field_ids:
            transport.hold_levels(self, self.state.conc, self.state.region)

    # ------------------------------------------------------------------------------- readouts
    def measure(self) -> dict[str, float]:
        """Measure every readout now, store it in :attr:`readouts` and the DataCollector."""
        self.readouts = _readouts.measure(self)
        self.datacollector.collect(self)
        return self.readouts

    def frame(self) -> dict[str, Any]:
        """Arrays of one output frame (see the HDF5 contract in the README)."""
        shape = self.layout.shape
        kc = self.state.kc
        rows = kc.rows()
        centre = kc.z_bottom_um[rows] + 0.5 * kc.height_um[rows]
        mobile = self.state.immune
        mobile_rows = mobile.rows()
        cells = {
            "cell_id": np.r_[kc.id[rows], mobile.id[mobile_rows]],
            "type": np.r_[
                np.full(len(rows), CellType.KERATINOCYTE, dtype=np.uint8),
                mobile.type[mobile_rows],
            ],
            "voxel": np.r_[
                self.layout.voxel_of(kc.column[rows], centre), mobile.voxel[mobile_rows]
            ],
            "state": np.r_[kc.state[rows].astype(np.uint8), np.zeros(len(mobile_rows), np.uint8)],
            "birth_step": np.r_[kc.birth_step[rows], mobile.birth_step[mobile_rows]],
            "height_um": np.r_[
                kc.height_um[rows].astype(np.float32),
                np.full(len(mobile_rows), self.layout.voxel_um, dtype=np.float32),
            ],
        }
        selected = self.spec.outputs.fields
        fields = {
            field_id: self.state.conc[index].reshape(shape)
            for index, field_id in enumerate(self.field_ids)
            if selected == "all" or field_id in selected
        }
        return {
            "time_days": self.time_days,
            "tissue": self.state.tissue.reshape(shape),
            "mobile": immune.mobile_layer(self).reshape(shape),
            "net": immune.net_layer(self).reshape(shape),
            "sc_height_um": self.state.sc_height_um.reshape(shape[1:]).astype(np.float32),
            "fields": fields,
            "cells": cells if self.spec.outputs.cells else {k: v[:0] for k, v in cells.items()},
        }

    # ---------------------------------------------------------------------------- checkpoints
    def checkpoint(self) -> tuple[dict[str, np.ndarray], dict]:
        """All state as named arrays plus JSON metadata (DESIGN.md, principle 10)."""
        arrays: dict[str, np.ndarray] = {}
        arrays.update(self.state.kc.to_arrays("kc"))
        arrays.update(self.state.sc.to_arrays("sc"))
        arrays.update(self.state.capillaries.to_arrays("cap"))
        arrays.update(self.state.immune.to_arrays("immune"))
        arrays.update(self.state.nets.to_arrays("nets"))
        arrays.update(self.state.events.to_arrays())
        arrays["conc"] = self.state.conc.copy()
        meta = {
            "step": int(self.steps),
            "seed": int(self.seed),
            "scenario": self.spec.to_yaml(),
            "fixed_levels": dict(self.fixed_levels),
            "knocked_out": sorted(self.knocked_out),
            "blocked": sorted([list(b) for b in self.blocked]),
            "applied_events": [list(e) for e in self.applied_events],
            "depleted_types": sorted(self.depleted_types),
            "netosis_blocked": self.netosis_blocked,
            "inducer": [self.inducer_level, self.inducer_dose, self.inducer_next_step],
            "lymph_node_queue": [list(item) for item in self.lymph_node_queue],
            "circulating": dict(self.circulating),
            "counters": [self.net_events, self.net_il17a_released_pg, self.lymph_node_dc_arrivals],
            "baseline": dict(self.baseline),
            "voxel_um": self.layout.voxel_um,
            "species": self.spec.geometry.species,
            "n_columns": self.layout.n_columns,
        }
        return arrays, meta

    def restore(self, arrays: Mapping[str, np.ndarray], meta: Mapping) -> None:
        """Continue from :meth:`checkpoint` output of a run of the same scenario and seed."""
        self.state.kc.load_arrays("kc", dict(arrays))
        self.state.sc.load_arrays("sc", dict(arrays))
        self.state.capillaries.load_arrays("cap", dict(arrays))
        self.state.immune.load_arrays("immune", dict(arrays))
        self.state.nets.load_arrays("nets", dict(arrays))
        self.state.events.load_arrays(dict(arrays))
        self.state.conc = np.array(arrays["conc"], dtype=np.float64)
        self.fixed_levels = {k: float(v) for k, v in meta["fixed_levels"].items()}
        self.knocked_out = set(meta["knocked_out"])
        self.blocked = {tuple(b) for b in meta["blocked"]}
        self.applied_events = [tuple(e) for e in meta["applied_events"]]
        self.depleted_types = set(meta["depleted_types"])
        self.netosis_blocked = bool(meta["netosis_blocked"])
        level, dose, next_step = meta["inducer"]
        self.inducer_level, self.inducer_dose = float(level), float(dose)
        self.inducer_next_step = int(next_step)
        self.lymph_node_queue = sorted(
            ((int(a), str(b), float(c)) for a, b, c in meta["lymph_node_queue"]), key=_ready_step
        )
        self.circulating = {k: float(v) for k, v in meta["circulating"].items()}
        events, released, arrivals = meta["counters"]
        self.net_events, self.net_il17a_released_pg = int(events), float(released)
        self.lymph_node_dc_arrivals = int(arrivals)
        self.baseline = dict(meta["baseline"])
        self.fast_forward(int(meta["step"]))
        self._update_geometry()
        self.allowed = immune.allowed_table(self)  # the restored regions, from scratch
        # checkpoints written before air was kept at zero may hold stale values there
        self.state.conc[:, self.state.region == transport.REGION_AIR] = 0.0
        self.readouts = _readouts.measure(self)


def _ready_step(item: tuple[int, str, float]) -> int:
    return item[0]


def _no_mark(name: str) -> None:
    """Phase marker used when not profiling."""


def _reporter(name: str):
    """A DataCollector model reporter reading the latest value of one readout."""

    def report(model: Simulation) -> float:
        return model.readouts.get(name, float("nan"))

    return report
