"""Packaging: installing yaffmpegp prints no warnings about our own metadata."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_metadata_builds_without_deprecation_warnings(tmp_path: Path) -> None:
    """pip builds the package in an isolated env with the newest setuptools the build-system
    allows, as `make demo` does: no warning about the license field, and the metadata carries
    the SPDX expression. Built from a copy, so no build/ or egg-info lands in the tree."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "yaffmpegp", src / "yaffmpegp", ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-cache-dir", "-w",
                        str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    output = r.stdout + r.stderr
    # setuptools' warnings come through pip as "...: BuildBackendWarning: `project.license` as
    # a TOML table is deprecated" (or SetuptoolsDeprecationWarning, depending on versions)
    assert not re.search(r"DeprecationWarning|BuildBackendWarning: .*(licen[cs]e|deprecat)", output), output
    (wheel,) = (tmp_path / "dist").glob("yaffmpegp-*.whl")
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in meta.splitlines()
