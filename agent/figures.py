"""Figures for HTML reports: a matplotlib figure on an Agg canvas, a colour per name, and the
figure as an inline PNG ``<figure>``. The simulator's report and the service's monitoring page
draw with these.

It sits in ``agent``, the lowest package both ``simulator`` and ``feedback`` stand on, so
neither reaches sideways into the other for a plot helper. matplotlib is imported inside the
functions (nothing heavy at import time) and used only through ``Figure`` + ``FigureCanvasAgg``,
never pyplot's global state.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Dots per inch of every figure, on screen and in its PNG.
DPI = 100


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` × ``height`` inches with constrained layout, drawn by Agg.

    >>> new_figure(4.0, 3.0).get_size_inches().tolist()
    [4.0, 3.0]
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def colours_for(names: Sequence[str], twin: str = "") -> dict[str, Any]:
    """One qualitative colour per name (tab10, or tab20 beyond ten names). With ``twin``, a
    name ending in it takes the colour of the name without it (a policy's frozen twin, say).

    >>> c = colours_for(["static", "default", "default (frozen)"], twin=" (frozen)")
    >>> c["default"] == c["default (frozen)"] != c["static"]
    True
    """
    from matplotlib import colormaps

    own = list(dict.fromkeys(n.removesuffix(twin) for n in names))
    cm = colormaps["tab10" if len(own) <= 10 else "tab20"]
    return {name: cm(own.index(name.removesuffix(twin)) % cm.N) for name in names}


def figure_html(fig: Figure, alt: str, caption: str) -> str:
    """A ``<figure>`` with the PNG inline; ``alt`` and ``caption`` are plain text (escaped).

    >>> figure_html(new_figure(1.0, 1.0), "a <b>", "c").startswith('<figure><img src="data:')
    True
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    src = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<figure><img src="{src}" alt="{html.escape(alt)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )
