"""Pure functions that turn frames into compact pictures: palettes, quantised PNGs, colour maps.

Frames reach the browser as PNG images (8-bit RGB, zlib-compressed) inside ``data:`` URIs, not
as float arrays in JSON: a 512 × 512 field is 1 MB as float32 and about 4 MB as JSON numbers,
but a quantised PNG of it is typically 50-250 kB and a tissue map a few kB.

Palettes are fixed so a colour means the same thing in every run and every session:

* tissue codes use Paul Tol's "light" and "pale" qualitative schemes (designed to stay
  distinguishable with colour-vision deficiencies and to carry dark markers on top);
* mobile (immune) cells are markers in the Okabe-Ito colours, one colour per lineage and a
  marker symbol per subtype, so no type is told apart by colour alone;
* fields use the viridis or cividis colour maps (perceptually uniform, colour-blind safe).

Codes that are not in these tables (cell types added by later versions) get a deterministic
colour from a spare list, so the viewer still draws them and names them in the legend.
"""

from __future__ import annotations

import base64
import functools
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MOBILE_STYLE",
    "NET_STYLE",
    "TISSUE_COLOURS",
    "FieldScale",
    "colourmap_lut",
    "encode_png",
    "field_to_rgb",
    "mobile_style",
    "png_data_uri",
    "tissue_colour",
    "tissue_to_rgb",
]

#: Tissue code name -> colour (Paul Tol's light and pale schemes; air white).
TISSUE_COLOURS: dict[str, str] = {
    "air": "#FFFFFF",
    "dermis": "#EEDD88",
    "capillary": "#EE8866",
    "basal_stem": "#77AADD",
    "basal_ta": "#99DDFF",
    "basal_committed": "#44BB99",
    "suprabasal_ta": "#BBCC33",
    "spinous": "#FFAABB",
    "granular": "#AAAA00",
    "stratum_corneum": "#DDDDDD",
    "parakeratotic_corneum": "#999999",
}

_SPARE_COLOURS = ("#BBCCEE", "#CCEEFF", "#CCDDAA", "#EEEEBB", "#FFCCCC", "#D8BFD8", "#C0C0C0")

_OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}


@dataclass(frozen=True)
class MarkerStyle:
    """How a mobile cell type is drawn: Plotly marker colour and symbol."""

    colour: str
    symbol: str


#: Mobile cell type name -> marker (colour by lineage, symbol by subtype).
MOBILE_STYLE: dict[str, MarkerStyle] = {
    "neutrophil": MarkerStyle(_OKABE_ITO["vermillion"], "circle"),
    "neutrophil_apoptotic": MarkerStyle(_OKABE_ITO["vermillion"], "circle-open"),
    "macrophage_m0": MarkerStyle(_OKABE_ITO["orange"], "square-open"),
    "macrophage_m1": MarkerStyle(_OKABE_ITO["orange"], "square"),
    "macrophage_m2": MarkerStyle(_OKABE_ITO["orange"], "square-x"),
    "langerhans": MarkerStyle(_OKABE_ITO["bluish_green"], "diamond-open"),
    "dermal_dc": MarkerStyle(_OKABE_ITO["bluish_green"], "diamond-tall-open"),
    "dc_mature": MarkerStyle(_OKABE_ITO["bluish_green"], "diamond"),
    "dc_tolerogenic": MarkerStyle(_OKABE_ITO["bluish_green"], "diamond-x"),
    "pdc": MarkerStyle(_OKABE_ITO["bluish_green"], "star-diamond"),
    "gd_t17": MarkerStyle(_OKABE_ITO["reddish_purple"], "star-triangle-up"),
    "th0": MarkerStyle(_OKABE_ITO["blue"], "triangle-up-open"),
    "th1": MarkerStyle(_OKABE_ITO["blue"], "triangle-left"),
    "th2": MarkerStyle(_OKABE_ITO["blue"], "triangle-right"),
    "th17": MarkerStyle(_OKABE_ITO["reddish_purple"], "triangle-up"),
    "treg": MarkerStyle(_OKABE_ITO["blue"], "triangle-down"),
    "tr1": MarkerStyle(_OKABE_ITO["blue"], "triangle-down-open"),
    "tc0": MarkerStyle(_OKABE_ITO["sky_blue"], "hexagon-open"),
    "tc1": MarkerStyle(_OKABE_ITO["sky_blue"], "hexagon"),
    "tc17": MarkerStyle(_OKABE_ITO["reddish_purple"], "hexagon"),
    "cd8_trm": MarkerStyle(_OKABE_ITO["sky_blue"], "hexagram"),
}

