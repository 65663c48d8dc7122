"""Mesa baseline of the engine benchmark: the keratinocyte rules as a plain Mesa 3 model.

Run ``python benchmarks/mesa_keratinocytes.py [--scenario NAME] [--width-um W] [--days D]
[--seed S] [--json out.json]``. It times the engine (:class:`mscabm.Simulation`) and this model
on the same tissue, lattice and number of days, one thread each (OMP_NUM_THREADS=1 is set here
before NumPy is imported), prints a table of their summary statistics and timings and the speed-up
per cell step against the target (engine ≥ 50× the Mesa model). It never fails on a time
(DESIGN.md, "Benchmarks").

The Mesa model is written the way a Mesa user would write it, not as a port of the engine's data
layout (DESIGN.md principle 8 explains why the engine does not do this):

* space: an :class:`mesa.discrete_space.OrthogonalVonNeumannGrid` of the engine's voxels,
  dimensions ``(nz, nx)`` (axis 0 depth, like the engine), periodic (``torus=True``; only the
  lateral wrap is ever used). Each :class:`Keratinocyte` is a :class:`mesa.discrete_space.CellAgent`
  sitting in the voxel that holds its centre; the two basal cells of a column share one voxel,
  so cells have no capacity limit. Columns keep the order of their stacks as Python lists
  (basal slots, suprabasal cells bottom to top, corneocytes oldest first), because heights are
  continuous and cells are taller than a voxel;
* fields: one :class:`mesa.discrete_space.PropertyLayer` per diffusing field of the scenario, read
  by each agent through its cell (``cell.il17a``). Agents add their secretion to a source array;
  the layers are then advanced by the engine's equation, one backward-Euler step
  ``(I + dt (Λ − ∇·D∇)) c' = c + dt s`` on the same finite-volume stencil (harmonic-mean face
  diffusivities, air closed, stratum-corneum barrier, region-specific decay, basal uptake inside
  the operator, periodic lateral and per-field bottom boundaries), assembled with
  :mod:`scipy.sparse` over the open (``D > 0``) voxels and solved directly with SuperLU (one
  factorisation per group of fields sharing coefficients, reused while the tissue regions do
  not change; closed air voxels only decay). Fixed levels and
  knockouts of scenario events are held in tissue voxels after each solve;
* rules: every agent evaluates the scenario's Hill rules in plain Python
  (:meth:`Keratinocyte.sense`: ``H = sⁿ/(Kⁿ + sⁿ)``, AND rules multiply their terms,
  ``U = 1 − Π(1 − H)`` over increasing and ``D`` over decreasing rules,
  ``b = b₀ + (b_up − b₀)U``, then ``b ← b + (b_down − b)D``), with base values and
  saturations from :func:`mscabm.scenario.compile_rules`;
* behaviour: agents act through their own methods called with ``AgentSet.shuffle_do`` (cell
  cycle and division, whose placement competes for basal slots) or ``AgentSet.do``; stacking,
  cornification, shedding order and column levelling are column-level and live on the model.
  Random numbers come from the model's ``rng`` (and Mesa's ``random`` for ``shuffle_do``), so the
  run is not bit-identical to the engine: only its statistics should agree.

One step follows the engine's order (:mod:`mscabm.engine`): sense, fields (secretion, implicit
step, fixed levels), cell cycle and divisions (G1/G0 exit at the rule-evaluated proliferation
rate, stem cells' base rate divided by ``stem_quiescence_factor`` when the scenario has it; a
fixed S/G2/M phase; stem/TA/committed lineage; basal-slot placement in the own or a neighbouring
column, displacement of the oldest committed basal cell, else column shoving with a
``suprabasal_proliferation`` draw), delamination of committed basal cells, maturation (spinous
growth, granular stage or parakeratosis), cornification of mature top cells into corneocytes
spread over the column and its neighbours, shedding from the top of each corneum stack at the
column's shedding speed, levelling of tall columns, restacking, then scheduled events.
Capillaries are left out: no keratinocyte rule reads them (the engine does not give
keratinocytes a ``perfusion`` signal), so they cannot change the keratinocyte statistics.

Timing covers the step loop only; building the engine simulation that supplies the initial
tissue, fields and geometry, and copying it into agents, is not timed.
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # one thread per run (DESIGN.md, "Benchmarks"); before NumPy loads
    os.environ["OMP_NUM_THREADS"] = "1"

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import scipy.sparse
import scipy.sparse.linalg
from mesa.discrete_space import CellAgent, OrthogonalVonNeumannGrid, PropertyLayer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mscabm
from mscabm.engine import SimulationError
from mscabm.scenario import compile_rules
from mscabm.vocab import CellType, KeratinocyteState

TARGET_SPEEDUP = 50.0  # engine cell steps per second ≥ 50 × the Mesa model's (the issue)
WINDOW_DAYS = 7.0  # event window of the readouts, as in mscabm.readouts.measure
LN2 = math.log(2.0)
REFERENCE_VOXEL_UM = 10.0  # per-cell secretion rates are calibrated on 10 µm voxels

STEM, TA, COMMITTED, SPINOUS, GRANULAR = (
    int(KeratinocyteState.STEM),
    int(KeratinocyteState.TA),
    int(KeratinocyteState.COMMITTED),
    int(KeratinocyteState.SPINOUS),
    int(KeratinocyteState.GRANULAR),
)
REGION_AIR, REGION_CORNEUM, REGION_EPIDERMIS, REGION_DERMIS = 0, 1, 2, 3


# ------------------------------------------------------------------------------------ agents
class Keratinocyte(CellAgent):
    """One viable keratinocyte, sitting in the voxel that holds its centre."""

    def __init__(self, model: MesaKeratinocytes, **attributes: Any):
        super().__init__(model)
        self.state: int = STEM
        self.basal = True
        self.stem = False
        self.column = 0
        self.height_um = 0.0
        self.z_bottom_um = 0.0
        self.birth_step = 0
        self.last_mitosis_step = 0
        self.divisions_left = 0
        self.in_fixed_phase = False
        self.fixed_phase_left_h = 0.0
        self.maturation = 0.0
        self.maturation_speed = 1.0
        self.parakeratotic = False
        self.committed_step = 0
        self.behaviour: list[float] = []
        self.sensed_step = -1
        for name, value in attributes.items():
            setattr(self, name, value)

    # -- 1. sense: read the fields in my voxel and evaluate the rules
    def sense(self) -> None:
        """Read my signals and evaluate the keratinocyte rules into :attr:`behaviour`."""
        model = self.model
        cell = self.cell
        signals = model.signal_template.copy()
        for signal, field_id in model.field_signals:
            signals[signal] = getattr(cell, field_id)
        signals[model.height_signal] = (
            self.z_bottom_um + 0.5 * self.height_um - model.bm_height_um[self.column]
        )
        for signal in model.blocked_signals:
            signals[signal] = 0.0
        behaviour = []
        for base, up, down, up_rules, down_rules in model.kc_rules:
            value = base
            if up_rules:
                keep = 1.0
                for terms in up_rules:
                    keep *= 1.0 - _rule_value(terms, signals)
                value = base + (up - base) * (1.0 - keep)
            if down_rules:
                keep = 1.0
                for terms in down_rules:
                    keep *= 1.0 - _rule_value(terms, signals)
                value = value + (down - value) * (1.0 - keep)
            behaviour.append(value)
        self.behaviour = behaviour
        self.sensed_step = model.steps

    # -- 2. fields: secrete into my voxel
    def secrete(self) -> None:
        """Add my secretion (pg/cell/day) to the model's source arrays."""
        model = self.model
        z, x = self.cell.coordinate
        for field_index, behaviour_index in model.secreted:
            rate = self.behaviour[behaviour_index]
            if rate:
                model.source[field_index, z, x] += rate

    # -- 3. cycle
    def cycle(self) -> None:
        """Advance S/G2/M or leave G1/G0; divide at the end of S/G2/M."""
        if self.state != STEM and self.state != TA:
            return
        model = self.model
        if self.in_fixed_phase:
            self.fixed_phase_left_h -= model.dt_h
            if self.fixed_phase_left_h <= 1e-9:
                self.divide()
            return
        rate = self.behaviour[model.b_proliferation]
        if self.stem:
            rate -= model.stem_quiescent_cut
        if model.rng.random() < -math.expm1(-rate * model.dt_h):
            self.in_fixed_phase = True
            self.fixed_phase_left_h = model.params.cycle_fixed_phase_h

    def divide(self) -> None:
        """Divide: lineage, then place the daughter (basal slot, displacement or shoving)."""
        model, params, step = self.model, self.model.params, self.model.steps
        column = self.column
        mother_basal = self.basal
        model.division_steps.append(step)
        model.division_intervals.append(step - self.last_mitosis_step)
        self.last_mitosis_step = step
        self.in_fixed_phase = False
        self.fixed_phase_left_h = 0.0
        if self.stem:
            daughter_divisions = params.ta_divisions
        else:
            daughter_divisions = self.divisions_left - 1
            self.divisions_left = daughter_divisions
        daughter_cycles = daughter_divisions > 0
        daughter = Keratinocyte(
            model,
            state=TA if daughter_cycles else COMMITTED,
            basal=False,
            column=column,
            birth_step=step,
            last_mitosis_step=step,
            divisions_left=max(daughter_divisions, 0),
            height_um=params.basal_height_um,
            maturation_speed=model.lognormal(1.0, params.maturation_cv),
        )
        daughter.cell = self.cell
        if not self.stem and not daughter_cycles:  # the mother is post-mitotic too
            if mother_basal:
                self.state = COMMITTED
                self.committed_step = step
            else:
                self.state = SPINOUS
        stack = model.stacks[column]
        if not mother_basal:  # suprabasal division: the daughter goes right above its mother
            stack.insert(stack.index(self) + 1, daughter)
            daughter.maturation = self.maturation
            daughter.maturation_speed = self.maturation_speed
            if not daughter_cycles:
                daughter.state = SPINOUS
            return
        if daughter_cycles:
            candidates = model.candidate_columns[column]
            per_column = params.basal_cells_per_column
            free = [c for c in candidates if len(model.basal_slots[c]) < per_column]
            if free:
                target = min(free, key=lambda c: (len(model.basal_slots[c]), candidates.index(c)))
                daughter.basal = True
                daughter.column = target
                model.basal_slots[target].append(daughter)
                return
            for target in candidates:
                committed = [a for a in model.basal_slots[target] if a.state == COMMITTED]
                if committed:
                    displaced = min(committed, key=lambda a: (a.committed_step, a.unique_id))
                    displaced.leave_basal_layer()
                    daughter.basal = True
                    daughter.column = target
                    model.basal_slots[target].append(daughter)
                    return
        # column shoving: the daughter enters the bottom of the suprabasal stack
        stack.insert(0, daughter)
        keeps_cycling = (
            daughter_cycles
            and model.rng.random() < self.behaviour[model.b_suprabasal_proliferation]
        )
        if not keeps_cycling:
            daughter.state = SPINOUS

    def leave_basal_layer(self) -> None:
        """Become spinous at the bottom of my column's suprabasal stack."""
        self.model.basal_slots[self.column].remove(self)
        self.model.stacks[self.column].insert(0, self)
        self.basal = False
        self.state = SPINOUS

    # -- 4. delaminate
    def delaminate(self) -> None:
        """A committed basal cell leaves the basal layer at rate 1/committed_delamination_time_h."""
        if self.model.rng.random() < self.model.delamination_probability:
            self.leave_basal_layer()

    # -- 5. mature
    def mature(self) -> None:
        """Spinous → granular (or parakeratotic) maturation, and growth in height."""
        model = self.model
        if self.sensed_step != model.steps:  # born this step: starts next step
            return
        params = model.params
        state = self.state
        speed = self.behaviour[model.b_differentiation] * self.maturation_speed
        spinous = (state == SPINOUS or (state == TA and not self.basal)) and not self.parakeratotic
        if spinous:
            self.maturation += model.dt_days * speed / params.spinous_duration_days
            if self.maturation >= 1.0:
                model.production_steps.append(model.steps)
                self.in_fixed_phase = False
                if model.rng.random() < self.behaviour[model.b_parakeratosis]:
                    self.parakeratotic = True  # keeps its nucleus, skips the granular stage
                    self.state = SPINOUS
                    self.maturation = 2.0
                else:
                    self.state = GRANULAR
        elif state == GRANULAR:
            self.maturation += model.dt_days * speed / params.granular_duration_days
        state = self.state
        if self.basal or state in (COMMITTED, STEM):
            self.height_um = params.basal_height_um
        elif state in (SPINOUS, TA):
            self.height_um = params.basal_height_um + (
                params.spinous_height_um - params.basal_height_um
            ) * min(self.maturation, 1.0)
        elif state == GRANULAR:
            self.height_um = params.granular_height_um

    # -- 7. shedding speed of my column's corneum
    def report_shedding(self) -> None:
        """Raise my column's desquamation speed to my ``shedding`` behaviour."""
        model = self.model
        if self.sensed_step == model.steps:
            value = self.behaviour[model.b_shedding]
            if value > model.shedding_top[self.column]:
                model.shedding_top[self.column] = value


