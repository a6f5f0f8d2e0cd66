"""``translate export CKPT -o model.onnx``: a checkpoint's network as ONNX or TorchScript, checked
against ``translate apply``; ``translate export --info FILE`` prints an exported file's metadata."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from .common import overwrite_option, refuse_existing_file

DEFAULT_OPSET = 17  # translate.export.DEFAULT_OPSET (not imported here: that module imports torch)


@click.command()
@click.argument("path", type=click.Path())
@click.option("-o", "--out", type=click.Path(), default=None,
              help="the file to write: .onnx (ONNX) or .pt (TorchScript)")
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), default=None,
              help="output format  [default: from the extension of -o]")
@click.option("--direction", default=None, help="for two-way models (CycleGAN): a2b or b2a  [default: the plugin's]")
@click.option("--set", "extra", multiple=True, metavar="NAME=VALUE",
              help="an option of the plugin's export_module hook (repeatable)")
@click.option("--opset", type=int, default=DEFAULT_OPSET, show_default=True, help="ONNX opset version (11-20)")
@click.option("--no-check", is_flag=True, help="skip the parity check of the written file against the checkpoint")
@click.option("--raw", is_flag=True, help="export the raw generator weights even when EMA weights exist")
@overwrite_option
@click.option("--info", is_flag=True, help="print the metadata of PATH, an exported .onnx or .pt file, and exit")
@click.option("--trust-code", is_flag=True, help="with --info: open PATH even if it is a TorchScript .pt (a program)")
def export(path, out, fmt, direction, extra, opset, no_check, raw, overwrite, info, trust_code) -> None:
    """Export the network of PATH (a model.safetensors or its run folder) to ONNX or TorchScript.

    The file takes what apply takes, float32 N×C×H×W images in [-1, 1] of any size (padding
    happens inside the graph), and returns what apply returns; GANs take noise z (and labels).
    After writing, the file is run on a random input of an odd size and compared with the
    checkpoint; a difference over 1e-4 fails and leaves nothing at -o.

    \b
    translate export runs/p2p -o p2p.onnx
    translate export runs/cg/model.safetensors -o zebra2horse.pt --direction b2a
    translate export --info p2p.onnx
    """
    if info:
        from ..exported import describe, read_metadata

        for line in describe(read_metadata(path, trust_code)):
            click.echo(line)
        return
    if out is None:
        raise UserError(f"translate export {path}: give the file to write, -o model.onnx (or model.pt)")
    if Path(out).is_dir():
        raise UserError(f"-o {out} is a folder; give the file to write, e.g. -o {Path(out) / 'model.onnx'}")
    refuse_existing_file(out, overwrite)
    from ..export import export_checkpoint

    result = export_checkpoint(path, out, fmt, direction=direction, extra=extra, opset=opset, check=not no_check,
                               use_ema=not raw)
    click.echo(result.summary(), err=True)
