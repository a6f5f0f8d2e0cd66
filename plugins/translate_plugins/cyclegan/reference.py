"""Released CycleGAN generators of the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix,
Zhu et al. 2017), e.g. horse2zebra.pth, as translate ``ResnetGenerator`` weights.

The reference's ResnetGenerator is one ``nn.Sequential`` named ``model`` in the same order as ours
(``networks.py``), so its tensors differ from ours only in names:

    model.1        c7s1-ngf conv (ngf × in × 7 × 7)          → net.1
    model.4, .7    the two stride-2 down convs               → net.4, net.7
    model.10 …     residual blocks, ``conv_block.1`` / ``.5`` → net.10 … ``body.1`` / ``.5``
    model.10+n     transposed convs (stride ½)               → net.10+n, net.13+n
    model.17+n     the final c7s1 conv to the output         → net.17+n

What the weights cannot say, and what the reference always builds (its ``define_G``): reflection
padding in the residual blocks (``padding_type='reflect'``) and instance norm without affine
parameters for CycleGAN (``--norm instance``, its default). CycleGAN's models have no dropout
(``cycle_gan_model.py`` sets ``no_dropout=True``); a file trained with dropout has the block's
second conv at ``conv_block.6`` and is mapped too, equal to the reference in eval mode.

Old files (from code that built InstanceNorm2d with ``track_running_stats=True``) carry
``running_mean``/``running_var``/``num_batches_tracked`` for every instance norm. The reference
today builds InstanceNorm2d(affine=False, track_running_stats=False) (``networks.get_norm_layer``)
and deletes those entries before loading (``BaseModel.load_networks`` → "patch InstanceNorm
checkpoints prior to 0.4"), so it never uses them: such a layer normalises each image by its own
statistics in train and eval mode alike. (In torch, tracked statistics are used only in eval
mode; in train mode, which the reference's test script keeps unless ``--eval``, InstanceNorm uses
each image's statistics even where they are tracked.) They are dropped here.

One file, one generator. The reference saves ``latest_net_G_A.pth`` (A → B) and
``latest_net_G_B.pth`` (B → A) for a trained CycleGAN, and its pretrained downloads
(horse2zebra, zebra2horse, monet2photo, ...) are one generator each, named after the direction it
translates: horse2zebra.pth is G_A of the horse↔zebra model. Nothing in a file says which
direction it is, so :func:`import_generators` maps it to ``g_ab`` (``direction="a2b"``, the
default) or ``g_ba`` and writes a checkpoint with that generator alone; ``reverse`` adds the
opposite generator from a second file (e.g. zebra2horse.pth), which must have the same layout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from translate.errors import UserError
from translate.plugin import Imported
from translate.weights import Converted, Slot, read_torch_weights, remap, shape_text

from .training import DIRECTIONS

LAYOUT = "CycleGAN reference ResnetGenerator (junyanz/pytorch-CycleGAN-and-pix2pix)"
_BLOCK = re.compile(r"model\.(\d+)\.conv_block\.\d+\.weight$")
_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")
FIRST_BLOCK = 10  # 4 layers of c7s1 + 3 of each down conv
CROP_SIZE = 256  # the reference's --crop_size, the training image size it records nowhere


def convert_junyanz_resnet(state: Mapping[str, torch.Tensor]) -> Converted | None:
    """Config values (``channels``, ``gen_features``, ``n_blocks``) and ``ResnetGenerator`` weights
    for a reference ResnetGenerator state dict; None if ``state`` is not one."""
    first = state.get("model.1.weight")
    blocks = {int(m.group(1)) for name in state if (m := _BLOCK.match(name))}
    if first is None or first.ndim != 4 or first.shape[-2:] != (7, 7) or not blocks:
        return None
    ngf, c_in = first.shape[:2]
    n = len(blocks)
    if "model.2.weight" in state or "model.1.bias" not in state:
        # A BatchNorm scale at model.2, or no conv bias: the reference drops biases unless the norm
        # is instance norm (with --norm none too).
        evidence = ("'model.2.weight' (a BatchNorm scale) shows --norm batch" if "model.2.weight" in state
                    else "'model.1.weight' has no bias and no norm follows it: --norm none")
        raise UserError(f"{LAYOUT}: {evidence}; translate's cyclegan generator uses instance norm (the "
                        "reference's CycleGAN default), so it cannot run these weights")
    dropout = any(name.endswith(".conv_block.6.weight") for name in state)
    final = state.get(f"model.{17 + n}.weight")
    c_out = final.shape[0] if final is not None and final.ndim == 4 else c_in
    plan = _plan(c_in, c_out, ngf, n, dropout)
    norms = _norm_paths(n, dropout)
    dropped = [name for name in state if _is_norm_stat(name, norms)]
    mapped = remap(state, plan, LAYOUT, drop=lambda name: _is_norm_stat(name, norms))
    if c_in != c_out:
        raise UserError(f"{LAYOUT}: the generator maps {c_in} to {c_out} channels; translate's cyclegan uses "
                        "the same number of channels on both sides")
    notes = [f"{n} residual blocks, {ngf} base features, {c_in} channels"]
    if dropped:
        notes.append(f"dropped {len(dropped)} unused InstanceNorm running statistics (files saved by torch ≤ 0.4)")
    if dropout:
        notes.append("trained with dropout in the residual blocks: outputs equal the reference's in eval mode")
    return Converted({"channels": c_in, "gen_features": ngf, "n_blocks": n}, mapped, tuple(notes))


def _plan(c_in: int, c_out: int, ngf: int, n: int, dropout: bool) -> dict[str, Slot]:
    """Reference name → our name and shape, for every tensor of the generator."""
    f = 4 * ngf  # width of the residual blocks
    convs = {  # reference index → (out, in, k) of its conv; transposed convs store (in, out, k)
        1: (ngf, c_in, 7), 4: (2 * ngf, ngf, 3), 7: (f, 2 * ngf, 3),
        FIRST_BLOCK + n: (f, 2 * ngf, 3), FIRST_BLOCK + n + 3: (2 * ngf, ngf, 3), 17 + n: (c_out, ngf, 7),
    }
    plan: dict[str, Slot] = {}
    for index, (a, b, k) in convs.items():
        transposed = FIRST_BLOCK + n <= index < 17 + n
        plan[f"model.{index}.weight"] = Slot(f"net.{index}.weight", (a, b, k, k))
        plan[f"model.{index}.bias"] = Slot(f"net.{index}.bias", (b if transposed else a,))
    second = 6 if dropout else 5  # a Dropout after the first conv's ReLU shifts the second conv
    for block in range(FIRST_BLOCK, FIRST_BLOCK + n):
        for ours, theirs in ((1, 1), (5, second)):
            for kind, shape in (("weight", (f, f, 3, 3)), ("bias", (f,))):
                plan[f"model.{block}.conv_block.{theirs}.{kind}"] = Slot(f"net.{block}.body.{ours}.{kind}", shape)
    return plan


def _norm_paths(n: int, dropout: bool) -> set[str]:
    """Module paths of the reference's InstanceNorm layers (where old files keep running stats)."""
    paths = {f"model.{i}" for i in (2, 5, 8, FIRST_BLOCK + n + 1, FIRST_BLOCK + n + 4)}
    for block in range(FIRST_BLOCK, FIRST_BLOCK + n):
        paths |= {f"model.{block}.conv_block.2", f"model.{block}.conv_block.{7 if dropout else 6}"}
    return paths


