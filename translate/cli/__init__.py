"""The ``translate`` command. Sub-commands are imported only when run, and nothing here imports
torch, so ``translate --help`` is instant."""

from __future__ import annotations

import importlib
import sys

import click

from ..errors import UserError, one_line

SUBCOMMANDS = {
    "plugins": ("translate.cli.plugins_cmd", "plugins", "List installed plugins (broken ones marked)."),
    "plugin": ("translate.cli.plugins_cmd", "plugin_group", "Plugin authoring tools: scaffold a plugin, check one."),
    "train": ("translate.cli.train", "train", "Train a plugin's model: translate train PLUGIN --data DIR."),
    "apply": ("translate.cli.apply", "apply", "Translate images with a checkpoint: translate apply CKPT IMG..."),
    "sample": ("translate.cli.sample", "sample", "Draw samples from a checkpoint: translate sample CKPT -n 64."),
    "demo": ("translate.cli.demo_cmd", "demo", "A web page to try a model in a browser (local; needs [demo])."),
    "eval": ("translate.cli.evaluate", "evaluate", "Metrics of a checkpoint (FID/KID, PSNR/SSIM/LPIPS; by plugin)."),
    "compare": ("translate.cli.compare", "compare", "FID/KID of two folders; PSNR/SSIM/LPIPS of same-named pairs."),
    "plot": ("translate.cli.plot", "plot", "Loss and metric curves of a run (PNG), and its index.html."),
    "import": ("translate.cli.import_cmd", "import_weights", "Make a translate checkpoint of released weights (.pth)."),
    "export": ("translate.cli.export_cmd", "export", "Export a checkpoint's generator to ONNX or TorchScript."),
    "data": ("translate.cli.data_cmd", "data_group", "Get data sets by name; check, pair or split image folders."),
    "models": ("translate.cli.models_cmd", "models", "Released models by name: translate apply NAME IMG."),
    "interpolate": ("translate.cli.latent", "interpolate", "Walk the latent space between seeds (image strip or GIF)."),
    "neighbours": ("translate.cli.latent", "neighbours", "Nearest training images of generated samples."),
    "attribute": ("translate.cli.latent", "attribute", "Attribute-vector arithmetic in latent space."),
}


class LazyGroup(click.Group):
    """Loads a sub-command's module only when that sub-command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _, _) in SUBCOMMANDS.items() if importlib.util.find_spec(module)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module, attr, _ = SUBCOMMANDS[name]
        if importlib.util.find_spec(module) is None:
            return None
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise click.ClickException(one_line(exc)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="translate-gan", message="%(prog)s %(version)s")
def cli() -> None:
    """Image-to-image translation and GANs for PyTorch, extended by plugins.

    \b
    translate plugins                               what is installed
    translate train gan --data shapes --out runs/x  train (see 'translate train --help')
    translate sample runs/x/model.safetensors -n 64 -o grid.png
    translate apply ckpt img.png -o out/            translate images
    """


def main() -> None:
    from ..stopping import terminate_by_unwinding

    terminate_by_unwinding()
    try:
        cli.main(prog_name="translate")
    except UserError as exc:  # raised while building a command (e.g. an unknown plugin)
        click.echo(f"Error: {one_line(exc)}", err=True)
        sys.exit(1)
    except SystemExit as exc:
        from ..stopping import exit_code_after

        code = exit_code_after(exc.code)  # click says 1 for any interruption; a SIGTERM is 143
        if isinstance(code, int) and code > 128:  # stopped by a signal (a run saved): the process ends
            from ..stopping import ignore_stop_signals

            ignore_stop_signals()
        if code != exc.code:
            raise SystemExit(code) from None
        raise
