"""Videos and animated GIFs through a model, frame by frame, for ``translate apply``.

Frames are streamed: decoded, gathered into a batch of ``batch_size``, translated, encoded and let
go, so a clip of any length takes the memory of one batch (an animated GIF's output is the
exception: PIL's GIF writer keeps every frame, at one byte a pixel, until the file is written).
What the model does not change is kept: each frame's timestamp (so the frame rate, variable or
not, and the time base), the audio (its packets copied as they are where the output container
takes the codec, else re-encoded), and the way the clip is seen: a clip tagged to be shown
rotated (phones store portrait clips sideways with a display-matrix tag) is turned upright before
the model sees it and written upright without the tag, so every player shows it the same way and
the model sees faces and horizons as it was trained to, as photos' EXIF orientation is applied.

Video needs PyAV (``pip install 'translate-gan[video]'``, FFmpeg inside the wheel); GIFs need only
Pillow. Nothing here imports PyAV or torch until a clip is read.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import UserError
from .progress import stage

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")
GIF_EXTENSION = ".gif"
CLIP_EXTENSIONS = VIDEO_EXTENSIONS + (GIF_EXTENSION,)
INSTALL_HINT = "pip install 'translate-gan[video]'"
DEFAULT_CRF = 18  # x264's "visually lossless" end: a translated clip should not lose detail to the codec
FALLBACK_RATE = Fraction(25)  # frames/s when a stream declares none
# What a stream says about its colours (matrix, range, primaries, transfer), copied to the output.
COLOUR_TAGS = ("colorspace", "color_range", "color_primaries", "color_trc")
MPEG4_MAX_TICKS = 65535  # the finest time base MPEG-4 part 2 can code (1/60000 keeps NTSC's 1001/30000 exact)
# Frames: a batch of float pixels in [0, 1] (H×W×C arrays) in, translated arrays out (see apply_files).
Translate = Callable[[list], list]


def is_clip(path: str | Path) -> bool:
    """A video or an (animated) GIF, by its extension."""
    return Path(path).suffix.lower() in CLIP_EXTENSIONS


def parse_frames(text: str | None) -> slice | None:
    """``--frames A:B``: frames A up to B, B left out, counted from 0 as Python slices do
    ('10:40', ':100', '250:'); None without the option."""
    if text is None:
        return None
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise UserError(f"--frames {text!r}: give A:B, frame indices from 0 with B left out (e.g. 0:100, 250:, "
                        ":50)") from None
    if (start is not None and start < 0) or (stop is not None and stop < 0):
        raise UserError(f"--frames {text!r}: frame indices count from 0 at the clip's start; negative ones "
                        "are not supported")
    if start is not None and stop is not None and stop <= start:
        raise UserError(f"--frames {text!r}: selects no frame; B must be larger than A")
    return slice(start or 0, stop)


def require_av():
    """The ``av`` module, or one line saying how to install it."""
    try:
        import av
    except ImportError:
        raise UserError(f"reading video needs PyAV, which is not installed: {INSTALL_HINT}") from None
    return av


def clip_problem(path: Path) -> str | None:
    """None for a clip whose first frame decodes, else one line naming it and the fix."""
    try:
        if path.suffix.lower() == GIF_EXTENSION:
            _check_gif(path)
        else:
            _check_video(path)
    except UserError:  # not the file's fault: PyAV is missing
        raise
    except Exception as exc:  # av.FFmpegError, OSError, ...: the file is at fault
        detail = getattr(exc, "strerror", None) or (str(exc).splitlines()[0] if str(exc) else "")
        kind = "GIF" if path.suffix.lower() == GIF_EXTENSION else "video"
        return (f"{path}: cannot read {kind} ({type(exc).__name__}: {detail}); re-encode it (e.g. to an H.264 "
                ".mp4) or leave it out")
    return None


def _check_video(path: Path) -> None:
    from .data.images import max_pixels

    av = require_av()
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("no video stream in it")
        stream = container.streams.video[0]
        if stream.width * stream.height > max_pixels():  # the limit images have, against decompression bombs
            raise ValueError(f"{stream.width}×{stream.height} frames are larger than the {max_pixels():,}-pixel limit "
                             "that TRANSLATE_MAX_PIXELS raises")
        next(container.decode(stream))


def _check_gif(path: Path) -> None:
    from PIL import Image

    from .data.images import max_pixels

    with Image.open(path) as gif:
        if gif.width * gif.height > max_pixels():
            raise ValueError(f"{gif.width}×{gif.height} frames are larger than the {max_pixels():,}-pixel limit")
        gif.convert("RGB")


def check_output_kind(src: Path, dst: Path) -> None:
    """A video becomes a video, a GIF a GIF, an image an image; anything else is refused before work."""
    source, target = _kind(src), _kind(dst)
    if source != target:
        raise UserError(f"-o {dst}: {src} is {_KIND_WORDS[source]}, so its output must be too; give a name ending "
                        f"in {_KIND_SUFFIXES[source]}, or a folder")


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    return "gif" if suffix == GIF_EXTENSION else "video" if suffix in VIDEO_EXTENSIONS else "image"


_KIND_WORDS = {"gif": "a GIF", "video": "a video", "image": "an image"}
_KIND_SUFFIXES = {"gif": GIF_EXTENSION, "video": "/".join(VIDEO_EXTENSIONS), "image": "an image format's extension"}


def translate_clip(src: Path, dst: Path, translate: Translate, channels: int = 3, batch_size: int = 8,
                   frames: slice | None = None, crf: int | None = None, progress: bool = True) -> int:
    """Translate the frames ``frames`` of the clip ``src`` into ``dst`` (written under a temporary
    name and renamed when complete); returns the number of frames written."""
    from .fileio import atomic_path

    with atomic_path(dst) as tmp:
        if src.suffix.lower() == GIF_EXTENSION:
            count = _translate_gif(src, tmp, translate, channels, batch_size, frames or slice(0, None), progress)
        else:
            count = _translate_video(src, tmp, translate, channels, batch_size, frames or slice(0, None),
                                     DEFAULT_CRF if crf is None else crf, progress)
        if count == 0:
            raise UserError(f"{src}: --frames selects no frame of this clip; it has fewer frames than that"
                            if frames else f"{src}: the clip holds no frame to translate")
    return count


def batched(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _progress(total: int | None, name: str, enabled: bool):
    from .progress import ItemProgress

    bar = ItemProgress(total or 0, unit="frame", enabled=enabled)
    bar.note(name)
    return bar


def _selected_count(total: int, frames: slice) -> int:
    return len(range(total)[frames]) if total else 0


# --- video ---------------------------------------------------------------------------------------


@dataclass
class Frame:
    pixels: "np.ndarray"  # H×W×C float32 in [0, 1], upright
    pts: int  # in the input stream's time base
    duration: int  # likewise


def _translate_video(src: Path, tmp: Path, translate: Translate, channels: int, batch_size: int, frames: slice,
                     crf: int, progress: bool) -> int:
    av = require_av()
    with av.open(str(src)) as source, av.open(str(src)) as audio_source, av.open(str(tmp), "w") as target:
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"  # frame and slice threads: decoding keeps up with a fast model
        writer = VideoWriter(target, stream, audio_source, crf, piece=frames.start > 0)
        bar = _progress(_selected_count(_frame_count(source, stream), frames), src.name, progress)
        try:
            for batch in batched(_decode(source, stream, frames, channels), batch_size):
                for frame, out in zip(batch, translate([f.pixels for f in batch])):
                    writer.write(out, frame)
                bar.advance(len(batch))
            writer.finish(rest_of_sound=frames.stop is None)
        finally:
            bar.close()
    return writer.count


def _frame_count(container, stream) -> int:
    """The stream's frame count, or an estimate from its duration (0 when neither is known)."""
    if stream.frames:
        return int(stream.frames)
    rate = stream.average_rate or stream.guessed_rate
    if stream.duration and rate:
        return int(round(stream.duration * stream.time_base * rate))
    if container.duration and rate:
        return int(round(container.duration / 1_000_000 * rate))
    return 0


