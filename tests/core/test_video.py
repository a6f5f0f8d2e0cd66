"""``translate apply`` on videos and GIFs: frames streamed through the model in batches, and what
the model does not change kept: frame count and timing, rotation (turned upright), sound; a piece
with --frames; nothing written when a run fails; one-line errors for clips that cannot be read."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av", reason="PyAV is not installed: pip install 'translate-gan[video]'")

FPS, FRAMES, WIDTH, HEIGHT = 10, 12, 32, 24


def make_clip(path: Path, frames: int = FRAMES, rotation: int = 90, audio: bool = True) -> Path:
    """An H.264 .mp4: a coloured pattern that changes every frame, a 440 Hz AAC tone as long as
    the video, and a display matrix saying 'show it turned by ``rotation`` degrees'."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=44100) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for i in range(frames):
            out.mux(video.encode(_pattern_frame(i)))
        out.mux(video.encode(None))
        if sound is not None:
            _write_tone(out, sound, frames / FPS)
    return path


def _pattern_frame(i: int):
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[..., 0] = 20 * i
    pixels[: HEIGHT // 2, : WIDTH // 2, 1] = 200  # a corner that shows which way is up
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
    frame.pts, frame.time_base = i, Fraction(1, FPS)
    return frame


def _write_tone(out, sound, seconds: float) -> None:
    rate = sound.codec_context.sample_rate
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for start in range(0, len(samples), 1024):
        frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        out.mux(sound.encode(frame))
    out.mux(sound.encode(None))


def probe(path: Path) -> dict:
    """What a player sees: decoded frames (RGB), their times and rotation, and the sound's length."""
    with av.open(str(path)) as clip:
        stream = clip.streams.video[0]
        frames = list(clip.decode(stream))
        info = {"rate": stream.average_rate, "times": [f.time for f in frames],
                "pixels": [f.to_ndarray(format="rgb24") for f in frames],
                "rotation": frames[0].rotation, "codec": stream.codec_context.name}
    with av.open(str(path)) as clip:
        if clip.streams.audio:
            sound = clip.streams.audio[0]
            info["audio_codec"] = sound.codec_context.name
            info["audio_s"] = sum(f.samples for f in clip.decode(sound)) / sound.codec_context.sample_rate
    return info


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255 ** 2 / max(mse, 1e-10)))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


@pytest.fixture(scope="module")
def tiny_sr_run(tmp_path_factory) -> Path:
    """A one-step ×2 super-resolution model: the size check needs a model that scales."""
    import translate

    out = tmp_path_factory.mktemp("tiny_sr") / "sr"
    translate.train("srgan", data="shapes", scale=2, n_blocks=1, features=4, size=16, batch_size=2, steps=1,
                    sample_every=0, out=out, progress=False, device="cpu", precision="fp32")
    return out


@pytest.fixture(scope="module")
def translated(tmp_path_factory, clip, tiny_cyclegan_run) -> Path:
    """The whole clip through the tiny model by ``translate apply``, in batches of 8 and 4 frames."""
    from click.testing import CliRunner

    from translate.cli import cli

    out = tmp_path_factory.mktemp("translated") / "out.mp4"
    result = CliRunner().invoke(cli, ["apply", str(tiny_cyclegan_run), str(clip), "-o", str(out)])
    assert result.exit_code == 0 and "wrote 1 video(s)" in result.output, result.output
    return out


def test_a_clip_keeps_its_frames_timing_sound_and_is_turned_upright(clip, translated):
    source, output = probe(clip), probe(translated)
    assert len(output["times"]) == FRAMES and output["times"] == source["times"]
    assert output["rate"] == FPS
    # Stored sideways with a 90° tag: written upright (24 wide, 32 high) and untagged.
    assert source["rotation"] == 90 and output["rotation"] == 0
    assert output["pixels"][0].shape == (WIDTH, HEIGHT, 3)
    assert output["audio_codec"] == "aac"
    assert abs(output["audio_s"] - source["audio_s"]) <= 1 / FPS
    assert [p.name for p in translated.parent.iterdir()] == ["out.mp4"]  # no temporary file left beside it


def test_each_output_frame_is_the_model_applied_to_that_frame(clip, translated, tiny_cyclegan_run):
    import translate

    model = translate.load(tiny_cyclegan_run, device="cpu")
    source, output = probe(clip)["pixels"], probe(translated)["pixels"]
    picked = (0, 5, 9, 11)  # in the first batch and the second (shorter) one
    upright = [np.rot90(source[i], 1).astype(np.float32) / 255 for i in picked]  # the 90° tag: a quarter turn
    for index, expected in zip(picked, model(upright)):
        expected = (np.clip(expected, 0, 1) * 255 + 0.5).astype(np.uint8)
        # yuv420p keeps colour at half resolution, whatever the codec's quality: compare with the
        # model's frame as yuv420p holds it, so what remains is the encoder's error (about 40 dB here;
        # the frame turned the wrong way gives 18).
        expected = av.VideoFrame.from_ndarray(expected, format="rgb24").reformat(format="yuv420p")
        assert psnr(output[index], expected.to_ndarray(format="rgb24")) > 33


