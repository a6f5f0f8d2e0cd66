"""``translate --help`` and every sub-command's help must not import torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import sys
from translate.cli import cli
try:
    cli.main({args!r}, prog_name="translate", standalone_mode=False)
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "torchvision", "kornia", "albumentations", "numpy", "av") if m in sys.modules)
print("HEAVY:", ",".join(heavy))
"""

COMMANDS = [
    ["--help"], ["train", "--help"], ["train", "gan", "--help"], ["apply", "--help"], ["sample", "--help"],
    ["eval", "--help"], ["plugins", "--help"], ["plugin", "--help"], ["plugin", "new", "--help"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_help_does_not_import_torch(args):
    proc = subprocess.run([sys.executable, "-c", CHECK.format(args=args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
    assert proc.stdout.strip().endswith("HEAVY:"), proc.stdout[-300:]


def test_every_listed_command_has_help(cli):
    from translate.cli import SUBCOMMANDS, LazyGroup

    out = cli("--help").output
    for name in LazyGroup().list_commands(None):
        assert name in out and SUBCOMMANDS[name][2] in out
        assert "Usage:" in cli(name, "--help").output


def test_plugin_listing_does_not_import_torch():
    code = ("import sys; from translate.cli import cli\n"
            "try:\n    cli.main(['plugins'], standalone_mode=False)\nexcept SystemExit: pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'LIGHT')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().endswith("LIGHT"), proc.stdout + proc.stderr