def _is_norm_stat(name: str, norms: set[str]) -> bool:
    path, _, stat = name.rpartition(".")
    return stat in _NORM_STATS and path in norms


# ---- translate import ------------------------------------------------------------------------------

def import_generators(state: Mapping[str, torch.Tensor], direction: str = "a2b", reverse: str = "",
                      required: bool = False) -> Imported | None:
    """The ``import_weights`` answer for a reference generator file: ``g_ab`` or ``g_ba``
    (``direction``), plus the opposite one from the file ``reverse``. None when ``state`` is not a
    reference ResnetGenerator, unless ``required`` (``--arch resnet``): then one line says why."""
    converted = convert_junyanz_resnet(state)
    if converted is None:
        if required:
            raise UserError(describe_mismatch(state))
        return None
    if direction not in DIRECTIONS:
        raise UserError(f"--set direction={direction}: say which generator the file is, a2b (the reference's "
                        "G_A, e.g. horse2zebra) or b2a (G_B, e.g. zebra2horse)")
    c = converted.config
    layout = f"{LAYOUT}, {c['n_blocks']} blocks, {c['gen_features']} filters"
    modules = {DIRECTIONS[direction]: converted.state_dict}
    notes = list(converted.notes)
    other = "b2a" if direction == "a2b" else "a2b"
    if reverse:
        modules[DIRECTIONS[other]] = _reverse_generator(reverse, c)
        notes.append(f"{DIRECTIONS[direction]} ({direction}) from this file, {DIRECTIONS[other]} ({other}) from "
                     f"{reverse} (sha256 {_sha256(reverse)})")
    else:
        notes.append(f"one generator: {DIRECTIONS[direction]} ({direction}); --direction {other} needs the other "
                     f"file (translate import FILE --set reverse=OTHER.pth)")
    return Imported(c, modules, layout, options={"size": CROP_SIZE}, notes=tuple(notes))


def _reverse_generator(path: str, config: dict) -> dict[str, torch.Tensor]:
    state = read_torch_weights(path, flag="--set reverse", what="the reference generator of the other direction")
    converted = convert_junyanz_resnet(state)
    if converted is None:
        raise UserError(f"--set reverse={path}: not a reference ResnetGenerator ({describe_mismatch(state)})")
    if converted.config != config:
        differ = ", ".join(f"{k} {converted.config[k]} (first file: {v})" for k, v in config.items()
                           if converted.config[k] != v)
        raise UserError(f"--set reverse={path}: a generator with {differ}; both directions of one checkpoint "
                        "need the same architecture")
    return converted.state_dict


def _sha256(path: str) -> str:
    from translate.importing import sha256_of

    return sha256_of(Path(path))


def describe_mismatch(state: Mapping[str, torch.Tensor]) -> str:
    """Why ``state`` is not a reference ResnetGenerator, in one line naming its first tensor."""
    name, tensor = next(iter(state.items()))
    first = state.get("model.1.weight")
    if first is None:
        why = "it has no 'model.1.weight' (the first 7×7 conv)"
    elif first.ndim != 4 or tuple(first.shape[-2:]) != (7, 7):
        why = f"its 'model.1.weight' is {shape_text(first.shape)}, not a 7×7 conv"
    else:
        why = "it has no residual blocks ('model.N.conv_block.*')"
    return f"not a {LAYOUT}: {why}; its first tensor is '{name}' ({shape_text(tensor.shape)})"
