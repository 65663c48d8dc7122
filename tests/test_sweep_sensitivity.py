"""Morris and Sobol' designs on the simulator itself, with common random numbers.

Metric: the mean TGF-β level of the viable epidermis after 0.1 day of healthy mouse skin
(0.1 mm section), where keratinocytes secrete TGF-β constitutively. Three parameters whose
effect on it follows from the transport equations (DESIGN.md principle 4):

* large: ``fields.tgfb.half_life_min`` (15-60 min). With a steady source the level scales with
  the inverse decay rate: a 4× range of half-lives moves the level by tens of per cent.
* small but nonzero: ``fields.tgfb.stratum_corneum_half_life_min`` (120-480 min). Decay in the
  stratum corneum touches only the TGF-β that diffuses into that thin, low-diffusion barrier,
  and the viable epidermis sees it only through the small flux back (measured: μ* ≈ 1 % of the
  half-life's).
* none: ``immune.lymph_node.priming_delay_days`` (3-5 days). Primed T cells return from the
  lymph node only after the delay, so nothing in a 0.1-day run depends on it; with the same
  seed at every design point the runs are identical and its indices are exactly 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from test_sweep import RUNNER, require

from mscabm.cli import app

SWEEP = """\
name: {sampler}_tgfb
scenario: healthy_mouse
days: 0.1
overrides: {{geometry.width_um: 100, time.frame_interval_days: 0.1}}
parameters:
  fields.tgfb.half_life_min: {{low: 15, high: 60}}
  fields.tgfb.stratum_corneum_half_life_min: {{low: 120, high: 480}}
  immune.lymph_node.priming_delay_days: {{low: 3, high: 5}}
design: {{sampler: {sampler}, n: {n}, seed: 11}}
replicates: {{count: 1, root_entropy: 20261203}}
metrics:
  tgfb_epidermis: {{series: mean_tgfb_epidermis}}
"""
LARGE, SMALL, NONE = (
    "fields.tgfb.half_life_min",
    "fields.tgfb.stratum_corneum_half_life_min",
    "immune.lymph_node.priming_delay_days",
)


def _run(tmp_path, sampler: str, n: int) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    path = tmp_path / f"{sampler}.yaml"
    path.write_text(SWEEP.format(sampler=sampler, n=n))
    out = tmp_path / sampler
    result = RUNNER.invoke(app, ["sweep", str(path), "-o", str(out), "--workers", "2", "-q"])
    assert result.exit_code == 0, result.output
    report = RUNNER.invoke(app, ["sweep-report", str(out), "-o", str(out / "sweep.html")])
    assert report.exit_code == 0, report.output
    table = pd.read_parquet(out / "results.parquet")
    indices = pd.read_csv(out / "sweep_sensitivity.csv")
    return table, indices, (out / "sweep.html").read_text()


def _index(indices: pd.DataFrame, parameter: str, name: str) -> tuple[float, float]:
    line = indices[(indices["parameter"] == parameter) & (indices["index"] == name)]
    return float(line["value"].item()), float(line["conf"].item())


def test_morris_ranks_large_small_and_no_effect(tmp_path):
    require("SALib")
    require("distributed")
    table, indices, page = _run(tmp_path, "morris", 2)  # 2 trajectories × 4 points
    assert len(table) == 8 and table["seed"].nunique() == 1  # common random numbers
    large, large_conf = _index(indices, LARGE, "mu_star")
    small, _ = _index(indices, SMALL, "mu_star")
    none, _ = _index(indices, NONE, "mu_star")
    assert large > 10 * small > 0
    assert none == 0.0 and _index(indices, NONE, "sigma")[0] == 0.0
    assert np.isfinite(large_conf)
    assert "tgfb_epidermis: morris indices" in page
    assert f"<td>{LARGE}</td><td>mu_star</td>" in page


def test_sobol_ranks_large_small_and_no_effect(tmp_path):
    require("SALib")
    require("distributed")
    table, indices, page = _run(tmp_path, "sobol", 4)  # N = 4: N × (k + 2) = 20 points
    assert len(table) == 20 and table["seed"].nunique() == 1
    st_large, st_large_conf = _index(indices, LARGE, "ST")
    st_small, _ = _index(indices, SMALL, "ST")
    st_none, _ = _index(indices, NONE, "ST")
    assert st_large > 10 * st_small > 0
    assert st_none == 0.0 and _index(indices, NONE, "S1")[0] == 0.0
    assert st_large > 0.5 and np.isfinite(st_large_conf)
    assert "tgfb_epidermis: sobol indices" in page and f"<td>{SMALL}</td><td>ST</td>" in page
