"""Replay and reports of run files: a Dash app (``mscabm view``) and a static HTML report.

:mod:`mscabm.viz.reader` reads frames lazily; :mod:`mscabm.viz.render` turns them into compact
PNG images with fixed, colour-blind-safe palettes; :mod:`mscabm.viz.figures` builds the Plotly
figures that :mod:`mscabm.viz.app` (the browser app) and :mod:`mscabm.viz.report` (the
self-contained HTML file) share. Dash and Plotly are optional dependencies (the ``viz`` extra);
the reader needs neither.
"""

from mscabm.viz.reader import FieldInfo, FrameReader, SliceSpec, open_reader

__all__ = ["FieldInfo", "FrameReader", "SliceSpec", "open_reader"]
