"""``translate sample CKPT -n N -o OUT``: a PNG grid, one PNG per sample, or points for 2-D models."""

from __future__ import annotations

import click

from .common import device_option, precision_option


@click.command()
@click.argument("checkpoint", type=click.Path())
@click.option("-n", "count", type=int, default=64, show_default=True, help="number of samples")
@click.option("-o", "--out", type=click.Path(), default="samples.png", show_default=True,
              help="a .png file (grid), a folder (one PNG each), or .npy/.csv for 2-D point models")
@click.option("--seed", type=int, default=0, show_default=True, help="noise seed")
@click.option("--class", "label", default=None, help="class name, for class-conditional models")
@click.option("--raw", is_flag=True, help="use the raw generator weights even when EMA weights exist")
@device_option
@precision_option
def sample(checkpoint, count, out, seed, label, raw, device, precision) -> None:
    """Draw samples from CHECKPOINT (a model.safetensors or its run folder)."""
    from ..inference import sample_to

    path = sample_to(checkpoint, count, out, seed=seed, label=label, use_ema=not raw, device=device,
                     precision=precision)
    click.echo(f"wrote {count} sample(s) to {path}", err=True)
