"""The replay app: a Dash page over one or more run files (``mscabm view``).

Frames are read lazily (one frame of the layers and one field per change of the slider) and
sent as quantised PNG images; hover information is resolved on the server from the stored
layers, cells and fields. Several runs are shown side by side on one time line (the union of
their frame times; each run shows its last frame at or before the chosen day), and their time
series share panels, with each run's difference from the first beside them.

The app holds its runs in a :class:`ViewerState` made per app, never in module globals, so two
apps in one process (as in the tests) do not see each other.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dash
import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, ctx, dcc, html
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from mscabm.viz.figures import (
    FieldView,
    default_series,
    field_figure_dict,
    shared_scale,
    timeseries_figure,
    tissue_figure_dict,
)
from mscabm.viz.reader import FrameReader, SliceSpec, open_reader

__all__ = ["ViewerServer", "ViewerState", "make_app"]

_SPEEDS_FPS = (0.5, 1.0, 2.0, 4.0, 8.0)
_DEFAULT_FIELDS = ("il17a", "cxcl8", "tnfa")
_GRAPH_CONFIG = {"displaylogo": False, "scrollZoom": False}


@dataclass
class ViewerState:
    """The runs an app shows and their shared time line.

    Parameters
    ----------
    readers : list of FrameReader
        The runs, first one the reference of differences.

    Attributes
    ----------
    timeline_days : numpy.ndarray
        Sorted union of the runs' frame times (the slider positions).
    """

    readers: list[FrameReader]
    timeline_days: np.ndarray = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not self.readers:
            raise ValueError("the viewer needs at least one run file")
        self.timeline_days = _union_times(self.readers)

    @classmethod
    def from_paths(cls, paths: Sequence[str | os.PathLike[str]]) -> ViewerState:
        """Open run files (each check raises :class:`mscabm.io.RunFileError` on a bad file)."""
        return cls([open_reader(path) for path in paths])

    @property
    def field_ids(self) -> list[str]:
        """Fields of any run, in the order of first appearance."""
        seen: dict[str, None] = {}
        for reader in self.readers:
            for info in reader.fields:
                seen.setdefault(info.id, None)
        return list(seen)

    def day(self, position: int) -> float:
        """Simulated day of a slider position."""
        position = int(np.clip(position, 0, len(self.timeline_days) - 1))
        return float(self.timeline_days[position])

    def position_of_day(self, day: float) -> int:
        """Slider position nearest to `day`."""
        return int(np.argmin(np.abs(self.timeline_days - day)))

    def refresh(self) -> bool:
        """Reopen runs that are still being written; whether any gained frames."""
        grown = False
        with self.lock:
            for index, reader in enumerate(self.readers):
                if reader.attrs.get("status") in ("complete", "completed"):
                    continue
                fresh = reader.refreshed()
                if fresh.n_frames != reader.n_frames or fresh.attrs != reader.attrs:
                    self.readers[index] = fresh
                    grown = True
            if grown:
                self.timeline_days = _union_times(self.readers)
        return grown


_FRAME_LABEL_JS = """
function(position, timeline) {
    const p = Math.max(0, Math.min(position || 0, timeline.length - 1));
    return "frame " + p + " / " + (timeline.length - 1) + " · day " + timeline[p].toFixed(2);
}
"""

_CURSOR_JS = """
function(position, figure, timeline) {
    if (!figure || !figure.layout || !figure.layout.shapes) {
        return window.dash_clientside.no_update;
    }
    const p = Math.max(0, Math.min(position || 0, timeline.length - 1));
    const day = timeline[p];
    const shapes = figure.layout.shapes.map(s => Object.assign({}, s, {x0: day, x1: day}));
    return Object.assign({}, figure, {layout: Object.assign({}, figure.layout, {shapes: shapes})});
}
"""


def _union_times(readers: Sequence[FrameReader]) -> np.ndarray:
    times = np.concatenate([reader.time_days for reader in readers])
    if times.size == 0:
        return np.array([0.0])
    return np.unique(np.round(times, 9))


def _plane(reader: FrameReader, axis: str | None, index: int | None) -> SliceSpec:
    if not reader.is_3d:
        return SliceSpec()
    axis = axis if axis in ("z", "y", "x") else "y"
    size = reader.shape[reader.dims.index(axis)]
    chosen = size // 2 if index is None else int(np.clip(index, 0, size - 1))
    return SliceSpec(axis, chosen)


def _empty_figure(text: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        width=560,
        height=260,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[{"text": text, "showarrow": False, "font": {"size": 14}}],
        plot_bgcolor="white",
    )
    return fig


def _slider_marks(timeline: np.ndarray) -> dict[int, str]:
    count = len(timeline)
    step = max(1, int(np.ceil(count / 10)))
    marks = {position: f"{timeline[position]:g}" for position in range(0, count, step)}
    marks[count - 1] = f"{timeline[count - 1]:g}"
    return marks


def _describe_hover(state: ViewerState, position: int, plane_args: tuple, point: dict) -> Any:
    """HTML of what the hovered voxel holds in every run."""
    day = state.day(position)
    blocks = []
    for run_index, reader in enumerate(state.readers):
        frame = reader.frame_at_day(day)
        plane = _plane(reader, *plane_args)
        if frame is None:
            continue
        row = int(np.floor(float(point["y"]) / reader.voxel_um))
        column = int(np.floor(float(point["x"]) / reader.voxel_um))
        index = reader.voxel_index(plane, row, column)
        if index is None:
            continue
        info = reader.describe_voxel(frame, index)
        where = ", ".join(f"{dim} {value:.1f} µm" for dim, value in info["position_um"].items())
        cells = (
            "; ".join(
                f"{cell['type']}{' (' + cell['state'] + ')' if cell['state'] else ''} #{cell['id']}"
                for cell in info["cells"]
            )
            or "none stored"
        )
        top_fields = sorted(info["fields"], key=lambda item: -abs(item[1]))[:8]
        blocks.append(
            html.Div(
                [
                    html.B(f"run {run_index + 1} · voxel {index} · {where}"),
                    html.Div(f"tissue: {info['tissue'].replace('_', ' ')}"),
                    html.Div(
                        "mobile: "
                        + (info["mobile"].replace("_", " ") if info["mobile"] else "none")
                        + (" · NET" if info["net"] else "")
                    ),
                    html.Div(f"cells: {cells}"),
                    html.Div(
                        "fields: "
                        + ", ".join(
                            f"{name} {value:.3g} {units}" for name, value, units in top_fields
                        )
                    ),
                ],
                className="hover-run",
                style={"marginBottom": "6px"},
            )
        )
    return blocks or "outside the lattice"


def make_app(runs: Sequence[str | os.PathLike[str]] | ViewerState) -> dash.Dash:
    """Build the replay app over run files.

    Parameters
    ----------
    runs : sequence of path, or ViewerState
        One or more run files (shown side by side, synchronised in time).

    Returns
    -------
    dash.Dash
        The app; serve it with :class:`ViewerServer` or ``app.run()``.

    Raises
    ------
    mscabm.io.RunFileError
        If a file is missing, truncated, not an mscabm run or from a newer schema.
    """
    state = runs if isinstance(runs, ViewerState) else ViewerState.from_paths(runs)
    readers = state.readers
    field_ids = state.field_ids
    first_field = next(
        (f for f in _DEFAULT_FIELDS if f in field_ids), field_ids[0] if field_ids else None
    )
    any_3d = any(reader.is_3d for reader in readers)
    field_names = {}
    for reader in readers:
        for info in reader.fields:
            field_names.setdefault(info.id, f"{info.display_name} ({info.units})")
    series_names = sorted({name for reader in readers for name in reader.timeseries.columns})
    timeline = state.timeline_days

    app = dash.Dash(
        __name__,
        title="mscabm view",
        update_title=None,
        serve_locally=True,
        suppress_callback_exceptions=False,
    )

    run_blocks = []
    for index, reader in enumerate(readers):
        run_blocks.append(
            html.Div(
                [
                    html.H4(
                        f"run {index + 1}: {reader.name}",
                        id=f"run-label-{index}",
                        style={"margin": "4px 0"},
                    ),
                    html.Div(id=f"run-frame-{index}", className="run-frame"),
                    html.Div(
                        [
                            dcc.Graph(
                                id=f"tissue-{index}", config=_GRAPH_CONFIG, clear_on_unhover=True
                            ),
                            dcc.Graph(
                                id=f"field-{index}", config=_GRAPH_CONFIG, clear_on_unhover=True
                            ),
                        ],
                        style={
                            "display": "flex",
                            "flexWrap": "wrap",
                            "flexDirection": "column" if len(readers) > 1 else "row",
                        },
                    ),
                ],
                className="run-block",
                style={"border": "1px solid #ddd", "padding": "4px", "margin": "4px"},
            )
        )

    shape_3d = next((reader.shape for reader in readers if reader.is_3d), (1, 1, 1))
    controls = html.Div(
        [
            html.Button("▶ play", id="play-button", n_clicks=0, style={"minWidth": "80px"}),
            html.Label("speed", style={"marginLeft": "10px"}),
            dcc.Dropdown(
                id="speed",
                options=[{"label": f"{fps:g} frames/s", "value": fps} for fps in _SPEEDS_FPS],
                value=2.0,
                clearable=False,
                style={"width": "140px", "display": "inline-block", "verticalAlign": "middle"},
            ),
            html.Span(
                id="frame-label",
                style={"marginLeft": "14px", "fontWeight": "bold", "fontFamily": "monospace"},
            ),
        ],
        style={"display": "flex", "alignItems": "center", "gap": "6px"},
    )
    field_controls = html.Div(
        [
            html.Label("field"),
            dcc.Dropdown(
                id="field-select",
                options=[{"label": field_names[f], "value": f} for f in field_ids],
                value=first_field,
                clearable=False,
                style={"width": "230px"},
            ),
            dcc.RadioItems(
                id="field-scale",
                options=[{"label": "linear", "value": "linear"}, {"label": "log", "value": "log"}],
                value="linear",
                inline=True,
            ),
            dcc.RadioItems(
                id="field-range",
                options=[
                    {"label": "fixed range (whole run)", "value": "fixed"},
                    {"label": "per-frame range", "value": "frame"},
                ],
                value="fixed",
                inline=True,
            ),
            html.Div(
                [
                    html.Label("3-D slice: axis"),
                    dcc.RadioItems(
                        id="slice-axis",
                        options=[
                            {"label": "y (z–x section)", "value": "y"},
                            {"label": "x (z–y section)", "value": "x"},
                            {"label": "z (horizontal plane)", "value": "z"},
                        ],
                        value="y",
                        inline=True,
                    ),
                    html.Label("index"),
                    html.Div(
                        dcc.Slider(
                            id="slice-index",
                            min=0,
                            max=shape_3d[1] - 1,
                            step=1,
                            value=shape_3d[1] // 2,
                            marks=None,
                            tooltip={"placement": "bottom", "always_visible": True},
                        ),
                        style={"width": "260px"},
                    ),
                ],
                id="slice-controls",
                style={
                    "display": "flex" if any_3d else "none",
                    "alignItems": "center",
                    "gap": "6px",
                },
            ),
        ],
        style={"display": "flex", "alignItems": "center", "gap": "10px", "flexWrap": "wrap"},
    )

    app.layout = html.Div(
        [
            html.H3("mscabm replay", style={"margin": "4px 0"}),
            controls,
            html.Div(
                dcc.Slider(
                    id="frame-slider",
                    min=0,
                    max=len(timeline) - 1,
                    step=1,
                    value=0,
                    marks=_slider_marks(timeline),
                    updatemode="drag",
                ),
                style={"margin": "8px 0 4px 0"},
            ),
            field_controls,
            html.Div(run_blocks, style={"display": "flex", "flexWrap": "wrap"}),
            html.Div(
                "hover over a map to see what a voxel holds",
                id="hover-info",
                style={
                    "fontFamily": "monospace",
                    "fontSize": "12px",
                    "border": "1px solid #ddd",
                    "padding": "6px",
                    "minHeight": "60px",
                },
            ),
            html.Div(
                [
                    html.Label("time series"),
                    dcc.Dropdown(
                        id="series-select",
                        options=[{"label": n, "value": n} for n in series_names],
                        value=default_series(readers, first_field),
                        multi=True,
                    ),
                ]
            ),
            dcc.Graph(id="timeseries", config=_GRAPH_CONFIG),
            dcc.Store(id="timeline", data=timeline.tolist()),
            dcc.Interval(id="play-interval", interval=500, disabled=True),
            dcc.Interval(
                id="live-interval",
                interval=5000,
                disabled=all(r.attrs.get("status") in ("complete", "completed") for r in readers),
            ),
        ],
        style={"fontFamily": "sans-serif", "fontSize": "14px", "margin": "8px"},
    )

    slider_inputs = [
        Input("frame-slider", "value"),
        Input("field-select", "value"),
        Input("field-scale", "value"),
        Input("field-range", "value"),
        Input("slice-axis", "value"),
        Input("slice-index", "value"),
    ]

    def render_run(run_index: int):
        def render(position, field_id, scale, range_mode, axis, slice_index):
            reader = state.readers[run_index]
            day = state.day(position or 0)
            frame = reader.frame_at_day(day)
            if frame is None:
                empty = _empty_figure(f"no frame of run {run_index + 1} before day {day:.2f}")
                return empty, empty, "no frame yet"
            plane = _plane(reader, axis, slice_index)
            slice_text = f" · slice {plane.axis}={plane.index}" if reader.is_3d else ""
            tissue = tissue_figure_dict(reader, frame, plane, image_level=1)
            field_ids_here = [info.id for info in reader.fields]
            if field_id in field_ids_here:
                view = FieldView(field_id, log=scale == "log", fixed_range=range_mode == "fixed")
                common = shared_scale(state.readers, view) if view.fixed_range else None
                field_fig = field_figure_dict(
                    reader, view, frame, plane, scale=common, image_level=1
                )
            else:
                field_fig = _empty_figure(f"run {run_index + 1} has no field {field_id}")
            label = (
                f"run {run_index + 1}: frame {frame} / {reader.n_frames - 1} · "
                f"day {reader.time_days[frame]:.2f}{slice_text}"
            )
            return tissue, field_fig, label

        return render

    for run_index in range(len(readers)):
        app.callback(
            Output(f"tissue-{run_index}", "figure"),
            Output(f"field-{run_index}", "figure"),
            Output(f"run-frame-{run_index}", "children"),
            *slider_inputs,
        )(render_run(run_index))

    # The frame label and the time-series cursor follow the slider in the browser (clientside
    # callbacks over the time line in a Store): no round trip to the server for them.
    app.clientside_callback(
        _FRAME_LABEL_JS,
        Output("frame-label", "children"),
        Input("frame-slider", "value"),
        Input("timeline", "data"),
    )
    app.clientside_callback(
        _CURSOR_JS,
        Output("timeseries", "figure", allow_duplicate=True),
        Input("frame-slider", "value"),
        State("timeseries", "figure"),
        State("timeline", "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("play-interval", "disabled"),
        Output("play-button", "children"),
        Input("play-button", "n_clicks"),
    )
    def toggle_play(clicks):
        playing = bool(clicks) and clicks % 2 == 1
        return (not playing, "❚❚ pause" if playing else "▶ play")

    @app.callback(Output("play-interval", "interval"), Input("speed", "value"))
    def set_speed(fps):
        return int(1000.0 / float(fps or 1.0))

    @app.callback(
        Output("frame-slider", "value"),
        Input("play-interval", "n_intervals"),
        Input("timeseries", "clickData"),
        State("frame-slider", "value"),
        prevent_initial_call=True,
    )
    def move_frame(_ticks, click, position):
        count = len(state.timeline_days)
        if ctx.triggered_id == "timeseries":
            if not click or not click.get("points"):
                return dash.no_update
            return state.position_of_day(float(click["points"][0]["x"]))
        return (int(position or 0) + 1) % count

    @app.callback(
        Output("frame-slider", "max"),
        Output("frame-slider", "marks"),
        Output("timeline", "data"),
        Input("live-interval", "n_intervals"),
        prevent_initial_call=True,
    )
    def follow_live_runs(_ticks):
        if not state.refresh():
            return dash.no_update, dash.no_update, dash.no_update
        timeline_now = state.timeline_days
        return len(timeline_now) - 1, _slider_marks(timeline_now), timeline_now.tolist()

    @app.callback(
        Output("slice-index", "max"),
        Output("slice-index", "value"),
        Input("slice-axis", "value"),
        State("slice-index", "value"),
    )
    def slice_range(axis, current):
        reader = next((r for r in state.readers if r.is_3d), None)
        if reader is None:
            return 0, 0
        size = reader.shape[reader.dims.index(axis)]
        value = current if current is not None and current < size else size // 2
        return size - 1, value

    @app.callback(
        Output("series-select", "value"),
        Input("field-select", "value"),
        State("series-select", "value"),
        prevent_initial_call=True,
    )
    def follow_field_mean(field_id, names):
        """Show the chosen field's epidermal mean instead of the previous field's."""
        field_means = {f"mean_{f}_epidermis" for f in field_ids}
        kept = [name for name in names or [] if name not in field_means]
        wanted = f"mean_{field_id}_epidermis"
        if wanted in series_names:
            kept.append(wanted)
        return kept

    @app.callback(
        Output("timeseries", "figure"),
        Input("series-select", "value"),
        State("frame-slider", "value"),
    )
    def series_figure(names, position):
        return timeseries_figure(state.readers, names or [], day=state.day(position or 0))

    hover_inputs = [Input(f"tissue-{i}", "hoverData") for i in range(len(readers))]
    hover_inputs += [Input(f"field-{i}", "hoverData") for i in range(len(readers))]

    @app.callback(
        Output("hover-info", "children"),
        *hover_inputs,
        State("frame-slider", "value"),
        State("slice-axis", "value"),
        State("slice-index", "value"),
        prevent_initial_call=True,
    )
    def hover(*args):
        n_graphs = 2 * len(state.readers)
        hovers = args[:n_graphs]
        position, axis, slice_index = args[n_graphs:]
        triggered = ctx.triggered_id
        data = None
        if triggered is not None:
            graph_ids = [f"tissue-{i}" for i in range(len(state.readers))] + [
                f"field-{i}" for i in range(len(state.readers))
            ]
            data = hovers[graph_ids.index(triggered)]
        if not data or not data.get("points"):
            return dash.no_update
        point = data["points"][0]
        if point.get("x") is None or point.get("y") is None:
            return dash.no_update
        return _describe_hover(state, int(position or 0), (axis, slice_index), point)

    return app


def _check_port_free(host: str, port: int) -> None:
    """Raise OSError if `port` cannot be bound on `host` (werkzeug would exit instead)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


class _QuietRequestHandler(WSGIRequestHandler):
    """Request handler that does not log every request (the app polls while playing)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing for successful requests (errors are still logged)."""


class ViewerServer:
    """Serve a Dash app with a stoppable WSGI server (threaded, one thread per request).

    Parameters
    ----------
    app : dash.Dash
        The app.
    host : str, default "127.0.0.1"
        Address to bind (the loopback interface unless you mean to share the app).
    port : int, default 8050
        TCP port; 0 picks a free one.

    Raises
    ------
    OSError
        If the port cannot be bound (e.g. already in use).
    """

    def __init__(self, app: dash.Dash, host: str = "127.0.0.1", port: int = 8050) -> None:
        self.app = app
        if port:
            _check_port_free(host, port)
        try:
            self._server: BaseWSGIServer = make_server(
                host, port, app.server, threaded=True, request_handler=_QuietRequestHandler
            )
        except SystemExit as exc:  # werkzeug exits when it cannot bind
            raise OSError(f"cannot bind {host}:{port}") from exc
        self.host = host
        self.port = int(self._server.server_port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The app's address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted or :meth:`stop` is called."""
        self._server.serve_forever()

    def start(self) -> ViewerServer:
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ViewerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