class Corneocyte(mesa.Agent):
    """One share of a cornified cell in one column's stratum-corneum stack."""

    def __init__(self, model: MesaKeratinocytes, **attributes: Any):
        super().__init__(model)
        self.column = 0
        self.height_um = 0.0
        self.birth_step = 0
        self.sc_age_days = 0.0
        self.shed_after_days = 0.0
        self.parakeratotic = False
        self.primary = False
        for name, value in attributes.items():
            setattr(self, name, value)

    def age(self) -> None:
        """Age by my column's shedding speed."""
        model = self.model
        self.sc_age_days += model.dt_days * model.shedding_speed[self.column]


def _rule_value(terms: list[tuple[int, float, float]], signals: list[float]) -> float:
    value = 1.0
    for signal, half_max, power in terms:
        level = signals[signal]
        if level <= 0.0:
            return 0.0
        scaled = level**power
        value *= scaled / (half_max**power + scaled)
    return value


# ------------------------------------------------------------------------------------- model
class MesaKeratinocytes(mesa.Model):
    """The keratinocyte model in plain Mesa, started from an engine simulation's tissue.

    Parameters
    ----------
    source
        An :class:`mscabm.Simulation` at step 0: its scenario, geometry, keratinocytes,
        corneocytes and fields are copied (its random stream is not used).
    rng
        Seed of this model's random generator.
    """

    def __init__(self, source: mscabm.Simulation, *, rng: int = 1):
        super().__init__(rng=rng)
        spec, layout = source.spec, source.layout
        if len(layout.shape) != 2:
            raise ValueError("the Mesa baseline models 2-D sections only")
        self.spec = spec
        self.params = params = spec.keratinocyte
        self.nz, self.nx = layout.shape
        self.voxel_um = layout.voxel_um
        self.width_mm = layout.width_mm
        self.bm_height_um = [float(v) for v in layout.bm_height_um]
        self.dt_min = spec.time.dt_min
        self.dt_h = self.dt_min / 60.0
        self.dt_days = self.dt_min / 1440.0
        self.steps_per_day = round(1440.0 / self.dt_min)
        self.delamination_probability = -math.expm1(
            -self.dt_h / params.committed_delamination_time_h
        )
        self.candidate_columns = [[c, (c - 1) % self.nx, (c + 1) % self.nx] for c in range(self.nx)]
        self._compile_rules()

        # space and fields
        self.grid = OrthogonalVonNeumannGrid(
            (self.nz, self.nx), torus=True, capacity=None, random=self.random
        )
        self.field_ids = tuple(spec.field_ids)
        self.layers = {}
        for index, field_id in enumerate(self.field_ids):
            layer = PropertyLayer.from_data(
                field_id, source.state.conc[index].reshape(layout.shape).astype(np.float64)
            )
            self.grid.add_property_layer(layer)
            self.layers[field_id] = layer
        self.source = np.zeros((len(self.field_ids), self.nz, self.nx))
        self.fixed_levels: dict[str, float] = {}
        self.knocked_out: set[str] = set()
        self._field_groups = self._group_fields()
        self._factor_cache: dict[tuple, Any] = {}

        # cells: copy the engine's tissue (ids ascending, so agent order follows engine ids)
        self.basal_slots: list[list[Keratinocyte]] = [[] for _ in range(self.nx)]
        self.stacks: list[list[Keratinocyte]] = [[] for _ in range(self.nx)]
        self.corneum: list[list[Corneocyte]] = [[] for _ in range(self.nx)]
        kc = source.state.kc
        rows = kc.rows()
        rows = rows[np.argsort(kc.id[rows], kind="stable")]
        supra = []
        for row in rows.tolist():
            agent = Keratinocyte(
                self,
                state=int(kc.state[row]),
                basal=bool(kc.basal[row]),
                stem=bool(kc.stem[row]),
                column=int(kc.column[row]),
                height_um=float(kc.height_um[row]),
                birth_step=int(kc.birth_step[row]),
                last_mitosis_step=int(kc.last_mitosis_step[row]),
                divisions_left=int(kc.divisions_left[row]),
                in_fixed_phase=bool(kc.in_fixed_phase[row]),
                fixed_phase_left_h=float(kc.fixed_phase_left_h[row]),
                maturation=float(kc.maturation[row]),
                maturation_speed=float(kc.maturation_speed[row]),
                parakeratotic=bool(kc.parakeratotic[row]),
                committed_step=int(kc.committed_step[row]),
            )
            agent.cell = self.grid[(0, agent.column)]
            if agent.basal:
                self.basal_slots[agent.column].append(agent)
            else:
                supra.append((agent.column, float(kc.stack_key[row]), agent))
        for column, _, agent in sorted(supra, key=lambda item: (item[0], item[1])):
            self.stacks[column].append(agent)
        sc = source.state.sc
        sc_rows = sc.rows()
        sc_rows = sc_rows[np.lexsort((sc.id[sc_rows], sc.entry_step[sc_rows]))]
        for row in sc_rows.tolist():
            corneocyte = Corneocyte(
                self,
                column=int(sc.column[row]),
                height_um=float(sc.height_um[row]),
                birth_step=int(sc.birth_step[row]),
                sc_age_days=float(sc.sc_age_days[row]),
                shed_after_days=float(sc.shed_after_days[row]),
                parakeratotic=bool(sc.parakeratotic[row]),
                primary=bool(sc.primary[row]),
            )
            self.corneum[corneocyte.column].append(corneocyte)

        # events and readout logs
        self._event_steps = [round(e.day * self.steps_per_day) for e in spec.events]
        self.blocked_signals: list[int] = []
        self.division_steps: list[int] = []
        self.division_intervals: list[int] = []
        self.production_steps: list[int] = []
        self.shed_steps: list[int] = []
        self.shed_ages: list[int] = []
        self.shedding_top = [0.0] * self.nx
        self.shedding_speed = [1.0] * self.nx
        self.field_seconds = 0.0  # wall time of the field step (secretion, solve, fixed levels)
        self.restack()
        self._apply_due_events()

    # -------------------------------------------------------------------------------- set-up
    def _compile_rules(self) -> None:
        compiled = compile_rules(self.spec)
        kc_type = int(CellType.KERATINOCYTE)
        names = compiled.behaviour_names
        signal_names = compiled.signal_names
        self.signal_names = signal_names
        self.height_signal = signal_names.index("height_above_bm_um")
        # signals other than the scenario's fields (perfusion, ...) are 0 for keratinocytes
        self.signal_template = [0.0] * len(signal_names)
        self.field_signals = [(signal_names.index(f), f) for f in self.spec.field_ids]
        kc_behaviours = [
            b
            for b in range(len(names))
            if any(
                r.behaviour == names[b] and r.cell_type == "keratinocyte" for r in self.spec.rules
            )
            or compiled.base[kc_type, b] != 0.0
        ]
        for needed in (
            "proliferation",
            "suprabasal_proliferation",
            "differentiation",
            "parakeratosis",
            "shedding",
        ):
            if names.index(needed) not in kc_behaviours:
                kc_behaviours.append(names.index(needed))
        kc_behaviours.sort()
        position = {b: i for i, b in enumerate(kc_behaviours)}
        rules: list[tuple[float, float, float, list, list]] = []
        for b in kc_behaviours:
            up, down = [], []
            for rule in self.spec.rules:
                if not (rule.enabled and rule.cell_type == "keratinocyte"):
                    continue
                if rule.behaviour != names[b]:
                    continue
                terms = [
                    (signal_names.index(s), float(k), float(rule.hill_power))
                    for s, k in zip(rule.signals, rule.half_maxima, strict=True)
                ]
                (up if rule.direction == "increases" else down).append(terms)
            rules.append(
                (
                    float(compiled.base[kc_type, b]),
                    float(compiled.saturation_up[kc_type, b]),
                    float(compiled.saturation_down[kc_type, b]),
                    up,
                    down,
                )
            )
        self.kc_rules = rules
        self.b_proliferation = position[names.index("proliferation")]
        self.b_suprabasal_proliferation = position[names.index("suprabasal_proliferation")]
        self.b_differentiation = position[names.index("differentiation")]
        self.b_parakeratosis = position[names.index("parakeratosis")]
        self.b_shedding = position[names.index("shedding")]
        self.secreted = [
            (f, position[names.index(f"secrete_{field_id}")])
            for f, field_id in enumerate(self.spec.field_ids)
            if names.index(f"secrete_{field_id}") in position
        ]
        base_rate = float(compiled.base[kc_type, names.index("proliferation")])
        factor = float(getattr(self.params, "stem_quiescence_factor", 1.0))
        self.stem_quiescent_cut = (1.0 - 1.0 / factor) * base_rate

    def _group_fields(self) -> list[tuple[tuple, list[int]]]:
        groups: dict[tuple, list[int]] = {}
        for index, field_id in enumerate(self.field_ids):
            f = self.spec.fields[field_id]
            key = (
                f.diffusion_um2_per_min,
                f.stratum_corneum_diffusion_factor,
                f.half_life_min,
                f.dermis_half_life_min,
                f.stratum_corneum_half_life_min,
                f.bottom_bc,
            )
            groups.setdefault(key, []).append(index)
        return list(groups.items())

    def lognormal(self, mean: float, cv: float) -> float:
        """A lognormal draw with the given mean and coefficient of variation."""
        if cv == 0.0:
            return mean
        sigma2 = math.log1p(cv * cv)
        return float(self.rng.lognormal(math.log(mean) - 0.5 * sigma2, math.sqrt(sigma2)))

    # ---------------------------------------------------------------------------------- step
    def step(self) -> None:
        """One cell step, in the engine's order."""
        keratinocytes = self.agents_by_type[Keratinocyte]
        keratinocytes.do("sense")
        start = time.perf_counter()
        self.advance_fields(keratinocytes)
        self.field_seconds += time.perf_counter() - start
        keratinocytes.shuffle_do("cycle")
        keratinocytes.select(lambda a: a.basal and a.state == COMMITTED).do("delaminate")
        keratinocytes.do("mature")
        self.cornify()
        self.shed(keratinocytes)
        self.restack()
        self.relax_columns()
        self.restack()
        self._apply_due_events()

    def advance_fields(self, keratinocytes: mesa.agent.AgentSet) -> None:
        """Secretion by agents, one implicit diffusion–decay step, then fixed levels."""
        if not self.field_ids:
            return
        self.source[:] = 0.0
        keratinocytes.do("secrete")
        for index, field_id in enumerate(self.field_ids):
            if field_id in self.knocked_out:
                self.source[index] = 0.0
        voxel_ml = self.voxel_um**3 * 1e-12
        scale = (self.voxel_um / REFERENCE_VOXEL_UM) ** 3 / (1440.0 * voxel_ml)
        region = self.region
        basal_uptake = self.params.basal_uptake_per_min
        uptake_key = self.basal_voxels.tobytes() if basal_uptake > 0 else b""
        for key, members in self._field_groups:
            cache_key = (key, region.tobytes(), uptake_key)
            solver = self._factor_cache.get(cache_key)
            if solver is None:
                if len(self._factor_cache) > 64:
                    self._factor_cache.clear()
                solver = self._factorise(key, region, basal_uptake)
                self._factor_cache[cache_key] = solver
            lu, open_voxels, closed_loss, bottom_weight = solver
            for index in members:
                f = self.spec.fields[self.field_ids[index]]
                layer = self.layers[self.field_ids[index]]
                rhs = (layer.data + self.dt_min * scale * self.source[index]).ravel()
                if f.bottom_bc == "fixed":
                    rhs[: self.nx] += bottom_weight * f.bottom_value_pg_per_ml
                new = rhs / closed_loss  # closed voxels (air): decay and sources only
                new[open_voxels] = lu.solve(rhs[open_voxels])
                layer.data = new.reshape(self.nz, self.nx)
        self.hold_levels()

    def _factorise(self, key: tuple, region: np.ndarray, basal_uptake: float):
        d_tissue, sc_factor, half_life, dermis_half_life, sc_half_life, bottom_bc = key
        nz, nx, dt = self.nz, self.nx, self.dt_min
        d = np.array([0.0, d_tissue * sc_factor, d_tissue, d_tissue])[region]
        k = np.array([0.0, LN2 / sc_half_life, LN2 / half_life, LN2 / dermis_half_life])[region]
        if basal_uptake > 0:
            k.ravel()[self.basal_voxels] += basal_uptake
        scale = dt / self.voxel_um**2

        def harmonic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            total = a + b
            return np.divide(2.0 * a * b, total, out=np.zeros_like(total), where=total > 0)

        index = np.arange(nz * nx).reshape(nz, nx)
        w_up = scale * harmonic(d[:-1], d[1:])  # faces between z and z+1
        w_right = scale * harmonic(d, np.roll(d, -1, axis=1))  # faces x → x+1 (periodic)
        diagonal = 1.0 + dt * k
        diagonal[:-1] += w_up
        diagonal[1:] += w_up
        diagonal += w_right + np.roll(w_right, 1, axis=1)
        bottom_weight = scale * d[0] if bottom_bc == "fixed" else np.zeros(nx)
        diagonal[0] += bottom_weight
        right = np.roll(index, -1, axis=1)
        rows = np.concatenate(
            [index.ravel(), index[:-1].ravel(), index[1:].ravel(), index.ravel(), right.ravel()]
        )
        cols = np.concatenate(
            [index.ravel(), index[1:].ravel(), index[:-1].ravel(), right.ravel(), index.ravel()]
        )
        values = np.concatenate(
            [diagonal.ravel(), -w_up.ravel(), -w_up.ravel(), -w_right.ravel(), -w_right.ravel()]
        )
        matrix = scipy.sparse.csr_matrix((values, (rows, cols)), shape=(nz * nx, nz * nx))
        # voxels with D = 0 (air) are closed: they take no part in the linear system
        open_voxels = np.flatnonzero(d.ravel() > 0)
        matrix = matrix[open_voxels][:, open_voxels].tocsc()
        lu = scipy.sparse.linalg.splu(matrix, permc_spec="MMD_AT_PLUS_A")
        return lu, open_voxels, (1.0 + dt * k).ravel(), bottom_weight

    def hold_levels(self) -> None:
        """Fixed levels and knockouts in tissue voxels (epidermis and dermis)."""
        tissue = self.region >= REGION_EPIDERMIS
        for field_id in self.field_ids:
            data = self.layers[field_id].data
            if field_id in self.knocked_out:
                data[:] = 0.0
            elif field_id in self.fixed_levels:
                data[tissue] = self.fixed_levels[field_id]

    def cornify(self) -> None:
        """The top viable cell of each column cornifies when mature (repeated while any is)."""
        params = self.params
        share = 1.0 / 3.0
        for _ in range(64):
            ready = [stack[-1] for stack in self.stacks if stack and stack[-1].maturation >= 2.0]
            if not ready:
                return
            ready.sort(key=lambda a: a.unique_id)
            for agent in ready:
                shed_after = self.lognormal(params.stratum_corneum_transit_days, 0.2)
                for position, column in enumerate(self.candidate_columns[agent.column]):
                    self.corneum[column].append(
                        Corneocyte(
                            self,
                            column=column,
                            height_um=params.corneocyte_height_um * share,
                            birth_step=agent.birth_step,
                            shed_after_days=shed_after,
                            parakeratotic=agent.parakeratotic,
                            primary=position == 0,
                        )
                    )
                self.stacks[agent.column].pop()
                agent.remove()

    def shed(self, keratinocytes: mesa.agent.AgentSet) -> None:
        """Age corneocytes at their column's speed and shed from the top, oldest first."""
        self.shedding_top = [0.0] * self.nx
        keratinocytes.do("report_shedding")
        self.shedding_speed = [v if v > 0 else 1.0 for v in self.shedding_top]
        if Corneocyte in self.agents_by_type:
            self.agents_by_type[Corneocyte].do("age")
        for stack in self.corneum:
            while stack and stack[0].sc_age_days >= stack[0].shed_after_days:
                corneocyte = stack.pop(0)
                if corneocyte.primary:
                    self.shed_steps.append(self.steps)
                    self.shed_ages.append(self.steps - corneocyte.birth_step)
                corneocyte.remove()

    def relax_columns(self) -> None:
        """Tall columns hand the cell at a lower neighbour's top level to that neighbour."""
        top = self.viable_top_um
        lowest = []
        for c in range(self.nx):
            left, right = self.candidate_columns[c][1], self.candidate_columns[c][2]
            lowest.append(right if top[right] < top[left] else left)
        tolerance = self.params.column_height_tolerance_um
        donors = [c for c in range(self.nx) if top[c] - top[lowest[c]] > tolerance]
        if not donors:
            return
        busy = [False] * self.nx
        for donor in self.rng.permutation(donors).tolist():
            receiver = lowest[donor]
            if busy[donor] or busy[receiver]:
                continue
            level = top[receiver]
            above = [a for a in self.stacks[donor] if a.z_bottom_um + 0.5 * a.height_um >= level]
            if not above:
                continue
            moving = above[0]  # stacks run bottom to top: the lowest such cell
            self.stacks[donor].remove(moving)
            self.stacks[receiver].append(moving)
            moving.column = receiver
            busy[donor] = busy[receiver] = True

    def restack(self) -> None:
        """Column shoving: heights from the stacks; agents move to the voxel of their centre."""
        params, voxel, grid = self.params, self.voxel_um, self.grid
        top_z = self.nz - 1
        tops, sc_heights, sc_para = [], [], []
        basal_voxels = []
        for column in range(self.nx):
            bm = self.bm_height_um[column]
            z_basal = min(max(int((bm + 0.5 * params.basal_height_um) / voxel), 0), top_z)
            for agent in self.basal_slots[column]:
                agent.z_bottom_um = bm
                agent.column = column
                agent.move_to(grid[(z_basal, column)])
                basal_voxels.append(z_basal * self.nx + column)
            z = bm + params.basal_height_um
            for agent in self.stacks[column]:
                agent.z_bottom_um = z
                agent.column = column
                z_voxel = min(max(int((z + 0.5 * agent.height_um) / voxel), 0), top_z)
                agent.move_to(grid[(z_voxel, column)])
                z += agent.height_um
            if not self.basal_slots[column] and not self.stacks[column]:
                z = bm
            tops.append(z)
            sc_heights.append(sum(c.height_um for c in self.corneum[column]))
            sc_para.append(sum(c.height_um for c in self.corneum[column] if c.parakeratotic))
        self.viable_top_um = tops
        self.sc_height_um = sc_heights
        self.sc_parakeratotic_um = sc_para
        self.basal_voxels = np.unique(np.array(basal_voxels, dtype=np.int64))
        # regions (air, corneum, viable epidermis, dermis) at voxel centres, for the fields
        centre = ((np.arange(self.nz) + 0.5) * voxel)[:, None]
        bm = np.asarray(self.bm_height_um)[None, :]
        top = np.asarray(tops)[None, :]
        sc_top = top + np.asarray(sc_heights)[None, :]
        region = np.full((self.nz, self.nx), REGION_AIR, dtype=np.uint8)
        region[(centre >= top) & (centre < sc_top)] = REGION_CORNEUM
        region[(centre >= bm) & (centre < top)] = REGION_EPIDERMIS
        region[centre < bm] = REGION_DERMIS
        if np.any(sc_top > (self.nz - 1) * voxel):
            raise SimulationError("the epidermis outgrew the lattice (Mesa baseline)")
        self.region = region

    # -------------------------------------------------------------------------------- events
    def _apply_due_events(self) -> None:
        for event, event_step in zip(self.spec.events, self._event_steps, strict=True):
            if event_step != self.steps:
                continue
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
                if type_name == "keratinocyte":
                    index = self.signal_names.index(signal)
                    if kind == "block_response" and index not in self.blocked_signals:
                        self.blocked_signals.append(index)
                    elif kind == "unblock_response" and index in self.blocked_signals:
                        self.blocked_signals.remove(index)
            self.hold_levels()

    # ------------------------------------------------------------------------------ readouts
    def measure(self) -> dict[str, float]:
        """Summary statistics, defined as in :func:`mscabm.readouts.measure`."""
        step = self.steps
        since = step - WINDOW_DAYS * self.steps_per_day
        elapsed_days = min(WINDOW_DAYS, step / self.steps_per_day) if step else 0.0
        viable = np.asarray(self.viable_top_um) - np.asarray(self.bm_height_um)
        sc = np.asarray(self.sc_height_um)
        divisions = np.asarray(self.division_steps)
        recent = divisions > since
        intervals = np.asarray(self.division_intervals)[recent]
        produced = int(np.count_nonzero(np.asarray(self.production_steps) > since))
        per_day = produced / elapsed_days if elapsed_days else float("nan")
        shed_ages = np.asarray(self.shed_ages)[np.asarray(self.shed_steps) > since]
        total_sc = float(np.sum(sc))
        agents = list(self.agents_by_type[Keratinocyte])
        return {
            "viable_epidermis_thickness_um": float(np.mean(viable)),
            "viable_epidermis_thickness_um_sd": float(np.std(viable)),
            "stratum_corneum_thickness_um": float(np.mean(sc)),
            "proxy_parakeratosis_fraction": (
                float(np.sum(self.sc_parakeratotic_um)) / total_sc if total_sc > 0 else 0.0
            ),
            "production_per_day_per_mm2": per_day / self.width_mm * 1000.0 / self.voxel_um,
            "divisions_per_day": (
                float(np.count_nonzero(recent)) / elapsed_days if elapsed_days else float("nan")
            ),
            "cycle_time_measured_h": (
                float(np.mean(intervals)) * self.dt_h if len(intervals) else float("nan")
            ),
            "transit_time_days": (
                float(np.median(shed_ages)) / self.steps_per_day if len(shed_ages) else float("nan")
            ),
            "count_keratinocyte": float(len(agents)),
            "count_basal": float(sum(1 for a in agents if a.basal)),
            "count_corneocyte": float(sum(1 for s in self.corneum for c in s if c.primary)),
            "n_divisions": float(np.count_nonzero(recent)),
            "n_produced": float(produced),
        }


