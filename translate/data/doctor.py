"""The data doctor: what is in an image folder, what is wrong with it, and what training will do
with it, before any training starts (``translate data check``); and the two paired layouts
converted into each other (``translate data pair`` / ``translate data split``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError, listing
from .images import EXIF_SWAPS_AXES, decodes, find_images, max_pixels, read_uint8, write_image

@dataclass
class FileInfo:
    path: Path
    size: tuple[int, int] | None = None  # (width, height) as seen (EXIF orientation applied)
    mode: str = ""
    format: str = ""
    rotated: bool = False  # an EXIF orientation turns it
    problem: str = ""  # why it cannot be used, if it cannot
    digest: str = ""


@dataclass
class FolderReport:
    root: Path
    files: list[FileInfo] = field(default_factory=list)

    @property
    def good(self) -> list[FileInfo]:
        return [f for f in self.files if not f.problem]

    @property
    def bad(self) -> list[FileInfo]:
        return [f for f in self.files if f.problem]

    def duplicates(self) -> list[list[Path]]:
        groups: dict[str, list[Path]] = {}
        for f in self.good:
            groups.setdefault(f.digest, []).append(f.path)
        return [paths for paths in groups.values() if len(paths) > 1]


def inspect_file(path: Path) -> FileInfo:
    """Header, orientation, a decode check and a content digest of one file."""
    from PIL import Image

    info = FileInfo(path)
    try:
        decodes(path)
        with Image.open(path) as img:
            info.mode, info.format = img.mode, img.format or ""
            info.rotated = img.getexif().get(0x0112, 1) in EXIF_SWAPS_AXES
            w, h = img.size
            info.size = (h, w) if info.rotated else (w, h)  # the readers turn it upright
        info.digest = hashlib.sha1(path.read_bytes()).hexdigest()
    except Exception as exc:  # any failure is this file's problem, reported with its name
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        info.problem = text.split(": ", 1)[-1] if text.startswith(str(path)) else text
    return info


def inspect_folder(folder: str | Path, flag: str = "DIR") -> FolderReport:
    root = Path(folder)
    return FolderReport(root, [inspect_file(p) for p in find_images(root, flag)])


def _stats(values: list[int]) -> str:
    if not values:
        return "-"
    return f"{min(values)} / {int(np.median(values))} / {max(values)}"


def describe(report: FolderReport, label: str, size: int | None = None, channels: int = 3) -> list[str]:
    """The report's lines for one folder."""
    good = report.good
    lines = [f"{label} {report.root}: {len(report.files)} image file(s), {len(good)} readable"]
    if good:
        widths, heights = [f.size[0] for f in good], [f.size[1] for f in good]
        lines.append(f"  width min/median/max {_stats(widths)}; height {_stats(heights)}")
        modes = Counter(f.mode for f in good)
        formats = Counter(f.format for f in good)
        lines.append("  modes: " + ", ".join(f"{m} {n}" for m, n in modes.most_common())
                     + "; formats: " + ", ".join(f"{k or '?'} {n}" for k, n in formats.most_common()))
        sixteen = sum(1 for f in good if f.mode.startswith("I"))
        alpha = sum(1 for f in good if f.mode in ("RGBA", "LA", "PA") or f.mode == "P")
        rotated = sum(1 for f in good if f.rotated)
        gray = sum(1 for f in good if f.mode in ("L", "1", "I;16", "I;16B", "I;16L", "I", "F", "LA"))
        lines += _what_training_does(good, size, channels, sixteen, alpha, rotated, gray)
    for f in report.bad[:10]:
        lines.append(f"  UNREADABLE {f.path}: {f.problem}")
    if len(report.bad) > 10:
        lines.append(f"  ... and {len(report.bad) - 10} more unreadable")
    groups = report.duplicates()
    for group in groups[:5]:  # a few names of each group and its size: 20,000 copies must not make one huge line
        lines.append(f"  DUPLICATE content ({len(group)} files): "
                     f"{listing([p.relative_to(report.root) for p in group], 5)}")
    if len(groups) > 5:
        lines.append(f"  ... and {len(groups) - 5} more group(s) of duplicates")
    return lines


def _what_training_does(good: list[FileInfo], size: int | None, channels: int, sixteen: int, alpha: int,
                        rotated: int, gray: int) -> list[str]:
    lines = []
    kind = "RGB" if channels == 3 else "grayscale"
    if channels == 3 and gray:
        lines.append(f"  {gray} grayscale image(s) will be repeated to RGB")
    if channels == 1 and len(good) - gray:
        lines.append(f"  {len(good) - gray} colour image(s) will be converted to grayscale")
    if sixteen:
        lines.append(f"  {sixteen} 16-bit image(s) are reduced to 8 bits for training (apply keeps 16-bit grayscale)")
    if alpha:
        lines.append(f"  {alpha} image(s) with transparency or a palette: colours made explicit, alpha dropped "
                     "for training (apply carries it through)")
    if rotated:
        lines.append(f"  {rotated} image(s) carry an EXIF rotation: read upright, as a viewer shows them")
    big = [f for f in good if f.size[0] * f.size[1] > max_pixels()]
    if big:
        lines.append(f"  {len(big)} image(s) above the {max_pixels():,}-pixel limit will be refused "
                     "(TRANSLATE_MAX_PIXELS)")
    if size:
        small = [f for f in good if min(f.size) < size]
        shown = ", ".join(str(f.path.name) for f in small[:3])
        lines.append(f"  training at --size {size}: the shorter side of each image is resized to the plugin's load "
                     f"size, then a {size}×{size} {kind} crop is taken"
                     + (f"; {len(small)} image(s) are smaller than {size} and get upscaled ({shown})" if small else ""))
    return lines


