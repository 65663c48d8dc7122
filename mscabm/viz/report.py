"""A self-contained HTML report of one or more runs (``mscabm report``).

The report is one HTML file with plotly.js inlined: it opens from disk with no network and no
server. It holds, per run, an animation of the tissue map and one field (play/pause and a
frame slider), then the time series of all runs (with differences from the first run), then
each run's provenance (version, seed, scenario, platform) and resolved scenario.

A full-resolution animation costs about 0.4 MB per frame per field as float JSON; frames here
are quantised PNG images, far smaller, and the report still keeps under a size limit (default
20 MB) by keeping fewer frames first (never fewer than :data:`MIN_FRAMES` while there are that
many) and then coarser space (every 2nd, 4th, ... voxel; fields averaged over the blocks,
tissue codes sampled, mobile cells and NETs kept at their exact positions). The report says
what it kept.
"""

from __future__ import annotations

import html
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from mscabm._version import __version__
from mscabm.viz.figures import (
    FieldView,
    default_series,
    field_figure,
    field_scale,
    timeseries_figure,
    tissue_figure,
)
from mscabm.viz.reader import FrameReader, SliceSpec, open_reader
from mscabm.viz.render import (
    NET_STYLE,
    FieldScale,
    colourscale,
    field_to_rgb,
    mobile_style,
    png_data_uri,
    tissue_colour,
    tissue_to_rgb,
)

__all__ = ["MIN_FRAMES", "ReportError", "ReportSummary", "export_images", "write_report"]

#: Fewest frames an animation keeps before space is coarsened instead.
MIN_FRAMES = 24
_DEFAULT_FIELDS = ("il17a", "cxcl8", "tnfa")
_DEFAULT_MAX_MB = 20.0
_SAMPLE_FRAMES = 4
_IMAGE_LEVEL = 9


class ReportError(Exception):
    """A report that cannot be written as asked (the message says why and what to do)."""


@dataclass
class KeptFrames:
    """What one run's animation keeps."""

    frames: list[int]
    space_stride: int
    n_frames_total: int
    shape_total: tuple[int, int]

    def describe(self) -> str:
        """One sentence on what was kept."""
        count, total = len(self.frames), self.n_frames_total
        if total == 0:
            return "no complete frame"
        every = ""
        if count < total and count > 1:
            every = f", about every {max(1, round((total - 1) / (count - 1)))} frames"
        rows, columns = self.shape_total
        if self.space_stride > 1:
            kept_rows = math.ceil(rows / self.space_stride)
            kept_columns = math.ceil(columns / self.space_stride)
            space = (
                f"1 voxel in {self.space_stride} along each axis ({kept_rows} × {kept_columns} "
                f"of {rows} × {columns}; fields averaged over {self.space_stride} × "
                f"{self.space_stride} blocks; mobile cells and NETs at full resolution)"
            )
        else:
            space = f"full spatial resolution ({rows} × {columns})"
        return f"{count} of {total} frames{every}; {space}"


@dataclass
class ReportSummary:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    path : pathlib.Path
        The HTML file.
    size_bytes : int
        Its size.
    max_bytes : int
        The size limit it was kept under.
    kept : list of str
        Per run, what the animation kept (frames and spatial resolution).
    field_id : str or None
        The field animated.
    images : list of pathlib.Path
        Image files exported with `png_dir`.
    """

    path: Path
    size_bytes: int
    max_bytes: int
    kept: list[str]
    field_id: str | None
    images: list[Path] = field(default_factory=list)


def _pick_frames(n_frames: int, count: int) -> list[int]:
    if n_frames <= 0:
        return []
    count = max(1, min(n_frames, count))
    return sorted({round(float(i)) for i in np.linspace(0, n_frames - 1, count)})


def _downsample_codes(values: np.ndarray, stride: int) -> np.ndarray:
    return values[::stride, ::stride] if stride > 1 else values


def _downsample_field(values: np.ndarray, stride: int) -> np.ndarray:
    if stride <= 1:
        return values
    rows, columns = values.shape
    padded_rows, padded_columns = -(-rows // stride) * stride, -(-columns // stride) * stride
    padded = np.full((padded_rows, padded_columns), np.nan, dtype=np.float64)
    padded[:rows, :columns] = values
    blocks = padded.reshape(padded_rows // stride, stride, padded_columns // stride, stride)
    return np.nanmean(blocks, axis=(1, 3))


@dataclass
class _RunFrames:
    """Rendered frames of one run's animation."""

    reader: FrameReader
    kept: KeptFrames
    tissue_uris: list[str]
    field_uris: list[str]
    markers: list[dict[str, tuple[np.ndarray, np.ndarray]]]
    scale: FieldScale | None

    @property
    def n_bytes(self) -> int:
        marker_bytes = sum(40 + 16 * len(x) for frame in self.markers for x, _y in frame.values())
        return sum(map(len, self.tissue_uris)) + sum(map(len, self.field_uris)) + marker_bytes


