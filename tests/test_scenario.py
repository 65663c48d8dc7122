"""Scenario loading: defaults, extends, overrides, rule compilation and bad scenarios."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mscabm.cli import app
from mscabm.engine import Simulation
from mscabm.scenario import (
    ScenarioError,
    compile_rules,
    load_scenario,
    reload_scenario,
    shipped_scenarios,
)

RUNNER = CliRunner()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


# ------------------------------------------------------------------------------- good scenarios
def test_every_shipped_scenario_loads_and_is_frozen():
    names = shipped_scenarios()
    assert {"healthy_human", "healthy_mouse", "psoriatic_drive_human", "healthy_human_3d"} <= set(
        names
    )
    for name in names:
        spec = load_scenario(name)
        assert spec.name == name
        with pytest.raises(ValueError):
            spec.time.dt_min = 1.0  # frozen


def test_defaults_come_from_the_species_profile():
    human = load_scenario("healthy_human")
    mouse = load_scenario("healthy_mouse")
    assert human.geometry.voxel_um == 10.0
    assert mouse.geometry.voxel_um == 5.0
    from mscabm.defaults import PROFILES

    assert human.keratinocyte.cycle_time_h == PROFILES["human"]["keratinocyte"]["cycle_time_h"]
    assert mouse.keratinocyte.cycle_time_h == PROFILES["mouse"]["keratinocyte"]["cycle_time_h"]
    assert mouse.keratinocyte.cycle_time_h != human.keratinocyte.cycle_time_h
    assert mouse.keratinocyte.basal_cells_per_column == 1


def test_extends_merges_and_appends_events(tmp_path):
    child = write(
        tmp_path,
        "child.yaml",
        """
        extends: psoriatic_drive_human
        time: {duration_days: 5}
        events:
          - {day: 2, kind: release_field, target: il17a}
        """,
    )
    spec = load_scenario(child)
    assert spec.time.duration_days == 5
    assert [e.kind for e in spec.events] == ["fix_field"] * 4 + ["release_field"]
    assert spec.geometry.species == "human"


def test_a_shorter_child_ends_before_inherited_events_but_not_before_its_own(tmp_path):
    # imq_mouse stops its inducer on day 5.5: a 4-day child simply ends before that, as
    # `--days 4` does; an event the child itself schedules after its own end is an error
    short = write(tmp_path, "short.yaml", "extends: imq_mouse\ntime: {duration_days: 4}\n")
    spec = load_scenario(short)
    assert spec.time.duration_days == 4
    assert max(e.day for e in spec.events) > 4
    own = write(
        tmp_path,
        "own.yaml",
        """
        extends: imq_mouse
        time: {duration_days: 4}
        events:
          - {day: 4.5, kind: stop_inducer, target: inducer}
        """,
    )
    with pytest.raises(ScenarioError, match="after the end") as error:
        load_scenario(own)
    assert "own.yaml" in str(error.value)
    assert load_scenario("imq_mouse", overrides=["time.duration_days=4"]).time.duration_days == 4
    with pytest.raises(ScenarioError, match="after the end"):  # an event given on the command line
        load_scenario(
            "healthy_mouse",
            overrides=["events=[{day: 40, kind: fix_field, target: il17a, amount: 1}]"],
        )


def test_a_scenario_loaded_again_passes_over_the_events_its_first_load_cut_off():
    # the scenario a run stores, or a Scenario run with overrides, is validated again:
    # events its shortening left after the end are passed over, as on the first load
    short = load_scenario("imq_mouse", duration_days=3)
    assert max(e.day for e in short.events) > 3
    assert reload_scenario(short) == short
    stored = short.model_dump(mode="json")
    assert reload_scenario(stored, seed=5).seed == 5
    wider = reload_scenario(short, overrides=["geometry.width_um=300"])
    assert wider.geometry.width_um == 300 and wider.events == short.events
    with pytest.raises(ScenarioError, match="after the end"):  # only this load's own events
        load_scenario(stored)
    with pytest.raises(ScenarioError, match="after the end"):
        reload_scenario(
            short, overrides=["events=[{day: 4, kind: fix_field, target: il17a, amount: 1}]"]
        )
    sim = Simulation(short, rng=1, overrides=["geometry.width_um=100"])
    assert sim.spec.events == short.events and sim.total_steps == 3 * sim.steps_per_day


def test_a_checkpoint_day_after_the_end_is_an_error_where_the_end_is_written(tmp_path):
    both = write(
        tmp_path,
        "both.yaml",
        "extends: healthy_mouse\ntime: {duration_days: 4, checkpoint_at_days: [2, 6]}\n",
    )
    with pytest.raises(ScenarioError, match="checkpoint day 6 is after the end") as error:
        load_scenario(both)
    assert "both.yaml" in str(error.value)
    base = write(tmp_path, "base.yaml", "extends: healthy_mouse\ntime: {checkpoint_at_days: [20]}\n")
    child = write(tmp_path, "child.yaml", "extends: base.yaml\ntime: {duration_days: 3}\n")
    assert load_scenario(child).time.checkpoint_at_days == (20.0,)  # ends first, like --days
    assert load_scenario(base, duration_days=3).time.duration_days == 3
    with pytest.raises(ScenarioError, match="checkpoint day 50"):
        load_scenario("healthy_mouse", overrides=["time.checkpoint_at_days=[50]"])


def test_the_readme_scenario_example_is_valid(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("```yaml\n# my_drive.yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "my_drive.yaml").write_text(block)
    spec = load_scenario(tmp_path / "my_drive.yaml")
    assert spec.name == "my_drive" and spec.time.checkpoint_at_days == (10.0,)
    changed = [
        r for r in spec.rules
        if r.cell_type == "keratinocyte" and r.signals == ("il17a",)
        and r.behaviour == "proliferation" and r.direction == "increases"
    ]  # fmt: skip
    assert [r.half_max for r in changed] == [5.0]


def test_the_readme_names_every_event_kind_and_population():
    from mscabm import vocab

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    kinds = readme.split("Event kinds:", 1)[1].split("## ", 1)[0]
    for name in (*vocab.EVENT_KINDS, *vocab.POPULATIONS):
        assert f"`{name}`" in kinds, name


def test_a_childs_events_are_found_on_their_own_lines(tmp_path):
    # imq_mouse stops its inducer on day 5.5; a 1-day child with two events of its own is
    # valid, and an event of its own after its end is reported on its own line (line 5)
    child = (
        "extends: imq_mouse\ntime: {{duration_days: 1}}\nevents:\n"
        "  - {{day: 0.2, kind: knockout_field, target: il23}}\n"
        "  - {{day: {day}, kind: restore_field, target: il23}}\n"
    )
    ok = write(tmp_path, "ok.yaml", child.format(day=0.3))
    assert [e.day for e in load_scenario(ok).events][-2:] == [0.2, 0.3]
    late = write(tmp_path, "late.yaml", child.format(day=3))
    with pytest.raises(ScenarioError, match=r"day 3\.0 is after the end") as error:
        load_scenario(late)
    assert error.value.file == str(late) and error.value.line == 5


def test_one_override_string_is_one_override():
    spec = load_scenario("healthy_mouse", overrides="geometry.width_um=100")
    assert spec.geometry.width_um == 100


def test_extends_relative_path(tmp_path):
    write(tmp_path, "base.yaml", "geometry: {width_um: 300}\n")
    child = write(tmp_path, "child.yaml", "extends: base.yaml\ntime: {duration_days: 2}\n")
    spec = load_scenario(child)
    assert spec.geometry.width_um == 300 and spec.time.duration_days == 2


def test_set_overrides_and_rule_override(tmp_path):
    spec = load_scenario(
        "healthy_human", overrides=["keratinocyte.cycle_time_h=300", "time.duration_days=3"]
    )
    assert spec.keratinocyte.cycle_time_h == 300 and spec.time.duration_days == 3
    path = write(
        tmp_path,
        "rules.yaml",
        """
        rules:
          - {cell_type: keratinocyte, signals: [il17a], direction: increases, behaviour: proliferation,
             half_max: 99}
          - {cell_type: keratinocyte, signals: [il22], direction: increases, behaviour: proliferation,
             enabled: false}
        """,
    )
    rules = load_scenario(path).rules
    il17 = [r for r in rules if r.behaviour == "proliferation" and r.signals == ("il17a",)]
    assert len(il17) == 1 and il17[0].half_max == 99
    il22 = [r for r in rules if r.behaviour == "proliferation" and r.signals == ("il22",)]
    assert len(il22) == 1 and il22[0].enabled is False
    compiled = compile_rules(load_scenario(path))
    assert compiled.table.n_rules == sum(1 for r in rules if r.enabled)


def test_compiled_rules_follow_the_documented_semantics():
    spec = load_scenario("healthy_human")
    rules = compile_rules(spec)
    n = len(rules.signal_names)
    signals = np.zeros((2, n))
    signals[1, rules.signal_names.index("il17a")] = (
        10.0  # = half-max of the IL-17A proliferation rule
    )
    values = rules.evaluate(signals, np.zeros(2, dtype=np.int32))
    column = rules.behaviour_index("proliferation")
    base = 1.0 / (spec.keratinocyte.cycle_time_h - spec.keratinocyte.cycle_fixed_phase_h)
    assert values[0, column] == pytest.approx(base, rel=1e-12)
    saturation = rules.saturation_up[0, column]
    assert values[1, column] == pytest.approx(base + (saturation - base) * 0.5, rel=1e-12)


def test_resolved_yaml_round_trips():
    spec = load_scenario("psoriatic_drive_human")
    again = load_scenario(
        __import__("ruamel.yaml", fromlist=["YAML"])
        .YAML(typ="safe", pure=True)
        .load(spec.to_yaml())
    )
    assert again == spec


# -------------------------------------------------------------------------------- bad scenarios
BAD = {
    "yaml_syntax": ("geometry:\n  width_um: [1, 2\n", "YAML syntax error", None),
    "unknown_top_key": ("geometri:\n  width_um: 500\n", "did you mean 'geometry'", "geometri"),
    "unknown_nested_key": (
        "keratinocyte:\n  cycle_tim_h: 300\n",
        "did you mean 'cycle_time_h'",
        "keratinocyte.cycle_tim_h",
    ),
    "wrong_type": ("time:\n  duration_days: [3]\n", "time.duration_days", "time.duration_days"),
    "number_as_text": (
        'keratinocyte:\n  cycle_time_h: "1e5"\n',
        "expected a number, got the text '1e5'",
        "keratinocyte.cycle_time_h",
    ),
    "negative_rate": (
        "keratinocyte:\n  cycle_time_h: -5\n",
        "out of range",
        "keratinocyte.cycle_time_h",
    ),
    "infinite": ("keratinocyte:\n  cycle_time_h: .inf\n", "finite", "keratinocyte.cycle_time_h"),
    "misspelt_cell_type": (
        "rules:\n  - {cell_type: keratinocite, signals: [il17a], direction: increases, behaviour: proliferation, saturation: 1, half_max: 1}\n",
        "did you mean 'keratinocyte'",
        "rules.0.cell_type",
    ),
    "misspelt_field_in_rule": (
        "rules:\n  - {cell_type: keratinocyte, signals: [il17], direction: increases, behaviour: proliferation, saturation: 1, half_max: 1}\n",
        "unknown signal 'il17'",
        "rules.0.signals.0",
    ),
    "misspelt_behaviour": (
        "rules:\n  - {cell_type: keratinocyte, signals: [il17a], direction: increases, behaviour: proliferate, saturation: 1, half_max: 1}\n",
        "did you mean 'proliferation'",
        "rules.0.behaviour",
    ),
    "bad_direction": (
        "rules:\n  - {cell_type: keratinocyte, signals: [il17a], direction: up, behaviour: proliferation, saturation: 1, half_max: 1}\n",
        "not allowed",
        "rules.0.direction",
    ),
    "conflicting_saturation": (
        "rules:\n  - {cell_type: keratinocyte, signals: [ccl20], direction: increases, behaviour: proliferation, saturation: 5, half_max: 1}\n",
        "one saturation per behaviour",
        "saturation",
    ),
    "unknown_event_kind": (
        "events:\n  - {day: 1, kind: fixfield, target: il17a, amount: 1}\n",
        "did you mean 'fix_field'",
        "events.0.kind",
    ),
    "unknown_event_field": (
        "events:\n  - {day: 1, kind: fix_field, target: il-17a, amount: 1}\n",
        "unknown field",
        "events.0.target",
    ),
    "event_after_end": (
        "time: {duration_days: 2}\nevents:\n  - {day: 5, kind: fix_field, target: il17a, amount: 1}\n",
        "after the end",
        "events.0.day",
    ),
    "unknown_field_key": (
        "fields:\n  il17a: {difusion_um2_per_min: 5}\n",
        "did you mean 'diffusion_um2_per_min'",
        "fields.il17a",
    ),
    "unknown_field_id": ("fields:\n  il99: {half_life_min: 5}\n", "unknown field 'il99'", "fields"),
    "lattice_too_small": (
        "geometry: {height_um: 300}\n",
        "too small for the epidermis",
        "geometry.height_um",
    ),
    "not_whole_voxels": ("geometry: {width_um: 1005}\n", "whole number", "geometry.width_um"),
    "bad_species": ("geometry: {species: rat}\n", "unknown species", "geometry.species"),
    "extends_missing": (
        "extends: no_such_scenario.yaml\n",
        "neither a shipped scenario nor an existing file",
        "extends",
    ),
    "custom_tag": ("geometry: !!python/object:os.system {width_um: 1}\n", "", None),
    "top_level_list": ("- a\n- b\n", "top level must be a mapping", None),
    "bad_dims": ("geometry: {dims: 4}\n", "not allowed", "geometry.dims"),
    "unknown_immune_type": (
        "immune:\n  types:\n    neutrophill: {speed_um_per_min: 5}\n",
        "did you mean 'neutrophil'",
        "immune.types",
    ),
    "misspelt_chemotaxis_field": (
        "immune:\n  types:\n    neutrophil: {chemotaxis_field: cxc18}\n",
        "unknown field 'cxc18'",
        "immune.types.neutrophil.chemotaxis_field",
    ),
    "unknown_population": (
        "events:\n  - {day: 1, kind: deplete, target: treg}\n",
        "did you mean 'tregs'",
        "events.0.target",
    ),
    "inducer_without_dose": (
        "events:\n  - {day: 0, kind: start_inducer, target: inducer}\n",
        "dose per application must be > 0",
        "events.0.amount",
    ),
    "half_max_per_signal_mismatch": (
        "rules:\n  - {cell_type: th0, signals: [il6, tgfb], direction: increases, behaviour: become_th17, saturation: 0.1, half_max: [10, 10, 10]}\n",
        "one per signal",
        "rules.0",
    ),
    "disable_unknown_rule": (
        "rules:\n  - {cell_type: keratinocyte, signals: [il23], direction: increases, behaviour: proliferation, enabled: false}\n",
        "no rule to disable",
        "rules.0.enabled",
    ),
    "outputs_fields_as_text": (
        "outputs: {fields: il17a}\n",
        "'il17a' is not allowed: expected 'all' or a list",
        "outputs.fields:",
    ),
    "outputs_fields_bad_item": (
        "outputs: {fields: [il17a, 3]}\n",
        "expected text, got 3",
        "outputs.fields.1:",
    ),
    "half_max_negative": (
        "rules:\n  - {cell_type: keratinocyte, signals: [il17a], direction: increases, behaviour: proliferation, half_max: -5}\n",
        "-5 is out of range",
        "rules.0.half_max:",
    ),
    "amount_on_deplete": (
        "events:\n  - {day: 1, kind: deplete, target: neutrophils, amount: 0.5}\n",
        "deplete does not use amount",
        "events.0.amount",
    ),
    "two_changes_of_one_field_on_one_day": (
        "events:\n  - {day: 1, kind: fix_field, target: il17a, amount: 10}\n"
        "  - {day: 1, kind: knockout_field, target: il17a}\n",
        "fix_field (two_changes_of_one_field_on_one_day.yaml:2) and knockout_field both change "
        "'il17a' on day 1",
        "events.1.kind",
    ),
    "impossible_transition": (
        "rules:\n  - {cell_type: neutrophil, signals: [il23], direction: increases, behaviour: become_th17, saturation: 0.1, half_max: 1}\n",
        "unknown behaviour 'become_th17' for neutrophil",
        "rules.0.behaviour",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_scenario_gives_one_clear_message_and_exit_2(tmp_path, case):
    text, fragment, key = BAD[case]
    path = write(tmp_path, f"{case}.yaml", text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert fragment in message, message
    if key is not None:
        assert key in message, message
    for tag in ("literal[", "constrained-", "tuple["):  # pydantic's names of a union's forms
        assert tag not in message, message
    result = RUNNER.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_an_event_of_a_scenario_that_extends_another_is_named_by_its_place_in_its_file(tmp_path):
    """imq_mouse has two events; the child's second one is events.1 of the child's file (it
    is the fourth of the merged list), on the child's line."""
    path = write(
        tmp_path,
        "child.yaml",
        """
        extends: imq_mouse
        events:
          - {day: 2, kind: deplete, target: tregs}
          - {day: 3, kind: deplete, target: nonsense}
        """,
    )
    assert len(load_scenario("imq_mouse").events) == 2
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    assert error.key == "events.1.target" and error.file == str(path)
    assert path.read_text().splitlines()[error.line - 1].strip().endswith("target: nonsense}")


