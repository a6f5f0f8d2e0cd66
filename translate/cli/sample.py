"""``translate sample CKPT -n N -o OUT``: a PNG grid, one PNG per sample, or points for 2-D models."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError, listing
from .common import device_option, precision_option, refuse_existing_file


def check_overwrite(out: Path, count: int, overwrite: bool) -> None:
    """Refuse, before the model is loaded, to replace an existing file at ``-o`` (or, for a folder,
    the NNNNN.png files the default ``write_samples`` would write) unless ``--overwrite``."""
    if overwrite:
        return
    refuse_existing_file(out, overwrite)
    if out.is_dir():
        # the folder's entries, not count names: -n is only bounded later, by what the samples weigh
        taken = sorted(p for p in out.iterdir() if p.suffix == ".png" and p.stem.isdigit() and len(p.stem) >= 5
                       and f"{int(p.stem):05d}" == p.stem and int(p.stem) < count)
        if taken:
            raise UserError(f"{len(taken)} output(s) already exist: {listing(taken)}; pass --overwrite to replace them, "
                            "or another -o")


@click.command()
@click.argument("checkpoint", type=click.Path())
@click.option("-n", "count", type=int, default=64, show_default=True, help="number of samples")
@click.option("-o", "--out", type=click.Path(), default="samples.png", show_default=True,
              help="a .png file (grid), a folder (one PNG each), or .npy/.csv for 2-D point models")
@click.option("--seed", type=int, default=0, show_default=True, help="noise seed")
@click.option("--class", "label", default=None, help="class name, for class-conditional models")
@click.option("--raw", is_flag=True, help="use the raw generator weights even when EMA weights exist")
@click.option("--overwrite", is_flag=True, help="replace an output that already exists")
@device_option
@precision_option
def sample(checkpoint, count, out, seed, label, raw, overwrite, device, precision) -> None:
    """Draw samples from CHECKPOINT (a model.safetensors or its run folder)."""
    from ..inference import sample_to

    check_overwrite(Path(out), count, overwrite)

    path = sample_to(checkpoint, count, out, seed=seed, label=label, use_ema=not raw, device=device,
                     precision=precision)
    click.echo(f"wrote {count} sample(s) to {path}", err=True)
