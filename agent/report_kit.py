"""The report kit the simulator's report and the service's dashboard share: number formats,
the HTML page around a report, JSON-safe copies and atomic file writes. Standard library only.

It sits in ``agent``, the lowest package both ``simulator`` and ``feedback`` stand on, so
neither reaches sideways into the other for a number format.
"""

from __future__ import annotations

import contextlib
import html
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DASH = "—"


def finite(x: Any) -> float | None:
    """``x`` as a finite float, else None (covers None, NaN, inf and non-numbers)."""
    ok = isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
    return float(x) if ok else None


def fmt_rate(x: Any) -> str:
    """A rate such as accuracy or utility, 3 decimals; missing or non-finite as a dash."""
    v = finite(x)
    return DASH if v is None else f"{v:.3f}"


def fmt_usd(x: Any) -> str:
    """Dollars with 3 significant digits; scientific when tiny.

    >>> fmt_usd(0.0011), fmt_usd(0.5), fmt_usd(12.345), fmt_usd(3e-7), fmt_usd(None)
    ('$0.00110', '$0.500', '$12.35', '$3.00e-07', '—')
    """
    v = finite(x)
    if v is None:
        return DASH
    if v == 0 or abs(v) >= 1:
        return f"${v:,.2f}"
    if abs(v) < 1e-5:
        return f"${v:.2e}"
    return f"${v:.{2 - math.floor(math.log10(abs(v)))}f}"


def fmt_per_1000(mean: Any, se: Any = None) -> str:
    """Utility per 1,000 requests, signed, with ``± se`` when known: whole numbers where the
    figure or its SE reaches 10 (unless the SE is below 1), else one decimal.

    >>> fmt_per_1000(26.3, 4.1), fmt_per_1000(-2.56, 3.0), fmt_per_1000(-0.0, 0.0)
    ('+26 ± 4', '-2.6 ± 3.0', '+0.0 ± 0.0')
    >>> fmt_per_1000(8.7, 15.3)
    '+9 ± 15'
    >>> fmt_per_1000(26.3, 0.4)
    '+26.3 ± 0.4'
    >>> fmt_per_1000(12.0), fmt_per_1000(None)
    ('+12', '—')
    """
    m, s = finite(mean), finite(se)
    if m is None:
        return DASH
    digits = 0 if max(abs(m), s or 0.0) >= 10 and (s is None or s >= 1) else 1
    return f"{m + 0.0:+,.{digits}f}" + ("" if s is None else f" ± {s:,.{digits}f}")


def fmt_share(x: Any) -> str:
    """A share as a whole percentage; missing as an empty cell.

    >>> fmt_share(0.083), fmt_share(-0.02), fmt_share(-0.004), fmt_share(None)
    ('8%', '-2%', '0%', '')
    """
    v = finite(x)
    return "" if v is None else f"{round(100 * v)}%"


def html_page(title: str, style: str, body: str) -> str:
    """A complete, self-contained HTML document: ``title`` is plain text (escaped), ``style``
    the inline stylesheet and ``body`` the page's HTML.

    >>> print(html_page("a < b", "p{}", "<p>hi</p>"))  # doctest: +ELLIPSIS
    <!DOCTYPE html>
    <html lang="en"><head>...<title>a &lt; b</title><style>p{}</style></head><body>
    <p>hi</p>
    </body></html>
    <BLANKLINE>
    """
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{style}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def sanitise(obj: Any) -> Any:
    """A JSON-ready copy: non-finite floats → None, numpy values → Python, other objects → str."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str | int):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): sanitise(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [sanitise(v) for v in obj]
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return sanitise(tolist())
    return str(obj)


def atomic_write(path: Path, text: str) -> None:
    """Write to a temp file beside ``path``, then rename over it: never a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