def test_disabling_a_rule_that_does_not_exist_lists_the_rules_there_are(tmp_path):
    """The message names the rules on that behaviour, brackets and all on the console."""
    path = write(
        tmp_path,
        "off.yaml",
        """
        rules:
          - {cell_type: keratinocyte, signals: [il23], direction: increases,
             behaviour: proliferation, enabled: false}
        """,
    )
    result = RUNNER.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "no rule to disable" in result.output
    assert "increases by [il17a]" in " ".join(result.output.split())  # not eaten as markup
    # the same entry naming an existing rule disables it
    path.write_text(path.read_text().replace("il23", "il17a"))
    spec = load_scenario(path)
    keys = [r.key for r in spec.rules if not r.enabled]
    assert keys == [("keratinocyte", "proliferation", "increases", ("il17a",))]


def test_a_childs_event_on_its_parents_day_comes_after_it(tmp_path):
    """Changing what the parent's event changes, on the same day, is allowed across files
    (the child's event is applied after the parent's); in one file, or in one --set, it is
    an error naming both."""
    child = write(
        tmp_path,
        "milder.yaml",
        """
        extends: imq_mouse
        events:
          - {day: 0, kind: start_inducer, target: inducer, amount: 0.5}
        """,
    )
    spec = load_scenario(child)
    doses = [(e.day, e.kind, e.amount) for e in spec.events if e.kind == "start_inducer"]
    assert doses == [(0.0, "start_inducer", 1.0), (0.0, "start_inducer", 0.5)]
    sim = Simulation(load_scenario(child, duration_days=0.1, overrides=["geometry.width_um=100"]))
    for _ in range(2):
        sim.step()
    assert [e[1:4] for e in sim.applied_events] == [
        ("start_inducer", "inducer", 1.0),
        ("start_inducer", "inducer", 0.5),
    ]
    assert sim.inducer_dose == 0.5
    with pytest.raises(ScenarioError, match=r"--set events.*both change 'il17a' on day 1"):
        load_scenario(
            "healthy_human",
            overrides=[
                "events=[{day: 1, kind: fix_field, target: il17a, amount: 3},"
                " {day: 1, kind: release_field, target: il17a}]"
            ],
        )