def test_frames_picks_a_piece_and_a_scaling_model_scales_each_frame(tmp_path, cli, clip, tiny_sr_run):
    out = tmp_path / "piece.mp4"
    cli("apply", tiny_sr_run, clip, "-o", out, "--frames", "2:5")
    source, piece = probe(clip), probe(out)
    assert len(piece["times"]) == 3
    assert piece["times"] == pytest.approx([t - source["times"][2] for t in source["times"][2:5]])  # starts at 0
    assert piece["pixels"][0].shape == (2 * WIDTH, 2 * HEIGHT, 3)
    assert abs(piece["audio_s"] - 3 / FPS) <= 1 / FPS  # only the piece's sound


def test_a_variable_frame_rate_keeps_each_frames_time(tmp_path):
    from translate import video

    times = [0, 10, 20, 50, 60, 90, 95, 130]  # hundredths of a second: gaps and a burst
    with av.open(str(tmp_path / "vfr.mp4"), "w") as out:
        stream = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 100)
        for i, pts in enumerate(times):
            frame = _pattern_frame(i)
            frame.pts, frame.time_base = pts, Fraction(1, 100)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    video.translate_clip(tmp_path / "vfr.mp4", tmp_path / "out.mp4", lambda frames: frames, batch_size=3)
    assert probe(tmp_path / "out.mp4")["times"] == pytest.approx([t / 100 for t in times])


def test_frames_are_streamed_a_batch_at_a_time(tmp_path, clip, monkeypatch):
    """At most one batch of frames is decoded ahead of the encoder: memory does not grow with the clip."""
    from translate import video

    decoded, held = [0], []
    real_decode = video._decode

    def counting_decode(*args, **kwargs):
        for frame in real_decode(*args, **kwargs):
            decoded[0] += 1
            yield frame

    monkeypatch.setattr(video, "_decode", counting_decode)
    sizes = []

    def translate_batch(frames):
        sizes.append(len(frames))
        held.append(decoded[0] - sum(sizes[:-1]))  # decoded but not yet through the model and encoded
        return frames

    assert video.translate_clip(clip, tmp_path / "out.mp4", translate_batch, batch_size=4) == FRAMES
    assert sizes == [4, 4, 4] and max(held) <= 4


def test_an_interrupted_run_leaves_no_file(tmp_path, clip):
    from translate import video

    calls = []

    def interrupted(frames):
        calls.append(len(frames))
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the clip
        return frames

    with pytest.raises(KeyboardInterrupt):
        video.translate_clip(clip, tmp_path / "out.mp4", interrupted, batch_size=4)
    assert list(tmp_path.iterdir()) == []


