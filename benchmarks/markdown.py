"""Write one benchmark's section into BENCHMARKS.md, leaving the other sections alone."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nEach section is written by the script it names; re-run it to refresh.\n"


def machine() -> str:
    """A one-line description of the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, load {load:.1f}"


def write_section(name: str, command: str, body: str) -> None:
    """Replace (or append) the section ``name`` with the command, machine, date and ``body``."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- bench:{name} -->\n## {name}\n\n"
        f"Command: `{command}`  \nMachine: {machine()}  \nDate: {stamp}"
        f"{f' (commit {commit})' if commit else ''}\n\n{body.strip()}\n<!-- /bench:{name} -->\n"
    )
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n", re.S
    )
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text + "\n" + section
    BENCHMARKS.write_text(text)