#: How NETs are drawn over the tissue map.
NET_STYLE = MarkerStyle(_OKABE_ITO["black"], "x-thin-open")

_SPARE_SYMBOLS = ("cross", "pentagon", "bowtie", "hourglass", "star", "asterisk-open")


def _hex_to_rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def tissue_colour(name: str, code: int) -> str:
    """Colour of a tissue code: fixed for known names, a stable spare colour otherwise."""
    return TISSUE_COLOURS.get(name, _SPARE_COLOURS[code % len(_SPARE_COLOURS)])


def mobile_style(name: str, code: int) -> MarkerStyle:
    """Marker of a mobile cell type: fixed for known names, a stable spare marker otherwise."""
    if name in MOBILE_STYLE:
        return MOBILE_STYLE[name]
    return MarkerStyle(_OKABE_ITO["black"], _SPARE_SYMBOLS[code % len(_SPARE_SYMBOLS)])


def tissue_lut(codes: dict[int, str]) -> np.ndarray:
    """A 256 × 3 uint8 lookup table from tissue codes to RGB (read-only; cached per codes)."""
    return _tissue_lut(tuple(sorted(codes.items())))


@functools.lru_cache(maxsize=16)
def _tissue_lut(code_items: tuple[tuple[int, str], ...]) -> np.ndarray:
    codes = dict(code_items)
    lut = np.zeros((256, 3), dtype=np.uint8)
    for code in range(256):
        lut[code] = _hex_to_rgb(tissue_colour(codes.get(code, f"code {code}"), code))
    lut.flags.writeable = False
    return lut


def tissue_to_rgb(tissue: np.ndarray, codes: dict[int, str]) -> np.ndarray:
    """Colour a tissue layer (uint8 codes) as an RGB image of the same shape."""
    return tissue_lut(codes)[np.asarray(tissue, dtype=np.uint8)]


# ---------------------------------------------------------------------------------------------
# colour maps

# Control points of matplotlib's viridis and cividis (9 evenly spaced samples each).
_COLOURMAP_POINTS: dict[str, tuple[str, ...]] = {
    "viridis": (
        "#440154", "#472D7B", "#3B528B", "#2C728E", "#21918C",
        "#28AE80", "#5EC962", "#ADDC30", "#FDE725",
    ),
    "cividis": (
        "#00224E", "#123570", "#3B496C", "#575D6D", "#707173",
        "#8A8779", "#A69D75", "#C4B56C", "#FEE838",
    ),
}  # fmt: skip


@functools.lru_cache(maxsize=4)
def colourmap_lut(name: str = "viridis") -> np.ndarray:
    """A 256 × 3 uint8 lookup table of a colour map, linear between its control points.

    The table is cached and read-only.
    """
    if name not in _COLOURMAP_POINTS:
        raise ValueError(f"unknown colour map {name!r}; choose one of {sorted(_COLOURMAP_POINTS)}")
    points = np.array([_hex_to_rgb(c) for c in _COLOURMAP_POINTS[name]], dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(points))
    samples = np.linspace(0.0, 1.0, 256)
    channels = [np.interp(samples, positions, points[:, k]) for k in range(3)]
    lut = np.stack(channels, axis=1).round().astype(np.uint8)
    lut.flags.writeable = False
    return lut


def colourscale(name: str = "viridis") -> list[list[float | str]]:
    """The same colour map as a Plotly colour scale (for colour bars)."""
    points = _COLOURMAP_POINTS[name]
    return [[k / (len(points) - 1), colour] for k, colour in enumerate(points)]


