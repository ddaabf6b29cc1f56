"""What a pool model may be called, as one regular expression the schema publishes and the
validator runs (so a name the schema allows is a name the service takes).

A model name holds printable characters only, ``/`` between parts (``openai/gpt-4o``), each part
holding a character other than ``.`` and the space (no ``..``, no empty part, so a name is never
a path that climbs or a blank), and is not ``router``, the proxy's own name for routing.
*Printable* here means no control, format, private-use or separator character other than the
plain space, in the Basic Multilingual Plane (what :data:`UNPRINTABLE` lists); Unicode's
unassigned code points are not refused, so the rule does not change with the Unicode version.

A model already in the pool is named in a request (a path, ``allowed``, a label's outcomes) by
any text that is not blank (:data:`ModelRef`): one made before these rules can still be removed.

>>> from pydantic import TypeAdapter
>>> names = TypeAdapter(ModelNameStr)
>>> names.validate_python("openai/gpt-4o"), names.validate_python("modèle ünïcode ✓ (v2)")
('openai/gpt-4o', 'modèle ünïcode ✓ (v2)')
>>> for bad in ("router", "../x", "a//b", "/a", "a/", "tab\\there", "zero\\u200bwidth", " "):
...     try:
...         names.validate_python(bad)
...     except ValueError as exc:
...         print(repr(bad), "->", exc.errors()[0]["msg"].removeprefix("Value error, "))
'router' -> 'router' is the proxy's own name for routing; choose another
'../x' -> each part between '/' must hold a character other than '.' and space
'a//b' -> each part between '/' must hold a character other than '.' and space
'/a' -> each part between '/' must hold a character other than '.' and space
'a/' -> each part between '/' must hold a character other than '.' and space
'tab\\there' -> must hold printable characters only (got '\\t')
'zero\\u200bwidth' -> must hold printable characters only (got '\\u200b')
' ' -> must not be empty or only whitespace
>>> import unicodedata
>>> unprintable = re.compile(f"[{UNPRINTABLE}]")
>>> kinds = {"Cc", "Cf", "Co", "Zl", "Zp", "Zs"}
>>> all(bool(unprintable.fullmatch(c)) == (unicodedata.category(c) in kinds and c != " ")
...     for c in map(chr, range(0x10000)) if unicodedata.category(c) != "Cs")
True
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from feedback.validation import NOT_BLANK, Documented, not_blank, safe_text

#: The control (Cc), format (Cf), private-use (Co) and separator (Zl, Zp, Zs but the space)
#: characters of the Basic Multilingual Plane, as a regex character class body.
UNPRINTABLE = (
    r"\x00-\x1f\x7f-\xa0\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u1680\u180e"
    r"\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\ue000-\uf8ff\ufeff"
    r"\ufff9-\ufffb"
)
_PART = rf"[^/{UNPRINTABLE}]*[^/. {UNPRINTABLE}][^/{UNPRINTABLE}]*"
#: A model name: printable parts separated by ``/``, each with a character other than ``.`` and
#: space (the same in Python, ECMA-262 and Rust regexes).
MODEL_NAME = rf"^{_PART}(?:/{_PART})*$"
#: The proxy's own model name (``model: "router"`` routes); no pool model may take it.
ROUTER = "router"

_NAME = re.compile(MODEL_NAME)
_BAD_CHAR = re.compile(f"[{UNPRINTABLE}]")


def check_model_name(value: str) -> str:
    """``value`` if it may name a new pool model, else ``ValueError`` with the reason."""
    if _NAME.fullmatch(value) and value != ROUTER:
        return value
    bad = _BAD_CHAR.search(value)
    if bad is not None:
        raise ValueError(f"must hold printable characters only (got {bad.group()!r})")
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    if value == ROUTER:
        raise ValueError(f"{ROUTER!r} is the proxy's own name for routing; choose another")
    raise ValueError("each part between '/' must hold a character other than '.' and space")


#: The name of a new pool model (``POST /models``).
ModelNameStr = Annotated[
    str,
    AfterValidator(safe_text),
    AfterValidator(check_model_name),
    Documented(pattern=MODEL_NAME, **{"not": {"const": ROUTER}}),
]
#: A model named in a request: any text that is not blank (an unknown one is a 404).
ModelRef = Annotated[
    str, AfterValidator(safe_text), AfterValidator(not_blank), Documented(pattern=NOT_BLANK)
]
