"""``translate export``: every built-in plugin exports to ONNX and TorchScript, and the files, run
outside translate (onnxruntime, torch.jit.load) at two odd sizes, give what ``translate apply``
writes; metadata, ``--info``, ``--no-check``, opting out, and a missing optional package."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import translate
from translate.checkpoint import save_model
from translate.loading import load_model
from translate.config import param
from translate.errors import UserError
from translate.export import export_model
from translate.exported import read_metadata
from translate.interfaces import Dataset
from translate.nn.padding import PadToMultiple
from translate.nn.resize import BicubicUpsample
from translate.plugin import Plugin, call_hook, validate_plugin
from translate.tiling import run_padded

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SIZES = [(37, 45), (13, 59)]  # odd; 13 is under pix2pix's pad of 19, so that one replicates
TINY = {  # tiny widths: a few seconds for all of them on 2 cores
    "pix2pix": ("pix2pix", dict(aligned="shapes2shaded", size=32, batch_size=1, features=4)),
    "cyclegan": ("cyclegan", dict(a="shapes", b="shapes-inverted", size=32, gen_features=4, disc_features=4,
                                  n_blocks=1, disc_layers=1)),
    "srresnet": ("srgan", dict(data="skimage", size=32, batch_size=1, n_blocks=1, features=4, residual=True,
                               scale=2)),
    "rrdb": ("srgan", dict(data="skimage", size=32, batch_size=1, n_blocks=1, features=4, growth=4, arch="rrdb",
                           scale=2)),
    "gan": ("gan", dict(data="shapes", size=16, batch_size=2, features=4)),
    "cgan": ("gan", dict(data="digits", size=16, batch_size=2, features=4, conditional=True)),
}
IMAGE_CASES = [("pix2pix", None), ("cyclegan", "a2b"), ("cyclegan", "b2a"), ("srresnet", None), ("rrdb", None)]


@dataclass
class _TinyConfig:
    lr: float = param(1e-3, "learning rate", positive=True)


def _spread(run: Path) -> None:
    """Scale the generators' last layer so outputs span most of [-1, 1]: a 1-step model's are
    within ±0.02 of grey, where any export would pass an 8-bit comparison."""
    model = load_model(run, "cpu", True, "fp32")
    before = model.apply_tensor(torch.rand(2, 3, 32, 32) * 2 - 1) if model.plugin.can("apply") else model.sample_tensor(4)
    for module in model.modules.values():  # tanh(a·x) ≈ a·x for outputs this small
        last = [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))][-1]
        with torch.no_grad():
            last.weight.mul_(0.5 / float(before.std()))
    save_model(run / "model.safetensors", model.plugin.inference_modules, model.request.metadata(model.step), model.modules, None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, (plugin, kw) in TINY.items():
        translate.train(plugin, out=root / name, steps=1, progress=False, device="cpu", sample_every=0, **kw)
        if name in ("pix2pix", "gan", "cgan"):
            _spread(root / name)
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    """RGB photos-to-be at two odd sizes (smooth, so 8-bit rounding is exercised everywhere)."""
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i, (h, w) in enumerate(SIZES):
        y, x = np.mgrid[0:h, 0:w]
        rgb = np.stack([np.sin(x / 5 + i), np.cos(y / 4), np.sin((x + y) / 7)], axis=2) * 0.5 + 0.5
        paths.append(folder / f"img{i}.png")
        Image.fromarray((rgb * 255).astype(np.uint8)).save(paths[-1])
    return paths


# ---- running exported files outside translate ---------------------------------------------------

def run_onnx(path: Path, *inputs: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, dict(zip([i.name for i in session.get_inputs()], inputs)))[0]


def run_torchscript(path: Path, *inputs: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch ≥ 2.9 calls jit.load deprecated
        module = torch.jit.load(str(path))
    with torch.no_grad():
        return module(*map(torch.from_numpy, inputs)).numpy()


def as_input(path: Path) -> np.ndarray:
    """An 8-bit RGB file as the graph takes it: 1×3×H×W float32 in [-1, 1]."""
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return (pixels.transpose(2, 0, 1)[None] * 2 - 1).astype(np.float32)


def quantise(output: np.ndarray) -> np.ndarray:
    """1×C×H×W in [-1, 1] → H×W×C uint8, rounded as translate apply writes PNGs."""
    pixels = np.clip((output[0].transpose(1, 2, 0) + 1) / 2, 0, 1)
    return (pixels * 255.0 + 0.5).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


# ---- every image-to-image plugin, both formats -------------------------------------------------

@pytest.mark.parametrize("name,direction", IMAGE_CASES, ids=[f"{n}-{d}" if d else n for n, d in IMAGE_CASES])
def test_exported_files_equal_translate_apply_at_two_odd_sizes(name, direction, runs, images, tmp_path, cli):
    run, flags = runs[name], (["--direction", direction] if direction else [])
    applied = tmp_path / "applied"
    cli("apply", run, *images, "-o", applied, *flags)
    for ext, run_file in (("onnx", run_onnx), ("pt", run_torchscript)):
        exported = tmp_path / f"model.{ext}"
        result = cli("export", run, "-o", exported, *flags)
        assert "parity with PyTorch: max |diff|" in result.output
        meta = read_metadata(exported, trust_code=True)
        assert meta["plugin"] == TINY[name][0] and meta["kind"] == "image-to-image"
        assert meta["direction"] == (direction or ("AtoB" if name == "pix2pix" else "none"))
        assert meta["scale"] == ("2" if TINY[name][0] == "srgan" else "1")
        assert meta["channels"] == "3" and meta["channel_order"] == "RGB" and meta["padding"] == "inside"
        for src in images:
            want = np.asarray(Image.open(applied / src.name))
            got = quantise(run_file(exported, as_input(src)))
            assert got.shape == want.shape
            assert want.std() > 10, "outputs must vary, or any export would match"
            assert psnr(got, want) >= 45, (name, ext, src.name, psnr(got, want))
        # translate apply on the exported file: the same tiling and file handling as the checkpoint
        again = tmp_path / f"again_{ext}"
        cli("apply", exported, *images, "-o", again, *flags, *(["--trust-code"] if ext == "pt" else []))
        for src in images:
            assert psnr(np.asarray(Image.open(again / src.name)), np.asarray(Image.open(applied / src.name))) >= 45


def test_tiles_of_an_exported_model_are_the_checkpoints_tiles(runs, tmp_path, cli):
    """An image larger than --tile goes through the same tiles (and seams) as apply's."""
    src = tmp_path / "big.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (70, 90, 4), dtype=np.uint8)).save(src)  # alpha too
    exported = tmp_path / "cg.onnx"
    cli("export", runs["cyclegan"], "-o", exported)
    cli("apply", runs["cyclegan"], src, "-o", tmp_path / "a.png", "--tile", "32", "--overlap", "8")
    cli("apply", exported, src, "-o", tmp_path / "b.png", "--tile", "32", "--overlap", "8")
    a, b = np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png"))
    assert a.shape == b.shape == (70, 90, 4) and np.array_equal(a[..., 3], b[..., 3])
    assert psnr(a, b) >= 45


