"""Latent-space tools for noise-to-image models: ``translate interpolate``,
``translate attribute`` and ``translate neighbours``.

They work with any plugin that implements the latent hooks of :mod:`translate.plugin`
(``latent_dim``, ``generate`` and, for class-conditional models, ``class_names``).

* Seed ``S`` names the latent z = ``torch.randn(latent_dim)`` drawn from a generator seeded with
  ``S``: the first image of ``translate sample CKPT --seed S``.
* Interpolation: linear, (1-t)·a + t·b, and spherical (slerp, Shoemake 1985; recommended for
  Gaussian latents by White 2016, "Sampling Generative Networks", §2.1), which keeps the norm of
  the intermediate latents typical of the prior instead of shrinking it mid-way.
* Attribute vectors (White 2016, §2.4; Radford et al. 2016, §6.3): generate ``-n`` samples, decide
  for each whether it *has* the attribute by the class of its nearest labelled image (pixel
  space) in ``--data`` (a folder with one sub-folder per attribute value, or a built-in labelled
  set); the vector is mean z (with) - mean z (without), added with increasing scale to new
  latents. The share of outputs classified as having the attribute is printed for each scale, so
  the effect is measured, not only shown. With a conditional model the class input stays fixed
  (``--class``), and the attribute is one of the labelled data's classes.
* Neighbours: for each generated sample, the ``-k`` closest training images by RMS pixel
  distance (images in [-1, 1], resized to the model's output size), as a grid: one row per sample,
  the sample first. Typical train-to-train distances are printed beside, to judge memorisation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import click

from ..errors import UserError
from ..plugin import call_hook
from .common import device_option, overwrite_option, precision_option, refuse_existing_file

CHUNK = 256  # images generated or compared at a time: bounds memory


# ---- pure helpers ----------------------------------------------------------------------------

def lerp(a, b, t: float):
    return (1 - t) * a + t * b


def slerp(a, b, t: float):
    """Spherical interpolation along the great circle from a to b (falls back to lerp when they
    are (anti)parallel, where the great circle is not defined)."""
    import torch

    cos = torch.dot(a.flatten(), b.flatten()) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-6 or (math.pi - omega).abs() < 1e-6:
        return lerp(a, b, t)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def seed_latent(seed: int, dim: int):
    import torch

    return torch.randn(1, dim, generator=torch.Generator().manual_seed(seed))[0]


def path_latents(seeds: list[int], dim: int, frames: int, mode: str):
    """Latents along the walk seed[0] → seed[1] → ...; ``frames`` per segment, endpoints included once."""
    import torch

    fn = slerp if mode == "slerp" else lerp
    ends = [seed_latent(s, dim) for s in seeds]
    out = []
    for i, (a, b) in enumerate(zip(ends, ends[1:])):
        last = i == len(ends) - 2
        ts = torch.linspace(0, 1, frames + 1).tolist()
        out += [fn(a, b, t) for t in (ts if last else ts[:-1])]
    return torch.stack(out)


def attribute_vector(z, has):
    """mean z of the samples with the attribute minus mean z of those without."""
    return z[has].mean(0) - z[~has].mean(0)


def nearest(queries, chunks: Iterator, k: int):
    """(distances, indices) of the k nearest rows among all chunks, for each query row; chunks
    yield (offset, rows). Distances are RMS per element (L2 / sqrt(D))."""
    import torch

    n, dim = queries.shape
    best_d = torch.empty(n, 0)
    best_i = torch.empty(n, 0, dtype=torch.long)
    for offset, rows in chunks:
        d = torch.cdist(queries.double(), rows.double()).float()
        best_d = torch.cat([best_d, d], 1)
        best_i = torch.cat([best_i, torch.arange(offset, offset + len(rows)).expand(n, -1)], 1)
        best_d, order = best_d.topk(min(k, best_d.shape[1]), dim=1, largest=False)
        best_i = best_i.gather(1, order)
    return best_d / math.sqrt(dim), best_i


# ---- loading ---------------------------------------------------------------------------------

class LatentModel:
    """A checkpoint whose plugin has a latent space, ready to turn latents into images."""

    def __init__(self, checkpoint: str, raw: bool, device: str, precision: str, label: str | None):
        from ..loading import load_model

        self.model = load_model(checkpoint, device, use_ema=not raw, precision=precision)
        self.plugin, self.config = self.model.plugin, self.model.config
        self.dim = call_hook(self.plugin, "latent_dim", self.config) if self.plugin.can("generate") else 0
        if self.dim < 1:
            raise UserError(f"{checkpoint}: plugin '{self.plugin.name}' has no latent space (no generate()); "
                            "latent tools need a noise-to-image model (a plugin with latent_dim and generate)")
        self.rt = self.model.runtime
        self.label_index = self._label(label)

    def _label(self, label: str | None) -> int | None:
        classes = tuple(call_hook(self.plugin, "class_names", self.config))
        if not classes:
            if label is not None:
                raise UserError(f"--class {label}: this model is not class-conditional")
            return None
        if label is None:
            return 0  # a conditional model needs some class: the first, unless --class says
        if label not in classes:
            raise UserError(f"--class {label}: not a class of this model; choose one of {', '.join(classes)}")
        return classes.index(label)

    def images(self, z):
        """Images (N×C×H×W in [-1, 1], CPU float) for latents z (N×dim)."""
        import torch

        out = []
        for part in z.split(CHUNK):
            labels = None if self.label_index is None else torch.full((len(part),), self.label_index)
            with torch.no_grad(), self.rt.autocast():
                x = call_hook(self.plugin, "generate", self.model.modules, self.config, part, labels)
            out.append(x.float().cpu())
        x = torch.cat(out)
        if x.dim() != 4:
            raise UserError(f"{self.model.path}: this model makes 2-D points, not images; latent tools need an "
                            "image model (use 'translate sample' and 'translate eval' for points)")
        return x

    def data_value(self, data: str | None) -> str:
        if data:
            return data
        values = list(self.model.data.values())
        if len(values) != 1:
            raise UserError("--data: give the folder of training images (the checkpoint names none)")
        return values[0]


class Reference:
    """Labelled or unlabelled training images, read in chunks at the size of the generated ones."""

    def __init__(self, model: LatentModel, value: str, shape: tuple[int, int, int]):
        from ..data.sources import open_images

        opts = model.model.options
        self.source = open_images(value, "--data", size=opts.size, seed=opts.seed)
        if len(self.source) == 0:
            raise UserError(f"--data {value}: no images")
        self.channels, self.hw = shape[0], shape[1:]

    def __len__(self) -> int:
        return len(self.source)

    def load(self, indices):
        import torch
        import torch.nn.functional as F

        from ..data.datasets import uint8_to_tensor

        out = []
        for i in indices:
            x = uint8_to_tensor(self.source.load(int(i), self.channels))[None]
            if tuple(x.shape[2:]) != tuple(self.hw):
                x = F.interpolate(x, size=self.hw, mode="bilinear", antialias=True, align_corners=False)
            out.append(x)
        return torch.cat(out).clamp(-1, 1)

    def chunks(self) -> Iterator:
        for start in range(0, len(self), CHUNK):
            idx = range(start, min(len(self), start + CHUNK))
            yield start, self.load(idx).flatten(1)

    def classify(self, images):
        """Class index of each image's nearest reference image."""
        _, idx = nearest(images.flatten(1), self.chunks(), 1)
        return [self.source.labels[i] for i in idx[:, 0].tolist()]


