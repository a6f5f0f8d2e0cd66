"""The pix2pix preview: one row per item, input | output | target, captioned for the run page."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from translate.plugin import Preview
from translate_plugins.pix2pix.training import preview


def test_rows_of_input_output_target():
    x = torch.rand(3, 3, 8, 8) * 2 - 1
    y = torch.rand(3, 3, 8, 8) * 2 - 1
    ctx = SimpleNamespace(inference_modules=lambda: {"generator": lambda t: -t})
    shown = preview(ctx, {"input": x, "target": y})
    assert isinstance(shown, Preview) and not shown.problems()
    assert shown.columns == ("input", "output", "target") and not shown.rows
    grid = shown.images.view(3, 3, 3, 8, 8)  # item, column
    torch.testing.assert_close(grid[:, 0], x)
    torch.testing.assert_close(grid[:, 1], -x)
    torch.testing.assert_close(grid[:, 2], y)
