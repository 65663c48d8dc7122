"""Sweep report: parameter–metric plots with spread over replicates and sensitivity indices.

:func:`write_report` reads a sweep directory (``results.parquet`` and ``sweep.json``) and writes

* ``<html>``: one self-contained page (plotly.js inlined, no network needed to view it) with
  a parameter–metric (dose–response) plot per metric and parameter: the mean over replicate
  seeds at each design point with ±1 SD bars (one line per value of the other parameter in a
  two-parameter grid), plus Morris μ*/σ or Sobol' S1/ST bar charts with confidence intervals
  when the design is a Morris or Sobol' design;
* ``<stem>_summary.csv``: per design point, each metric's mean, SD, n (done rows) and failures;
* ``<stem>_sensitivity.csv``: the indices drawn in the bar charts, with their confidence
  half-widths.

Sensitivity indices are computed by SALib on the mean over replicates at each design point
(replicates share seeds across points, so the differences between points are not seed noise).
Morris elementary effects are per full parameter range (the design lives in the unit cube;
log-scaled parameters are uniform in log10).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["sensitivity", "summarise", "write_report"]


def _manifest(directory: Path) -> dict[str, Any]:
    path = directory / "sweep.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: not a sweep directory (run `mscabm sweep -o {directory}`)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def summarise(table, manifest: dict[str, Any]):
    """Per design point: parameter values and each metric's mean, SD, n and failed rows.

    Parameters
    ----------
    table
        The results table.
    manifest
        ``sweep.json`` of the sweep.

    Returns
    -------
    pandas.DataFrame
        One line per design point.
    """
    import pandas as pd

    names = [p["path"] for p in manifest["parameters"]]
    metrics = manifest["metrics"]
    records = []
    for point, group in table.groupby("point", sort=True):
        done = group[group["status"] == "done"]
        record: dict[str, Any] = {"point": int(point)}
        for name in names:
            record[name] = group[name].iloc[0]
        record["n_done"] = len(done)
        record["n_failed"] = int((group["status"] == "failed").sum())
        for metric in metrics:
            values = done[metric].to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            record[f"{metric}_mean"] = float(np.mean(finite)) if finite.size else np.nan
            record[f"{metric}_sd"] = float(np.std(finite, ddof=1)) if finite.size > 1 else np.nan
            record[f"{metric}_n"] = int(finite.size)
        records.append(record)
    return pd.DataFrame.from_records(records)


def sensitivity(summary, manifest: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Morris or Sobol' indices of every metric, when the design is one.

    Parameters
    ----------
    summary
        Output of :func:`summarise`.
    manifest
        ``sweep.json`` of the sweep (holds the unit-cube design).

    Returns
    -------
    rows : list of dict
        ``metric, method, parameter, index, value, conf`` (conf: half-width of the interval at
        the design's ``conf_level``, default 0.95).
    notes : list of str
        Why an index was not computed.
    """
    sampler = manifest["sampler"]
    if sampler not in ("morris", "sobol"):
        return [], []
    names = [p["path"] for p in manifest["parameters"]]
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    design = manifest.get("design", {})
    unit = np.asarray(manifest["unit_design"], dtype=float)
    conf_level = float(design.get("conf_level", 0.95))
    num_resamples = int(design.get("num_resamples", 1000))
    out: list[dict[str, Any]] = []
    notes: list[str] = []
    for metric in manifest["metrics"]:
        y = summary.sort_values("point")[f"{metric}_mean"].to_numpy(dtype=float)
        if y.size != unit.shape[0] or not np.all(np.isfinite(y)):
            missing = int(np.sum(~np.isfinite(y)))
            notes.append(
                f"{metric}: {sampler} indices not computed ({missing} of {unit.shape[0]} design "
                "points have no finite value: failed or pending rows)"
            )
            continue
        if sampler == "morris":
            from SALib.analyze import morris

            result = morris.analyze(
                problem,
                unit,
                y,
                num_resamples=num_resamples,
                conf_level=conf_level,
                num_levels=int(design.get("levels", 4)),
                seed=int(design.get("seed", 0)),
            )
            for i, name in enumerate(names):
                out.append(
                    _index(
                        metric,
                        "morris",
                        name,
                        "mu_star",
                        result["mu_star"][i],
                        result["mu_star_conf"][i],
                    )
                )
                out.append(_index(metric, "morris", name, "sigma", result["sigma"][i], np.nan))
                out.append(_index(metric, "morris", name, "mu", result["mu"][i], np.nan))
        else:
            from SALib.analyze import sobol

            result = sobol.analyze(
                problem,
                y,
                calc_second_order=bool(design.get("calc_second_order", False)),
                num_resamples=num_resamples,
                conf_level=conf_level,
                seed=int(design.get("seed", 0)),
            )
            for i, name in enumerate(names):
                out.append(
                    _index(metric, "sobol", name, "S1", result["S1"][i], result["S1_conf"][i])
                )
                out.append(
                    _index(metric, "sobol", name, "ST", result["ST"][i], result["ST_conf"][i])
                )
    return out, notes


def _index(metric, method, parameter, index, value, conf) -> dict[str, Any]:
    return {
        "metric": metric,
        "method": method,
        "parameter": parameter,
        "index": index,
        "value": float(value),
        "conf": float(conf),
    }


