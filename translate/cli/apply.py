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

from ..errors import UserError, listing
from .common import device_option, precision_option

FORMATS = {"png": ".png", "jpg": ".jpg", "webp": ".webp", "tiff": ".tiff", "bmp": ".bmp"}


def expand_inputs(inputs: tuple[str, ...]) -> list[tuple[Path, Path]]:
    """(file, output name) for files, folders (recursive) and glob patterns. Names are relative to
    a folder input; if two inputs would get the same name, every name becomes relative to the
    inputs' common folder (a/x.png and b/x.png stay apart). A file given twice is used once."""
    from ..data.images import IMAGE_EXTENSIONS, find_images
    from ..video import CLIP_EXTENSIONS

    found: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += [(p, p.relative_to(path)) for p in find_images(path, "input", IMAGE_EXTENSIONS + CLIP_EXTENSIONS)]
        elif path.is_file():
            found.append((path, Path(path.name)))
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True)
                             if Path(p).suffix.lower() in IMAGE_EXTENSIONS + CLIP_EXTENSIONS)
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


def plan_outputs(files: list[tuple[Path, Path]], out: str | Path, suffix: str, fmt: str | None,
                 overwrite: bool) -> list[tuple[Path, Path]]:
    """(input, output) pairs, checked before any image is processed: a known image format, no
    output over an input or over another output, no existing file replaced without --overwrite.
    ``out`` is a file name only for a single input; a trailing slash always makes it a folder."""
    from ..data.images import IMAGE_EXTENSIONS
    from ..video import CLIP_EXTENSIONS, check_output_kind

    _check_suffix(suffix)
    says_folder = str(out).endswith(("/", os.sep))  # Path() drops the slash that says "folder"
    out = Path(out)
    writable = IMAGE_EXTENSIONS + CLIP_EXTENSIONS
    looks_like_file = out.suffix.lower() in writable and not says_folder and not out.is_dir()
    single_file = len(files) == 1 and out.suffix != "" and not says_folder and not out.is_dir()
    if single_file and not looks_like_file:
        raise UserError(f"-o {out}: '{out.suffix}' is not {output_formats(files[0][0])}; give a file name with "
                        "one of these, or a folder")
    if len(files) > 1 and out.is_file():
        raise UserError(f"-o {out} is a file, but there are {len(files)} inputs; give a folder")
    if len(files) > 1 and looks_like_file:
        raise UserError(f"-o {out} looks like an image file name, but there are {len(files)} inputs; give a folder "
                        f"(e.g. -o {out.with_suffix('')}), or end it with '/' if you want a folder of that name")
    jobs = [(src, out if single_file else out / _output_name(name, suffix, fmt)) for src, name in files]
    for src, dst in jobs:
        check_output_kind(src, dst)
    _check_collisions(jobs)
    taken = [dst for _, dst in jobs if dst.exists()]
    if taken and not overwrite:
        raise UserError(f"{len(taken)} output(s) already exist: {listing(taken)}; pass --overwrite to replace them, or "
                        "another -o / --suffix")
    _check_writable(jobs)
    return jobs


def output_formats(src: Path) -> str:
    """The formats the output of ``src`` may take, in words."""
    from ..data.images import IMAGE_EXTENSIONS
    from ..video import GIF_EXTENSION, VIDEO_EXTENSIONS, is_clip

    if src.suffix.lower() == GIF_EXTENSION:
        return f"a GIF, as the input is ({GIF_EXTENSION})"
    if is_clip(src):
        return f"a video format ({', '.join(VIDEO_EXTENSIONS)})"
    return f"an image format ({', '.join(IMAGE_EXTENSIONS)})"


def _check_suffix(suffix: str) -> None:
    # The suffix goes inside a file name; a separator would send outputs to another folder
    # (possibly outside -o) or make pathlib refuse the name with a traceback.
    if any(sep and sep in suffix for sep in ("/", os.sep, os.altsep)):
        raise UserError(f"--suffix {suffix!r}: must not contain a path separator; it is added to each file "
                        "name (e.g. --suffix _b2a), choose the folder with -o")


def _output_name(name: Path, suffix: str, fmt: str | None) -> Path:
    from ..video import is_clip

    keep = is_clip(name) or not fmt  # --format is for images; a clip keeps its container
    return name.with_name(name.stem + suffix + (name.suffix if keep else FORMATS[fmt]))


def _check_collisions(jobs: list[tuple[Path, Path]]) -> None:
    """Refuse an output that is an input (it would be replaced before or while being read, even
    with --overwrite) or that two inputs share (the second result would silently replace the first)."""
    inputs = {src.resolve(): src for src, _ in jobs}
    first_for: dict[Path, Path] = {}
    for src, dst in jobs:
        key = dst.resolve()
        if key == src.resolve():
            raise UserError(f"{dst}: output would overwrite its input; choose another -o or a --suffix")
        if key in inputs:
            raise UserError(f"{dst}: the output of {src} would overwrite the input {inputs[key]}; choose another -o "
                            "or a --suffix")
        if key in first_for:
            raise UserError(f"inputs {first_for[key]} and {src} would both be written to {dst}; leave out --format "
                            "to keep each input's format, or rename one of them")
        first_for[key] = src


