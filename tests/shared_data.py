"""Where the shared replay logs live, and a clear skip when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def shared_log(name: str) -> Path:
    """The folder of a shared log, or skip the test saying where it was looked for."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(
            f"{path.resolve()} is absent: the shared replay logs are not beside this checkout"
        )
    return path
