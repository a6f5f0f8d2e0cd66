"""``translate demo``: a local web page (Gradio) to try a model without a terminal.

An image-to-image model gets a page where a person drops an image, picks what the model offers
(a direction, test-time augmentation) and sees input and output side by side with a download
button. Every upload goes through :func:`translate.inference.apply_files`, the code of
``translate apply`` (tiles, precision, device), on the model opened once at start. A model that
only samples from noise gets a page that draws samples by seed, as ``translate sample`` does.

The choices offered come from the plugin's ``apply`` hook: each keyword option annotated
``Literal[...]`` (e.g. ``direction: Literal["a2b", "b2a"]``) becomes a set of buttons.
"""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import socket
import tempfile
import time
import typing
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import UserError, one_line

INSTALL = "pip install 'translate-gan[demo]'"
DEFAULT_PORT = 7860  # Gradio's
PORTS_TRIED = 100  # with no --port: the first free one from DEFAULT_PORT on
PROBE_SIZE = 32  # the probe image's side: small enough to cost little, large enough for any network
KEPT_RESULTS = 32  # result folders kept for download; older ones are removed
SAMPLES_MOST = 64
CLIP_FRAMES_MOST = 250  # a clip on the page: its first 250 frames (10 s at 25 frames/s); the rest is apply's
IMAGE_HEIGHT = 384  # pixels on the page: small images are enlarged to it, pixels kept sharp (CSS)
CSS = ("#demo-input img, #demo-output img { width: 100%; height: 100%; object-fit: contain; "
       "image-rendering: pixelated; }")


def require_gradio() -> None:
    """One line naming the extra when Gradio is not installed (checked before the model loads)."""
    if importlib.util.find_spec("gradio") is None:
        raise UserError(f"translate demo needs Gradio, which is not installed: {INSTALL}")


def free_port(host: str, port: int | None) -> int:
    """``port`` if nothing listens there (else one line saying so); with None, the first free one
    from Gradio's 7860 on. Checked before the model loads, so a busy port costs no waiting."""
    candidates = [port] if port is not None else range(DEFAULT_PORT, DEFAULT_PORT + PORTS_TRIED)
    for candidate in candidates:
        if not 1 <= candidate <= 65535:
            raise UserError(f"--port {candidate}: give a port from 1 to 65535")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # as the server binds: sockets of a page closed a moment ago do not make the port busy
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, candidate))
                return candidate
            except OSError:
                continue
    if port is not None:
        raise UserError(f"--port {port}: another program listens there; pick another --port, or leave it out "
                        "to take the first free one")
    raise UserError(f"no free port from {DEFAULT_PORT} to {DEFAULT_PORT + PORTS_TRIED - 1}; pass --port")


def choices_of(plugin: Any) -> dict[str, tuple[str, ...]]:
    """The apply options a person can pick on the page: keyword parameters of the plugin's
    ``apply`` annotated ``Literal[...]``, with their values (the default first)."""
    hook = getattr(plugin, "apply", None)
    if hook is None:
        return {}
    try:
        hints = typing.get_type_hints(hook)
    except (NameError, TypeError, AttributeError, SyntaxError):  # an annotation that does not resolve: no choice
        return {}
    found = {}
    for name, param in inspect.signature(hook).parameters.items():
        hint = hints.get(name)
        if typing.get_origin(hint) is Literal:
            values = tuple(str(v) for v in typing.get_args(hint))
            if param.default in values:
                values = (param.default, *[v for v in values if v != param.default])
            found[name] = values
    return found