def test_a_gif_becomes_a_gif_with_every_frame_and_its_duration(tmp_path, cli, tiny_cyclegan_run):
    durations = [50, 100, 150, 200]
    # The clip's upright frame size and last batch: the tiny model's CPU kernels are warm for them.
    frames = [Image.fromarray(np.full((32, 24, 3), (40 * i, 255 - 50 * i, 30 * i), np.uint8)) for i in range(4)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    cli("apply", tiny_cyclegan_run, tmp_path / "a.gif", "-o", tmp_path / "b.gif")
    with Image.open(tmp_path / "b.gif") as gif:
        seen = []
        for i in range(gif.n_frames):
            gif.seek(i)
            seen.append(gif.info["duration"])
        assert gif.size == (24, 32) and seen == durations and gif.info.get("loop") == 0


def test_a_folder_mixes_images_frames_and_videos(tmp_path, cli, clip, tiny_cyclegan_run):
    folder = tmp_path / "in"
    (folder / "sequence").mkdir(parents=True)
    for i in range(4):  # an image sequence: names (and so their order) are kept
        Image.fromarray(np.full((32, 24, 3), 60 * i, np.uint8)).save(folder / "sequence" / f"frame_{i:04d}.png")
    (folder / "clip.mp4").write_bytes(clip.read_bytes())
    result = cli("apply", tiny_cyclegan_run, folder, "-o", tmp_path / "out", "--format", "jpg", "--frames", "0:4")
    assert "4 image(s) and 1 video(s)" in result.output
    names = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert names == ["clip.mp4"] + [f"sequence/frame_{i:04d}.jpg" for i in range(4)]  # --format: images only
    assert len(probe(tmp_path / "out" / "clip.mp4")["times"]) == 4


def test_webm_output_reencodes_the_sound_it_cannot_hold(tmp_path, clip):
    from translate import video

    if "libvpx-vp9" not in av.codecs_available:
        pytest.skip("this PyAV's FFmpeg has no VP9 encoder")
    video.translate_clip(clip, tmp_path / "out.webm", lambda frames: frames, batch_size=6)
    info = probe(tmp_path / "out.webm")
    assert info["codec"] == "vp9" and info["audio_codec"] == "opus"  # AAC is not allowed in WebM
    assert len(info["times"]) == FRAMES and abs(info["audio_s"] - FRAMES / FPS) <= 1 / FPS


def test_odd_sized_output_is_padded_to_even(tmp_path, clip):
    from translate import video

    video.translate_clip(clip, tmp_path / "out.mp4", lambda frames: [f[:-1, :-1] for f in frames])
    assert probe(tmp_path / "out.mp4")["pixels"][0].shape == (WIDTH, HEIGHT, 3)  # 23×31 padded to 24×32


@pytest.mark.parametrize("text, says", [("3:2", "larger than A"), ("1", "A:B"), ("-3:", "negative"),
                                        ("a:b", "A:B")])
def test_bad_frames_are_one_line(text, says):
    from translate.errors import UserError
    from translate.video import parse_frames

    with pytest.raises(UserError, match=says):
        parse_frames(text)
    assert parse_frames("2:5") == slice(2, 5) and parse_frames(":4") == slice(0, 4) and parse_frames("7:") == slice(7, None)


def test_clips_that_cannot_be_read_are_one_line_errors(tmp_path, cli, clip, tiny_cyclegan_run, error_line,
                                                       monkeypatch):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00not a video" * 100)
    text = error_line(cli("apply", tiny_cyclegan_run, bad, "-o", tmp_path / "out.mp4", ok=False))
    assert str(bad) in text and "cannot read video" in text
    text = error_line(cli("apply", tiny_cyclegan_run, clip, "-o", tmp_path / "out.png", ok=False))
    assert "is a video" in text
    image = tmp_path / "x.png"
    Image.new("RGB", (16, 16)).save(image)
    assert "videos and GIFs" in error_line(cli("apply", tiny_cyclegan_run, image, "--frames", "0:2", ok=False))
    monkeypatch.setitem(sys.modules, "av", None)  # as if PyAV were not installed
    text = error_line(cli("apply", tiny_cyclegan_run, clip, "-o", tmp_path / "out.mp4", ok=False))
    assert "pip install 'translate-gan[video]'" in text
    assert not (tmp_path / "out.mp4").exists()


def test_colour_tags_are_kept_and_the_colours_encoded_as_they_say(tmp_path, tiny_cyclegan_run):
    """A full-range BT.709 clip (as phones write): the output says the same, and its pixels,
    read as those tags say, are the model's output (not converted with another matrix or range)."""
    import translate
    from translate.video import translate_clip

    src = tmp_path / "tagged.mp4"
    colour = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    colour[:] = (200, 40, 90)
    colour[: HEIGHT // 2] = (30, 180, 220)
    with av.open(str(src), "w") as out:
        video = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        tags = {"colorspace": 1, "color_range": 2, "color_primaries": 1, "color_trc": 1}  # BT.709, full range
        for name, value in tags.items():
            setattr(video.codec_context, name, value)
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(colour, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range="JPEG")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    model = translate.load(tiny_cyclegan_run, device="cpu")
    dst = tmp_path / "out.mp4"
    translate_clip(src, dst, model, progress=False)
    with av.open(str(dst)) as clip:
        context = clip.streams.video[0].codec_context
        assert {name: int(getattr(context, name)) for name in tags} == tags
        shown = next(clip.decode(video=0)).to_ndarray(format="rgb24")
    with av.open(str(src)) as clip:
        decoded = next(clip.decode(video=0)).to_ndarray(format="rgb24")
    inside = np.r_[2:HEIGHT // 2 - 2, HEIGHT // 2 + 2:HEIGHT - 2]  # away from the edge the codec blurs
    assert np.abs(decoded[inside].astype(int) - colour[inside]).max() <= 3  # the source reads back as made
    expected = (np.clip(model([decoded.astype(np.float32) / 255])[0], 0, 1) * 255 + 0.5).astype(np.uint8)
    expected = av.VideoFrame.from_ndarray(expected, format="rgb24").reformat(  # as yuv420p holds it
        format="yuv420p", dst_colorspace="ITU709", dst_color_range="JPEG").to_ndarray(format="rgb24")
    assert psnr(shown, expected) > 33
