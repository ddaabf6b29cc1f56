"""``.ci/run`` installs Chromium and its driver unless both are already there: a machine with
``chromium`` but not ``chromedriver`` gets the install (the browser tests need both)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / ".ci" / "run"


def _installs(tmp_path: Path, present: list[str]) -> bool:
    """Whether the script's Chromium check, run with only ``present`` on the PATH, installs."""
    line = next(x for x in RUN.read_text().splitlines() if "command -v chromium" in x)
    condition = line.removeprefix("if").removesuffix("; then")
    for name in present:
        tool = tmp_path / name
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    script = f"if {condition}; then echo install; else echo skip; fi"
    out = subprocess.run(
        ["/bin/bash", "-c", script],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip() == "install"


@pytest.mark.parametrize(
    ("present", "installs"),
    [
        ([], True),
        (["chromium"], True),
        (["chromedriver"], True),
        (["chromium", "chromedriver"], False),
    ],
)
def test_the_browser_is_installed_unless_both_tools_are_there(
    tmp_path: Path, present: list[str], installs: bool
) -> None:
    assert _installs(tmp_path, present) is installs
