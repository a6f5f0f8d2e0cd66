"""Released pix2pix generators of the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix,
Isola et al. 2017), e.g. facades_label2photo's ``unet_256``, as translate ``UNetGenerator``
weights; and a way to run our U-Net as the reference's test script does.

Layout. The reference nests one ``UnetSkipConnectionBlock`` per level inside the next: level 0
(outermost) is ``model.model``, level k ≥ 1 is ``model.model.1.model`` followed by k - 1 times
``.3.model`` (index 3 is where each block keeps the one inside it). Per level:

    outermost     .0 down conv (ngf × in)        .3 transposed conv (2·ngf → out), Tanh
    intermediate  .1 down conv, .2 norm          .5 transposed conv, .6 norm, [.7 Dropout]
    innermost     .1 down conv (no norm)         .3 transposed conv, .4 norm

``unet_256`` has 8 levels and ``unet_128`` 7 (``num_downs``), widths ngf·min(2^k, 8). Our U-Net
(``networks.py``) has the same convolutions in flat lists ``down.k`` / ``up.(depth-1-k)``, with two
differences that the conversion absorbs:

* Skip order. The reference concatenates ``[skip, decoded]`` (``torch.cat([x, self.model(x)])``),
  ours ``[decoded, skip]``: the two halves of each transposed conv's input channels are swapped.
  The sums are the same but run in another order, so outputs differ by float rounding (≤ 1e-6).
  (The reference's in-place LeakyReLU also overwrites the skip tensor before it is concatenated;
  the next layer is a ReLU, and ReLU(LeakyReLU(x)) = ReLU(x), so nothing changes.)
* Biases. With batch norm the reference's down convs have no bias (``use_bias`` is False), ours
  keep one on the outermost and innermost down convs, which no norm follows: it is filled with
  zeros, and a zero bias adds exactly 0.

Norm: batch (the pix2pix default) has affine weights and running statistics; instance has
neither (affine=False, track_running_stats=False) and keeps conv biases. Weights do not record
dropout, the training direction (facades was trained BtoA) or the image size.

Test-time behaviour of the reference. ``test.py`` calls ``model.eval()`` only under ``--eval``
(``TestOptions``: ``--eval``, ``action='store_true'``), and forces ``batch_size = 1``. By
default the generator therefore runs in train mode under ``torch.no_grad()``: every BatchNorm
normalises with the statistics of the one test image (updating, but never using, its running
statistics), and Dropout(0.5) stays on in the ngf·8 decoder levels next to the innermost one
(``num_downs - 5`` of them: 3 in ``unet_256``; pix2pix builds G with ``not opt.no_dropout``, so
dropout is on unless ``--no_dropout``). Outputs are random from run to run. :func:`junyanz_test_mode`
runs our U-Net that way; translate's own apply uses eval mode (running statistics, no dropout),
which is the reference's ``--eval``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from translate.errors import UserError
from translate.plugin import Imported
from translate.tiling import pad_to_multiple
from translate.weights import Converted, Slot, remap, shape_text

from .networks import UNetGenerator

LAYOUT = "pix2pix reference UnetGenerator (junyanz/pytorch-CycleGAN-and-pix2pix)"
OUTERMOST = "model.model"
REFERENCE_DROPOUT = 0.5  # nn.Dropout(0.5) in UnetSkipConnectionBlock
_BN = ("weight", "bias", "running_mean", "running_var")
_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")


def level_prefixes(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Module paths of the reference's levels present in ``state``, outermost first."""
    prefixes = [OUTERMOST]
    deeper = f"{OUTERMOST}.1.model"
    while any(name.startswith(deeper + ".") for name in state):
        prefixes.append(deeper)
        deeper += ".3.model"
    return prefixes


