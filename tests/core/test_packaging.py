"""The wheel installs only the project's own top-level packages (no generic ``plugins``)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_top_level_packages(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), "-q"], check=True, capture_output=True)
    wheel = next(tmp_path.glob("translate_gan-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"translate", "translate_plugins"}, top
    assert "translate_plugins/gan/__init__.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[translate.plugins]" in text and "gan = translate_plugins.gan:GanPlugin" in text
    assert "translate = translate.cli:main" in text