def _decode(container, stream, frames: slice, channels: int) -> Iterator[Frame]:
    """The frames of ``frames`` one at a time, upright, with strictly increasing timestamps (what
    an encoder accepts). Frames before the piece are decoded and dropped: exact, unlike seeking to
    a keyframe."""
    import numpy as np

    rate = stream.average_rate or stream.guessed_rate or FALLBACK_RATE
    step = max(1, int(round(1 / (rate * stream.time_base)))) if stream.time_base else 1
    last = None
    for index, frame in enumerate(container.decode(stream)):
        if index < frames.start:
            continue
        if frames.stop is not None and index >= frames.stop:
            break
        pts = frame.pts if frame.pts is not None else (last + step if last is not None else 0)
        pts = last = max(pts, last + 1) if last is not None else pts
        pixels = frame.to_ndarray(format="rgb24" if channels == 3 else "gray")
        pixels = np.rot90(pixels, _quarter_turns(frame))
        pixels = np.ascontiguousarray(pixels, dtype=np.float32) / np.float32(255)
        yield Frame(pixels if pixels.ndim == 3 else pixels[..., None], pts, frame.duration or step)


def _quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns that show ``frame`` upright, from its display matrix (a
    phone's portrait clip says -90: a clockwise quarter turn). Other angles round to the nearest."""
    return int(round((frame.rotation or 0) / 90)) % 4


class VideoWriter:
    """The output container: a video stream made at the first translated frame (whose size the
    model decides), and the source's first audio stream, copied in step with the video."""

    def __init__(self, target, source_stream, audio_source, crf: int, piece: bool):
        self.target, self.source_stream, self.crf, self.piece = target, source_stream, crf, piece
        self.stream = None
        self.colour = _colour_conversion(source_stream)
        self.audio = AudioCopy(audio_source, target)
        self.count, self.end = 0, 0
        self.offset: int | None = None  # subtracted from every timestamp, sound's too

    def write(self, pixels, frame: Frame) -> None:
        av = require_av()
        image = _to_uint8(pixels)
        if self.stream is None:
            self._open(image.shape[1], image.shape[0])
        if self.offset is None:  # a piece starts at 0; the whole clip keeps its own start (unless negative)
            self.offset = frame.pts if self.piece else min(frame.pts, 0)
        image = _even(image, self.stream.width, self.stream.height)
        out = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p", **self.colour)
        out.pts, out.time_base = frame.pts - self.offset, self.source_stream.time_base
        self.target.mux(self.stream.encode(out))
        self.count += 1
        self.end = frame.pts + frame.duration
        self.audio.copy_until(self._seconds(frame.pts), self._seconds(self.offset))

    def finish(self, rest_of_sound: bool) -> None:
        """Flush the encoder; the sound up to the last frame's end, or to its own end with ``rest_of_sound``
        (the clip was translated to its end: sound that outlasts the picture is kept, as FFmpeg keeps it)."""
        if self.stream is not None:
            self.target.mux(self.stream.encode(None))
            end = float("inf") if rest_of_sound else self._seconds(self.end)
            self.audio.copy_until(end, self._seconds(self.offset), last=True)

    def _seconds(self, pts: int) -> float:
        return float(pts * self.source_stream.time_base)

    def _open(self, width: int, height: int) -> None:
        source = self.source_stream
        codec, options = video_codec(self.target, self.crf)
        self.stream = self.target.add_stream(codec, rate=source.average_rate or source.guessed_rate or FALLBACK_RATE)
        self.stream.width, self.stream.height = width + width % 2, height + height % 2
        if (width, height) != (self.stream.width, self.stream.height):
            stage(f"note: {width}×{height} output frames padded to {self.stream.width}×{self.stream.height} by "
                  "repeating the last row/column (yuv420p video holds even sizes only)")
        self.stream.pix_fmt = "yuv420p"  # what every player decodes; it needs even sizes
        self.stream.time_base = self.stream.codec_context.time_base = source.time_base  # frames keep their pts
        for tag in COLOUR_TAGS:  # a player shows the output's colours as it showed the input's
            value = getattr(source.codec_context, tag, 0)
            if value:
                setattr(self.stream.codec_context, tag, value)
        self.stream.codec_context.options = options
        if codec == "mpeg4":
            self.stream.codec_context.qscale = True
            self.stream.codec_context.global_quality = mpeg4_quality(self.crf) * 118  # FF_QP2LAMBDA
            if source.time_base.denominator > MPEG4_MAX_TICKS:  # e.g. a phone's 1/90000: MPEG-4 refuses it
                self.stream.time_base = self.stream.codec_context.time_base = Fraction(1, 60000)
        self.audio.add_stream()


def _colour_conversion(stream) -> dict:
    """RGB → YUV as the source was made: its matrix (BT.709 for HD, BT.601 for SD, ...) and range
    (limited or full), when it names them; an untagged source keeps FFmpeg's defaults, which
    are also what decoding it assumed."""
    from av.video.reformatter import ColorRange, Colorspace

    context, conversion = stream.codec_context, {}
    with contextlib.suppress(ValueError, TypeError):
        if getattr(context, "colorspace", 0):
            conversion["dst_colorspace"] = Colorspace(context.colorspace)
    with contextlib.suppress(ValueError, TypeError):
        if getattr(context, "color_range", 0):
            conversion["dst_color_range"] = ColorRange(context.color_range)
    return conversion


def video_codec(target, crf: int) -> tuple[str, dict[str, str]]:
    """H.264 (libx264) where this FFmpeg has it, else MPEG-4 part 2, which every FFmpeg encodes;
    VP9 for .webm, the codec that container is made for. ``crf``: constant quality, lower is better."""
    av = require_av()
    name = Path(target.name).suffix.lower()
    if name == ".webm":
        if "libvpx-vp9" not in av.codecs_available:
            raise UserError(f"{target.name}: this FFmpeg cannot write .webm (no VP9 encoder); write a .mp4 or .mkv")
        return "libvpx-vp9", {"crf": str(crf), "b": "0", "row-mt": "1"}
    if "libx264" in av.codecs_available:
        return "libx264", {"crf": str(crf), "preset": "medium"}
    return "mpeg4", {}


def mpeg4_quality(crf: int) -> int:
    """An MPEG-4 quantiser (2 best .. 31) about as good as x264's ``crf`` (18 → 3, 23 → 5)."""
    return max(2, min(31, round((crf - 10) / 2.7)))


def _to_uint8(pixels) -> "np.ndarray":
    import numpy as np

    image = (np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image)


def _even(image, width: int, height: int) -> "np.ndarray":
    """Pad an odd-sized frame by repeating its last row or column: yuv420p holds even sizes only,
    and a repeated edge loses none of the model's pixels (cropping would)."""
    import numpy as np

    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    if w > width or h > height or width - w > 1 or height - h > 1:
        raise UserError(f"the clip's frames change size mid-stream ({w}×{h} after {width}×{height}); "
                        "re-encode it at one size")
    return np.pad(image, ((0, height - h), (0, width - w), (0, 0)), mode="edge")


class AudioCopy:
    """The source's first audio stream into the output, in step with the video so the file is
    interleaved: packets copied unchanged where the container takes the codec, else decoded and
    re-encoded (AAC; Opus for .webm). Only the audio of the translated piece is kept."""

    def __init__(self, source, target):
        self.source, self.target = source, target
        self.input = source.streams.audio[0] if source.streams.audio else None
        self.stream = None
        self.remux = False
        self.packets = None
        self.resampler = None
        self.pending = None  # the packet read past the last video frame, written after the next

    def add_stream(self) -> None:
        if self.input is None:
            return
        codec = self.input.codec_context.name
        supported = getattr(self.target, "supported_codecs", None)
        self.remux = supported is None or codec in supported
        if self.remux:
            try:
                self.stream = self.target.add_stream_from_template(self.input)
            except (ValueError, require_av().FFmpegError):  # e.g. a codec FFmpeg knows only by its decoder's name
                self.remux = False
        if not self.remux:
            self._add_encoder()
        self.packets = self.source.demux(self.input)

    def _add_encoder(self) -> None:
        av = require_av()
        codec = "libopus" if Path(self.target.name).suffix.lower() == ".webm" else "aac"
        rate = self.input.codec_context.sample_rate or 48000
        if codec == "libopus":
            rate = 48000  # the only rate Opus encodes
        self.stream = self.target.add_stream(codec, rate=rate)
        layout = self.input.codec_context.layout
        self.stream.layout = layout.name if layout is not None and layout.nb_channels <= 2 else "stereo"
        self.resampler = av.AudioResampler(format=self.stream.codec_context.format, layout=self.stream.layout,
                                           rate=rate)

    def copy_until(self, seconds: float, offset: float, last: bool = False) -> None:
        """Write the sound up to ``seconds`` (the time of the video frame just written, in the
        source's clock) from the piece's start (``offset`` seconds, subtracted from its timestamps
        as from the video's); ``last``: then flush the encoder."""
        if self.packets is None:
            return
        pending, self.pending = self.pending, None
        while True:
            packet = pending if pending is not None else next(self.packets, None)
            pending = None
            if packet is None or packet.pts is None and packet.size == 0:
                break
            if packet.pts is None:
                continue
            start = float(packet.pts * packet.time_base)
            if start >= seconds:
                pending = packet  # belongs after the next video frame
                break
            if offset > 0 and start < offset:
                continue  # before the piece
            self._write(packet, offset)
        self.pending = pending
        if last:
            self._flush()
            self.packets = None

    def _write(self, packet, offset: float) -> None:
        shift = int(round(offset / packet.time_base)) if offset else 0
        if self.remux:
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = self.stream
            self.target.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None  # the encoder counts samples from the piece's start
            for resampled in self.resampler.resample(frame):
                self.target.mux(self.stream.encode(resampled))

    def _flush(self) -> None:
        if not self.remux and self.stream is not None:
            for resampled in self.resampler.resample(None):
                self.target.mux(self.stream.encode(resampled))
            self.target.mux(self.stream.encode(None))


# --- GIF -----------------------------------------------------------------------------------------


def _translate_gif(src: Path, tmp: Path, translate: Translate, channels: int, batch_size: int, frames: slice,
                   progress: bool) -> int:
    """Every frame (or the piece ``frames``) with its own duration and the loop count kept."""
    from PIL import Image

    with Image.open(src) as gif:
        total = getattr(gif, "n_frames", 1)
        bar = _progress(_selected_count(total, frames), src.name, progress)
        written = [0]

        def outputs() -> Iterator[Image.Image]:
            for batch in batched(_gif_frames(gif, frames, channels), batch_size):
                for (_, duration), out in zip(batch, translate([pixels for pixels, _ in batch])):
                    image = Image.fromarray(_to_uint8(out))
                    image.info["duration"] = duration
                    written[0] += 1
                    yield image
                bar.advance(len(batch))

        try:
            images = outputs()
            first = next(images, None)
            if first is None:
                return 0
            loop = {"loop": gif.info["loop"]} if "loop" in gif.info else {}
            first.save(tmp, format="GIF", save_all=True, append_images=images, **loop)
        finally:
            bar.close()
    return written[0]


def _gif_frames(gif, frames: slice, channels: int) -> Iterator[tuple["np.ndarray", int]]:
    import numpy as np

    from PIL import ImageSequence

    for index, frame in enumerate(ImageSequence.Iterator(gif)):
        if index < frames.start:
            continue
        if frames.stop is not None and index >= frames.stop:
            break
        pixels = np.asarray(frame.convert("RGBA").convert("RGB" if channels == 3 else "L"), dtype=np.float32) / 255
        yield (pixels if pixels.ndim == 3 else pixels[..., None]), int(frame.info.get("duration", 100))
