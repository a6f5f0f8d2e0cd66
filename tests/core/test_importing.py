"""``translate import``: released weights of other projects as translate checkpoints, end to end.

Each reference network is built with the reference's own module nesting (the classes of
tests/core/test_weights.py, written from the published code, so the state-dict names come out
as in the released files), given random weights, saved as the original project saves it, imported
through the CLI, and applied with ``translate apply`` to an 8-bit PNG. The expected image is the
reference network's forward pass on the same pixels, in the reference's value range, quantised to
8 bits as the original project writes images. Tiny widths keep the file fast on 2 CPU cores.

Also: the ESRGAN generator trained here (``--arch rrdb`` with the relativistic loss), the errors
of the import (truncated files, pickles that carry code, unknown layouts, forced plugins, partial
matches) and the provenance the checkpoint records.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open

import translate
from test_weights import (JResnetGenerator, JUnetGenerator, _Payload, j_norm, randomise,
                                   rrdbnet_formula)
from translate.errors import UserError
from translate.importing import detect
from translate.registry import load_plugin
from translate_plugins.srgan.losses import RelativisticAverage
from translate_plugins.srgan.networks import RRDBNet

ODD = (37, 45)  # H, W: neither a multiple of 4 (J ResNet) nor of 64 (a depth-6 U-Net)
CPU = ("--device", "cpu", "--precision", "fp32")  # parity is checked in fp32


# ---- helpers --------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def photo(path, h: int, w: int, top: int = 180, left: int = 200) -> np.ndarray:
    """A crop of a real photo (scikit-image's astronaut) as an 8-bit RGB PNG; returns its pixels."""
    from skimage.data import astronaut

    pixels = np.ascontiguousarray(astronaut()[top:top + h, left:left + w])
    Image.fromarray(pixels).save(path)
    return pixels


def read_png(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.array(img.convert("RGB"))


def to_minus1_1(pixels: np.ndarray) -> torch.Tensor:
    """The J reference's test transform: ToTensor then Normalize(0.5, 0.5)."""
    return (torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255 - 0.5) / 0.5


def to_0_1(pixels: np.ndarray) -> torch.Tensor:
    """Real-ESRGAN's: img / 255 (RGB after its BGR swap)."""
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255


def j_tensor2im(y: torch.Tensor) -> np.ndarray:
    """The J reference's util.tensor2im: (y + 1) / 2 · 255, truncated to uint8 (not rounded)."""
    return ((y[0].permute(1, 2, 0).clamp(-1, 1).numpy() + 1) / 2 * 255).astype(np.uint8)


def rounded(y01: torch.Tensor) -> np.ndarray:
    """Real-ESRGAN's output write: clamp to [0, 1], · 255, round."""
    return (y01[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def reflect_pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Bottom/right reflection padding to a multiple: what translate apply does to odd sizes, and
    what Real-ESRGAN's RealESRGANer does for its ×2 and ×1 models (mod_pad, 'reflect')."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, (-w) % multiple, 0, (-h) % multiple), mode="reflect")


def import_file(cli, path, out, *args):
    result = cli("import", path, "-o", out, *args)
    assert "wrote" in result.output
    return result


def apply_png(cli, ckpt, png, out, *args) -> np.ndarray:
    cli("apply", ckpt, png, "-o", out, *CPU, *args)
    return read_png(out)


def compare(name: str, got: np.ndarray, expected: np.ndarray, float_diff: float | None = None) -> float:
    value = psnr(got, expected)
    exact = np.mean(got == expected)
    extra = f", float max abs diff {float_diff:.2g}" if float_diff is not None else ""
    print(f"{name}: PSNR {value:.1f} dB, {exact:.2%} of 8-bit values identical, "
          f"max 8-bit diff {np.abs(got.astype(int) - expected.astype(int)).max()}{extra}")
    assert got.shape == expected.shape
    assert expected.std() > 10, "the reference output is too flat to compare"
    return value


def metadata(path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


# ---- CycleGAN: J's ResnetGenerator (instance norm, reflection padding) ------------------------------

@pytest.fixture(scope="module")
def j_resnet():
    torch.manual_seed(1)
    return randomise(JResnetGenerator(3, 3, 8, 3, j_norm("instance"))).eval()


def test_cyclegan_import_applies_as_the_reference(cli, tmp_path, j_resnet):
    pth = tmp_path / "horse2zebra.pth"
    torch.save(j_resnet.state_dict(), pth)  # as BaseModel.save_networks
    ckpt = tmp_path / "h2z.safetensors"
    result = import_file(cli, pth, ckpt)
    assert "plugin 'cyclegan' (g_ab)" in result.output

    pixels = photo(tmp_path / "odd.png", *ODD)
    got = apply_png(cli, ckpt, tmp_path / "odd.png", tmp_path / "out.png")
    with torch.no_grad():  # J resizes to a multiple of 4; translate reflect-pads and crops back
        y = j_resnet(reflect_pad(to_minus1_1(pixels), 4))[..., :ODD[0], :ODD[1]]
        ours = translate.load(ckpt, device="cpu", precision="fp32").apply_tensor(to_minus1_1(pixels))
    diff = (ours - y).abs().max().item()
    assert diff < 1e-5
    assert compare("cyclegan resnet, J's truncation", got, j_tensor2im(y), diff) >= 45
    # translate rounds where J truncates: against a rounded reference nearly every value is equal
    assert np.mean(got == rounded((y + 1) / 2)) > 0.999

    # A larger image: whole under the default tile (512), as the reference runs it; in 64² tiles,
    # instance norm normalises each tile by its own statistics, so the result is close to, not
    # equal to, the whole-image pass. Random weights magnify that: measured 19 dB here.
    big = photo(tmp_path / "big.png", 96, 128, top=120, left=150)
    with torch.no_grad():
        y = j_tensor2im(j_resnet(to_minus1_1(big)))
    whole = apply_png(cli, ckpt, tmp_path / "big.png", tmp_path / "w.png")
    assert compare("cyclegan resnet, 96×128 whole", whole, y) >= 45
    got = apply_png(cli, ckpt, tmp_path / "big.png", tmp_path / "big_out.png", "--tile", "64", "--overlap", "16")
    assert compare("cyclegan resnet, 96×128 in 64² tiles", got, y) >= 17


def test_cyclegan_one_direction_and_both(cli, tmp_path, j_resnet):
    a2b, b2a = tmp_path / "horse2zebra.pth", tmp_path / "zebra2horse.pth"
    torch.save(j_resnet.state_dict(), a2b)
    other = randomise(JResnetGenerator(3, 3, 8, 3, j_norm("instance"))).eval()
    torch.save(other.state_dict(), b2a)
    photo(tmp_path / "x.png", 32, 40)
    x = to_minus1_1(read_png(tmp_path / "x.png"))

    one = tmp_path / "z2h.safetensors"
    import_file(cli, b2a, one, "--set", "direction=b2a")
    assert json.loads(metadata(one)["modules"]) == ["g_ba"]
    model = translate.load(one, device="cpu", precision="fp32")
    assert list(model.modules) == ["g_ba"]
    with torch.no_grad():
        assert (model(x, direction="b2a") - other(x)).abs().max() < 1e-5
    result = cli("apply", one, tmp_path / "x.png", "-o", tmp_path / "o.png", ok=False)  # default a2b
    assert result.exit_code == 1 and "holds only the b2a generator" in result.output
    assert "Traceback" not in result.output and "KeyError" not in result.output
    assert len(result.output.strip().splitlines()) == 1

    both = tmp_path / "both.safetensors"
    import_file(cli, a2b, both, "--set", f"reverse={b2a}")
    model = translate.load(both, device="cpu", precision="fp32")
    with torch.no_grad():
        assert (model(x) - j_resnet(x)).abs().max() < 1e-5
        assert (model(x, direction="b2a") - other(x)).abs().max() < 1e-5
    provenance = json.loads(metadata(both)["import"])
    assert provenance["modules"] == ["g_ab", "g_ba"] and provenance["options"] == {"reverse": str(b2a)}
    assert any("zebra2horse.pth (sha256 " + hashlib.sha256(b2a.read_bytes()).hexdigest() in n
               for n in provenance["notes"])

    smaller = tmp_path / "small.pth"
    torch.save(JResnetGenerator(3, 3, 8, 2, j_norm("instance")).state_dict(), smaller)
    result = cli("import", a2b, "-o", tmp_path / "x.safetensors", "--set", f"reverse={smaller}", ok=False)
    assert "n_blocks 2 (first file: 3)" in result.output


def test_dataparallel_prefix_and_old_instance_norm_statistics(cli, tmp_path, j_resnet):
    plain, prefixed = tmp_path / "plain.pth", tmp_path / "dp.pth"
    torch.save(j_resnet.state_dict(), plain)
    torch.save({f"module.{k}": v for k, v in j_resnet.state_dict().items()}, prefixed)  # DataParallel
    import_file(cli, plain, tmp_path / "plain.safetensors")
    import_file(cli, prefixed, tmp_path / "dp.safetensors")
    with safe_open(str(tmp_path / "plain.safetensors"), "pt") as a:
        with safe_open(str(tmp_path / "dp.safetensors"), "pt") as b:
            assert list(a.keys()) == list(b.keys())
            assert all(torch.equal(a.get_tensor(k), b.get_tensor(k)) for k in a.keys())

    # Old J code tracked InstanceNorm statistics: the files carry them; J's test.py never uses them.
    old = randomise(JResnetGenerator(3, 3, 8, 3, j_norm("instance", tracked=True)))
    torch.save(old.state_dict(), tmp_path / "old.pth")
    result = import_file(cli, tmp_path / "old.pth", tmp_path / "old.safetensors")
    assert "dropped 33 unused InstanceNorm running statistics" in result.output  # 11 norms × 3 tensors
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        got = translate.load(tmp_path / "old.safetensors", device="cpu", precision="fp32")(x)
        assert (got - old.train()(x)).abs().max() < 1e-5  # J's test.py: train mode, per-image statistics


# ---- pix2pix: J's UnetGenerator (batch norm, dropout) ------------------------------------------------

@pytest.fixture(scope="module")
def j_unet():
    torch.manual_seed(2)
    return randomise(JUnetGenerator(3, 3, 6, 8, j_norm("batch")))


def test_pix2pix_import_applies_as_the_reference(cli, tmp_path, j_unet):
    pth = tmp_path / "facades_label2photo.pth"
    torch.save(j_unet.state_dict(), pth)
    ckpt = tmp_path / "facades.safetensors"
    import_file(cli, pth, ckpt)
    reference = copy.deepcopy(j_unet).eval()  # the reference's --eval; translate's default

    pixels = photo(tmp_path / "odd.png", *ODD)
    got = apply_png(cli, ckpt, tmp_path / "odd.png", tmp_path / "out.png")
    with torch.no_grad():  # J resizes to 256²; translate reflect-pads to 2^depth and crops back
        y = reference(reflect_pad(to_minus1_1(pixels), 64))[..., :ODD[0], :ODD[1]]
        ours = translate.load(ckpt, device="cpu", precision="fp32").apply_tensor(to_minus1_1(pixels))
    diff = (ours - y).abs().max().item()
    assert diff < 1e-5
    assert compare("pix2pix unet (eval), J's truncation", got, j_tensor2im(y), diff) >= 45
    assert np.mean(got == rounded((y + 1) / 2)) > 0.999

    big = photo(tmp_path / "big.png", 128, 192, top=100, left=120)
    got = apply_png(cli, ckpt, tmp_path / "big.png", tmp_path / "big_out.png", "--tile", "64", "--overlap", "16")
    with torch.no_grad():
        y = reference(to_minus1_1(big))
    assert compare("pix2pix unet, 128×192 in 64² tiles", got, j_tensor2im(y)) >= 20


def test_pix2pix_junyanz_test_mode_reproduces_the_reference_test_script(cli, tmp_path, j_unet):
    """J's test.py without --eval: batch-norm batch statistics, dropout on; same seed → same image."""
    pth = tmp_path / "latest_net_G.pth"
    torch.save(j_unet.state_dict(), pth)
    ckpt = tmp_path / "p2p.safetensors"
    import_file(cli, pth, ckpt)
    pixels = photo(tmp_path / "x.png", 64, 64)  # J feeds whole images of a 2^depth multiple
    got = apply_png(cli, ckpt, tmp_path / "x.png", tmp_path / "out.png", "--set", "junyanz_test_mode=true",
                    "--set", "seed=3")
    reference = copy.deepcopy(j_unet).train()  # updates its running statistics: a copy
    with torch.no_grad():
        torch.manual_seed(3)
        y = reference(to_minus1_1(pixels))
    model = translate.load(ckpt, device="cpu", precision="fp32")
    x = to_minus1_1(pixels)
    with torch.no_grad():
        ours = model(x, junyanz_test_mode=True, seed=3)
        assert torch.equal(ours, model(x, junyanz_test_mode=True, seed=3))  # repeatable
    diff = (ours - y).abs().max().item()
    assert diff < 1e-5
    assert compare("pix2pix unet, J test mode", got, j_tensor2im(y), diff) >= 45
    eval_mode = apply_png(cli, ckpt, tmp_path / "x.png", tmp_path / "eval.png")
    other_seed = apply_png(cli, ckpt, tmp_path / "x.png", tmp_path / "s4.png", "--set", "junyanz_test_mode=true",
                           "--set", "seed=4")
    assert psnr(eval_mode, got) < 40 and psnr(other_seed, got) < 45  # the mode and the seed matter


# ---- Real-ESRGAN: RRDBNet ------------------------------------------------------------------------------

def calibrated(net: RRDBNet, x01: torch.Tensor) -> RRDBNet:
    """Scale and shift conv_last so that the output on ``x01`` has mean 0.5 and std 0.2 per
    channel: random weights otherwise often put every pixel beyond [0, 1], where all compare equal."""
    pad = (-x01.shape[-1]) % net.multiple, (-x01.shape[-2]) % net.multiple
    with torch.no_grad():
        y = net.forward_native(F.pad(x01, (0, pad[0], 0, pad[1]), mode="reflect"))
        s = 0.2 / y.std(dim=(0, 2, 3))
        net.conv_last.weight.mul_(s[:, None, None, None])
        net.conv_last.bias.mul_(s).add_(0.5 - y.mean(dim=(0, 2, 3)) * s)
    return net


@pytest.mark.parametrize("scale", [4, 2])
def test_real_esrgan_import_applies_as_the_reference(cli, tmp_path, scale):
    torch.manual_seed(3)
    pixels = photo(tmp_path / "odd.png", *ODD)
    net = calibrated(randomise(RRDBNet(scale, n_blocks=2, features=16, growth=8)), to_0_1(pixels))
    ema = net.state_dict()
    pth = tmp_path / f"RealESRGAN_x{scale}plus.pth"
    torch.save({"params_ema": ema, "params": {k: torch.zeros_like(v) for k, v in ema.items()}}, pth)  # BasicSR
    ckpt = tmp_path / "sr.safetensors"
    result = import_file(cli, pth, ckpt)
    assert f"×{scale}, 2 RRDBs, 16 features, growth 8" in result.output

    got = apply_png(cli, ckpt, tmp_path / "odd.png", tmp_path / "out.png")
    h, w = ODD
    with torch.no_grad():  # RealESRGANer: reflect-pad ×2 inputs to even sides, crop the output
        padded = reflect_pad(to_0_1(pixels), 2 if scale == 2 else 1)
        # RealESRGANer.enhance clamps the output to [0, 1], as translate apply clamps to the image range
        y = rrdbnet_formula(ema, padded, scale)[..., :h * scale, :w * scale].clamp(0, 1)
        ours = translate.load(ckpt, device="cpu", precision="fp32").apply_tensor(to_0_1(pixels) * 2 - 1)
    diff = ((ours + 1) / 2 - y).abs().max().item()
    assert got.shape == (h * scale, w * scale, 3) and diff < 1e-5
    assert compare(f"Real-ESRGAN x{scale}", got, rounded(y), diff) >= 45
    assert np.mean(got == rounded(y)) > 0.999  # both round; only values at a .5 boundary may differ

    if scale == 4:  # tiles of 32 LR pixels (overlap 16) against one whole-image pass
        big = photo(tmp_path / "big.png", 64, 80, top=200, left=220)
        got = apply_png(cli, ckpt, tmp_path / "big.png", tmp_path / "big_out.png", "--tile", "32", "--overlap", "16")
        with torch.no_grad():
            y = rrdbnet_formula(ema, to_0_1(big), 4)
        assert compare("Real-ESRGAN x4, 64×80 in 32² tiles", got, rounded(y)) >= 42


def test_provenance_and_python_api(cli, tmp_path):
    net = randomise(RRDBNet(4, n_blocks=1, features=8, growth=4))
    pth = tmp_path / "RealESRNet_x4plus.pth"
    torch.save({"params": net.state_dict()}, pth)
    import_file(cli, pth, tmp_path / "out")  # a folder: out/model.safetensors
    meta = metadata(tmp_path / "out" / "model.safetensors")
    provenance = json.loads(meta["import"])
    assert provenance["source"] == "RealESRNet_x4plus.pth"
    assert provenance["sha256"] == hashlib.sha256(pth.read_bytes()).hexdigest()
    assert provenance["layout"].startswith("Real-ESRGAN / BasicSR RRDBNet: ×4, 1 RRDBs")
    assert provenance["modules"] == ["generator"] and meta["plugin"] == "srgan" and meta["step"] == "0"
    config = json.loads(meta["config"])
    assert (config["arch"], config["value_range"], config["growth"]) == ("rrdb", "0,1", 4)
    model = translate.load(tmp_path / "out")  # a folder works as for trained runs
    assert model.plugin.name == "srgan" and model.config.scale == 4 and model.step == 0
    out = model(Image.new("RGB", (9, 7), (200, 30, 90)))
    assert out.size == (36, 28)

    # --set overrides a config field; one the network cannot take names the first tensor.
    import_file(cli, pth, tmp_path / "x.safetensors", "--set", "stage=gan", "--set", "size=128")
    meta = metadata(tmp_path / "x.safetensors")
    assert json.loads(meta["config"])["stage"] == "gan" and json.loads(meta["options"])["size"] == 128
    result = cli("import", pth, "-o", tmp_path / "y.safetensors", "--set", "growth=8", ok=False)
    assert "'generator.body.0.rdb1.conv1.weight' is 4×8×3×3, the network needs 8×8×3×3" in result.output


# ---- errors ------------------------------------------------------------------------------------------

def one_line_error(cli, *args) -> str:
    result = cli(*args, ok=False)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_unsafe_truncated_and_unknown_files_are_one_line(cli, tmp_path, j_resnet):
    out = tmp_path / "x.safetensors"
    marker = tmp_path / "marker"
    torch.save({"w": torch.zeros(2), "x": _Payload(marker)}, tmp_path / "evil.pth")
    assert "so reading it would run code" in one_line_error(cli, "import", tmp_path / "evil.pth", "-o", out)
    assert not marker.exists() and not out.exists()  # the payload never ran, nothing was written

    good = tmp_path / "good.pth"
    torch.save(j_resnet.state_dict(), good)
    (tmp_path / "truncated.pth").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    line = one_line_error(cli, "import", tmp_path / "truncated.pth", "-o", out)
    assert "truncated.pth" in line and "truncated or corrupt" in line

    from translate.nn.patchgan import PatchDiscriminator

    torch.save(PatchDiscriminator(6, 8).state_dict(), tmp_path / "netD.pth")
    line = one_line_error(cli, "import", tmp_path / "netD.pth", "-o", out)
    assert "no installed plugin recognises this layout" in line and "'net.0.weight' 8×6×4×4" in line
    assert "asked: cyclegan, pix2pix, srgan" in line

    line = one_line_error(cli, "import", good, "-o", out, "--plugin", "srgan")
    assert "plugin 'srgan' does not recognise this layout" in line and "'model.1.weight' 8×3×7×7" in line
    line = one_line_error(cli, "import", good, "-o", out, "--arch", "rrdb")
    assert "not an ESRGAN-family RRDBNet" in line and "first tensor is 'model.1.weight'" in line
    assert "does not import weights" in one_line_error(cli, "import", good, "-o", out, "--plugin", "gan")
    line = one_line_error(cli, "import", good, "-o", out, "--set", "colour=red")
    assert "--set colour" in line
    assert "a2b" in one_line_error(cli, "import", good, "-o", out, "--set", "direction=sideways")
    assert not out.exists()


def test_integer_weights_and_repeated_values_are_one_line_and_write_nothing(cli, tmp_path, j_resnet):
    from safetensors.torch import save_file

    out = tmp_path / "x.safetensors"
    sd = {k: v.clone() for k, v in j_resnet.state_dict().items()}
    sd["model.1.weight"] = sd["model.1.weight"].view(torch.int32)  # float bits declared as I32
    save_file(sd, str(tmp_path / "ints.safetensors"))
    line = one_line_error(cli, "import", tmp_path / "ints.safetensors", "-o", out)
    assert "ints.safetensors" in line and "holds int32 values where the network has float32 ones" in line
    sd = {k: torch.zeros(1, dtype=v.dtype).expand(v.shape) for k, v in j_resnet.state_dict().items()}
    torch.save(sd, tmp_path / "stride0.pth")
    line = one_line_error(cli, "import", tmp_path / "stride0.pth", "-o", out)
    assert "repeats or overlaps its values" in line
    assert not out.exists()


def test_a_partial_match_names_the_first_tensor_that_does_not_fit(cli, tmp_path, j_resnet):
    sd = dict(j_resnet.state_dict())
    sd["model.11.conv_block.5.weight"] = torch.zeros(32, 32, 1, 1)
    torch.save(sd, tmp_path / "changed.pth")
    line = one_line_error(cli, "import", tmp_path / "changed.pth", "-o", tmp_path / "x.safetensors")
    assert "changed.pth: CycleGAN reference ResnetGenerator" in line
    assert "'model.11.conv_block.5.weight' is 32×32×1×1" in line and "32×32×3×3" in line

    net = randomise(RRDBNet(4, n_blocks=1, features=8, growth=4)).state_dict()
    torch.save({"params_ema": {**net, "conv_extra.weight": torch.zeros(3)}}, tmp_path / "extra.pth")
    line = one_line_error(cli, "import", tmp_path / "extra.pth", "-o", tmp_path / "x.safetensors")
    assert "'conv_extra.weight' (3) does not belong to this layout" in line


def test_several_plugins_recognising_a_file_is_one_line_naming_them(j_resnet):
    first, second = load_plugin("cyclegan"), copy.copy(load_plugin("cyclegan"))
    second.name = "cyclegan_copy"
    with pytest.raises(UserError, match=r"recognised by several plugins \(cyclegan: .*; cyclegan_copy: .*\); "
                                        r"choose one with --plugin cyclegan or --plugin cyclegan_copy"):
        detect(__import__("pathlib").Path("h2z.pth"), j_resnet.state_dict(), [first, second], {}, forced=False)


# ---- ESRGAN trained here: --arch rrdb, the relativistic loss -------------------------------------------

def test_relativistic_average_loss_is_the_papers_formula():
    real, fake = torch.randn(5, 1), torch.randn(5, 1)
    d_ra = lambda a, b: torch.sigmoid(a - b.mean())  # noqa: E731  D_Ra(x_r, x_f) = σ(C(x_r) − E[C(x_f)])
    loss_d = -torch.log(d_ra(real, fake)).mean() - torch.log(1 - d_ra(fake, real)).mean()  # eq. 1
    loss_g = -torch.log(1 - d_ra(real, fake)).mean() - torch.log(d_ra(fake, real)).mean()  # eq. 2
    ragan = RelativisticAverage()
    torch.testing.assert_close(ragan.discriminator(real, fake), loss_d)
    torch.testing.assert_close(ragan.generator(fake, real), loss_g)
    assert torch.isfinite(ragan.generator(torch.full((4, 1), 200.0), torch.full((4, 1), -200.0)))  # saturated


def test_rrdb_trains_with_esrgan_defaults_and_applies(cli, tmp_path):
    tiny = ("--arch", "rrdb", "--n-blocks", "1", "--features", "8", "--growth", "4", "--scale", "2",
            "--size", "32", "--batch-size", "2", "--data", "skimage", "--sample-every", "0", "--log-every", "1",
            *CPU)
    cli("train", "srgan", *tiny, "--steps", "2", "--out", tmp_path / "pre")
    config = json.loads(metadata(tmp_path / "pre" / "model.safetensors")["config"])
    assert (config["content_loss"], config["lr"], config["gan_loss"]) == ("l1", 2e-4, "ragan")  # ESRGAN §4.1
    cli("train", "srgan", *tiny, "--stage", "gan", "--init", tmp_path / "pre", "--content-loss", "l1",
        "--steps", "2", "--out", tmp_path / "gan")
    logs = [json.loads(line) for line in (tmp_path / "gan" / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite([r["loss_d"], r["loss_adv"], r["loss_pixel"]]).all() for r in logs)
    config = json.loads(metadata(tmp_path / "gan" / "model.safetensors")["config"])
    assert (config["adversarial_weight"], config["pixel_weight"], config["lr"]) == (5e-3, 1e-2, 1e-4)
    photo(tmp_path / "odd.png", *ODD)
    got = apply_png(cli, tmp_path / "gan", tmp_path / "odd.png", tmp_path / "sr.png")
    assert got.shape == (ODD[0] * 2, ODD[1] * 2, 3)  # ×2 pads to even sides and crops back

    for flags, message in ((("--scale", "8"), "rrdb upscales by 1, 2, 4"),
                           (("--residual",), "--residual is an SRResNet option"),
                           (("--value-range", "1,0"), "high end must exceed")):
        line = one_line_error(cli, "train", "srgan", *tiny, *flags, "--steps", "1", "--out", tmp_path / "bad")
        assert message in line


def test_an_imported_real_esrgan_model_is_fine_tuned_with_init(cli, tmp_path):
    net = randomise(RRDBNet(4, n_blocks=1, features=8, growth=4))
    torch.save({"params_ema": net.state_dict()}, tmp_path / "x4.pth")
    import_file(cli, tmp_path / "x4.pth", tmp_path / "x4.safetensors")
    cli("train", "srgan", "--init", tmp_path / "x4.safetensors", "--arch", "rrdb", "--value-range", "0,1",
        "--n-blocks", "1", "--features", "8", "--growth", "4", "--size", "32", "--batch-size", "2", "--data",
        "skimage", "--steps", "1", "--lr", "1e-5", "--sample-every", "0", *CPU, "--out", tmp_path / "tuned")
    tuned = translate.load(tmp_path / "tuned").modules["generator"].state_dict()
    before = net.state_dict()["conv_first.weight"]
    assert 0 < (tuned["conv_first.weight"] - before).abs().max() < 1e-4  # one small step from the import
    result = cli("train", "srgan", "--init", tmp_path / "x4.safetensors", "--value-range", "-1,1", "--data",
                 "skimage", "--steps", "1", "--out", tmp_path / "bad", ok=False)
    assert result.exit_code == 1 and "trained with value-range 0,1, this run uses -1,1" in result.output
    # Left out, the layout flags come from the checkpoint: the same fine-tuning with none of them.
    cli("train", "srgan", "--init", tmp_path / "x4.safetensors", "--size", "32", "--batch-size", "2", "--data",
        "skimage", "--steps", "1", "--lr", "1e-5", "--sample-every", "0", *CPU, "--out", tmp_path / "inherited")
    config = json.loads(metadata(tmp_path / "inherited" / "model.safetensors")["config"])
    assert (config["arch"], config["n_blocks"], config["value_range"]) == ("rrdb", 1, "0,1")


def test_rrdb_passes_the_conformance_checks(tmp_path):
    """What 'translate plugin check srgan' runs for the default arch, for rrdb ×2 in the gan stage:
    config round trip, build, two RaGAN steps, reload, apply to 37×45, bit-exact resume."""
    from translate.testing import assert_plugin_conforms
    from translate_plugins.srgan import SRGANPlugin

    class RRDBCheck(SRGANPlugin):
        def example_run(self, workdir):
            return {"data": "skimage", "arch": "rrdb", "scale": 2, "stage": "gan", "content_loss": "l1",
                    "n_blocks": 1, "features": 8, "growth": 4, "size": 32, "batch_size": 2, "precision": "fp32"}

    results = assert_plugin_conforms(RRDBCheck, tmp_path)
    assert any("37×45 → 74×90" in r.detail for r in results)


def test_import_never_replaces_an_existing_checkpoint_without_overwrite(cli, tmp_path, j_resnet):
    pth = tmp_path / "h2z.pth"
    torch.save(j_resnet.state_dict(), pth)
    theirs = tmp_path / "theirs.safetensors"
    theirs.write_bytes(b"someone's checkpoint")
    line = one_line_error(cli, "import", pth, "-o", theirs)
    assert "already exists" in line and "--overwrite" in line
    assert theirs.read_bytes() == b"someone's checkpoint"
    folder = tmp_path / "someones_model"  # a folder holding someone's model and its config
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"their model")
    (folder / "config.toml").write_text("[run]\n")
    assert "already exists" in one_line_error(cli, "import", pth, "-o", folder)
    assert (folder / "model.safetensors").read_bytes() == b"their model"
    import_file(cli, pth, theirs, "--overwrite")
    assert theirs.read_bytes() != b"someone's checkpoint"


def test_import_into_a_file_or_an_unwritable_folder_is_one_line(cli, tmp_path, j_resnet, monkeypatch):
    pth = tmp_path / "h2z.pth"
    torch.save(j_resnet.state_dict(), pth)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    line = one_line_error(cli, "import", pth, "-o", blocker / "m.safetensors")
    assert "afile is a file, not a folder" in line
    import os

    locked = tmp_path / "readonly"
    locked.mkdir()
    real_access = os.access  # root ignores permission bits: pretend the folder is read-only
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p) == str(locked) else real_access(p, mode))
    assert "is not writable" in one_line_error(cli, "import", pth, "-o", locked / "m.safetensors")


def test_import_of_a_folder_says_it_is_a_folder(tmp_path, cli, error_line):
    text = error_line(cli("import", tmp_path, "-o", tmp_path / "x.safetensors", ok=False))
    assert "a folder, not a weights file" in text and not (tmp_path / "x.safetensors").exists()
