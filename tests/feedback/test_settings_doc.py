"""README's settings reference names every setting and every ``serve`` flag; settings refuse
non-finite numbers."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from feedback.serve import _add_arguments
from feedback.settings import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_has_a_row() -> None:
    rows = {line.split("|")[1].strip() for line in README.splitlines() if line.startswith("| `")}
    for f in dataclasses.fields(Settings):
        var = f"ROUTING_AGENT_{f.name.upper()}"
        assert any(var in row for row in rows), f"README's settings table lacks {var}"


def test_every_serve_flag_has_a_row() -> None:
    parser = argparse.ArgumentParser()
    _add_arguments(parser)
    flags = [a.option_strings[0] for a in parser._actions if a.option_strings[0] != "-h"]
    for flag in flags:
        assert f"| `{flag}" in README, f"README's serve table lacks {flag}"


def test_a_non_finite_setting_is_refused() -> None:
    for bad in ("nan", "inf", "-Infinity"):
        with pytest.raises(ValueError, match="stickiness must be a finite number"):
            Settings.from_env({"ROUTING_AGENT_STICKINESS": bad})
