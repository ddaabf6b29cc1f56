"""``405 Method Not Allowed`` with an ``Allow`` header that lists every method of the path.

Starlette answers 405 from the first route whose path matches, so with ``DELETE`` and
``PATCH`` on ``/models/{name}`` as two routes, ``Allow`` named only one of them."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods some route of ``app`` serves at ``path``, sorted; empty if none matches.

    >>> from fastapi import FastAPI, Request
    >>> app = FastAPI()
    >>> _ = app.delete("/items/{name:path}")(lambda name: None)
    >>> _ = app.patch("/items/{name:path}")(lambda name: None)
    >>> allowed_methods(app, "/items/a/b"), allowed_methods(app, "/other")
    (['DELETE', 'PATCH'], [])
    """
    table: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        app.state, "method_table", None
    )
    if table is None:
        table = [
            (compile_path(rc.path)[0], frozenset(rc.methods))
            for rc in iter_route_contexts(app.router.routes)
            if rc.methods and rc.path
        ]
        app.state.method_table = table
    return sorted({m for regex, methods in table if regex.match(path) for m in methods})


def route_path(request: Request) -> str:
    """The path routes match against: the request's, less the ``root_path`` it is mounted at."""
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
