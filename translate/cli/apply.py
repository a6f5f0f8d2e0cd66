"""``translate apply CKPT INPUT... -o OUT``: image files, folders and globs in, one output each.

Outputs keep their inputs' relative paths (under a folder input, or under the inputs' common
folder when names would collide), are written atomically, and never replace an existing file
unless ``--overwrite`` says so.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import click

from ..errors import UserError
from .common import device_option, precision_option

FORMATS = {"png": ".png", "jpg": ".jpg", "webp": ".webp", "tiff": ".tiff", "bmp": ".bmp"}


def expand_inputs(inputs: tuple[str, ...]) -> list[tuple[Path, Path]]:
    """(file, output name) for files, folders (recursive) and glob patterns. Names are relative to
    a folder input; if two inputs would get the same name, every name becomes relative to the
    inputs' common folder (a/x.png and b/x.png stay apart). A file given twice is used once."""
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
    unique = list({src.resolve(): (src, name) for src, name in reversed(found)}.values())[::-1]
    names = [name.with_suffix("") for _, name in unique]
    if len(set(names)) < len(names):
        root = Path(os.path.commonpath([str(src.resolve().parent) for src, _ in unique]))
        unique = [(src, src.resolve().relative_to(root)) for src, _ in unique]
    return unique


def plan_outputs(files: list[tuple[Path, Path]], out: Path, suffix: str, fmt: str | None,
                 overwrite: bool) -> list[tuple[Path, Path]]:
    """(input, output) pairs, checked before any image is processed: a known image format, no
    output over its input or over another output, no existing file replaced without --overwrite."""
    from ..data.images import IMAGE_EXTENSIONS

    single_file = len(files) == 1 and out.suffix != ""
    if single_file and out.suffix.lower() not in IMAGE_EXTENSIONS:
        raise UserError(f"-o {out}: '{out.suffix}' is not an image format ({', '.join(IMAGE_EXTENSIONS)}); "
                        "give a file name with one of these, or a folder")
    if len(files) > 1 and out.is_file():
        raise UserError(f"-o {out} is a file, but there are {len(files)} inputs; give a folder")
    jobs = []
    for src, name in files:
        if single_file:
            dst = out
        else:
            dst = out / name.with_name(name.stem + suffix + (FORMATS[fmt] if fmt else name.suffix))
        if dst.resolve() == src.resolve():
            raise UserError(f"{dst}: output would overwrite its input; choose another -o or a --suffix")
        jobs.append((src, dst))
    taken = [dst for _, dst in jobs if dst.exists()]
    if taken and not overwrite:
        shown = ", ".join(map(str, taken[:3])) + (f" and {len(taken) - 3} more" if len(taken) > 3 else "")
        raise UserError(f"{len(taken)} output(s) already exist: {shown}; pass --overwrite to replace them, or "
                        "another -o / --suffix")
    _check_writable(jobs)
    return jobs


def _check_writable(jobs: list[tuple[Path, Path]]) -> None:
    for folder in {dst.parent for _, dst in jobs}:
        existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
        if not existing.is_dir():
            raise UserError(f"-o {folder}: {existing} is a file, not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise UserError(f"-o {folder}: {existing} is not writable; choose another -o")


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
@click.option("--set", "extra", multiple=True, metavar="NAME=VALUE",
              help="an option of the plugin's apply hook (repeatable), e.g. --set direction=b2a")
@click.option("--suffix", default="", help="added to each output's name, e.g. _b2a")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default=None,
              help="output format  [default: the input's]")
@click.option("--overwrite", is_flag=True, help="replace outputs that already exist")
@click.option("--grid", is_flag=True, help="write input | output side by side, for a quick look")
@click.option("--raw", is_flag=True, help="use the raw generator weights even when EMA weights exist")
@device_option
@precision_option
def apply(checkpoint, inputs, out, direction, tile, overlap, batch_size, extra, suffix, fmt, overwrite, grid,
          raw, device, precision) -> None:
    """Translate images with CHECKPOINT (a model.safetensors or its run folder)."""
    from ..inference import apply_files

    jobs = plan_outputs(expand_inputs(inputs), Path(out), suffix, fmt, overwrite)
    written = apply_files(checkpoint, jobs, direction=direction, tile=tile, overlap=overlap,
                          batch_size=batch_size, use_ema=not raw, device=device, precision=precision,
                          extra=extra, grid=grid)
    click.echo(f"wrote {written} image(s) to {out}", err=True)