def test_an_exported_model_refuses_another_direction(runs, images, tmp_path, cli):
    exported = tmp_path / "b2a.onnx"
    cli("export", runs["cyclegan"], "-o", exported, "--direction", "b2a")
    result = cli("apply", exported, images[0], "-o", tmp_path / "x.png", "--direction", "a2b", ok=False)
    assert "translates b2a; export the checkpoint again with --direction a2b" in result.output


# ---- noise to images ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gan", "cgan"])
def test_gan_exports_noise_to_images(name, runs, tmp_path, cli):
    model = translate.load(runs[name], device="cpu", precision="fp32")
    plugin, config = model.plugin, model.config
    z = torch.randn(5, plugin.latent_dim(config), generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([0, 3, 9, 1, 1]) if name == "cgan" else None
    with torch.no_grad():
        want = call_hook(plugin, "generate", model.modules, config, z, labels).numpy()
    assert want.std() > 0.1
    inputs = [z.numpy()] + ([labels.numpy()] if labels is not None else [])
    for ext, run_file in (("onnx", run_onnx), ("pt", run_torchscript)):
        exported = tmp_path / f"g.{ext}"
        cli("export", runs[name], "-o", exported)
        meta = read_metadata(exported, trust_code=True)
        assert meta["kind"] == "noise-to-image" and meta["latent_dim"] == str(plugin.latent_dim(config))
        assert meta["inputs"] == ("z,labels" if name == "cgan" else "z")
        assert meta["output_shape"] == "N×3×16×16"
        got = run_file(exported, *inputs)
        assert np.abs(got - want).max() < 1e-4
        assert all(psnr(quantise(got[i:i + 1]), quantise(want[i:i + 1])) >= 45 for i in range(5))
    Image.new("RGB", (9, 9)).save(tmp_path / "x.png")
    result = cli("apply", tmp_path / "g.onnx", tmp_path / "x.png", "-o", tmp_path / "y.png", ok=False)
    assert "noise-to-image generator" in result.output


# ---- metadata, --info, --no-check -----------------------------------------------------------

def test_info_prints_the_metadata_of_both_formats(runs, tmp_path, cli):
    for ext in ("onnx", "pt"):
        exported = tmp_path / f"sr.{ext}"
        cli("export", runs["srresnet"], "-o", exported)
        out = cli("export", "--info", exported, "--trust-code").output
        for key, value in [("plugin", "srgan"), ("plugin_version", translate.__version__), ("scale", "2"),
                           ("input_range", "-1,1"), ("output_range", "-1,1"), ("channel_order", "RGB"),
                           ("channels", "3"), ("multiple", "1"), ("step", "1"), ("direction", "none"),
                           ("translate_version", translate.__version__), ("dynamic_axes", "N,H,W")]:
            assert any(line.split() == [key, value] for line in out.splitlines()), (key, out)
        assert ("opset" in out) == (ext == "onnx")
    proto = onnx.load(str(tmp_path / "sr.onnx"))
    assert {p.key: p.value for p in proto.metadata_props}["plugin"] == "srgan"


def test_a_failed_check_writes_nothing_and_no_check_writes(runs, tmp_path, cli, monkeypatch):
    import translate.export

    monkeypatch.setattr(translate.export, "TOLERANCE", -1.0)  # every difference fails, even 0
    out = tmp_path / "p2p.onnx"
    result = cli("export", runs["pix2pix"], "-o", out, ok=False)
    assert result.exit_code == 1 and "parity check failed: max |exported - PyTorch|" in result.output
    assert "nothing written" in result.output
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one
    result = cli("export", runs["pix2pix"], "-o", out, "--no-check")
    assert "not checked (--no-check)" in result.output and out.is_file()
    assert read_metadata(out)["multiple"] == "32"


def test_user_errors_are_one_line(runs, images, tmp_path, cli):
    cases = [
        (["-o", tmp_path / "m.bin"], "name the file .onnx (ONNX) or .pt (TorchScript), or give --format"),
        (["-o", tmp_path / "m.pt", "--format", "onnx"], "name the file .onnx"),
        (["-o", tmp_path / "m.onnx", "--set", "tile=3"], "export_module takes no --tile"),
        (["-o", tmp_path / "m.onnx", "--direction", "b2a"], "trained --direction AtoB and exports only that way"),
        (["-o", tmp_path / "m.onnx", "--opset", "9"], "--opset 9: choose 11..20"),
        ([], "give the file to write, -o model.onnx"),
    ]
    for args, message in cases:
        result = cli("export", runs["pix2pix"], *args, ok=False)
        assert result.exit_code == 1 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    for name, message in (("garbage.onnx", "not an ONNX model"), ("garbage.pt", "not a TorchScript archive")):
        (tmp_path / name).write_bytes(b"not a model")
        trust = ["--trust-code"] if name.endswith(".pt") else []
        assert message in cli("apply", tmp_path / name, images[0], "-o", tmp_path / "x.png", *trust, ok=False).output
        assert message in cli("export", "--info", tmp_path / name, *trust, ok=False).output


# ---- plugins that cannot or will not be exported ---------------------------------------------

class _Zeros(Dataset):
    def __len__(self):
        return 4

    def get(self, index, seed):
        return {"image": torch.zeros(3, 8, 8)}


class _Tiny(Plugin):
    """A 1×1-conv translator; variants add export_module hooks."""

    description = "tiny export test plugin"
    Config = _TinyConfig

    def build(self, config, options, training=True):
        return {"generator": nn.Conv2d(3, 3, 1)}

    def dataset(self, config, options, data):
        return _Zeros()

    def optimizers(self, config, modules):
        return {"generator": torch.optim.SGD(modules["generator"].parameters(), lr=config.lr)}

    def train_step(self, ctx):
        loss = ctx.modules["generator"](ctx.next_batch()["image"]).pow(2).mean()
        ctx.optimize("generator", loss)
        return {"loss": loss.detach()}

    def apply(self, modules, config, images):
        return modules["generator"](images).tanh()


class _Tanh(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x).tanh()


def _tiny_model(tmp_path: Path, **hooks):
    """A trained model of a _Tiny variant with ``hooks`` added."""
    plugin = validate_plugin(type("Variant", (_Tiny,), hooks))
    plugin.name = "tiny"
    return translate.train(plugin, data="x", steps=1, batch_size=2, size=8, out=tmp_path / "run",
                           progress=False, device="cpu", sample_every=0)


def test_a_plugin_that_opts_out_or_lacks_the_hook_is_one_line(tmp_path):
    opted_out = _tiny_model(tmp_path / "a", export_module=lambda self, modules, config: None)
    with pytest.raises(UserError, match=r"^plugin 'tiny' opts out of export \(its export_module returned None\)$"):
        export_model(opted_out, tmp_path / "m.pt")
    without = _tiny_model(tmp_path / "b")
    with pytest.raises(UserError, match=r"^plugin 'tiny' does not implement export_module\(\)"):
        export_model(without, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()
    exporting = _tiny_model(tmp_path / "c", export_module=lambda self, modules, config: _Tanh(modules["generator"]))
    assert export_model(exporting, tmp_path / "m.pt").max_diff < 1e-6


class _NeedsMultiple(nn.Module):
    """A network that takes only sides divisible by 4 and does not pad itself."""

    multiple = 4

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return F.pixel_shuffle(F.pixel_unshuffle(self.net(x), 4), 4).tanh()  # fails unless H, W % 4 == 0


def test_a_graph_that_needs_multiples_records_them_and_is_padded_by_the_caller(tmp_path):
    from translate.exported import load_exported

    model = _tiny_model(tmp_path, export_module=lambda self, modules, config: _NeedsMultiple(modules["generator"]))
    result = export_model(model, tmp_path / "m.onnx")  # checked with the input padded to 4, as tiled() pads
    assert result.meta["padding"] == "caller" and result.meta["multiple"] == "4" and result.max_diff < 1e-6
    x = torch.rand(1, 3, 13, 7) * 2 - 1
    exported = load_exported(tmp_path / "m.onnx")
    assert torch.allclose(exported.apply_tensor(x), model.apply_tensor(x), atol=1e-6)


def test_a_missing_onnx_package_is_one_line(runs, tmp_path, cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` finds uninstalled
    result = cli("export", runs["cyclegan"], "-o", tmp_path / "m.onnx", ok=False)
    assert result.output.strip() == ('Error: ONNX export and inference need the optional package onnxruntime: '
                                     'pip install "translate-gan[export]"')
    assert not (tmp_path / "m.onnx").exists()
    cli("export", runs["cyclegan"], "-o", tmp_path / "m.pt")  # TorchScript needs neither package


def test_export_help_does_not_import_torch():
    code = ("import sys\nfrom translate.cli import cli\ntry:\n    cli.main(['export', '--help'], prog_name='translate')\n"
            "except SystemExit:\n    pass\nprint('TORCH' if 'torch' in sys.modules else 'LIGHT')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "--no-check" in proc.stdout and proc.stdout.strip().endswith("LIGHT"), proc.stdout + proc.stderr


# ---- the graph-side building blocks -------------------------------------------------------------

def test_padding_in_a_traced_graph_follows_the_runtime_shape():
    """Traced once at 40×56, the padding equals translate.tiling's (reflect or replicate, and
    CycleGAN's replicate up to min_side) at other sizes: nothing of the example is baked in."""
    net = nn.Conv2d(2, 2, 3, padding=1)  # any change in what it sees shows in the output
    for multiple, min_side in ((32, 1), (4, 8), (1, 1)):
        module = PadToMultiple(net, multiple, min_side=min_side).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, torch.rand(1, 2, 40, 56), check_trace=False)
        for h, w in [(37, 45), (13, 59), (5, 7), (64, 64), (3, 40)]:
            x = torch.rand(2, 2, h, w)
            grown = F.pad(x, (0, max(0, min_side - w), 0, max(0, min_side - h)), mode="replicate")
            want = run_padded(net, grown, multiple)[..., :h, :w]
            with torch.no_grad():
                assert torch.allclose(traced(x), want, atol=1e-6), (multiple, min_side, h, w)


def test_exportable_bicubic_equals_torch_antialiased_bicubic():
    for scale in (2, 4, 8):
        x = torch.rand(2, 3, 11, 7) * 2 - 1
        want = F.interpolate(x, scale_factor=scale, mode="bicubic", antialias=True, align_corners=False)
        assert (BicubicUpsample(scale)(x) - want).abs().max() < 1e-5
    one = torch.rand(1, 1, 1, 2)  # every tap but the pixel's own falls outside: renormalised
    want = F.interpolate(one, scale_factor=4, mode="bicubic", antialias=True, align_corners=False)
    assert (BicubicUpsample(4)(one) - want).abs().max() < 1e-5


def test_export_refuses_an_existing_file_without_overwrite(tmp_path, cli, runs, error_line):
    from translate.exported import read_metadata

    out = tmp_path / "g.pt"
    out.write_bytes(b"mine")
    text = error_line(cli("export", runs["gan"], "-o", out, ok=False))
    assert str(out) in text and "pass --overwrite to replace it" in text
    assert out.read_bytes() == b"mine"
    cli("export", runs["gan"], "-o", out, "--overwrite")
    assert read_metadata(out, trust_code=True)["plugin"] == "gan"
    text = error_line(cli("export", runs["gan"], "-o", tmp_path, ok=False))
    assert "is a folder" in text and "model.onnx" in text


def test_export_under_a_file_or_into_an_unwritable_folder_is_one_line(tmp_path, cli, tiny_gan_run, error_line,
                                                                       monkeypatch):
    import os

    blocker = tmp_path / "afile"
    blocker.write_text("x")
    text = error_line(cli("export", tiny_gan_run, "-o", blocker / "m.onnx", ok=False))
    assert "afile is a file, not a folder" in text
    locked = tmp_path / "readonly"
    locked.mkdir()
    real_access = os.access  # root ignores permission bits: pretend the folder is read-only
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p) == str(locked) else real_access(p, mode))
    assert "is not writable" in error_line(cli("export", tiny_gan_run, "-o", locked / "m.pt", ok=False))
