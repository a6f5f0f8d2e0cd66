"""Released ESRGAN-family generators as translate ``RRDBNet`` weights (``networks.py``).

Three layouts of the same network (Wang et al. 2018) are recognised by their tensor names:

``basicsr``     Real-ESRGAN / BasicSR (RealESRGAN_x4plus, RealESRNet_x4plus, RealESRGAN_x2plus,
                RealESRGAN_x4plus_anime_6B): ``conv_first``, ``body.N.rdb1.conv1`` …,
                ``conv_body``, ``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``; our names.
                ×2 and ×1 models pixel-unshuffle their input, which shows as ``conv_first`` taking
                4× or 16× the image channels (12 or 48 for RGB).
``esrgan``      xinntao/ESRGAN's RRDBNet_arch.py (RRDB_ESRGAN_x4.pth, RRDB_PSNR_x4.pth as now
                published): ``RRDB_trunk.N.RDB1.conv1``, ``trunk_conv``, ``upconv1``, ``upconv2``,
                ``HRconv``; ×4 only.
``esrgan-old``  the first ESRGAN release (architecture.py / block.py, September 2018), one flat
                ``model`` Sequential: ``model.0`` conv_first; ``model.1.sub.N.RDB1.conv1.0``
                (each conv wrapped with its activation); ``model.1.sub.<n_blocks>`` the trunk conv;
                ``model.3``, ``model.6`` the upsampling convs after nearest ×2 (``model.2``,
                ``model.5``); ``model.8`` HR conv; ``model.10`` last conv. The mapping is the one
                ESRGAN's own ``transer_RRDB_models.py`` applies to convert these files; ×4 only.

All three work on RGB in [0, 1] (``img / 255``, BGR → RGB, in their test scripts), so the config
sets ``value_range = "0,1"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import torch

from translate.errors import UserError
from translate.weights import Converted, Slot, remap, shape_text

from .networks import UNSHUFFLE

_LAYOUTS = {  # name → (first-block probe, pattern giving the block index)
    "basicsr": ("body.0.rdb1.conv1.weight", re.compile(r"body\.(\d+)\.rdb1\.conv1\.weight$")),
    "esrgan": ("RRDB_trunk.0.RDB1.conv1.weight", re.compile(r"RRDB_trunk\.(\d+)\.RDB1\.conv1\.weight$")),
    "esrgan-old": ("model.1.sub.0.RDB1.conv1.0.weight", re.compile(r"model\.1\.sub\.(\d+)\.RDB1\.conv1\.0\.weight$")),
}
_TITLES = {
    "basicsr": "Real-ESRGAN / BasicSR RRDBNet",
    "esrgan": "ESRGAN RRDBNet (RRDBNet_arch.py)",
    "esrgan-old": "ESRGAN RRDB_Net, first release (architecture.py)",
}


def _source_name(layout: str, n_blocks: int) -> Callable[[str], str]:
    """Our (= BasicSR) parameter name → the layout's name for the same tensor."""
    if layout == "basicsr":
        return lambda name: name
    if layout == "esrgan":
        renames = {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}

        def esrgan(name: str) -> str:
            if name.startswith("body."):
                _, block, rdb, conv, kind = name.split(".")
                return f"RRDB_trunk.{block}.RDB{rdb[3:]}.{conv}.{kind}"
            module, kind = name.split(".")
            return f"{renames.get(module, module)}.{kind}"
        return esrgan
    flat = {"conv_first": "model.0", "conv_body": f"model.1.sub.{n_blocks}", "conv_up1": "model.3",
            "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}

    def old(name: str) -> str:
        if name.startswith("body."):
            _, block, rdb, conv, kind = name.split(".")
            return f"model.1.sub.{block}.RDB{rdb[3:]}.{conv}.0.{kind}"
        module, kind = name.split(".")
        return f"{flat[module]}.{kind}"
    return old


def _first_conv(layout: str) -> str:
    return "model.0.weight" if layout == "esrgan-old" else "conv_first.weight"


def _last_conv(layout: str) -> str:
    return "model.10.weight" if layout == "esrgan-old" else "conv_last.weight"


def _shapes(n_blocks: int, nf: int, gc: int, c_first: int, c_out: int) -> dict[str, tuple[int, ...]]:
    """Our RRDBNet's parameter shapes, in its own order."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, c_o: int, c_i: int) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (c_o, c_i, 3, 3), (c_o,)

    conv("conv_first", nf, c_first)
    for b in range(n_blocks):
        for r in (1, 2, 3):
            for i in range(4):
                conv(f"body.{b}.rdb{r}.conv{i + 1}", gc, nf + i * gc)
            conv(f"body.{b}.rdb{r}.conv5", nf, nf + 4 * gc)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        conv(name, nf, nf)
    conv("conv_last", c_out, nf)
    return shapes


def convert_esrgan_rrdb(state: Mapping[str, torch.Tensor]) -> Converted | None:
    """Config values (``arch``, ``scale``, ``n_blocks``, ``features``, ``growth``, ``value_range``)
    and ``RRDBNet`` weights for an ESRGAN / Real-ESRGAN state dict; None for any other."""
    layout = next((name for name, (probe, _) in _LAYOUTS.items() if probe in state), None)
    if layout is None or state[_LAYOUTS[layout][0]].ndim != 4:
        return None
    title = _TITLES[layout]
    probe, pattern = _LAYOUTS[layout]
    n_blocks = len({int(m.group(1)) for name in state if (m := pattern.match(name))})
    gc, nf = state[probe].shape[:2]  # the first dense conv: growth × features
    last = state.get(_last_conv(layout))
    c_out = last.shape[0] if last is not None and last.ndim == 4 else 3
    first = state.get(_first_conv(layout))
    c_first = first.shape[1] if first is not None and first.ndim == 4 else c_out  # absent: remap names it
    scale = _scale(layout, title, c_first, c_out)
    source = _source_name(layout, n_blocks)
    plan = {source(ours): Slot(ours, shape) for ours, shape in _shapes(n_blocks, nf, gc, c_first, c_out).items()}
    mapped = remap(state, plan, title)
    if c_out != 3:
        raise UserError(f"{title}: the generator makes {c_out}-channel images; translate's srgan is RGB only")
    config = {"arch": "rrdb", "scale": scale, "n_blocks": n_blocks, "features": nf, "growth": gc,
              "value_range": "0,1", "bicubic_skip": False}
    notes = (f"{title}: ×{scale}, {n_blocks} RRDBs, {nf} features, growth {gc}, RGB in [0, 1]",)
    return Converted(config, mapped, notes)


def _scale(layout: str, title: str, c_first: int, c_out: int) -> int:
    """×4 models take the image itself; ×2 and ×1 take its 2×2 / 4×4 pixel-unshuffle."""
    by_channels = {c_out * factor ** 2: scale for scale, factor in UNSHUFFLE.items()}
    scale = by_channels.get(c_first)
    if scale is None or (scale != 4 and layout != "basicsr"):
        raise UserError(f"{title}: tensor '{_first_conv(layout)}' takes {c_first} channels for {c_out}-channel "
                        "output; expected the image itself (×4) or its pixel-unshuffle (×2: 4×, ×1: 16× channels)")
    return scale


def describe_mismatch(state: Mapping[str, torch.Tensor]) -> str:
    """Why ``state`` is not an RRDBNet, for ``translate import --arch rrdb``: one line naming the
    first-block tensors each layout has and the file's first tensor."""
    probes = ", ".join(f"'{probe}' ({_TITLES[name]})" for name, (probe, _) in _LAYOUTS.items())
    name, tensor = next(iter(state.items()))
    return (f"not an ESRGAN-family RRDBNet: the file has none of {probes}; its first tensor is '{name}' "
            f"({shape_text(tensor.shape)})")
