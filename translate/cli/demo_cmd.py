"""``translate demo CKPT``: a local web page to try a model in a browser (Gradio, the demo extra)."""

from __future__ import annotations

import signal

import click

from ..errors import UserError
from .common import device_option, precision_option

HOST = "127.0.0.1"  # this computer only; --share is the one way to reach the page from elsewhere


@click.command()
@click.argument("checkpoint")
@click.option("--port", type=int, default=None,
              help="port of the page  [default: the first free one from 7860]")
@click.option("--share", is_flag=True,
              help="also make a public gradio.live link (through Gradio's servers, for 72 hours): anyone "
                   "with the link can use the model on this computer")
@click.option("--tile", type=int, default=None,
              help="process larger images in overlapping tiles of this size (bounds memory)  [default: 512]")
@click.option("--overlap", type=int, default=None, help="tile overlap in pixels, blended  [default: 32]")
@click.option("--raw", is_flag=True, help="use the raw generator weights even when EMA weights exist")
@click.option("--trust-code", is_flag=True,
              help="run CHECKPOINT even if it is a TorchScript .pt, a program that can do anything you can")
@device_option
@precision_option
def demo(checkpoint, port, share, tile, overlap, raw, trust_code, device, precision) -> None:
    """A web page on this computer where anyone can try CHECKPOINT (a model.safetensors, its run
    folder, a released model's name, or a file from translate export): drop an image, see the
    output beside it, download it. Images go through the same code as translate apply. A model
    that samples from noise gets a page that draws samples by seed."""
    from ..demo import require_gradio

    require_gradio()
    page, results, port = _open_page(checkpoint, port, tile, overlap, not raw, trust_code, device, precision)
    click.echo(f"demo of {checkpoint} on http://{HOST}:{port} (this computer only"
               f"{'; also a public link, below' if share else ''}); Ctrl-C stops it", err=True)
    import gradio as gr

    from ..demo import CSS, styled_launch

    style = {"css": CSS} if styled_launch(gr) else {}
    before = signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill stops it as Ctrl-C does
    try:
        page.queue().launch(server_name=HOST, server_port=port, share=share, inbrowser=False, show_error=True,
                            allowed_paths=[str(results.root)], quiet=True, **style)
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM, above) is how a demo page is meant to end
        click.echo("demo stopped", err=True)
    finally:
        signal.signal(signal.SIGTERM, before)
        results.remove()


def _open_page(checkpoint, port, tile, overlap, use_ema, trust_code, device, precision):
    """(the page, its results folder, the port): the port checked, the model opened and run once on
    a probe image, so that anything wrong is one line here before a server starts."""
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local page phones nobody
    from ..demo import (
        Results,
        Translator,
        describe,
        free_port,
        sample_page,
        translate_page,
    )
    from ..inference import open_model

    port = free_port(HOST, port)
    model = open_model(checkpoint, device, use_ema, precision, trust_code)
    title = describe(model, checkpoint)
    results = Results()
    try:
        if model.plugin.can("apply"):
            translator = Translator(model, tile, overlap, results)
            page = translate_page(translator, title, translator.probe())
        elif model.plugin.can("sample"):
            page = sample_page(model, results, title)
        else:
            raise UserError(f"plugin '{model.plugin.name}' neither translates images nor samples; "
                            "the demo page has nothing to show")
    except BaseException:
        results.remove()
        raise
    return page, results, port