def _write_gif(path: Path, frames: list) -> None:
    from PIL import Image

    from ..fileio import atomic_path

    pics = [Image.fromarray((f * 255 + 0.5).clip(0, 255).astype("uint8").squeeze()) for f in frames]
    with atomic_path(path) as tmp:
        pics[0].save(tmp, format="GIF", save_all=True, append_images=pics[1:], duration=120, loop=0)


def _ints(value: str, flag: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{flag} {value}: expected comma-separated integers, e.g. 0,1,2") from None


def _floats(value: str, flag: str) -> list[float]:
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{flag} {value}: expected comma-separated numbers, e.g. 0,1,2") from None


def _model_options(f):
    f = click.option("--class", "label", default=None, help="class of a class-conditional model (default: its first)")(f)
    f = overwrite_option(f)
    f = click.option("--raw", is_flag=True, help="use the raw generator weights even when EMA weights exist")(f)
    return device_option(precision_option(f))


# ---- commands --------------------------------------------------------------------------------

@click.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--seeds", default="0,1,2,3", show_default=True, help="noise seeds the walk visits, in order")
@click.option("--frames", type=int, default=8, show_default=True, help="steps between two consecutive seeds")
@click.option("--mode", type=click.Choice(["linear", "slerp", "both"]), default="both", show_default=True,
              help="interpolation: linear, spherical, or one row of each")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="interpolation.png", show_default=True,
              help=".png strip (one row per mode) or .gif animation")