@dataclass
class Results:
    """A private folder for the outputs a page hands back, each request in its own subfolder;
    only the last KEPT_RESULTS are kept, and the whole is removed when the page stops."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="translate-demo-")))
    kept: deque = field(default_factory=deque)

    def new_folder(self) -> Path:
        folder = self.root / uuid.uuid4().hex
        folder.mkdir()
        self.kept.append(folder)
        while len(self.kept) > KEPT_RESULTS:
            shutil.rmtree(self.kept.popleft(), ignore_errors=True)
        return folder

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Translator:
    """Uploads through ``translate apply``'s code on one opened model."""

    model: Any
    tile: int | None = None
    overlap: int | None = None
    results: Results = field(default_factory=Results)

    def run(self, src: str | Path, **options: Any) -> tuple[Path, str]:
        """(the output, a line on sizes and time) for the image file ``src`` (a PNG out), or a clip
        (its first CLIP_FRAMES_MOST frames: a GIF stays a GIF, a video becomes an mp4)."""
        from .cli.apply import check_readable
        from .inference import apply_files

        src = Path(src)
        clip = _is_clip(src)
        picked = "_".join(str(v) for k, v in options.items() if v not in (None, False, True)) or "out"
        suffix = (".gif" if src.suffix.lower() == ".gif" else ".mp4") if clip else ".png"
        dst = self.results.new_folder() / f"{src.stem}_{picked}{suffix}"
        check_readable([(src, dst)])
        if clip:
            options["frames"] = slice(0, CLIP_FRAMES_MOST)
        start = time.perf_counter()
        apply_files(self.model, [(src, dst)], tile=self.tile, overlap=self.overlap, progress=False,
                    **{k: v for k, v in options.items() if v is not None})
        seconds = time.perf_counter() - start
        return dst, f"done in {seconds:.1f} s" if clip else _sizes_line(src, dst, seconds)

    def probe(self) -> str:
        """Translate a small grey image before the page starts: a model that cannot run fails here,
        in the terminal, and what comes back tells the scale (×4 for a super-resolver)."""
        import numpy as np

        from .data.images import write_image

        folder = self.results.new_folder()
        src = folder / "probe.png"
        write_image(src, np.full((PROBE_SIZE, PROBE_SIZE, self.model.channels), 0.5, np.float32))
        dst, _ = self.run(src)
        return _scale_words(src, dst)


def _is_clip(path: Path) -> bool:
    from .video import is_clip

    return is_clip(path)


def videos_supported() -> bool:
    """Whether apply takes videos here (PyAV, the video extra, installed); GIFs need nothing."""
    return importlib.util.find_spec("av") is not None


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:
        return img.size


def _scale_words(src: Path, dst: Path) -> str:
    (w, h), (w2, h2) = _image_size(src), _image_size(dst)
    if (w2, h2) == (w, h):
        return "output the size of its input"
    return f"output ×{w2 / w:g} the size of its input" if w2 / w == h2 / h else f"{w}×{h} in, {w2}×{h2} out"


def _sizes_line(src: Path, dst: Path, seconds: float) -> str:
    (w, h), (w2, h2) = _image_size(src), _image_size(dst)
    return f"{w}×{h} → {w2}×{h2} in {seconds:.2f} s"


def describe(model: Any, checkpoint: str) -> str:
    """The page's first line: what model, where from, where it runs."""
    runtime = getattr(model, "runtime", None)
    where = f" · on {runtime.device} ({runtime.precision})" if runtime is not None else ""
    return f"**{model.plugin.name}** model, step {model.step}, from `{checkpoint}`{where}"


def styled_launch(gr) -> bool:
    """Whether this Gradio takes the page's CSS in ``launch`` (6 and later) rather than in ``Blocks``."""
    return "css" in inspect.signature(gr.Blocks.launch).parameters


def blocks(gr) -> Any:
    """The page's frame; uploads and results Gradio keeps are removed after an hour."""
    css = {} if styled_launch(gr) else {"css": CSS}
    return gr.Blocks(title="translate demo", delete_cache=(600, 3600), **css)


