"""``translate eval CKPT``: metrics defined by the plugin (mode coverage, PSNR/SSIM, ...)."""

from __future__ import annotations

import click

from .common import device_option


@click.command("eval")
@click.argument("checkpoint", type=click.Path())
@click.option("--data", default=None, help="data to evaluate on (a folder or built-in name), if the plugin needs it")
@click.option("--hr", default=None, help="folder of high-resolution images (super-resolution plugins)")
@click.option("-o", "--out", type=click.Path(file_okay=False), default="eval", show_default=True,
              help="folder for plots and per-image reports")
@click.option("-n", "count", type=int, default=None, help="number of samples to draw (plugin default if unset)")
@click.option("--seed", type=int, default=0, show_default=True)
@device_option
def evaluate(checkpoint, data, hr, out, count, seed, device) -> None:
    """Evaluate CHECKPOINT and print its metrics."""
    from pathlib import Path

    from ..checkpoint import load_model
    from ..errors import UserError
    from ..plugin import call_hook, filter_options

    model = load_model(checkpoint, device)
    if not model.plugin.can("evaluate"):
        raise UserError(f"plugin '{model.plugin.name}' has no evaluation; its checkpoints support "
                        f"{', '.join(h for h in ('sample', 'apply') if model.plugin.can(h))}")
    asked = {k: v for k, v in {"data": data, "hr": hr, "n": count}.items() if v is not None}
    options = filter_options(model.plugin, "evaluate", {"seed": seed}, asked)
    Path(out).mkdir(parents=True, exist_ok=True)
    metrics = call_hook(model.plugin, "evaluate", model.modules, model.config, Path(out), **options)
    width = max((len(k) for k in metrics), default=0)
    for key, value in metrics.items():
        click.echo(f"{key:<{width}}  {value:.4f}" if isinstance(value, float) else f"{key:<{width}}  {value}")