def _render_frames(
    reader: FrameReader,
    view: FieldView | None,
    frames: list[int],
    stride: int,
    plane: SliceSpec,
    scale: FieldScale | None,
) -> _RunFrames:
    tissue_uris, field_uris, markers = [], [], []
    voxel = reader.voxel_um
    shown_rows = reader.shown_shape(plane)[0]
    for frame in frames:
        tissue = _downsample_codes(reader.layer("tissue", frame, plane)[:shown_rows], stride)
        tissue_uris.append(
            png_data_uri(tissue_to_rgb(tissue, reader.tissue_codes), level=_IMAGE_LEVEL)
        )
        if view is not None and scale is not None:
            values = _downsample_field(
                reader.field(view.field_id, frame, plane)[:shown_rows], stride
            )
            field_uris.append(
                png_data_uri(field_to_rgb(values, scale, view.colourmap), level=_IMAGE_LEVEL)
            )
        frame_markers: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        mobile = reader.layer("mobile", frame, plane)[:shown_rows]
        rows, columns = np.nonzero(mobile)
        codes = mobile[rows, columns]
        for code in np.unique(codes).tolist():
            chosen = codes == code
            name = reader.mobile_codes.get(code, f"code {code}")
            frame_markers[name] = (
                ((columns[chosen] + 0.5) * voxel).astype(np.float32),
                ((rows[chosen] + 0.5) * voxel).astype(np.float32),
            )
        net_rows, net_columns = np.nonzero(reader.layer("net", frame, plane)[:shown_rows])
        if net_rows.size:
            frame_markers["NET"] = (
                ((net_columns + 0.5) * voxel).astype(np.float32),
                ((net_rows + 0.5) * voxel).astype(np.float32),
            )
        markers.append(frame_markers)
    kept = KeptFrames(frames, stride, reader.n_frames, reader.shown_shape(plane))
    return _RunFrames(reader, kept, tissue_uris, field_uris, markers, scale)


def _fixed_scale(
    reader: FrameReader, view: FieldView | None, frames: list[int], plane: SliceSpec
) -> FieldScale | None:
    if view is None:
        return None
    if reader.is_3d:  # the run range of the whole block, not of the plane
        return field_scale(reader, view, reader.field(view.field_id, frames[-1], plane))
    low, high = math.inf, -math.inf
    for frame in frames:
        values = reader.field(view.field_id, frame, plane)
        finite = values[np.isfinite(values)]
        if view.log:
            finite = finite[finite > 0]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return FieldScale.of_range(low, high, log=view.log)


