"""``translate models``: the released models that installed plugins know by name, usable wherever
a checkpoint is taken (``translate apply horse2zebra photo.jpg``)."""

from __future__ import annotations

import click


@click.command("models")
@click.option("--urls", is_flag=True, help="also show where each file is downloaded from")
def models(urls: bool) -> None:
    """Released models by name: task, plugin, source, licence, size, and whether the cache
    (TRANSLATE_HOME) already holds it. Use a name in place of a checkpoint:

    \b
    translate apply horse2zebra horse.jpg
    translate apply realesrgan-x4plus photo.jpg -o big.png
    translate export horse2zebra -o h2z.onnx
    """
    from ..catalogue import cached_model, display_name, entries, human_size

    known = entries("models")
    if not known:
        click.echo("no installed plugin lists released models")
        return
    width = max(len(display_name(e, known)) for e in known)
    click.echo(f"{'NAME':<{width}}  {'PLUGIN':<9} {'SIZE':>8}  {'CACHED':<6}  TASK — SOURCE — LICENCE")
    for e in known:
        cached = "yes" if cached_model(e) else "-"
        click.echo(f"{display_name(e, known):<{width}}  {e.plugin:<9} {human_size(e.size):>8}  {cached:<6}  "
                   f"{e.get('task')} — {e.get('source')} — {e.get('licence')}")
        if urls:
            click.echo(f"{'':<{width}}  {e.url}")