@_model_options
def interpolate(checkpoint, seeds, frames, mode, out, overwrite, label, raw, device, precision) -> None:
    """Walk the latent space of CHECKPOINT between noise seeds (linear and/or slerp)."""
    import torch

    from ..data.images import save_grid, to_array

    seed_list = _ints(seeds, "--seeds")
    if len(seed_list) < 2:
        raise UserError("--seeds: give at least two seeds, e.g. --seeds 0,1")
    if frames < 1:
        raise UserError("--frames must be at least 1")
    out = Path(out)
    if out.suffix.lower() not in (".png", ".gif"):
        raise UserError(f"-o {out}: write a .png strip or a .gif animation")
    refuse_existing_file(out, overwrite)
    lm = LatentModel(checkpoint, raw, device, precision, label)
    modes = ["linear", "slerp"] if mode == "both" else [mode]
    rows = [lm.images(path_latents(seed_list, lm.dim, frames, m)) for m in modes]
    if out.suffix.lower() == ".png":
        save_grid(out, torch.cat(rows), nrow=rows[0].shape[0])
    else:  # one GIF frame per step, the modes side by side
        side = [torch.cat([r[i] for r in rows], dim=2) for i in range(rows[0].shape[0])]
        _write_gif(out, [to_array(f) for f in side])
    click.echo(f"wrote {rows[0].shape[0]} step(s) × {len(modes)} mode(s) ({', '.join(modes)}) to {out}", err=True)


@click.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--data", default=None, help="training images to search (default: the checkpoint's --data)")
@click.option("-n", "count", type=int, default=8, show_default=True, help="generated samples (grid rows)")
@click.option("-k", "k", type=int, default=5, show_default=True, help="neighbours per sample")
@click.option("--seed", type=int, default=0, show_default=True, help="noise seed")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="neighbours.png", show_default=True,
              help="PNG grid: each row a sample, then its nearest training images")
