"""``translate apply CKPT INPUT... -o OUT``: image files, folders and globs in, one output each."""

from __future__ import annotations

import glob
from pathlib import Path

import click

from ..errors import UserError
from .common import device_option, precision_option


def expand_inputs(inputs: tuple[str, ...]) -> list[tuple[Path, Path]]:
    """(file, name relative to its input) for files, folders (recursive) and glob patterns."""
    from ..data.images import IMAGE_EXTENSIONS, find_images

    found: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += [(p, p.relative_to(path)) for p in find_images(path, "input")]
        elif path.is_file():
            found.append((path, Path(path.name)))
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True)
                             if Path(p).suffix.lower() in IMAGE_EXTENSIONS)
            if not matches:
                raise UserError(f"input {item}: the pattern matches no image")
            found += [(p, Path(p.name)) for p in matches]
        else:
            raise UserError(f"input {item}: no such file or folder")
    return found


def output_path(out: Path, name: Path, single: bool) -> Path:
    if single and out.suffix:
        return out
    return out / name


@click.command()
@click.argument("checkpoint", type=click.Path())
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", type=click.Path(), default="translated", show_default=True,
              help="output folder (or a file name when there is one input)")
@click.option("--direction", default=None, help="for two-way models: a2b or b2a")
@click.option("--tile", type=int, default=None,
              help="process larger images in overlapping tiles of this size (bounds memory)  [default: 512]")
@click.option("--overlap", type=int, default=None, help="tile overlap in pixels, blended  [default: 32]")
@click.option("--batch-size", type=int, default=8, show_default=True, help="images of equal size per batch")
@click.option("--raw", is_flag=True, help="use the raw generator weights even when EMA weights exist")
@device_option
@precision_option
def apply(checkpoint, inputs, out, direction, tile, overlap, batch_size, raw, device, precision) -> None:
    """Translate images with CHECKPOINT (a model.safetensors or its run folder)."""
    from ..inference import apply_files

    files = expand_inputs(inputs)
    single = len(files) == 1
    out = Path(out)
    jobs = [(src, output_path(out, name, single)) for src, name in files]
    for src, dst in jobs:
        if dst.resolve() == src.resolve():
            raise UserError(f"{dst}: output would overwrite its input; choose another -o")
    written = apply_files(checkpoint, jobs, direction=direction, tile=tile, overlap=overlap,
                          batch_size=batch_size, use_ema=not raw, device=device, precision=precision)
    click.echo(f"wrote {written} image(s) to {out}", err=True)