@dataclass(frozen=True)
class FieldScale:
    """How field values map to colours.

    Parameters
    ----------
    low, high : float
        Values at the bottom and top of the colour map (in the field's units; both > 0 for a
        log scale).
    log : bool
        Logarithmic (base 10) instead of linear.
    """

    low: float
    high: float
    log: bool = False

    @classmethod
    def of_values(cls, values: np.ndarray, *, log: bool) -> FieldScale:
        """The range of the values themselves (the per-frame colour range)."""
        finite = np.asarray(values)[np.isfinite(values)]
        if log:
            finite = finite[finite > 0]
        if not finite.size:
            return cls(1e-3, 1.0, log) if log else cls(0.0, 1.0, log)
        return cls.of_range(float(finite.min()), float(finite.max()), log=log)

    @classmethod
    def of_range(cls, low: float, high: float, *, log: bool) -> FieldScale:
        """A usable scale from a (possibly empty or degenerate) range.

        A log scale spans at most six decades below its top; a flat range is widened so the
        colour map is not divided by zero.
        """
        if not (math.isfinite(low) and math.isfinite(high)):
            return cls(1e-3, 1.0, log) if log else cls(0.0, 1.0, log)
        if log:
            high = max(high, 1e-30)
            low = min(max(low, high * 1e-6), high)
            if low >= high:
                low, high = high / 10.0, high * 10.0
            return cls(low, high, True)
        if low >= high:
            if high == 0.0:
                return cls(0.0, 1.0, False)  # an all-zero field: zero at the bottom
            span = abs(high) * 0.05
            low, high = low - span, high + span
        return cls(low, high, False)

    def normalise(self, values: np.ndarray) -> np.ndarray:
        """Values as fractions in [0, 1] of the colour map (NaN stays NaN)."""
        values = np.asarray(values, dtype=np.float64)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                logged = np.log10(np.where(values > 0, values, self.low))
            fraction = (logged - math.log10(self.low)) / (
                math.log10(self.high) - math.log10(self.low)
            )
        else:
            fraction = (values - self.low) / (self.high - self.low)
        return np.clip(fraction, 0.0, 1.0)

    def colourbar_ticks(self) -> tuple[float, float, list[float] | None, list[str] | None]:
        """(cmin, cmax, tick positions, tick labels) for a colour bar of this scale."""
        if not self.log:
            return self.low, self.high, None, None
        low, high = math.log10(self.low), math.log10(self.high)
        decades = list(range(math.ceil(low), math.floor(high) + 1))
        positions = [low, high] if len(decades) < 2 else [float(d) for d in decades]
        labels = [f"{10**p:.3g}" for p in positions]
        return low, high, positions, labels


def quantise(values: np.ndarray, scale: FieldScale) -> np.ndarray:
    """Field values as uint8 colour-map indices (0-255)."""
    fraction = scale.normalise(values)
    return np.nan_to_num(fraction * 255.0, nan=0.0).round().astype(np.uint8)


def field_to_rgb(values: np.ndarray, scale: FieldScale, colourmap: str = "viridis") -> np.ndarray:
    """Colour a field as an RGB image of the same shape."""
    return colourmap_lut(colourmap)[quantise(values, scale)]


# ---------------------------------------------------------------------------------------------
# PNG


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def encode_png(rgb: np.ndarray, *, level: int = 6) -> bytes:
    """Encode an RGB image (rows × columns × 3, uint8) as PNG bytes.

    Row 0 of the array is the first row of the PNG. A Plotly image trace draws PNG row k at
    ``y0 + k·dy`` whichever way its y axis runs, so with a y axis that increases upwards row 0
    (the deepest dermis) is drawn at the bottom, as in the lattice.

    Parameters
    ----------
    rgb : numpy.ndarray
        The image.
    level : int, default 6
        zlib compression level.

    Returns
    -------
    bytes
        A complete PNG file (8-bit RGB, filter "Up" on every row).
    """
    image = np.ascontiguousarray(rgb, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image (rows, columns, 3), got shape {image.shape}")
    height, width = image.shape[:2]
    # Filter type 2 ("Up"): each byte minus the byte above; smooth fields compress better.
    filtered = image.copy()
    filtered[1:] -= image[:-1]
    rows = np.empty((height, 1 + width * 3), dtype=np.uint8)
    rows[:, 0] = 2
    rows[:, 1:] = filtered.reshape(height, width * 3)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
        + _png_chunk(b"IEND", b"")
    )


def png_data_uri(rgb: np.ndarray, *, level: int = 6) -> str:
    """An RGB image as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(encode_png(rgb, level=level)).decode("ascii")