def check_readable(jobs: list[tuple[Path, Path]]) -> None:
    """Decode-check every input (cheaply, see ``decodes``) before the first output is written, so a
    bad file late in a folder neither leaves a partial set of outputs nor hides the other bad files."""
    problems = [(src, message) for src, message in ((src, _unreadable(src)) for src, _ in jobs) if message]
    if len(problems) == 1:
        raise UserError(problems[0][1])
    if problems:
        raise UserError(f"{len(problems)} input images cannot be read: {listing([src for src, _ in problems], 5)}; "
                        "delete or re-save them, or "
                        f"leave them out. The first: {problems[0][1]}")


def _unreadable(src: Path) -> str | None:
    """None for a file that decodes, else one line naming it and the fix."""
    from ..data.images import decodes
    from ..errors import DataError
    from ..video import clip_problem, is_clip

    if is_clip(src):
        return clip_problem(src)
    try:
        decodes(src)
    except DataError as exc:  # already names the file and its fix (e.g. too many pixels)
        return str(exc)
    except UserError:  # not the file's fault (e.g. a bad TRANSLATE_MAX_PIXELS)
        raise
    except Exception as exc:  # any decoder failure (OSError, SyntaxError, zlib.error, ...) is the file's
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return f"{src}: cannot read image ({type(exc).__name__}: {detail}); delete or re-save it"
    return None


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
              help="process larger images in overlapping tiles of this size (bounds memory)  [default: 512, "
                   "smaller for a model that upscales: 384 for ×4, so a tile's output is at most 1536 px]")
@click.option("--overlap", type=int, default=None, help="tile overlap in pixels, blended  [default: 32]")
@click.option("--tta", is_flag=True,
              help="test-time augmentation: average over flipped/rotated copies (×8 or ×2 the time, as the "
                   "plugin declares)")
@click.option("--tta-mode", type=click.Choice(["flips", "dihedral"]), default=None,
              help="which test-time augmentation (implies --tta): flips ×2, or dihedral ×8 where the plugin "
                   "allows it  [default: the plugin's]")
@click.option("--batch-size", type=int, default=8, show_default=True, help="images of equal size per batch")
@click.option("--set", "extra", multiple=True, metavar="NAME=VALUE",
              help="an option of the plugin's apply hook (repeatable), e.g. --set direction=b2a")
@click.option("--suffix", default="", help="added to each output's name, e.g. _b2a")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default=None,
              help="output format  [default: the input's]")
@click.option("--overwrite", is_flag=True, help="replace outputs that already exist")
@click.option("--grid", is_flag=True, help="write input | output side by side, for a quick look")
@click.option("--raw", is_flag=True, help="use the raw generator weights even when EMA weights exist")
@click.option("--frames", metavar="A:B", default=None,
              help="videos and GIFs: only frames A to B, B left out, counted from 0 like a Python slice "
                   "(0:100 = the first 100, 250: = from 250 on), to try a piece first")
@click.option("--crf", type=click.IntRange(0, 51), default=None,
              help="video quality, lower is better and larger (x264's constant rate factor)  [default: 18]")
@click.option("--backend", type=click.Choice(["torch", "onnxruntime"]), default="torch", show_default=True,
              help="onnxruntime: export to ONNX first and run that on the CPU in fp32, 1.1-1.3× PyTorch's fp32 "
                   "(docs/speed.md; pip install 'translate-gan[export]')")
@click.option("--trust-code", is_flag=True,
              help="run CHECKPOINT even if it is a TorchScript .pt, a program that can do anything you can")
@device_option
@precision_option
def apply(checkpoint, inputs, out, direction, tile, overlap, tta, tta_mode, batch_size, extra, suffix, fmt, overwrite, grid,
          raw, frames, crf, backend, trust_code, device, precision) -> None:
    """Translate images with CHECKPOINT (a model.safetensors or its run folder, or a file from
    translate export: .onnx, or .pt with --trust-code). Videos (.mp4, .mov, .mkv, .webm, .avi;
    pip install 'translate-gan[video]') and GIFs are translated frame by frame, keeping their
    timing and sound."""
    from ..inference import apply_files
    from ..video import is_clip, parse_frames

    tta = tta_mode or tta
    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1 (got {batch_size})")
    piece = parse_frames(frames)
    jobs = plan_outputs(expand_inputs(inputs), out, suffix, fmt, overwrite)
    clips = sum(is_clip(src) for src, _ in jobs)
    if (piece is not None or crf is not None) and not clips:
        raise UserError(f"{'--frames' if piece is not None else '--crf'} is for videos and GIFs, and no input is one")
    check_readable(jobs)
    written = apply_files(checkpoint, jobs, direction=direction, tile=tile, overlap=overlap,
                          batch_size=batch_size, use_ema=not raw, device=device, precision=precision,
                          extra=extra, grid=grid, trust_code=trust_code, tta=tta, frames=piece, crf=crf,
                          overwrite=overwrite, backend=backend)
    counts = [f"{written - clips} image(s)"] * (written > clips) + [f"{clips} video(s)"] * bool(clips)
    click.echo(f"wrote {' and '.join(counts)} to {out}", err=True)
