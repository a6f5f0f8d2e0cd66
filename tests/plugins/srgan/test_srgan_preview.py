"""The SRGAN preview: one row per item, every image at HR size: the LR pixels, bicubic, SR, HR."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from translate.plugin import Preview
from translate_plugins.srgan.training import preview


def test_rows_of_lr_bicubic_sr_hr_at_the_hr_size():
    lr = torch.rand(2, 3, 6, 6) * 2 - 1
    hr = torch.rand(2, 3, 12, 12) * 2 - 1
    shown = preview(lambda t: F.interpolate(t, scale_factor=2) * 0 + 0.25, {"lr": lr, "hr": hr}, scale=2)
    assert isinstance(shown, Preview) and not shown.problems()
    assert [c.split(" ")[0] for c in shown.columns] == ["LR", "bicubic", "SR", "HR"] and "×2" in shown.columns[0]
    grid = shown.images.view(2, 4, 3, 12, 12)
    torch.testing.assert_close(grid[:, 0], F.interpolate(lr, scale_factor=2, mode="nearest"))  # the input's pixels
    torch.testing.assert_close(grid[:, 2], torch.full_like(hr, 0.25))
    torch.testing.assert_close(grid[:, 3], hr)