# ---- pairs ------------------------------------------------------------------------------------

def named(report: FolderReport) -> dict[str, FileInfo]:
    """Relative path without extension → file (the key the paired layouts match on)."""
    return {f.path.relative_to(report.root).with_suffix("").as_posix(): f for f in report.files}


def pairing_problems(a: FolderReport, b: FolderReport) -> list[str]:
    na, nb = named(a), named(b)
    lines = []
    only_a, only_b = sorted(set(na) - set(nb)), sorted(set(nb) - set(na))
    if only_a:
        lines.append(f"  {len(only_a)} name(s) only in A: {', '.join(only_a[:5])}" + (" ..." if len(only_a) > 5 else ""))
    if only_b:
        lines.append(f"  {len(only_b)} name(s) only in B: {', '.join(only_b[:5])}" + (" ..." if len(only_b) > 5 else ""))
    sizes = [f"{k} ({na[k].size[0]}×{na[k].size[1]} vs {nb[k].size[0]}×{nb[k].size[1]})"
             for k in sorted(set(na) & set(nb)) if na[k].size and nb[k].size and na[k].size != nb[k].size]
    if sizes:
        lines.append(f"  {len(sizes)} pair(s) differ in size: {', '.join(sizes[:5])}")
    return lines


def aligned_problems(report: FolderReport) -> list[str]:
    odd = [f"{f.path.name} ({f.size[0]}×{f.size[1]})" for f in report.good if f.size[0] % 2]
    return [f"  {len(odd)} image(s) have an odd width and cannot be split into A|B halves: {', '.join(odd[:5])}"] \
        if odd else []


def pair_folders(a: str | Path, b: str | Path, out: str | Path, overwrite: bool = False) -> int:
    """Write A|B side-by-side images for every name found in both folders (same size required)."""
    ra, rb = inspect_folder(a, "A"), inspect_folder(b, "B")
    problems = [p for p in pairing_problems(ra, rb) if "differ in size" in p]
    if problems or ra.bad or rb.bad:
        bad = [f"unreadable: {', '.join(str(f.path) for f in (ra.bad + rb.bad)[:3])}"] if ra.bad or rb.bad else []
        raise UserError("cannot pair: " + "; ".join([p.strip() for p in problems] + bad) + "; fix those files first")
    out = Path(out)
    _refuse_output_in_input(out, {"A": a, "B": b})
    na, nb = named(ra), named(rb)
    keys = sorted(set(na) & set(nb))
    if not keys:
        raise UserError(f"{a} and {b} have no file names in common; pairs are matched by name (without extension)")
    jobs = [(out / f"{k}.png", na[k].path, nb[k].path) for k in keys]
    _refuse_existing([dst for dst, _, _ in jobs], overwrite)
    for dst, pa, pb in jobs:
        left, right = read_uint8(pa), read_uint8(pb)
        write_image(dst, np.concatenate([left, right], axis=1).astype(np.float32) / 255.0)
    return len(jobs)


def split_folder(aligned: str | Path, out: str | Path, overwrite: bool = False) -> int:
    """The reverse: A|B images into out/A and out/B (same relative names, PNG)."""
    report = inspect_folder(aligned, "ALIGNED")
    problems = aligned_problems(report)
    if problems or report.bad:
        bad = [f"unreadable: {', '.join(str(f.path) for f in report.bad[:3])}"] if report.bad else []
        raise UserError("cannot split: " + "; ".join([p.strip() for p in problems] + bad) + "; fix those files first")
    out = Path(out)
    for half in ("A", "B"):
        _refuse_output_in_input(out / half, {"ALIGNED": aligned}, shown=out)
    jobs = []
    for f in report.good:
        rel = f.path.relative_to(report.root).with_suffix(".png")
        jobs.append((f.path, out / "A" / rel, out / "B" / rel))
    _refuse_existing([p for _, a, b in jobs for p in (a, b)], overwrite)
    for src, dst_a, dst_b in jobs:
        img = read_uint8(src)
        half = img.shape[1] // 2
        write_image(dst_a, img[:, :half].astype(np.float32) / 255.0)
        write_image(dst_b, img[:, half:].astype(np.float32) / 255.0)
    return len(jobs)


def _refuse_output_in_input(out: Path, inputs: dict[str, str | Path], shown: Path | None = None) -> None:
    """An output folder that is an input folder, or lies inside one, would mix the written images
    into the input (read back by the next run, or replaced with --overwrite)."""
    where = out.resolve()
    for name, folder in inputs.items():
        source = Path(folder).resolve()
        if where == source or source in where.parents:
            raise UserError(f"-o {shown or out}: writes into the input folder {name} ({folder}); choose an -o "
                            "outside it")


def _refuse_existing(paths: list[Path], overwrite: bool) -> None:
    taken = [p for p in paths if p.exists()]
    if taken and not overwrite:
        raise UserError(f"{len(taken)} output(s) already exist, e.g. {taken[0]}; pass --overwrite or another -o")
