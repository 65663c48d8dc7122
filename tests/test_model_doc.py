"""docs/model.md: generated from the code, a source for every default, units in every key.

The model description is rendered by :func:`mscabm.model_doc.render_model_doc`. Other work keeps
changing default values; test (a) then fails until ``python scripts/make_model_doc.py`` is run,
which is the point: the description may never drift from the code.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mscabm import defaults, vocab
from mscabm.model_doc import PARAMETER_TABLE_HEADER, parameter_rows, render_model_doc, rule_groups
from mscabm.parameter_sources import PARAMETER_SOURCES, REFERENCES, source_for

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "model.md"
COMMAND = "python scripts/make_model_doc.py"

#: Unit tokens a key's last segment may carry (as a ``_``-separated word).
UNIT_TOKENS = {"um", "um2", "mm2", "min", "h", "hours", "day", "days", "pg", "ml"}

#: Keys without units, each with the reason it has none.
UNITLESS_KEYS = {
    "species": "a name (human, mouse)",
    "dims": "number of spatial dimensions",
    "stem_fraction": "fraction of basal cells",
    "basal_cells_per_column": "a count of slots",
    "ta_divisions": "a count of divisions",
    "stem_quiescence_factor": "ratio of rates",
    "g0_probability": "a probability",
    "g0_factor": "ratio of rates",
    "maturation_cv": "coefficient of variation",
    "stratum_corneum_diffusion_factor": "ratio of diffusion coefficients",
    "bottom_bc": "name of a boundary condition",
    "capacity_dermis": "a count of cells per voxel",
    "capacity_epidermis": "a count of cells per voxel",
    "capacity_corneum": "a count of cells per voxel",
    "cd4_per_mature_dc": "a count of cells per dendritic cell",
    "cd8_per_mature_dc": "a count of cells per dendritic cell",
    "treg_per_tolerogenic_dc": "a count of cells per dendritic cell",
    "home": "name of a region",
    "renewal": "name of a renewal mode",
    "chemotaxis_field": "name of a field",
    "chemotactic_index": "a weight in [0, 1]",
    "regions": "names of regions",
}


@pytest.fixture(scope="module")
def text() -> str:
    return render_model_doc()


def _split(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [c.strip() for c in cells[1:-1]]


def _parameter_table_rows(markdown: str) -> list[list[str]]:
    """Data rows of every table whose header is PARAMETER_TABLE_HEADER."""
    rows, inside = [], False
    header = _split(PARAMETER_TABLE_HEADER)
    for line in markdown.splitlines():
        if line.startswith("|") and _split(line) == header:
            inside = True
            continue
        if inside and line.startswith("|"):
            if set(line.replace("|", "").strip()) <= {"-", ":", " "}:
                continue
            rows.append(_split(line))
        else:
            inside = False
    return rows


# ------------------------------------------------------------------------------- (a) current
def test_docs_model_md_is_generated_from_the_code(text):
    assert DOC.exists(), f"docs/model.md is missing: run `{COMMAND}`"
    current = DOC.read_text(encoding="utf-8")
    assert current == text, f"docs/model.md is out of date with the code: run `{COMMAND}`"


def test_rendering_is_deterministic(text):
    assert render_model_doc() == text


def test_check_option_reports_a_stale_file(tmp_path):
    script = ROOT / "scripts" / "make_model_doc.py"
    result = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, cwd=tmp_path
    )
    current = DOC.exists() and DOC.read_text(encoding="utf-8") == render_model_doc()
    assert result.returncode == (0 if current else 1), result.stderr
    if not current:
        assert COMMAND in result.stderr


# --------------------------------------------------------------------------- (b) sources
def test_every_parameter_row_has_a_source(text):
    rows = _parameter_table_rows(text)
    assert len(rows) == len(parameter_rows())
    for row in rows:
        assert len(row) == 4, row
        key, _, _, source = row
        assert source, f"no source for {key}"


def test_every_immune_type_and_field_appears_in_the_tables(text):
    keys = [row[0].strip("`") for row in _parameter_table_rows(text)]
    for name in vocab.IMMUNE_TYPES:
        assert any(k.startswith(f"immune.types.{name}.") for k in keys), name
    for field_id in vocab.FIELD_IDS:
        assert any(k.startswith(f"fields.{field_id}.") for k in keys), field_id


def test_every_default_has_its_own_source_not_only_a_section_source():
    for row in parameter_rows():
        key = row.key.replace("fields.*.", f"fields.{vocab.FIELD_IDS[0]}.")
        for species in ("human", "mouse"):
            assert source_for(key, species, fallback=False), f"{species} {row.key}"


def test_every_rule_group_has_a_source():
    for cell_type, behaviour in rule_groups():
        for species in ("human", "mouse"):
            key = f"rules.{cell_type}.{behaviour}"
            assert source_for(key, species, fallback=False), f"{species} {key}"


def test_sources_start_with_their_status_and_cite_known_keys():
    statuses = ("V", "U", "BIOLOGY.md", "calibrated", "derived", "model choice", "run setting")
    for key, source in PARAMETER_SOURCES.items():
        assert source.startswith(statuses), key
        assert "mouse." not in key or key.startswith("mouse."), key
    assert set(REFERENCES) >= {"Butler10", "Kolbinger17", "W85"}


def test_source_lookup_prefers_exact_then_wildcard_then_section():
    exact = source_for("immune.types.neutrophil.speed_um_per_min")
    assert exact.startswith("V: Butler10")
    assert (
        source_for("immune.types.macrophage_m1.speed_um_per_min")
        == PARAMETER_SOURCES["immune.types.*.speed_um_per_min"]
    )
    assert source_for("rules.keratinocyte.nothing_like_this") == defaults.SOURCES["rules"]
    assert source_for("rules.keratinocyte.nothing_like_this", fallback=False) == ""
    mouse = source_for("keratinocyte.cycle_time_h", "mouse")
    assert mouse == defaults.SOURCES["mouse.keratinocyte.cycle_time_h"]


# ------------------------------------------------------------------------------- (c) units
def test_every_parameter_key_names_its_unit_or_is_known_to_be_unitless(text):
    for key, *_ in _parameter_table_rows(text):
        name = key.strip("`").split(".")[-1]
        if name in UNITLESS_KEYS:
            continue
        assert UNIT_TOKENS & set(name.split("_")), f"{key} has no unit in its name"


# --------------------------------------------------------------------------- the narrative
def test_every_default_rule_and_vocabulary_entry_is_listed(text):
    rules = defaults.profile_defaults("human")["rules"]
    assert f"The {len(rules)} default rules" in text
    for name in (*vocab.CELL_TYPES, *vocab.EVENT_KINDS, *vocab.POPULATIONS):
        assert f"`{name}`" in text, name
    assert "{{" not in text and "}}" not in text


def test_the_doc_names_the_engine_steps_in_order(text):
    steps = re.findall(r"^\s*\d+\. (\w+)", text.split("```text", 1)[1].split("```", 1)[0], re.M)
    assert steps[:3] == ["sense", "fields", "cycle"]
    assert "immune" in steps and steps[-2:] == ["events", "measure"]