def _plan_run(
    reader: FrameReader,
    view: FieldView | None,
    plane: SliceSpec,
    budget_bytes: float,
    scale: FieldScale | None,
) -> _RunFrames:
    """Render a run's animation with as many frames and as fine space as the budget allows."""
    stride = 1
    largest = max(reader.shown_shape(plane))
    while True:
        sample = _render_frames(
            reader, view, _pick_frames(reader.n_frames, _SAMPLE_FRAMES), stride, plane, scale
        )
        per_frame = sample.n_bytes / max(1, len(sample.kept.frames))
        affordable = int(budget_bytes // max(per_frame, 1.0))
        floor = min(MIN_FRAMES, reader.n_frames)
        if affordable >= floor or stride >= largest:
            count = max(1, min(reader.n_frames, affordable))
            rendered = _render_frames(
                reader, view, _pick_frames(reader.n_frames, count), stride, plane, scale
            )
            # estimates from a sample can be low: drop frames until the budget holds
            while rendered.n_bytes > budget_bytes and len(rendered.kept.frames) > 1:
                count = max(1, int(len(rendered.kept.frames) * 0.8))
                rendered = _render_frames(
                    reader, view, _pick_frames(reader.n_frames, count), stride, plane, scale
                )
            return rendered
        stride *= 2


def _animation_figure(run: _RunFrames, view: FieldView | None, plane: SliceSpec) -> go.Figure:
    reader = run.reader
    stride = run.kept.space_stride
    voxel = reader.voxel_um
    rows, columns = reader.shown_shape(plane)
    info = reader.field_info(view.field_id) if view is not None else None
    n_columns = 2 if info is not None else 1
    titles = ["tissue, mobile cells, NETs"]
    if info is not None:
        titles.append(
            f"{info.display_name} ({info.units or 'no units'}, {'log' if view.log else 'linear'})"
        )
    fig = make_subplots(rows=1, cols=n_columns, subplot_titles=titles, horizontal_spacing=0.12)
    image_options = {
        "x0": 0.5 * voxel * stride,
        "y0": 0.5 * voxel * stride,
        "dx": voxel * stride,
        "dy": voxel * stride,
        "hoverinfo": "none",
    }
    fig.add_trace(go.Image(source=run.tissue_uris[0], name="tissue", **image_options), 1, 1)
    animated = [0]
    if info is not None:
        fig.add_trace(go.Image(source=run.field_uris[0], name=info.id, **image_options), 1, 2)
        animated.append(1)
        cmin, cmax, tick_values, tick_labels = run.scale.colourbar_ticks()
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                showlegend=False,
                hoverinfo="none",
                marker={
                    "colorscale": colourscale(view.colourmap),
                    "cmin": cmin,
                    "cmax": cmax,
                    "color": [cmin],
                    "showscale": True,
                    "colorbar": {
                        "title": {"text": info.units or "", "side": "right"},
                        "tickvals": tick_values,
                        "ticktext": tick_labels,
                        "thickness": 12,
                        "x": 1.0,
                        "len": 0.8,
                    },
                },
            ),
            1,
            2,
        )
    # legend swatches of the tissue codes the kept frames show (static traces)
    seen_codes: set[int] = set()
    for frame in run.kept.frames:
        seen_codes.update(np.unique(reader.layer("tissue", frame, plane)).tolist())
    for code in sorted(seen_codes):
        name = reader.tissue_codes.get(code, f"code {code}")
        if name == "air":
            continue
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker={"symbol": "square", "size": 10, "color": tissue_colour(name, code)},
                name=name.replace("_", " "),
                legendgroup="tissue",
                legendgrouptitle_text="tissue",
            ),
            1,
            1,
        )
    # one marker trace per mobile type (and NETs) seen in any kept frame; frames fill them
    marker_names = sorted({name for frame in run.markers for name in frame if name != "NET"})
    if any("NET" in frame for frame in run.markers):
        marker_names.append("NET")
    codes_by_name = {name: code for code, name in reader.mobile_codes.items()}
    marker_size = float(np.clip(500.0 / max(rows, columns), 3.0, 8.0))
    first_marker_trace = len(fig.data)
    for name in marker_names:
        style = NET_STYLE if name == "NET" else mobile_style(name, codes_by_name.get(name, 0))
        x, y = run.markers[0].get(name, (np.empty(0), np.empty(0)))
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                name=name.replace("_", " "),
                marker={
                    "symbol": style.symbol,
                    "color": style.colour,
                    "size": marker_size,
                    "line": {"width": 1, "color": style.colour},
                },
                legendgroup="net" if name == "NET" else "mobile",
                legendgrouptitle_text="NETs" if name == "NET" else "mobile cells",
                hovertemplate=f"{name}<br>x %{{x:.0f}} µm<br>z %{{y:.0f}} µm<extra></extra>",
            ),
            1,
            1,
        )
    marker_traces = list(range(first_marker_trace, len(fig.data)))
    frames = []
    for position, frame in enumerate(run.kept.frames):
        data: list[Any] = [go.Image(source=run.tissue_uris[position])]
        if info is not None:
            data.append(go.Image(source=run.field_uris[position]))
        for name in marker_names:
            x, y = run.markers[position].get(name, (np.empty(0), np.empty(0)))
            data.append(go.Scatter(x=x, y=y))
        frames.append(
            go.Frame(
                data=data,
                traces=animated + marker_traces,
                name=str(frame),
                layout={"title": {"text": _frame_title(reader, frame)}},
            )
        )
    fig.frames = frames
    step_args = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}
    fig.update_layout(
        title={"text": _frame_title(reader, run.kept.frames[0]), "font": {"size": 14}},
        height=int(min(700, max(300, 520 * rows / columns + 200))),
        margin={"l": 60, "r": 200, "t": 70, "b": 110},
        plot_bgcolor="white",
        legend={"font": {"size": 9}, "itemsizing": "constant", "x": 1.1, "y": 1.0},
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "x": 0.0,
                "y": -0.12,
                "xanchor": "left",
                "yanchor": "top",
                "showactive": False,
                "buttons": [
                    {
                        "label": "▶ play",
                        "method": "animate",
                        "args": [
                            None,
                            {
                                "mode": "immediate",
                                "fromcurrent": True,
                                "frame": {"duration": 400, "redraw": True},
                                "transition": {"duration": 0},
                            },
                        ],
                    },
                    {
                        "label": "❚❚ pause",
                        "method": "animate",
                        "args": [[None], {**step_args, "transition": {"duration": 0}}],
                    },
                ],
            }
        ],
        sliders=[
            {
                "active": 0,
                "x": 0.18,
                "y": -0.12,
                "len": 0.8,
                "yanchor": "top",
                "currentvalue": {"prefix": "day "},
                "steps": [
                    {
                        "label": f"{reader.time_days[frame]:.2f}",
                        "method": "animate",
                        "args": [[str(frame)], step_args],
                    }
                    for frame in run.kept.frames
                ],
            }
        ],
    )
    extent = [0, columns * voxel], [0, rows * voxel]
    x_title, y_title = ("x (µm)", "height (µm)")
    if reader.is_3d:
        names = {"z": "height (µm)", "y": "y (µm)", "x": "x (µm)"}
        row_dim, column_dim = reader.plane_dims(plane)
        x_title, y_title = names[column_dim], names[row_dim]
    for column in range(1, n_columns + 1):
        fig.update_xaxes(
            range=extent[0], title=x_title, showgrid=False, constrain="domain", row=1, col=column
        )
        fig.update_yaxes(
            range=extent[1],
            autorange=False,
            title=y_title,
            showgrid=False,
            scaleanchor=f"x{'' if column == 1 else column}",
            constrain="domain",
            row=1,
            col=column,
        )
    return fig


