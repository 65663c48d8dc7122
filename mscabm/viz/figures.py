"""Plotly figures of run frames and time series, shared by the replay app and the report.

Every figure is built from a :class:`~mscabm.viz.reader.FrameReader` and plain arguments, so
the same picture appears in the browser app, the HTML report and the PNG export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mscabm.viz.reader import FrameReader, SliceSpec
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

__all__ = [
    "MARKER_LIMIT",
    "RUN_COLOURS",
    "FieldView",
    "default_series",
    "field_figure",
    "field_figure_dict",
    "field_scale",
    "plane_axes",
    "shared_scale",
    "timeseries_figure",
    "tissue_figure",
    "tissue_figure_dict",
]

#: Line colours of runs 1, 2, ... in the time series (Okabe-Ito; black first).
RUN_COLOURS = ("#000000", "#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")

_PREFERRED_SERIES = (
    "score_total",
    "viable_epidermis_thickness_um",
    "count_neutrophil",
    "th17_treg_ratio",
    "count_net",
    "count_microabscess",
)
_FIGURE_WIDTH_PX = 560
#: Above this many mobile cells + NET voxels in a plane, they are painted into the tissue image.
MARKER_LIMIT = 1500
_MAX_MAP_HEIGHT_PX = 560
_AXIS_LABELS = {"z": "height (µm)", "y": "y (µm)", "x": "x (µm)"}


@dataclass(frozen=True)
class FieldView:
    """How a field is shown.

    Parameters
    ----------
    field_id : str
        The field.
    log : bool, default False
        Logarithmic colour scale.
    fixed_range : bool, default True
        One colour range for the whole run (True) or the range of each frame (False).
    colourmap : str, default "viridis"
        ``"viridis"`` or ``"cividis"``.
    """

    field_id: str
    log: bool = False
    fixed_range: bool = True
    colourmap: str = "viridis"


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def plane_axes(reader: FrameReader, plane: SliceSpec) -> tuple[str, str]:
    """Axis titles (x, y) of a plane."""
    rows, columns = reader.plane_dims(plane)
    return _AXIS_LABELS[columns], _AXIS_LABELS[rows]


class _FigureDict(dict):
    """A Plotly figure as a plain dict (no validation: ~100x faster to build than go.Figure).

    The replay app builds a figure per frame change; validating a go.Figure of a few dozen
    traces cost ~100 ms of the 300 ms budget. The report and image export wrap the same dict in
    a go.Figure.
    """

    def __init__(self) -> None:
        super().__init__(data=[], layout={})

    def add_trace(self, trace: dict) -> None:
        self["data"].append(trace)

    def update_layout(self, **options: Any) -> None:
        self["layout"].update(options)

    def update_xaxes(self, **options: Any) -> None:
        self["layout"].setdefault("xaxis", {}).update(options)

    def update_yaxes(self, **options: Any) -> None:
        self["layout"].setdefault("yaxis", {}).update(options)


def _map_layout(
    fig: _FigureDict, reader: FrameReader, plane: SliceSpec, title: str, *, width: int
) -> None:
    n_rows, n_columns = reader.shown_shape(plane)
    x_title, y_title = plane_axes(reader, plane)
    plot_width = width - 190
    height = int(min(_MAX_MAP_HEIGHT_PX, max(380, plot_width * n_rows / n_columns + 110)))
    extent_x, extent_y = n_columns * reader.voxel_um, n_rows * reader.voxel_um
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        width=width,
        height=height,
        margin={"l": 55, "r": 10, "t": 40, "b": 40},
        plot_bgcolor="white",
        legend={
            "font": {"size": 9},
            "itemsizing": "constant",
            "tracegroupgap": 2,
            "groupclick": "toggleitem",
        },
        uirevision=f"{reader.path}-{plane.axis}",
        hovermode="closest",
    )
    fig.update_xaxes(
        title={"text": x_title}, range=[0, extent_x], constrain="domain", showgrid=False
    )
    fig.update_yaxes(
        title={"text": y_title},
        range=[0, extent_y],
        autorange=False,
        scaleanchor="x",
        constrain="domain",
        showgrid=False,
    )


def tissue_figure_dict(
    reader: FrameReader,
    frame: int,
    plane: SliceSpec | None = None,
    *,
    title: str | None = None,
    width: int = _FIGURE_WIDTH_PX,
    image_level: int = 6,
    marker_limit: int = MARKER_LIMIT,
) -> dict:
    """The tissue map of one frame: tissue colours, mobile cells and NETs over them.

    Parameters
    ----------
    reader : FrameReader
        The run.
    frame : int
        Complete frame index.
    plane : SliceSpec, optional
        The plane of a 3-D run.
    title : str, optional
        Figure title (default: run name, frame and day).
    width : int, default 560
        Figure width in pixels.
    image_level : int, default 6
        zlib level of the tissue PNG.
    marker_limit : int, default 1500
        Above this many mobile cells and NET voxels in the plane, they are painted into the
        image (each voxel in its type's colour, NETs black) instead of drawn as markers: a
        browser draws thousands of SVG markers slowly, and at that density a voxel is smaller
        than a marker anyway. The legend shows the same types either way.

    Returns
    -------
    dict
        A Plotly figure (``data``, ``layout``): an image trace (the tissue, as a PNG),
        legend-only swatches of the tissue types present, one marker trace per mobile cell
        type present and one for NETs. No trace shows Plotly's own hover label: the app
        resolves hovers on the server.
    """
    plane = plane or reader.default_slice()
    shown_rows = reader.shown_shape(plane)[0]
    tissue = reader.layer("tissue", frame, plane)[:shown_rows]
    mobile = reader.layer("mobile", frame, plane)[:shown_rows]
    net = reader.layer("net", frame, plane)[:shown_rows]
    voxel = reader.voxel_um
    rows, columns = np.nonzero(mobile)
    codes = mobile[rows, columns]
    net_rows, net_columns = np.nonzero(net)
    painted = rows.size + net_rows.size > marker_limit
    rgb = tissue_to_rgb(tissue, reader.tissue_codes)
    if painted:
        for code in np.unique(codes).tolist():
            style = mobile_style(reader.mobile_codes.get(code, f"code {code}"), code)
            chosen = codes == code
            rgb[rows[chosen], columns[chosen]] = _hex_rgb(style.colour)
        rgb[net_rows, net_columns] = _hex_rgb(NET_STYLE.colour)
    fig = _FigureDict()
    fig.add_trace(
        {
            "type": "image",
            "source": png_data_uri(rgb, level=image_level),
            "x0": 0.5 * voxel,
            "y0": 0.5 * voxel,
            "dx": voxel,
            "dy": voxel,
            "hoverinfo": "none",
            "name": "tissue",
        }
    )
    for code in np.unique(tissue).tolist():
        name = reader.tissue_codes.get(code, f"code {code}")
        if name == "air":
            continue
        fig.add_trace(
            {
                "type": "scatter",
                "x": [None],
                "y": [None],
                "mode": "markers",
                "marker": {
                    "symbol": "square",
                    "size": 10,
                    "color": tissue_colour(name, code),
                    "line": {"width": 0.5, "color": "#555555"},
                },
                "name": name.replace("_", " "),
                "legendgroup": "tissue",
                "legendgrouptitle": {"text": "tissue"},
                "hoverinfo": "none",
            }
        )
    marker_size = float(np.clip(600.0 / max(tissue.shape), 4.0, 10.0))
    for code in np.unique(codes).tolist():
        name = reader.mobile_codes.get(code, f"code {code}")
        style = mobile_style(name, code)
        chosen = codes == code
        fig.add_trace(
            {
                "type": "scatter",
                "x": [None] if painted else (columns[chosen] + 0.5) * voxel,
                "y": [None] if painted else (rows[chosen] + 0.5) * voxel,
                "mode": "markers",
                "marker": {
                    "symbol": style.symbol,
                    "color": style.colour,
                    "size": marker_size,
                    "line": {"width": 1, "color": style.colour},
                },
                "name": name.replace("_", " "),
                "legendgroup": "mobile",
                "legendgrouptitle": {
                    "text": "mobile cells" + (" (painted voxels)" if painted else "")
                },
                "hoverinfo": "none",
            }
        )
    if net_rows.size:
        fig.add_trace(
            {
                "type": "scatter",
                "x": [None] if painted else (net_columns + 0.5) * voxel,
                "y": [None] if painted else (net_rows + 0.5) * voxel,
                "mode": "markers",
                "marker": {
                    "symbol": NET_STYLE.symbol,
                    "color": NET_STYLE.colour,
                    "size": marker_size + 2,
                    "line": {"width": 1.5, "color": NET_STYLE.colour},
                },
                "name": "NET",
                "legendgroup": "net",
                "legendgrouptitle": {"text": "NETs"},
                "hoverinfo": "none",
            }
        )
    day = float(reader.time_days[frame])
    _map_layout(
        fig,
        reader,
        plane,
        title if title is not None else f"tissue · frame {frame} · day {day:.2f}",
        width=width,
    )
    return fig


def tissue_figure(*args: Any, **kwargs: Any) -> go.Figure:
    """:func:`tissue_figure_dict` as a validated ``plotly.graph_objects.Figure``."""
    return go.Figure(tissue_figure_dict(*args, **kwargs))


def shared_scale(readers: Sequence[FrameReader], view: FieldView) -> FieldScale | None:
    """One fixed colour scale over several runs (so equal colours mean equal values)."""
    lows, highs = [], []
    for reader in readers:
        if view.field_id in [info.id for info in reader.fields] and reader.n_frames:
            low, high = reader.field_range(view.field_id, positive=view.log)
            if np.isfinite(low) and np.isfinite(high):
                lows.append(low)
                highs.append(high)
    if not lows:
        return None
    return FieldScale.of_range(min(lows), max(highs), log=view.log)


def field_scale(reader: FrameReader, view: FieldView, values: np.ndarray) -> FieldScale:
    """The colour scale of a field view for one frame's values."""
    if view.fixed_range:
        low, high = reader.field_range(view.field_id, positive=view.log)
        if view.log and not np.isfinite(high):
            return FieldScale.of_values(values, log=True)
        return FieldScale.of_range(low, high, log=view.log)
    return FieldScale.of_values(values, log=view.log)


def field_figure_dict(
    reader: FrameReader,
    view: FieldView,
    frame: int,
    plane: SliceSpec | None = None,
    *,
    title: str | None = None,
    width: int = _FIGURE_WIDTH_PX,
    image_level: int = 6,
    scale: FieldScale | None = None,
) -> dict:
    """One field of one frame as a quantised image with a colour bar in the field's units.

    Parameters
    ----------
    reader : FrameReader
        The run.
    view : FieldView
        Field, linear or log scale, fixed or per-frame range.
    frame : int
        Complete frame index.
    plane : SliceSpec, optional
        The plane of a 3-D run.
    title : str, optional
        Figure title (default: field name, units, frame and day).
    width : int, default 560
        Figure width in pixels.
    image_level : int, default 6
        zlib level of the PNG.
    scale : FieldScale, optional
        Colour scale to use instead of the view's (e.g. one range shared by several runs).

    Returns
    -------
    dict
        A Plotly figure (``data``, ``layout``): an image trace (8-bit colour-map indices as
        PNG) and an invisible marker trace that carries the colour bar.
    """
    plane = plane or reader.default_slice()
    info = reader.field_info(view.field_id)
    values = reader.field(view.field_id, frame, plane)[: reader.shown_shape(plane)[0]]
    scale = scale or field_scale(reader, view, values)
    voxel = reader.voxel_um
    fig = _FigureDict()
    fig.add_trace(
        {
            "type": "image",
            "source": png_data_uri(field_to_rgb(values, scale, view.colourmap), level=image_level),
            "x0": 0.5 * voxel,
            "y0": 0.5 * voxel,
            "dx": voxel,
            "dy": voxel,
            "hoverinfo": "none",
            "name": info.display_name,
        }
    )
    cmin, cmax, tick_values, tick_labels = scale.colourbar_ticks()
    units = info.units or "no units"
    fig.add_trace(
        {
            "type": "scatter",
            "x": [None],
            "y": [None],
            "mode": "markers",
            "showlegend": False,
            "hoverinfo": "none",
            "marker": {
                "colorscale": colourscale(view.colourmap),
                "cmin": cmin,
                "cmax": cmax,
                "color": [cmin],
                "showscale": True,
                "colorbar": {
                    "title": {"text": f"{units}{' (log)' if view.log else ''}", "side": "right"},
                    "tickvals": tick_values,
                    "ticktext": tick_labels,
                    "thickness": 14,
                    "len": 0.9,
                },
            },
        }
    )
    day = float(reader.time_days[frame])
    range_text = "run range" if view.fixed_range else "frame range"
    _map_layout(
        fig,
        reader,
        plane,
        title
        if title is not None
        else f"{info.display_name} ({units}, {'log' if view.log else 'linear'}, {range_text}) "
        f"· day {day:.2f}",
        width=width,
    )
    return fig


def field_figure(*args: Any, **kwargs: Any) -> go.Figure:
    """:func:`field_figure_dict` as a validated ``plotly.graph_objects.Figure``."""
    return go.Figure(field_figure_dict(*args, **kwargs))


def default_series(readers: Sequence[FrameReader], field_id: str | None = None) -> list[str]:
    """Time series shown first: scores, thickness, counts, Th17/Treg and the field's mean."""
    present: set[str] = set()
    for reader in readers:
        present.update(reader.timeseries.columns)
    chosen = [name for name in _PREFERRED_SERIES if name in present]
    if field_id and f"mean_{field_id}_epidermis" in present:
        chosen.append(f"mean_{field_id}_epidermis")
    if not chosen:
        chosen = sorted(present)[:4]
    return chosen


def _series_label(name: str) -> str:
    return name.replace("_", " ")


def timeseries_figure(
    readers: Sequence[FrameReader],
    names: Sequence[str],
    *,
    day: float | None = None,
    width: int | None = None,
) -> go.Figure:
    """Time series of one or more runs, one panel per readout, with differences between runs.

    Parameters
    ----------
    readers : sequence of FrameReader
        The runs; the first is the reference of the differences.
    names : sequence of str
        Time-series names (a run without a name is left out of that panel).
    day : float, optional
        Where to draw the time cursor.
    width : int, optional
        Figure width in pixels (default: fill the page).

    Returns
    -------
    plotly.graph_objects.Figure
        One row per name; with several runs a second column shows each run minus the first
        (interpolated onto the first run's sample times over their common span).
    """
    names = list(names)
    n_columns = 2 if len(readers) > 1 else 1
    n_rows = max(1, len(names))
    titles: list[str] = []
    for name in names or ["(no time series)"]:
        titles.append(_series_label(name))
        if n_columns == 2:
            titles.append(f"Δ {_series_label(name)} (run − run 1)")
    fig = make_subplots(
        rows=n_rows,
        cols=n_columns,
        shared_xaxes=True,
        vertical_spacing=min(0.08, 0.5 / n_rows),
        horizontal_spacing=0.08,
        subplot_titles=titles,
    )
    reference = readers[0]
    for row, name in enumerate(names, start=1):
        for run_index, reader in enumerate(readers):
            if name not in reader.timeseries:
                continue
            series = reader.timeseries[name]
            colour = RUN_COLOURS[run_index % len(RUN_COLOURS)]
            label = f"run {run_index + 1}: {reader.name}"
            fig.add_trace(
                go.Scatter(
                    x=series.index.to_numpy(),
                    y=series.to_numpy(),
                    mode="lines",
                    line={"color": colour, "width": 1.8},
                    name=label,
                    legendgroup=label,
                    showlegend=row == 1,
                    hovertemplate=f"run {run_index + 1}<br>day %{{x:.2f}}<br>%{{y:.4g}}"
                    "<extra></extra>",
                ),
                row=row,
                col=1,
            )
            if n_columns == 2 and run_index > 0 and name in reference.timeseries:
                base = reference.timeseries[name]
                times = base.index.to_numpy()
                inside = (times >= series.index.min()) & (times <= series.index.max())
                difference = (
                    np.interp(times[inside], series.index.to_numpy(), series.to_numpy())
                    - base.to_numpy()[inside]
                )
                fig.add_trace(
                    go.Scatter(
                        x=times[inside],
                        y=difference,
                        mode="lines",
                        line={"color": colour, "width": 1.8, "dash": "dot"},
                        name=f"{label} − run 1",
                        legendgroup=label,
                        showlegend=False,
                        hovertemplate=f"run {run_index + 1} − run 1<br>day %{{x:.2f}}<br>"
                        "%{y:.4g}<extra></extra>",
                    ),
                    row=row,
                    col=2,
                )
    for column in range(1, n_columns + 1):
        fig.update_xaxes(title_text="day", row=n_rows, col=column)
    height = max(260, 170 * n_rows + 80)
    fig.update_layout(
        height=height,
        width=width,
        margin={"l": 60, "r": 20, "t": 90, "b": 50},
        legend={
            "orientation": "h",
            "y": 1.0 + 30.0 / (height - 140),
            "yanchor": "bottom",
            "x": 0,
            "font": {"size": 11},
        },
        hovermode="x",  # a click anywhere in a panel picks the nearest time (click-to-jump)
        plot_bgcolor="white",
        uirevision="timeseries",
        clickmode="event",
    )
    fig.update_xaxes(showgrid=True, gridcolor="#EEEEEE", showspikes=False)
    fig.update_yaxes(showgrid=True, gridcolor="#EEEEEE")
    if day is not None:
        fig.update_layout(shapes=cursor_shapes(n_rows * n_columns, day))
    return fig


def cursor_shapes(n_panels: int, day: float) -> list[dict]:
    """Vertical cursor lines at `day` on the first `n_panels` subplots of a figure.

    Subplots made by ``make_subplots`` have x axes ``x``, ``x2``, ... in row-major order. The
    app moves these lines in the browser when the slider moves.
    """
    shapes = []
    for index in range(1, n_panels + 1):
        suffix = "" if index == 1 else str(index)
        shapes.append(
            {
                "type": "line",
                "xref": f"x{suffix}",
                "yref": f"y{suffix} domain",
                "x0": day,
                "x1": day,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#CC79A7", "width": 2},
                "name": "cursor",
            }
        )
    return shapes
