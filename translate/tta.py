"""Test-time augmentation: run a network on flipped and rotated copies of its input, undo each
transform on the output, and average (the ×8 "self-ensemble" of Lim et al. 2017, §4.4, which
super-resolution papers report; BasicSR's ``--self-ensemble``).

A plugin declares which transforms its networks tolerate with its ``tta`` attribute:

    ``"dihedral"``  the 8 symmetries of the square: 4 rotations × mirror (super-resolution, most
                    paired translation)
    ``"flips"``     the image and its left-right mirror (photos whose up and down must stay put)
    ``None``        no test-time augmentation (the default)

The core wraps each inference module (:func:`ensembled`), so every call of it — by ``apply``,
by ``evaluate``, on each tile of a tiled image — becomes the average over the transforms. The
tiling and padding of the plugin's apply happen before the module is called: a padded tile has
both sides a multiple of the network's ``multiple``, so a rotated one (W×H) still has. The
transforms run one after another, so memory stays that of one pass; time is ×8 or ×2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from .errors import UserError
from .plugin import TTA_MODES as MODES

PASSES = {"dihedral": 8, "flips": 2}
DESCRIPTIONS = {"dihedral": "×8: 4 rotations × left-right mirror", "flips": "×2: the image and its left-right mirror"}

Fn = Callable[..., torch.Tensor]


def transforms(mode: str) -> list[tuple[int, bool]]:
    """(quarter turns, mirrored) of each pass; the identity first."""
    if mode not in PASSES:
        raise ValueError(f"unknown test-time augmentation {mode!r}; use one of {', '.join(MODES)}")
    turns = range(4) if mode == "dihedral" else range(1)
    return [(k, mirror) for mirror in (False, True) for k in turns]


def forward_transform(x: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    if mirror:
        x = x.flip(-1)
    return torch.rot90(x, turns, dims=(-2, -1)) if turns else x


def inverse_transform(y: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    if turns:
        y = torch.rot90(y, -turns, dims=(-2, -1))
    return y.flip(-1) if mirror else y


def ensemble(fn: Fn, x: torch.Tensor, mode: str, *args: Any, **kwargs: Any) -> torch.Tensor:
    """The mean over ``mode``'s transforms T of T⁻¹(fn(T(x))), accumulated in float32 and
    returned in the dtype ``fn`` returns. ``fn`` must map N×C×H×W to N×C'×sH×sW."""
    total, dtype = None, None
    for turns, mirror in transforms(mode):
        out = inverse_transform(fn(forward_transform(x, turns, mirror), *args, **kwargs), turns, mirror)
        if total is None:
            total, dtype = out.float(), out.dtype
        else:
            total += out.float()  # float32 here: a rotated output may be a view of another layout
    return (total / len(transforms(mode))).to(dtype)


class Ensembled(torch.nn.Module):
    """``module`` whose forward is :func:`ensemble` of its own; every other attribute (``multiple``,
    ``residual``, its parameters) reads through to the wrapped module, so a plugin's apply and
    evaluate use it as they use the module itself."""

    def __init__(self, module: torch.nn.Module, mode: str):
        super().__init__()
        transforms(mode)  # an unknown mode fails here, not at the first image
        self.inner = module
        self.mode = mode

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return ensemble(self.inner, x, self.mode, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)  # parameters, buffers, sub-modules (``inner``)
        except AttributeError:
            return getattr(self._modules["inner"], name)


def mode_of(plugin: Any, tta: bool | str | None) -> str | None:
    """The transforms to run: None when ``tta`` is off; the plugin's declared ``tta`` for True;
    a named mode when the plugin's allows it ("flips" is part of "dihedral"). One line when the
    plugin declares none."""
    if not tta:
        return None
    declared = getattr(plugin, "tta", None)
    name = getattr(plugin, "name", "?")
    if declared is None:
        raise UserError(f"plugin '{name}' declares no test-time augmentation (its networks are not known to "
                        "give the same result on flipped or rotated images); leave out --tta")
    if tta is True:
        return declared
    if tta not in PASSES:
        raise UserError(f"tta={tta!r}: use True (the plugin's: {declared}) or one of {', '.join(MODES)}")
    if tta == "dihedral" and declared != "dihedral":
        raise UserError(f"tta='dihedral': plugin '{name}' allows only {declared} ({DESCRIPTIONS[declared]})")
    return tta


def ensembled(plugin: Any, modules: Mapping[str, Any], tta: bool | str | None) -> dict[str, Any]:
    """``modules`` with each network wrapped in :class:`Ensembled` for the transforms ``tta``
    asks (see :func:`mode_of`); unchanged when it is off."""
    mode = mode_of(plugin, tta)
    if mode is None:
        return dict(modules)
    return {name: Ensembled(m, mode) if isinstance(m, torch.nn.Module) else m for name, m in modules.items()}


def describe(mode: str) -> str:
    """One line for reports: what the passes are and what they cost."""
    return f"test-time augmentation {mode} ({DESCRIPTIONS[mode]}), outputs averaged after undoing each transform"
