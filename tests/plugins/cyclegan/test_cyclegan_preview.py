"""The CycleGAN preview: both directions, each a row of real | translated | reconstructed (and the
identity column when the identity loss is on), captioned for the run page."""

from __future__ import annotations

import torch

from translate.plugin import Preview
from translate_plugins.cyclegan.training import preview


class Scale(torch.nn.Module):
    """A stand-in generator whose output tells which generator made it."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


MODULES = {"g_ab": Scale(-1.0), "g_ba": Scale(0.5)}


def _batch(n: int = 3) -> dict[str, torch.Tensor]:
    a = torch.arange(1, n + 1, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 4, 4) / 10
    return {"a": a, "b": a + 0.5}


def test_each_item_shows_both_directions_real_fake_reconstructed():
    batch = _batch()
    shown = preview(MODULES, batch, n=2)
    assert isinstance(shown, Preview) and not shown.problems()
    assert shown.columns == ("real", "translated (fake)", "reconstructed") and shown.rows == ("A → B", "B → A")
    grid = shown.images.view(2, 2, 3, 3, 4, 4)  # item, direction, column
    a, b = batch["a"][:2], batch["b"][:2]
    torch.testing.assert_close(grid[:, 0, 0], a)
    torch.testing.assert_close(grid[:, 0, 1], -a)  # G_AB(A)
    torch.testing.assert_close(grid[:, 0, 2], -a * 0.5)  # G_BA(G_AB(A))
    torch.testing.assert_close(grid[:, 1, 0], b)
    torch.testing.assert_close(grid[:, 1, 1], b * 0.5)  # G_BA(B)
    torch.testing.assert_close(grid[:, 1, 2], -b * 0.5)  # G_AB(G_BA(B))


def test_the_identity_column_is_the_other_generator_on_the_real_image():
    batch = _batch()
    shown = preview(MODULES, batch, n=3, identity=True)
    assert shown.columns[-1] == "identity" and "identity" in shown.title and not shown.problems()
    grid = shown.images.view(3, 2, 4, 3, 4, 4)
    torch.testing.assert_close(grid[:, 0, 3], batch["a"] * 0.5)  # G_BA(A): should leave A as it is
    torch.testing.assert_close(grid[:, 1, 3], -batch["b"])  # G_AB(B)


def test_the_plugin_shows_identity_only_when_the_identity_loss_is_on():
    from types import SimpleNamespace

    from translate_plugins.cyclegan import CycleGANPlugin

    for weight, columns in ((0.5, 4), (0.0, 3)):
        ctx = SimpleNamespace(config=CycleGANPlugin.Config(lambda_identity=weight), inference_modules=lambda: MODULES)
        assert len(CycleGANPlugin().preview(ctx, _batch()).columns) == columns
