"""The gan preview: samples from fixed noise, a column per class for a conditional model, and
points over the target mixture, each captioned for the run page."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from translate.plugin import Preview
from translate_plugins.gan import GanPlugin


class LabelPainter(torch.nn.Module):
    """A stand-in generator: each image is filled with its class index (0 without classes)."""

    latent_dim = 2

    def __init__(self, points: bool = False):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.points = points

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.points:
            return z
        fill = labels.float() if labels is not None else torch.zeros(len(z))
        return fill.view(-1, 1, 1, 1).expand(-1, 3, 4, 4) + self.weight


def _ctx(**config) -> SimpleNamespace:
    generator = LabelPainter(points=config.get("points", False))
    return SimpleNamespace(config=GanPlugin.Config(**config), inference_modules=lambda: {"generator": generator},
                           preview_generator=lambda: torch.Generator().manual_seed(0))


def test_unconditional_samples_say_they_come_from_fixed_noise():
    shown = GanPlugin().preview(_ctx(), {})
    assert isinstance(shown, Preview) and not shown.problems()
    assert shown.images.shape[0] == 64 and not shown.columns and "fixed noise" in shown.title


def test_a_conditional_model_shows_a_column_per_class():
    shown = GanPlugin().preview(_ctx(conditional=True, classes=("cat", "dog", "owl")), {})
    assert shown.columns == ("cat", "dog", "owl") and not shown.problems()
    grid = shown.images.view(-1, 3, 3, 4, 4)  # rows of the three classes
    assert grid.shape[0] == 64 // 3
    for column in range(3):
        assert (grid[:, column] == column).all()


def test_points_are_a_captioned_scatter_plot():
    from PIL import Image

    shown = GanPlugin().preview(_ctx(points=True, point_set="ring8"), {})
    assert isinstance(shown.images, Image.Image) and "mode" in shown.title and not shown.problems()