# ------------------------------------------------------------------------------ entry points
def engine_simulation(
    scenario: str, *, width_um: float, seed: int, overrides: list[str] | None = None
) -> tuple[mscabm.Simulation, str]:
    """The engine simulation both runs start from, and which initial state it used.

    The scenario's shipped equilibrated state is used when it exists; without one (a fresh
    checkout before ``scripts/make_initial_states.py`` has run) the engine's freshly built
    tissue (``initial_state=null``) is used instead, and the returned label says so.
    """
    overrides = [f"geometry.width_um={width_um}", *(overrides or [])]
    try:
        return mscabm.Simulation(scenario, rng=seed, overrides=overrides), "scenario"
    except SimulationError as error:
        if "initial_state" not in str(error):
            raise
        sim = mscabm.Simulation(scenario, rng=seed, overrides=[*overrides, "initial_state=null"])
        return sim, "fresh (no shipped initial state)"


def run_mesa_baseline(
    scenario: str = "healthy_human",
    *,
    width_um: float = 200.0,
    days: float = 5.0,
    seed: int = 1,
    overrides: list[str] | None = None,
) -> dict:
    """Run the Mesa baseline from the engine's initial tissue and time its steps.

    Parameters
    ----------
    scenario
        Shipped scenario name or path.
    width_um
        Section width (``geometry.width_um``).
    days
        Simulated days.
    seed
        Seed of the engine simulation that supplies the initial tissue and of the Mesa model.
    overrides
        More ``dotted.key=value`` scenario overrides.

    Returns
    -------
    dict
        ``wall_s`` (step loop only) and ``fields_s`` (its field part), ``steps``,
        ``cell_steps`` (sum over steps of the keratinocytes living at the start of the step),
        the summary statistics of :meth:`MesaKeratinocytes.measure`
        (``viable_epidermis_thickness_um``, also as ``viable_thickness_um``,
        ``production_per_day_per_mm2``, ``divisions_per_day``, ``n_divisions``, ``n_produced``,
        ...), ``n_cells_final``, ``n_columns`` and ``initial_state``.
    """
    source, initial = engine_simulation(scenario, width_um=width_um, seed=seed, overrides=overrides)
    model = MesaKeratinocytes(source, rng=seed)
    del source
    n_steps = round(days * model.steps_per_day)
    keratinocytes = model.agents_by_type[Keratinocyte]
    cell_steps = 0
    start = time.perf_counter()
    for _ in range(n_steps):
        cell_steps += len(keratinocytes)
        model.step()
    wall = time.perf_counter() - start
    out = model.measure()
    out.update(
        viable_thickness_um=out["viable_epidermis_thickness_um"],
        wall_s=wall,
        fields_s=model.field_seconds,
        steps=n_steps,
        cell_steps=cell_steps,
        n_cells_final=int(out["count_keratinocyte"]),
        n_columns=model.nx,
        initial_state=initial,
    )
    return out