def test_bad_scenario_message_names_the_line(tmp_path):
    path = write(
        tmp_path,
        "line.yaml",
        "name: x\ntime:\n  duration_days: 2\nkeratinocyte:\n  cycle_time_h: -1\n",
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.line == 5
    assert str(caught.value).startswith(f"{path}:5: keratinocyte.cycle_time_h")


def test_extends_cycle(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ScenarioError, match=r"extends cycle: a\.yaml → b\.yaml → a\.yaml"):
        load_scenario(tmp_path / "a.yaml")


def test_error_in_parent_names_the_parent_file(tmp_path):
    write(tmp_path, "parent.yaml", "keratinocyte:\n  cycle_time_h: -3\n")
    child = write(tmp_path, "child.yaml", "extends: parent.yaml\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(child)
    assert "parent.yaml:2" in str(caught.value)


def test_bad_set_override():
    with pytest.raises(ScenarioError, match="--set"):
        load_scenario("healthy_human", overrides=["keratinocyte.cycle_time_h"])
    with pytest.raises(ScenarioError, match="cycle_tim_h"):
        load_scenario("healthy_human", overrides=["keratinocyte.cycle_tim_h=3"])


def test_yaml_loader_never_executes_anything(tmp_path):
    marker = tmp_path / "executed"
    path = write(
        tmp_path, "evil.yaml", f"name: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    with pytest.raises(ScenarioError):
        load_scenario(path)
    assert not marker.exists()


def test_cli_validate_is_a_real_command_without_traceback(tmp_path):
    path = write(tmp_path, "bad.yaml", "keratinocyte:\n  cycle_time_h: abc\n")
    done = subprocess.run(
        [sys.executable, "-m", "mscabm.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{path}:2: keratinocyte.cycle_time_h" in done.stderr.replace("\n", "")
    ok = subprocess.run(
        [sys.executable, "-m", "mscabm.cli", "validate", "healthy_human"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and "OK" in ok.stdout