def write_report(directory: str | Path, output: str | Path, *, force: bool = False) -> list[Path]:
    """Write the HTML report and its CSV files.

    Parameters
    ----------
    directory
        A sweep directory.
    output
        The HTML file; the CSV files go beside it (``<stem>_summary.csv``,
        ``<stem>_sensitivity.csv``).
    force
        Replace those files when they exist (``mscabm sweep`` rewrites its own report).

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    FileExistsError
        If one of the files exists and ``force`` is false (nothing is written then).
    """
    import pandas as pd
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

    from mscabm.sweep.store import read_results

    directory, output = Path(directory), Path(output)
    summary_csv = output.with_name(f"{output.stem}_summary.csv")
    sensitivity_csv = output.with_name(f"{output.stem}_sensitivity.csv")
    existing = [path for path in (output, summary_csv, sensitivity_csv) if path.exists()]
    if existing and not force:
        raise FileExistsError(
            f"{existing[0]}: already exists; use --force to replace the report and its CSV "
            "files, or choose another -o"
        )
    manifest = _manifest(directory)
    table = read_results(directory)
    summary = summarise(table, manifest)
    indices, notes = sensitivity(summary, manifest)
    output.parent.mkdir(parents=True, exist_ok=True)
    summary.to_csv(summary_csv, index=False)
    pd.DataFrame(
        indices, columns=["metric", "method", "parameter", "index", "value", "conf"]
    ).to_csv(sensitivity_csv, index=False)

    names = [p["path"] for p in manifest["parameters"]]
    figures: list[tuple[str, Any]] = []
    for metric in manifest["metrics"]:
        for name in names:
            figures.append(
                (f"{metric} against {name}", _response_figure(go, summary, names, name, metric))
            )
        if indices:
            figures.append(
                (
                    f"{metric}: {manifest['sampler']} indices",
                    _index_figure(go, indices, metric, manifest["sampler"]),
                )
            )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Sweep {html.escape(str(manifest['name']))}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
        "font-size:90%}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        f"<h1>Sweep {html.escape(str(manifest['name']))}</h1>",
        _overview(table, manifest),
    ]
    for note in notes:
        parts.append(f"<p class='note'><b>Note:</b> {html.escape(note)}</p>")
    if indices:
        parts.append(_index_table(indices))
    for title, figure in figures:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(figure.to_html(full_html=False, include_plotlyjs=False))
    failed = table[table["status"] == "failed"]
    if len(failed):
        parts.append("<h2>Failed rows</h2>")
        parts.append(failed[["row", "point", "replicate", "seed", "error"]].to_html(index=False))
    parts.append("</body></html>")
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(output)
    return [output, summary_csv, sensitivity_csv]


def _overview(table, manifest) -> str:
    counts = table["status"].value_counts().to_dict()
    seeds = ", ".join(manifest["seeds"])
    return (
        f"<p>{len(table)} rows = {manifest['n_points']} design points "
        f"({html.escape(manifest['sampler'])}) × {manifest['replicates']} replicate seeds "
        f"(common to every point: {html.escape(seeds)}; root entropy "
        f"{html.escape(manifest['root_entropy'])}). Scenario "
        f"<code>{html.escape(Path(manifest['scenario']).name)}</code>. Status: "
        + ", ".join(f"{html.escape(str(k))} {v}" for k, v in sorted(counts.items()))
        + ". Points are means over replicates, bars ±1 SD.</p>"
    )


def _response_figure(go, summary, names, name, metric):
    figure = go.Figure()
    others = [n for n in names if n != name]
    groups = [((), summary)]
    if len(others) == 1 and summary[others[0]].nunique() <= 8:
        groups = [((v,), g) for v, g in summary.groupby(others[0], sort=True)]
    for key, group in groups:
        group = group.sort_values(name)
        label = f"{others[0]} = {key[0]}" if key else "all points"
        lines = "lines+markers" if group[name].nunique() == len(group) else "markers"
        figure.add_trace(
            go.Scatter(
                x=group[name],
                y=group[f"{metric}_mean"],
                error_y={"type": "data", "array": group[f"{metric}_sd"].fillna(0.0)},
                mode=lines,
                name=label,
            )
        )
    x = pd_numeric(summary[name])
    if x is not None and np.all(x > 0) and x.max() >= 10 * x.min():
        figure.update_xaxes(type="log")  # doses and rates spread over decades
    figure.update_layout(
        xaxis_title=name,
        yaxis_title=f"{metric} (mean ± SD over seeds)",
        height=380,
        margin={"t": 30},
    )
    return figure


def pd_numeric(values) -> np.ndarray | None:
    """The values as floats, or None when they are not all numbers."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return None
    return array if np.all(np.isfinite(array)) else None


def _index_figure(go, indices, metric, sampler):
    rows = [r for r in indices if r["metric"] == metric]
    figure = go.Figure()
    kinds = ("mu_star", "sigma") if sampler == "morris" else ("S1", "ST")
    for kind in kinds:
        chosen = [r for r in rows if r["index"] == kind]
        conf = [0.0 if not np.isfinite(r["conf"]) else r["conf"] for r in chosen]
        figure.add_trace(
            go.Bar(
                x=[r["parameter"] for r in chosen],
                y=[r["value"] for r in chosen],
                error_y={"type": "data", "array": conf},
                name={"mu_star": "μ*", "sigma": "σ"}.get(kind, kind),
            )
        )
    figure.update_layout(
        barmode="group",
        height=360,
        margin={"t": 30},
        yaxis_title="index (bars: confidence interval)",
    )
    return figure


def _conf_text(conf: float) -> str:
    return f"{conf:.3g}" if np.isfinite(conf) else "–"


def _index_table(indices) -> str:
    head = "<tr><th>metric</th><th>method</th><th>parameter</th><th>index</th>"
    head += "<th>value</th><th>± conf</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(r['metric'])}</td><td>{r['method']}</td>"
        f"<td>{html.escape(r['parameter'])}</td><td>{r['index']}</td>"
        f"<td>{r['value']:.4g}</td><td>{_conf_text(r['conf'])}</td></tr>"
        for r in indices
    )
    return f"<h2>Sensitivity indices</h2><table>{head}{body}</table>"