def run_engine(
    scenario: str = "healthy_human",
    *,
    width_um: float = 200.0,
    days: float = 5.0,
    seed: int = 1,
    overrides: list[str] | None = None,
) -> dict:
    """Run the engine on the same tissue and days; same keys as :func:`run_mesa_baseline`."""
    sim, initial = engine_simulation(scenario, width_um=width_um, seed=seed, overrides=overrides)
    n_steps = round(days * sim.steps_per_day)
    if hasattr(sim, "profile_phases"):
        sim.profile_phases()
    cell_steps = 0
    start = time.perf_counter()
    for _ in range(n_steps):
        cell_steps += sim.state.kc.count()
        sim.step()
    wall = time.perf_counter() - start
    readouts = sim.measure()
    since = sim.steps - WINDOW_DAYS * sim.steps_per_day
    log = sim.state.events
    out = {name: float(value) for name, value in readouts.items()}
    out.update(
        viable_thickness_um=out["viable_epidermis_thickness_um"],
        wall_s=wall,
        fields_s=float(getattr(sim, "phase_seconds", {}).get("fields", float("nan"))),
        steps=n_steps,
        cell_steps=cell_steps,
        n_cells_final=sim.state.kc.count(),
        n_columns=sim.layout.n_columns,
        initial_state=initial,
        n_divisions=float(np.count_nonzero(log.concatenated("division_step") > since)),
        n_produced=float(np.count_nonzero(log.concatenated("production_step") > since)),
    )
    return out


