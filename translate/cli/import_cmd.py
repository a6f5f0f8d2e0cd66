"""``translate import FILE -o model.safetensors``: released weights of other projects (CycleGAN and
pix2pix generators of junyanz/pytorch-CycleGAN-and-pix2pix, ESRGAN / Real-ESRGAN, ...) as a
translate checkpoint; the work is in :mod:`translate.importing`."""

from __future__ import annotations

import click


@click.command("import")
@click.argument("file", type=click.Path())
@click.option("-o", "--out", type=click.Path(), default=None,
              help="checkpoint to write (.safetensors), or a folder for its model.safetensors  "
                   "[default: FILE's name with .safetensors, in the current folder]")
@click.option("--plugin", default=None, help="ask only this plugin instead of detecting which one recognises FILE")
@click.option("--arch", default=None,
              help="the architecture FILE holds, as the plugins name it (built in: resnet = CycleGAN's "
                   "ResnetGenerator, unet = pix2pix's UnetGenerator, rrdb = ESRGAN / Real-ESRGAN); only "
                   "that layout is tried, and a mismatch names the first tensor that does not fit")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="an option of the plugin's import (e.g. direction=b2a, reverse=OTHER.pth for a CycleGAN "
                   "generator file) or a config field to record (e.g. direction=BtoA for pix2pix); repeatable")
@click.option("--overwrite", is_flag=True, help="replace the checkpoint at -o if it already exists")
def import_weights(file, out, plugin, arch, settings, overwrite) -> None:
    """Make a translate checkpoint of weights released by another project.

    FILE is a .pth / .pt state dict (read with torch.load(weights_only=True): tensors only, no
    code runs) or a .safetensors file. The plugin that recognises its tensor names and shapes
    converts it; 'translate apply' then uses the checkpoint as one trained here.

    \b
    translate import horse2zebra.pth -o h2z.safetensors            # CycleGAN generator, A → B
    translate import horse2zebra.pth --set reverse=zebra2horse.pth  # both directions
    translate import facades_label2photo.pth -o facades.safetensors # pix2pix U-Net
    translate import RealESRGAN_x4plus.pth -o x4plus.safetensors    # ×4 super-resolution
    """
    from pathlib import Path

    from ..errors import UserError
    from ..importing import import_weights as run

    if Path(file).is_dir():
        raise UserError(f"{file}: a folder, not a weights file; pass the .pth, .pt or .safetensors file itself")
    result = run(file, out, plugin=plugin, arch=arch, settings=settings, overwrite=overwrite)
    click.echo(f"{file}: {result.layout} → plugin '{result.plugin}' ({', '.join(result.modules)})", err=True)
    for note in result.notes:
        click.echo(f"  note: {note}", err=True)
    click.echo(f"wrote {result.out} (sha256 of {file}: {result.sha256[:16]}…); "
               f"use it with: translate apply {result.out} IMAGE", err=True)