def translate_page(translator: Translator, title: str, scale: str) -> Any:
    """The page of an image-to-image model: input and output side by side, the choices its
    apply offers, a download button."""
    import gradio as gr

    choices = choices_of(translator.model.plugin)
    tta = getattr(translator.model.plugin, "tta", None)
    with blocks(gr) as page:
        gr.Markdown(f"## translate demo\n{title} · {scale}. Drop an image on the left.")
        with gr.Row():
            inp = gr.Image(label="input", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                           height=IMAGE_HEIGHT, elem_id="demo-input")
            out = gr.Image(label="output", type="filepath", interactive=False, height=IMAGE_HEIGHT,
                           elem_id="demo-output")
        with gr.Row():
            pickers = [gr.Radio(list(values), value=values[0], label=name.replace("_", " "), elem_id=f"demo-{name}")
                       for name, values in choices.items()]
            augment = gr.Checkbox(False, label=f"test-time augmentation ({tta}: slower, often a little better)",
                                  visible=tta is not None, elem_id="demo-tta")
        info = gr.Markdown(elem_id="demo-info")
        download = gr.DownloadButton("Download the output", elem_id="demo-download", interactive=False)
        names = list(choices)

        def run(path, *values):
            if not path:
                return None, "", gr.update(value=None, interactive=False)
            *picked, use_tta = values
            try:
                dst, line = translator.run(path, **dict(zip(names, picked)), **({"tta": True} if use_tta else {}))
            except UserError as exc:
                raise gr.Error(one_line(exc)) from None
            return str(dst), line, gr.update(value=str(dst), interactive=True)

        controls = [inp, *pickers, augment]
        for trigger in (inp.upload, *[p.change for p in pickers], augment.change):
            trigger(run, inputs=controls, outputs=[out, info, download])
        inp.clear(lambda: (None, "", gr.update(value=None, interactive=False)), outputs=[out, info, download])
        if videos_supported():
            _clip_section(gr, run, pickers, augment)
    return page


def _clip_section(gr, run, pickers: list, augment) -> None:
    """A short clip in, translated frame by frame as ``translate apply clip.mp4`` does, on request
    (clips take a while on a CPU)."""
    with gr.Accordion(f"A short clip (its first {CLIP_FRAMES_MOST} frames)", open=False, elem_id="demo-clip"):
        with gr.Row():
            clip_in = gr.Video(label="clip", sources=["upload"], format=None, elem_id="demo-clip-input")
            clip_out = gr.Video(label="translated clip", interactive=False, format=None, elem_id="demo-clip-output")
        go = gr.Button("Translate the clip", variant="primary", elem_id="demo-clip-go")
        clip_info = gr.Markdown(elem_id="demo-clip-info")
        clip_download = gr.DownloadButton("Download the clip", elem_id="demo-clip-download", interactive=False)
    go.click(run, inputs=[clip_in, *pickers, augment], outputs=[clip_out, clip_info, clip_download])


def sample_page(model: Any, results: Results, title: str) -> Any:
    """The page of a model that samples from noise: a seed and a count in, the samples as
    ``translate sample`` writes them out."""
    import gradio as gr

    with blocks(gr) as page:
        gr.Markdown(f"## translate demo\n{title} · draws samples from noise: pick a seed and press Draw.")
        with gr.Row():
            seed = gr.Number(0, label="seed", precision=0, elem_id="demo-seed")
            count = gr.Slider(1, SAMPLES_MOST, value=16, step=1, label="samples", elem_id="demo-count")
            draw = gr.Button("Draw", variant="primary", elem_id="demo-draw")
        out = gr.Image(label="samples", type="filepath", interactive=False, height=2 * IMAGE_HEIGHT,
                       elem_id="demo-output")
        download = gr.DownloadButton("Download the samples", elem_id="demo-download", interactive=False)

        def run(seed_value, n):
            try:
                seed_value, n = int(seed_value or 0), int(n)
                dst = model.write_samples(n, results.new_folder() / f"samples_seed{seed_value}.png", seed_value)
            except UserError as exc:
                raise gr.Error(one_line(exc)) from None
            if not Path(dst).is_file():
                raise gr.Error(f"plugin '{model.plugin.name}' writes its samples as {dst}, which this page "
                               "cannot show; use translate sample")
            return str(dst), gr.update(value=str(dst), interactive=True)

        draw.click(run, inputs=[seed, count], outputs=[out, download])
    return page