_TABLE_KEYS = (
    "viable_epidermis_thickness_um",
    "stratum_corneum_thickness_um",
    "proxy_parakeratosis_fraction",
    "production_per_day_per_mm2",
    "divisions_per_day",
    "n_cells_final",
    "steps",
    "cell_steps",
    "wall_s",
    "fields_s",
)


def main(argv: list[str] | None = None) -> int:
    """Time the engine and the Mesa baseline on the same work and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", help="repeatable; default: both")
    parser.add_argument("--width-um", type=float, default=200.0)
    parser.add_argument("--days", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    scenarios = args.scenario or ["healthy_human", "psoriatic_drive_human"]
    results = []
    print(
        f"engine vs Mesa {mesa.__version__} baseline: {args.width_um:g} µm wide, "
        f"{args.days:g} days, seed {args.seed}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
    )
    for name in scenarios:
        kwargs = {"width_um": args.width_um, "days": args.days, "seed": args.seed}
        engine = run_engine(name, **kwargs)
        baseline = run_mesa_baseline(name, **kwargs)
        per_engine = engine["wall_s"] / engine["cell_steps"]
        per_mesa = baseline["wall_s"] / baseline["cell_steps"]
        speedup = per_mesa / per_engine
        print(f"\n{name} (initial state: {engine['initial_state']})")
        print(f"  {'quantity':34s} {'engine':>12s} {'mesa':>12s}")
        for key in _TABLE_KEYS:
            print(f"  {key:34s} {engine[key]:12.4g} {baseline[key]:12.4g}")
        print(f"  {'µs per cell step':34s} {1e6 * per_engine:12.2f} {1e6 * per_mesa:12.2f}")
        cells_engine = (engine["wall_s"] - engine["fields_s"]) / engine["cell_steps"]
        cells_mesa = (baseline["wall_s"] - baseline["fields_s"]) / baseline["cell_steps"]
        label = "µs per cell step without fields"
        print(f"  {label:34s} {1e6 * cells_engine:12.2f} {1e6 * cells_mesa:12.2f}")
        verdict = "meets" if speedup >= TARGET_SPEEDUP else "misses"
        print(
            f"  speed-up per cell step: {speedup:.1f}× ({verdict} the {TARGET_SPEEDUP:g}× "
            f"target); cells only (fields left out): {cells_mesa / cells_engine:.1f}×"
        )
        results.append(
            {
                "scenario": name,
                **kwargs,
                "engine": engine,
                "mesa": baseline,
                "speedup": speedup,
                "target_speedup": TARGET_SPEEDUP,
            }
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