def convert_junyanz_unet(state: Mapping[str, torch.Tensor]) -> Converted | None:
    """Config values (``channels``, ``features``, ``depth``, ``norm``) and ``UNetGenerator``
    weights for a reference UnetGenerator state dict; None if ``state`` is not one."""
    outer = state.get(f"{OUTERMOST}.0.weight")
    if outer is None or outer.ndim != 4 or outer.shape[-2:] != (4, 4):
        return None
    ngf, c_in = outer.shape[:2]
    prefixes = level_prefixes(state)
    depth = len(prefixes)
    if depth < 3:
        raise UserError(f"{LAYOUT}: found {depth} levels under '{OUTERMOST}'; a U-Net has at least 3")
    norm = _norm(state, prefixes[1])
    last = state.get(f"{OUTERMOST}.3.weight")
    c_out = last.shape[1] if last is not None and last.ndim == 4 else c_in
    norms = _norm_paths(prefixes)
    stale = (lambda name: _is_norm_stat(name, norms)) if norm == "instance" else (lambda name: False)
    mapped = remap(state, _plan(prefixes, c_in, c_out, ngf, norm), LAYOUT, drop=stale)
    if c_in != c_out:
        raise UserError(f"{LAYOUT}: the generator maps {c_in} to {c_out} channels; translate's pix2pix uses "
                        "the same number of channels on both sides")
    widths = [ngf * min(2 ** k, 8) for k in range(depth)]
    notes = [f"U-Net of depth {depth}, {ngf} base features, {norm} norm, {c_in} channels"]
    if norm == "batch":
        # No norm follows these two convs in our U-Net, so they keep a bias; zero is exact.
        mapped["down.0.0.bias"] = torch.zeros(widths[0])
        mapped[f"down.{depth - 1}.1.bias"] = torch.zeros(widths[-1])
        for target in [k for k in _batch_norm_targets(depth) if k not in mapped]:
            mapped[target] = torch.zeros((), dtype=torch.long)  # counter absent before torch 0.4.1; unused
    else:
        dropped = [name for name in state if stale(name)]
        if dropped:
            notes.append(f"dropped {len(dropped)} unused InstanceNorm running statistics")
    for j in range(1, depth):  # every transposed conv that sees a skip connection
        key = f"up.{j}.1.weight"
        half = mapped[key].shape[0] // 2
        mapped[key] = torch.cat([mapped[key][half:], mapped[key][:half]], 0)  # [skip, dec] → [dec, skip]
    config = {"channels": c_in, "features": ngf, "depth": depth, "norm": norm}
    return Converted(config, mapped, tuple(notes))


def _norm(state: Mapping[str, torch.Tensor], level1: str) -> str:
    if f"{level1}.2.running_mean" in state and f"{level1}.2.weight" in state:
        return "batch"
    if f"{level1}.1.bias" in state:
        return "instance"  # the reference keeps conv biases exactly when the norm is instance norm
    raise UserError(f"{LAYOUT}: '{level1}.1.weight' has neither a bias nor a batch norm after it, so the "
                    "generator was trained with --norm none; translate's pix2pix offers batch and instance")


def _plan(prefixes: list[str], c_in: int, c_out: int, ngf: int, norm: str) -> dict[str, Slot]:
    depth = len(prefixes)
    w = [ngf * min(2 ** k, 8) for k in range(depth)]
    bias = norm == "instance"
    plan: dict[str, Slot] = {}

    def conv(source: str, target: str, shape: tuple[int, ...], with_bias: bool, bias_size: int) -> None:
        plan[f"{source}.weight"] = Slot(f"{target}.weight", shape)
        if with_bias:
            plan[f"{source}.bias"] = Slot(f"{target}.bias", (bias_size,))

    def batch_norm(source: str, target: str, width: int) -> None:
        if norm == "batch":
            for kind in _BN:
                plan[f"{source}.{kind}"] = Slot(f"{target}.{kind}", (width,))
            plan[f"{source}.num_batches_tracked"] = Slot(f"{target}.num_batches_tracked", (), optional=True)

    p = prefixes[0]
    conv(f"{p}.0", "down.0.0", (w[0], c_in, 4, 4), bias, w[0])
    conv(f"{p}.3", f"up.{depth - 1}.1", (2 * w[0], c_out, 4, 4), True, c_out)  # always biased (no norm after)
    for k in range(1, depth - 1):
        p, j = prefixes[k], depth - 1 - k
        conv(f"{p}.1", f"down.{k}.1", (w[k], w[k - 1], 4, 4), bias, w[k])
        batch_norm(f"{p}.2", f"down.{k}.2", w[k])
        conv(f"{p}.5", f"up.{j}.1", (2 * w[k], w[k - 1], 4, 4), bias, w[k - 1])
        batch_norm(f"{p}.6", f"up.{j}.2", w[k - 1])
    p, k = prefixes[-1], depth - 1
    conv(f"{p}.1", f"down.{k}.1", (w[k], w[k - 1], 4, 4), bias, w[k])
    conv(f"{p}.3", "up.0.1", (w[k], w[k - 1], 4, 4), bias, w[k - 1])
    batch_norm(f"{p}.4", "up.0.2", w[k - 1])
    return plan


def _batch_norm_targets(depth: int) -> list[str]:
    """Our U-Net's BatchNorm counters (``num_batches_tracked``)."""
    down = [f"down.{k}.2.num_batches_tracked" for k in range(1, depth - 1)]
    return down + [f"up.{j}.2.num_batches_tracked" for j in range(depth - 1)]


def _norm_paths(prefixes: list[str]) -> set[str]:
    """Module paths of the reference's norm layers (where old instance-norm files keep statistics)."""
    inner = {f"{p}.2" for p in prefixes[1:-1]} | {f"{p}.6" for p in prefixes[1:-1]}
    return inner | {f"{prefixes[-1]}.4"}