def _frame_title(reader: FrameReader, frame: int) -> str:
    return (
        f"{reader.name} · frame {frame} / {reader.n_frames - 1} · day {reader.time_days[frame]:.2f}"
    )


def _provenance_table(reader: FrameReader) -> str:
    attrs = reader.attrs
    platform = attrs.get("platform") or {}
    rows = [
        ("file", str(reader.path)),
        ("scenario", attrs.get("scenario_name", "")),
        ("seed", attrs.get("seed", "")),
        ("mscabm version", attrs.get("mscabm_version", "")),
        ("run-file schema", attrs.get("schema_version", "")),
        ("git commit", attrs.get("git_commit") or "unknown"),
        ("created", attrs.get("created", "")),
        ("status", attrs.get("status", "")),
        ("lattice", " × ".join(f"{d} {n}" for d, n in zip(reader.dims, reader.shape, strict=True))),
        ("voxel", f"{reader.voxel_um:g} µm"),
        ("frames", f"{reader.n_frames} (days {reader.time_days[0]:g}–{reader.time_days[-1]:g})"
         if reader.n_frames else "0"),
        ("fields", ", ".join(f.display_name for f in reader.fields)),
        ("platform", ", ".join(f"{k} {v}" for k, v in platform.items() if k in
                               ("python", "numpy", "h5py", "system", "machine", "cpu"))),
    ]  # fmt: skip
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table class='prov'>{body}</table>"