@_model_options
def neighbours(checkpoint, data, count, k, seed, out, overwrite, label, raw, device, precision) -> None:
    """Nearest training images (pixel space) of samples of CHECKPOINT, to check for memorisation."""
    import torch

    from ..data.images import save_grid

    if count < 1 or k < 1:
        raise UserError("-n and -k must be at least 1")
    refuse_existing_file(out, overwrite)
    lm = LatentModel(checkpoint, raw, device, precision, label)
    fake = lm.images(torch.randn(count, lm.dim, generator=torch.Generator().manual_seed(seed)))
    ref = Reference(lm, lm.data_value(data), tuple(fake.shape[1:]))
    dist, idx = nearest(fake.flatten(1), ref.chunks(), k)
    rows = [torch.cat([f[None], ref.load(i.tolist())]) for f, i in zip(fake, idx)]
    save_grid(out, torch.cat(rows), nrow=idx.shape[1] + 1)
    # Typical distance between two training images: a generated sample much closer than this to
    # its neighbour is suspect of being a copy.
    probe = torch.randperm(len(ref), generator=torch.Generator().manual_seed(seed))[:min(64, len(ref))]
    probe_d, _ = nearest(ref.load(probe.tolist()).flatten(1), ref.chunks(), 2)
    train_d = probe_d[:, -1].median().item() if len(ref) > 1 else float("nan")
    click.echo(f"nearest-neighbour RMS distance: generated→train median {dist[:, 0].median().item():.4f} "
               f"(min {dist[:, 0].min().item():.4f}); train→train median {train_d:.4f}")
    click.echo(f"wrote {count} row(s) of 1 + {idx.shape[1]} image(s) to {out}", err=True)


@click.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--attribute", "name", required=True, help="a class of --data (one of its sub-folders)")
@click.option("--data", default=None, help="labelled images deciding the attribute (default: the checkpoint's --data)")
@click.option("-n", "count", type=int, default=512, show_default=True, help="samples used to estimate the vector")
@click.option("--scales", default="0,1,2,3", show_default=True, help="multiples of the vector added, one column each")
@click.option("--rows", type=int, default=4, show_default=True, help="new latents shown (grid rows)")
@click.option("--seed", type=int, default=0, show_default=True, help="noise seed")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="attribute.png", show_default=True,
              help="PNG grid: each row a new latent, each column a scale")
@_model_options
def attribute(checkpoint, name, data, count, scales, rows, seed, out, overwrite, label, raw, device, precision) -> None:
    """Attribute vector: mean latent of samples with NAME minus mean latent without, added to new latents."""
    import torch

    from ..data.images import save_grid

    scale_list = _floats(scales, "--scales")
    if count < 2 or rows < 1 or not scale_list:
        raise UserError("-n must be at least 2, --rows at least 1, and --scales non-empty")
    refuse_existing_file(out, overwrite)
    lm = LatentModel(checkpoint, raw, device, precision, label)
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(count, lm.dim, generator=rng)
    fake = lm.images(z)
    value = lm.data_value(data)
    ref = Reference(lm, value, tuple(fake.shape[1:]))
    if not ref.source.classes:
        raise UserError(f"--data {value}: unlabelled; give a folder with one sub-folder per attribute value")
    if name not in ref.source.classes:
        raise UserError(f"--attribute {name}: not a class of {value}; choose one of {', '.join(ref.source.classes)}")
    target = ref.source.classes.index(name)
    has = torch.tensor([c == target for c in ref.classify(fake)])
    if has.all() or not has.any():
        raise UserError(f"--attribute {name}: {int(has.sum())} of {count} samples have it; the vector needs "
                        "samples with and without it (raise -n or pick another attribute)")
    vector = attribute_vector(z, has)
    shown = torch.randn(rows, lm.dim, generator=rng)
    grid = torch.cat([lm.images(torch.stack([zi + s * vector for s in scale_list])) for zi in shown])
    save_grid(out, grid, nrow=len(scale_list))
    # Measure the effect: the share of fresh samples that have the attribute, at each scale.
    probe = torch.randn(min(count, 128), lm.dim, generator=rng)
    shares = [sum(c == target for c in ref.classify(lm.images(probe + s * vector))) / len(probe) for s in scale_list]
    click.echo(f"{int(has.sum())} of {count} samples have '{name}'; |vector| = {vector.norm().item():.3f}")
    click.echo("scale  share with '" + name + "'")
    for s, share in zip(scale_list, shares):
        click.echo(f"{s:>5g}  {100 * share:.1f}%")
    click.echo(f"wrote {rows}×{len(scale_list)} grid to {out}", err=True)