def _is_norm_stat(name: str, norms: set[str]) -> bool:
    path, _, stat = name.rpartition(".")
    return stat in _NORM_STATS and path in norms


# ---- the reference's default test mode -----------------------------------------------------------

def reference_dropout_layers(depth: int) -> range:
    """Indices j of our ``up`` blocks that carry the reference's Dropout: its ``num_downs - 5``
    ngf·8 levels next to the innermost (j = 1 … depth - 5). The paper's decoder (Isola et al.
    2017, §6.1.1) and our U-Net put dropout on the innermost three instead (j = 0, 1, 2)."""
    return range(1, max(depth - 4, 1))


@contextlib.contextmanager
def junyanz_test_mode(generator: UNetGenerator, dropout: float = REFERENCE_DROPOUT) -> Iterator[UNetGenerator]:
    """Run ``generator`` as the reference's ``test.py`` does without ``--eval``: BatchNorm with the
    statistics of the batch at hand (running statistics untouched), and dropout ``dropout`` on
    the reference's decoder levels. With the same RNG state and a batch of one image, as the
    reference tests, dropout draws the same masks and the output equals the reference's up to
    float rounding (see the skip order above). Outputs depend on the RNG and,
    through batch statistics, on the whole batch (or tile): run whole images one at a time."""
    saved = [(m, m.training, getattr(m, "track_running_stats", None)) for m in generator.modules()]
    hooks = []
    try:
        generator.eval()  # our own Dropout layers (paper positions) stay off
        for m in generator.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                # training=True with track_running_stats=False: batch statistics, and the running
                # buffers are neither used nor updated.
                m.train()
                m.track_running_stats = False
        if dropout > 0:
            for j in reference_dropout_layers(generator.depth):
                # contiguous: the mask is drawn in memory order, and the reference's tensors are
                # NCHW-contiguous, ours may be channels_last; same order → same mask.
                hooks.append(generator.up[j].register_forward_hook(
                    lambda module, args, out: F.dropout(out.contiguous(), dropout, training=True)))
        yield generator
    finally:
        for hook in hooks:
            hook.remove()
        for m, training, tracking in saved:
            m.training = training
            if tracking is not None:
                m.track_running_stats = tracking


def apply_junyanz_test_mode(generator: UNetGenerator, images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Images (N×C×H×W in [-1, 1]) as the reference's test.py translates them without --eval: each
    image alone (its batch-norm statistics are its own, as at the reference's batch size 1), whole
    (tiles would each have their own statistics), with dropout masks from torch's generator seeded
    with ``seed`` before each image (the reference does not seed; this makes runs repeatable). Sides
    that are not multiples of 2^depth are reflect-padded and cropped back, and the padding enters
    the statistics; the reference instead resizes every test image to 256×256 (``--preprocess
    resize_and_crop`` with load_size = crop_size = 256), so give 256×256 images to match it."""
    outputs = []
    devices = [images.device] if images.device.type == "cuda" else []
    for image in images.split(1):
        padded, (h, w) = pad_to_multiple(image, generator.multiple)
        with torch.random.fork_rng(devices=devices), junyanz_test_mode(generator):
            torch.manual_seed(seed)
            outputs.append(generator(padded)[..., :h, :w].float().cpu())
    return torch.cat(outputs)


# ---- translate import ------------------------------------------------------------------------------

def import_generator(state: Mapping[str, torch.Tensor], required: bool = False) -> Imported | None:
    """The ``import_weights`` answer for a reference U-Net file; None when ``state`` is not one,
    unless ``required`` (``--arch unet``): then one line says why."""
    converted = convert_junyanz_unet(state)
    if converted is None:
        if required:
            name, tensor = next(iter(state.items()))
            raise UserError(f"not a {LAYOUT}: it has no 4×4 outermost conv '{OUTERMOST}.0.weight'; its first "
                            f"tensor is '{name}' ({shape_text(tensor.shape)})")
        return None
    c = converted.config
    size = 2 ** c["depth"]  # unet_256 has 8 levels, unet_128 7: the crop size it was built for
    notes = (*converted.notes,
             "the file does not record the training direction (facades_label2photo was trained BtoA); "
             "record it with --set direction=BtoA if you like, apply is the same",
             "translate apply runs eval mode (the reference's --eval); its test.py default, batch statistics and "
             "dropout, is 'translate apply --set junyanz_test_mode=true'")
    name = f"unet_{size}" if size in (128, 256) else f"{c['depth']} levels"  # the reference's --netG names
    return Imported(c, {"generator": converted.state_dict}, f"{LAYOUT}, {name}, {c['norm']} norm",
                    options={"size": size}, notes=notes)