def _events_table(reader: FrameReader) -> str:
    if reader.events.empty:
        return "<p>No scheduled events.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in reader.events.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in reader.events.itertuples(index=False)
    )
    return f"<table class='events'><tr>{head}</tr>{body}</table>"


_STYLE = """
body { font-family: sans-serif; margin: 16px; max-width: 1300px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
pre { background: #f6f6f6; padding: 8px; max-height: 400px; overflow: auto; font-size: 12px; }
.kept { background: #fff8e0; padding: 6px; border: 1px solid #e6d690; }
"""


def _assemble(
    readers: Sequence[FrameReader],
    runs: Sequence[_RunFrames],
    view_by_run: Sequence[FieldView | None],
    planes: Sequence[SliceSpec],
    series: Sequence[str],
    max_bytes: int,
) -> str:
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>mscabm report: {html.escape(', '.join(r.name for r in readers))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>mscabm report</h1><p>Written by mscabm {html.escape(__version__)} for "
        f"{len(readers)} run(s). This file is self-contained (plotly.js inlined) and needs no "
        "network or server.</p>",
    ]
    plotly_included = False

    def figure_html(fig: go.Figure, div_id: str) -> str:
        nonlocal plotly_included
        text = pio.to_html(
            fig,
            include_plotlyjs=not plotly_included,
            full_html=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
            auto_play=False,
        )
        plotly_included = True
        return text

    for index, (reader, run) in enumerate(zip(readers, runs, strict=True)):
        plane = planes[index]
        view = view_by_run[index]
        slice_text = f" Slice {plane.axis} = {plane.index}." if reader.is_3d else ""
        parts.append(f"<h2>Run {index + 1}: {html.escape(reader.name)}</h2>")
        if run.kept.frames:
            parts.append(
                f"<p class='kept'>Animation keeps {html.escape(run.kept.describe())}, to stay "
                f"under the report's size limit of {max_bytes / 1e6:.0f} MB.{slice_text}"
                + (
                    f" Field colour range fixed over all frames of all runs: "
                    f"{run.scale.low:.3g}–{run.scale.high:.3g}."
                    if run.scale is not None
                    else " This run has no fields."
                )
                + "</p>"
            )
            parts.append(figure_html(_animation_figure(run, view, plane), f"animation-{index}"))
        else:
            parts.append("<p>This run has no complete frame yet.</p>")
    parts.append("<h2>Time series</h2>")
    if len(readers) > 1:
        parts.append("<p>Right column: each run minus run 1 (interpolated on run 1's times).</p>")
    parts.append(figure_html(timeseries_figure(readers, series), "timeseries"))
    for index, reader in enumerate(readers):
        parts.append(f"<h2>Run {index + 1}: parameters and provenance</h2>")
        parts.append(_provenance_table(reader))
        parts.append("<h3>Events</h3>" + _events_table(reader))
        scenario = str(reader.attrs.get("scenario", ""))
        parts.append(
            "<details><summary>Resolved scenario (all parameters, "
            f"{len(scenario.splitlines())} lines)</summary><pre>{html.escape(scenario)}</pre>"
            "</details>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _check_output(path: Path, force: bool) -> None:
    if path.is_dir():
        raise ReportError(f"{path}: is a directory; give a file name such as report.html")
    if path.exists() and not force:
        raise FileExistsError(
            f"{path}: already exists; use --force to replace it or choose another -o"
        )
    if not path.parent.is_dir():
        raise ReportError(f"{path.parent}: no such directory")


def _write_atomically(path: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp makes the file private (0600); a report is for sharing: the umask's mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_report(
    runs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    field_id: str | None = None,
    log: bool = False,
    series: Sequence[str] | None = None,
    max_mb: float = _DEFAULT_MAX_MB,
    force: bool = False,
    png_dir: str | os.PathLike[str] | None = None,
    image_format: str = "png",
) -> ReportSummary:
    """Write a self-contained HTML report of one or more runs.

    Parameters
    ----------
    runs : sequence of path
        Run files (the first is the reference of the differences).
    output : path
        The HTML file to write.
    field_id : str, optional
        Field to animate beside the tissue (default IL-17A, else the first field).
    log : bool, default False
        Logarithmic colour scale for the field.
    series : sequence of str, optional
        Time series to plot (default: scores, thickness, counts, Th17/Treg, the field's mean).
    max_mb : float, default 20
        Size limit of the HTML file (MB, 10⁶ bytes); frames and then space are thinned to fit.
    force : bool, default False
        Replace an existing `output` (and existing images in `png_dir`).
    png_dir : path, optional
        Also export the figures (last frame of each run, time series) as images there.
    image_format : {"png", "svg"}
        Format of the exported images.

    Returns
    -------
    ReportSummary
        Path, size and what was kept.

    Raises
    ------
    mscabm.io.RunFileError
        If a run file cannot be read.
    FileExistsError
        If `output` (or an exported image) exists and `force` is false.
    ReportError
        If the field is unknown, the limit cannot be met, or images cannot be exported (no
        Chrome/Chromium for kaleido).
    """
    output = Path(output)
    for run in runs:
        if Path(run).resolve() == output.resolve():
            raise ReportError(f"{output}: is one of the runs; the report needs its own -o file")
    _check_output(output, force)
    readers = [open_reader(path) for path in runs]
    if not readers:
        raise ReportError("name at least one run file")
    all_fields = [info.id for reader in readers for info in reader.fields]
    if field_id is None:
        field_id = next((f for f in _DEFAULT_FIELDS if f in all_fields), None) or (
            all_fields[0] if all_fields else None
        )
    elif field_id not in all_fields:
        raise ReportError(f"unknown field {field_id!r}; the runs have {sorted(set(all_fields))}")
    view_by_run = [
        FieldView(field_id, log=log)
        if field_id is not None and field_id in [f.id for f in reader.fields]
        else None
        for reader in readers
    ]
    planes = [reader.default_slice() for reader in readers]
    chosen_series = list(series) if series else default_series(readers, field_id)
    known = {name for reader in readers for name in reader.timeseries.columns}
    unknown = [name for name in chosen_series if name not in known]
    if unknown:
        raise ReportError(
            f"unknown time series {unknown[0]!r}; the runs have {', '.join(sorted(known))}"
        )
    if png_dir is not None:  # before the HTML: a refused export leaves nothing half-written
        _check_images(_image_paths(readers, view_by_run, Path(png_dir), image_format), force)
    max_bytes = int(max_mb * 1e6)
    # fixed costs: plotly.js (~4.7 MB), time series, tables and scenario texts
    fixed = len(_assemble(readers, [_RunFrames(r, KeptFrames([], 1, 0, (1, 1)), [], [], [], None)
                                    for r in readers], view_by_run, planes, chosen_series,
                          max_bytes))  # fmt: skip
    budget = (max_bytes - fixed) * 0.95
    if budget <= 0:
        raise ReportError(
            f"a report of these runs needs at least {fixed / 1e6:.1f} MB without animation; "
            f"raise --max-mb above {math.ceil(fixed / 1e6)}"
        )
    scales = [
        _fixed_scale(reader, view, list(range(reader.n_frames)), plane) if reader.n_frames else None
        for reader, view, plane in zip(readers, view_by_run, planes, strict=True)
    ]
    present = [scale for scale in scales if scale is not None]
    common = (
        FieldScale.of_range(min(s.low for s in present), max(s.high for s in present), log=log)
        if present
        else None
    )
    for _attempt in range(6):
        rendered = [
            _plan_run(reader, view, plane, budget / len(readers), common if view else None)
            if reader.n_frames
            else _RunFrames(reader, KeptFrames([], 1, 0, (1, 1)), [], [], [], None)
            for reader, view, plane in zip(readers, view_by_run, planes, strict=True)
        ]
        text = _assemble(readers, rendered, view_by_run, planes, chosen_series, max_bytes)
        size = len(text.encode("utf-8"))
        if size <= max_bytes:
            break
        budget *= 0.8 * max_bytes / size
    else:
        raise ReportError(f"could not keep the report under {max_mb:g} MB; raise --max-mb")
    _write_atomically(output, text)
    summary = ReportSummary(
        path=output,
        size_bytes=output.stat().st_size,
        max_bytes=max_bytes,
        kept=[run.kept.describe() for run in rendered],
        field_id=field_id,
    )
    if png_dir is not None:
        summary.images = export_images(
            readers, view_by_run, planes, chosen_series, Path(png_dir), image_format, force=force
        )
    return summary


def _import_kaleido_with_plain_argv() -> None:
    """Import kaleido with only the program name in ``sys.argv``.

    kaleido's logging helper (logistro) parses ``sys.argv`` when it is first imported, and exits
    on options it finds ambiguous: ``mscabm report --log`` abbreviates its ``--logistro-level``.
    """
    if "logistro" in sys.modules:
        return
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        import kaleido  # noqa: F401
    finally:
        sys.argv = saved


def _image_paths(
    readers: Sequence[FrameReader],
    views: Sequence[FieldView | None],
    directory: Path,
    image_format: str,
) -> list[Path]:
    """The files :func:`export_images` writes, in the order of its figures."""
    if image_format not in ("png", "svg"):
        raise ReportError(f"image format {image_format!r}: choose png or svg")
    paths = []
    for index, (reader, view) in enumerate(zip(readers, views, strict=True)):
        if reader.n_frames:
            paths.append(directory / f"run{index + 1}_tissue.{image_format}")
            if view is not None:
                paths.append(directory / f"run{index + 1}_{view.field_id}.{image_format}")
    return [*paths, directory / f"timeseries.{image_format}"]


def _check_images(paths: Sequence[Path], force: bool) -> None:
    existing = [path for path in paths if path.exists()]
    if existing and not force:
        raise FileExistsError(
            f"{existing[0]}: already exists; use --force to replace the images in "
            f"{existing[0].parent}"
        )


def export_images(
    readers: Sequence[FrameReader],
    views: Sequence[FieldView | None],
    planes: Sequence[SliceSpec],
    series: Sequence[str],
    directory: Path,
    image_format: str = "png",
    *,
    force: bool = False,
) -> list[Path]:
    """Export the last frame of each run (tissue, field) and the time series as images.

    Uses kaleido, which drives the system's Chrome or Chromium.

    Raises
    ------
    ReportError
        If no Chrome/Chromium is found, or the format is not png or svg.
    FileExistsError
        If an image exists and `force` is false.
    """
    paths = _image_paths(readers, views, directory, image_format)
    _check_images(paths, force)
    directory.mkdir(parents=True, exist_ok=True)
    figures: list[go.Figure] = []
    for reader, view, plane in zip(readers, views, planes, strict=True):
        if not reader.n_frames:
            continue
        last = reader.n_frames - 1
        figures.append(tissue_figure(reader, last, plane, width=720))
        if view is not None:
            figures.append(field_figure(reader, view, last, plane, width=720))
    figures.append(timeseries_figure(readers, series, width=1000))
    _import_kaleido_with_plain_argv()
    try:
        pio.write_images(figures, paths, format=image_format)
    except (RuntimeError, OSError) as exc:
        text = str(exc)
        if "chrome" in text.lower() or "chromium" in text.lower() or "browser" in text.lower():
            raise ReportError(
                "image export needs Chrome or Chromium, which kaleido did not find on this "
                "machine (Debian/Ubuntu: apt-get install chromium; or set BROWSER_PATH to the "
                "browser's executable). The HTML report was written; only the images are missing."
            ) from exc
        raise ReportError(f"image export failed: {text}") from exc
    return paths
