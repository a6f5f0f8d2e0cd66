"""pix2pix: U-Net shapes, paired data (both layouts, identical jitter, clear errors), a short
training run that beats baselines on the built-in shapes2shaded task, tiled vs whole-image apply,
and train → apply through the CLI on an odd-sized image."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from translate.request import TrainRequest
from translate.loading import load_model
from translate.data.datasets import uint8_to_tensor
from translate.errors import UserError
from translate.options import TrainOptions
from translate.registry import load_plugin
from translate_plugins.pix2pix.data import shapes2shaded
from translate_plugins.pix2pix.networks import UNetGenerator, auto_depth

# The quality run: small enough for CI, long enough to learn the task.
QUALITY = dict(steps=300, size=32, batch_size=16, features=16)


@pytest.fixture(scope="module")
def plugin():
    return load_plugin("pix2pix")


def _options(**kw) -> TrainOptions:
    return TrainOptions(**{"size": 32, "batch_size": 4, **kw})


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


def _tensors(pairs) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.stack([uint8_to_tensor(a) for a, _ in pairs]), torch.stack([uint8_to_tensor(b) for _, b in pairs]))


# ---- the network -------------------------------------------------------------------------------

def test_unet_depth_follows_size_with_paper_bottleneck():
    assert [auto_depth(s) for s in (64, 128, 256, 512, 96)] == [6, 7, 8, 8, 5]
    for size in (64, 128, 256):
        net = UNetGenerator(3, 3, auto_depth(size), features=8).eval()
        x = torch.rand(1, 3, size, size) * 2 - 1
        h = x
        for block in net.down:
            h = block(h)
        assert h.shape[-2:] == (1, 1), "the innermost layer is the paper's 1×1 bottleneck"
        y = net(x)
        assert y.shape == x.shape and y.abs().max() <= 1
    with pytest.raises(UserError, match="multiple of 8"):
        auto_depth(100)


def test_unet_dropout_only_in_three_innermost_decoder_layers():
    net = UNetGenerator(3, 3, 6, features=8)
    has_dropout = [any(isinstance(m, torch.nn.Dropout) for m in block) for block in net.up]
    assert has_dropout == [True, True, True, False, False, False]  # innermost first
    # Train mode is stochastic (dropout as noise, §3.2); eval mode is deterministic.
    x = torch.rand(2, 3, 64, 64)
    assert not torch.equal(net.train()(x), net(x))
    net.eval()
    assert torch.equal(net(x), net(x))


# ---- data --------------------------------------------------------------------------------------

def _pair_folders(tmp_path: Path, n: int = 5, size: int = 40):
    """The same pairs written in both layouts: A|B side by side, and a/ + b/ by file name."""
    for i in range(n):
        a, b = shapes2shaded(size, i, 3)
        _write(tmp_path / "aligned" / f"{i:03d}.png", np.concatenate([a, b], axis=1))
        _write(tmp_path / "a" / f"{i:03d}.png", a)
        _write(tmp_path / "b" / f"{i:03d}.png", b)
    return {"aligned": str(tmp_path / "aligned")}, {"a": str(tmp_path / "a"), "b": str(tmp_path / "b")}


def test_both_layouts_give_the_same_pairs_and_direction_swaps(tmp_path, plugin):
    aligned, folders = _pair_folders(tmp_path)
    options = _options()
    d1 = plugin.dataset(plugin.Config(), options, aligned)
    d2 = plugin.dataset(plugin.Config(), options, folders)
    back = plugin.dataset(plugin.Config(direction="BtoA"), options, folders)
    assert len(d1) == len(d2) == 5
    for index, seed in [(0, 1), (3, 77), (4, 12345)]:
        x1, x2, x3 = d1[(index, seed)], d2[(index, seed)], back[(index, seed)]
        assert x1["input"].shape == (3, 32, 32)
        assert torch.equal(x1["input"], x2["input"]) and torch.equal(x1["target"], x2["target"])
        assert torch.equal(x3["input"], x2["target"]) and torch.equal(x3["target"], x2["input"])
        assert not torch.equal(x1["input"], x1["target"])


def test_both_sides_of_a_pair_get_the_same_jitter(tmp_path, plugin):
    rng = np.random.default_rng(0)
    for i in range(3):  # identical images on both sides, non-square, with detail everywhere
        img = rng.integers(0, 256, (41, 57, 3), dtype=np.uint8)
        _write(tmp_path / "a" / f"{i}.png", img)
        _write(tmp_path / "b" / f"{i}.png", img)
    data = plugin.dataset(plugin.Config(), _options(), {"a": str(tmp_path / "a"), "b": str(tmp_path / "b")})
    crops = set()
    for seed in range(12):
        item = data[(0, seed)]
        assert torch.equal(item["input"], item["target"]), f"seed {seed}: the two sides were jittered apart"
        crops.add(item["input"].numpy().tobytes())
    assert len(crops) > 4, "the jitter (random crop and flip) should vary with the seed"


def test_bad_pairs_list_the_offending_names(tmp_path, plugin):
    _, folders = _pair_folders(tmp_path, n=6)
    for i in (1, 2, 4, 5):
        (tmp_path / "b" / f"{i:03d}.png").unlink()
    _write(tmp_path / "b" / "extra.png", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(UserError) as err:
        plugin.dataset(plugin.Config(), _options(), folders)
    msg = str(err.value)
    assert "4 in --a" in msg and "001, 002, 004 and 1 more" in msg and "1 in --b" in msg and "extra" in msg
    assert "\n" not in msg

    _, folders = _pair_folders(tmp_path / "sizes", n=3)
    _write(tmp_path / "sizes" / "b" / "001.png", np.zeros((30, 40, 3), np.uint8))
    with pytest.raises(UserError, match=r"1 pair\(s\) differ in size: 001 \(40×40 vs 40×30\)"):
        plugin.dataset(plugin.Config(), _options(), folders)

    _write(tmp_path / "odd" / "x.png", np.zeros((20, 41, 3), np.uint8))
    with pytest.raises(UserError, match=r"odd width\): x.png \(41×20\)"):
        plugin.dataset(plugin.Config(), _options(), {"aligned": str(tmp_path / "odd")})


def test_aligned_folder_of_plain_photos_warns(tmp_path, capfd):
    """--aligned on square images (not A|B pairs) trains on meaningless halves: a warning says so;
    real A|B pairs (twice as wide as tall) get none."""
    plugin = load_plugin("pix2pix")
    for i in range(3):
        _write(tmp_path / "square" / f"{i}.png", np.zeros((40, 40, 3), np.uint8))
        _write(tmp_path / "pairs" / f"{i}.png", np.zeros((40, 80, 3), np.uint8))
    plugin.dataset(plugin.Config(), _options(), {"aligned": str(tmp_path / "square")})
    assert "3 of 3 images are not wider than tall" in capfd.readouterr().err
    plugin.dataset(plugin.Config(), _options(), {"aligned": str(tmp_path / "pairs")})
    assert "warning" not in capfd.readouterr().err


@pytest.mark.parametrize("data, message", [
    ({}, "needs paired data"),
    ({"a": "x"}, "got --a"),
    ({"aligned": "x", "a": "y", "b": "z"}, "not both"),
    ({"aligned": "no-such-task"}, r"not a built-in data set \(shapes2shaded\)"),
])
def test_missing_or_contradictory_data_flags(plugin, data, message):
    with pytest.raises(UserError, match=message):
        plugin.dataset(plugin.Config(), _options(), data)


def test_builtin_task_is_seeded_and_defers_to_a_real_folder(tmp_path, plugin, monkeypatch):
    a1, b1 = shapes2shaded(32, 5, 0)
    a2, b2 = shapes2shaded(32, 5, 0)
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2)
    assert not np.array_equal(b1, shapes2shaded(32, 5, 1)[1])
    shape = a1.max(axis=2) > 128  # label-map pixels inside a shape
    assert 0 < shape.mean() < 0.9 and b1[shape].mean() > b1[~shape].mean() + 20  # shapes lit, background dark
    # A folder named like the task is a folder, not the task.
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "shapes2shaded" / "p.png", np.zeros((8, 16, 3), np.uint8))
    data = plugin.dataset(plugin.Config(), _options(size=8), {"aligned": "shapes2shaded"})
    assert len(data) == 1


# ---- training quality and apply ------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(plugin, tmp_path_factory):
    """A short CPU run on shapes2shaded, in bf16 autocast (faster where the CPU has bf16 kernels)."""
    from translate.trainer import train

    out = tmp_path_factory.mktemp("pix2pix") / "run"
    config = plugin.Config(features=QUALITY["features"], d_features=QUALITY["features"])
    options = TrainOptions(steps=QUALITY["steps"], size=QUALITY["size"], batch_size=QUALITY["batch_size"],
                           precision="auto", sample_every=0, checkpoint_every=0, log_every=25)
    train(TrainRequest(plugin, options, config, {"aligned": "shapes2shaded"}), out, progress=False)
    return out, config, options


@pytest.mark.slow  # ~15 s on 2 cores; the README's first-command test checks learning in the default set
def test_short_training_beats_baselines_on_held_out_pairs(trained, plugin):
    out, config, options = trained
    size = QUALITY["size"]
    x, y = _tensors([shapes2shaded(size, i, 999) for i in range(64)])  # seed 999: never trained on
    train_targets = _tensors([shapes2shaded(size, i, 0) for i in range(512)])[1]
    mean_l1 = (train_targets.mean(0, keepdim=True) - y).abs().mean().item()
    median_l1 = (train_targets.median(0, keepdim=True).values - y).abs().mean().item()
    model = load_model(out)
    untrained = plugin.build(config, options)  # freshly initialised, N(0, 0.02) (§6.2)
    with torch.no_grad():
        trained_l1 = (plugin.apply(model.modules, model.config, x) - y).abs().mean().item()
        untrained_l1 = (plugin.apply(untrained, config, x) - y).abs().mean().item()
    report = f"trained {trained_l1:.4f}, mean image {mean_l1:.4f}, median image {median_l1:.4f}, " \
             f"untrained {untrained_l1:.4f}"
    assert trained_l1 < 0.5 * mean_l1, report
    assert trained_l1 < median_l1, report  # the best constant image under L1
    assert trained_l1 < 0.25 * untrained_l1, report
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert logs[-1]["loss_g_l1"] < 0.5 * logs[0]["loss_g_l1"]
    assert (out / "samples.png").is_file()


def test_tiled_apply_matches_whole_image(trained, plugin):
    """A 96² image (3× the training size) whole, and in 64² tiles overlapping by 32 (the tiles
    must be multiples of 2^depth = 32). The U-Net's receptive field is wider than a tile, so the two
    cannot be bit-identical: a tile lacks the context beyond its border. Batch norm runs on its
    running statistics, so that context is all that differs, and a trained model leans on nearby
    pixels: we ask for a mean difference below 0.005 (under one 8-bit level; [-1, 1] scale) and a
    99th percentile below 0.05, both far below the model's own error. Without the blended overlap
    the seams are much worse, which shows the comparison can fail."""
    out, _, _ = trained
    model = load_model(out)
    x, y = _tensors([shapes2shaded(96, i, 7) for i in range(4)])
    with torch.no_grad():
        whole = plugin.apply(model.modules, model.config, x, tile=512)
        tiles = plugin.apply(model.modules, model.config, x, tile=64, overlap=32)
        seams = plugin.apply(model.modules, model.config, x, tile=64, overlap=0)
    diff = (tiles - whole).abs()
    error = (whole - y).abs().mean().item()
    assert diff.mean() < 0.005 and diff.flatten().quantile(0.99) < 0.05, (diff.mean(), diff.max())
    assert diff.mean() < 0.2 * error
    assert (seams - whole).abs().max() > 2 * diff.max(), "blending should remove most of the seam"


def test_apply_rejects_other_direction_and_unknown_options(trained, plugin):
    out, _, _ = trained
    model = load_model(out)
    x = torch.zeros(1, 3, 32, 32)
    assert plugin.apply(model.modules, model.config, x, direction="a2b").shape == x.shape
    with pytest.raises(UserError, match="trained --direction AtoB"):
        plugin.apply(model.modules, model.config, x, direction="BtoA")
    with pytest.raises(UserError, match="plugin 'pix2pix': apply takes no --strength"):
        model.apply_tensor(x, strength=2)


def test_cli_train_then_apply_on_an_odd_sized_image(tmp_path, cli):
    aligned, _ = _pair_folders(tmp_path, n=4, size=64)
    run = tmp_path / "run"
    cli("train", "pix2pix", "--aligned", aligned["aligned"], "--steps", 3, "--size", 64, "--batch-size", 2,
        "--features", 8, "--d-features", 8, "--precision", "fp32", "--out", run)
    assert (run / "model.safetensors").is_file() and (run / "samples.png").is_file()
    photo = np.random.default_rng(1).integers(0, 256, (50, 75, 3), dtype=np.uint8)  # 75 wide, 50 high
    _write(tmp_path / "odd.png", photo)
    cli("apply", run / "model.safetensors", tmp_path / "odd.png", "-o", tmp_path / "out.png", "--precision", "fp32")
    with Image.open(tmp_path / "out.png") as img:
        assert img.size == (75, 50)
        written = np.asarray(img.convert("RGB"), np.float32) / 127.5 - 1
    # The file holds what the reloaded model computes (padded to 64·2 × 64, cropped back).
    model = load_model(run)
    with torch.no_grad():
        expected = model.plugin.apply(model.modules, model.config, uint8_to_tensor(photo)[None])[0]
    assert np.abs(written - expected.permute(1, 2, 0).numpy()).max() <= 1.01 / 127.5

    bad = cli("apply", run, tmp_path / "odd.png", "-o", tmp_path / "x.png", "--direction", "BtoA", ok=False)
    assert bad.exit_code != 0 and "trained --direction AtoB" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "x.png").exists()
    bad = cli("train", "pix2pix", "--a", tmp_path / "a", "--size", 64, "--out", tmp_path / "r2", ok=False)
    assert re.search(r"Error: pix2pix needs paired data.*got --a", bad.output)


def test_resume_continues_exactly(tmp_path, plugin, monkeypatch):
    """4 steps straight = Ctrl-C after step 2, then --resume: the same weights and Adam state (fused
    kernel), so the learning-rate decay (the last 2 steps), dropout noise and data order resume too."""
    from safetensors.torch import load_file

    import translate.trainer as trainer
    from translate.request import resume_request

    config = plugin.Config(features=8, d_features=8)
    options = TrainOptions(steps=4, size=32, batch_size=2, precision="fp32", device="cpu", sample_every=0,
                           log_every=1)
    trainer.train(TrainRequest(plugin, options, config, {"aligned": "shapes2shaded"}), tmp_path / "straight", progress=False)

    class CtrlCAfterTwoSteps(trainer._StopFlag):  # what the first Ctrl-C does, at a known step
        checks = 0

        @property
        def requested(self):
            self.checks += 1
            return self.checks >= 2

        @requested.setter
        def requested(self, value):
            pass

    with monkeypatch.context() as patch:
        patch.setattr(trainer, "_StopFlag", CtrlCAfterTwoSteps)
        with pytest.raises(trainer.Interrupted):
            trainer.train(TrainRequest(plugin, options, config, {"aligned": "shapes2shaded"}), tmp_path / "split",
                          progress=False)
    trainer.train(resume_request(plugin, tmp_path / "split", {}), tmp_path / "split", resume=True, progress=False)
    a = load_file(str(tmp_path / "straight" / "state.safetensors"))
    b = load_file(str(tmp_path / "split" / "state.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        if key.startswith(("module.", "optim.")):
            assert torch.equal(a[key], b[key]), key
