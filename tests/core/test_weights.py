"""Released weights of other projects as translate generators: the safe .pth reader, the three
layout converters, the ESRGAN generator, and the reference implementations' test-time behaviour.

Released files cannot be downloaded here, so each reference network is re-implemented below with
the reference's own module nesting (so that its state_dict names come out as in the released
files), given random weights (norm parameters and running statistics too, so that they matter),
saved as the reference saves it, read back with ``read_torch_weights``, converted, loaded into our
network, and compared on random inputs in the reference's value range.
"""

from __future__ import annotations

import copy
import functools
import pickle
import warnings

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from translate.errors import UserError
from translate.nn.patchgan import PatchDiscriminator
from translate.weights import read_torch_weights
from translate_plugins.cyclegan.reference import convert_junyanz_resnet
from translate_plugins.cyclegan.networks import ResnetGenerator
from translate_plugins.pix2pix.reference import convert_junyanz_unet, junyanz_test_mode, reference_dropout_layers
from translate_plugins.pix2pix.networks import UNetGenerator
from translate_plugins.srgan.networks import SRResNet
from translate_plugins.srgan.reference import convert_esrgan_rrdb
from translate_plugins.srgan.networks import RRDBNet, ResidualDenseBlock, build_generator, build_rrdb

TOLERANCE = 1e-5  # fp32, max abs difference on outputs in [-1, 1] or [0, 1]
CONVERTERS = (convert_junyanz_resnet, convert_junyanz_unet, convert_esrgan_rrdb)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def randomise(module: nn.Module) -> nn.Module:
    """Random biases, norm scales/shifts and running statistics on top of torch's default init."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
            elif p.ndim == 1:  # norm scale
                p.normal_(1, 0.2)
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.normal_(0, 0.2)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)
            elif name.endswith("num_batches_tracked"):
                b.fill_(1234)
    return module


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


# ---- the reference CycleGAN ResnetGenerator (its module nesting) --------------------------------

def j_norm(kind: str, tracked: bool = False):
    """The reference's get_norm_layer; ``tracked`` builds InstanceNorm as its old code did."""
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=tracked)


class JResnetBlock(nn.Module):
    def __init__(self, dim: int, norm, dropout: bool, bias: bool):
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm(dim), nn.ReLU(True)]
        layers += [nn.Dropout(0.5)] if dropout else []
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class JResnetGenerator(nn.Module):
    def __init__(self, c_in: int, c_out: int, ngf: int, n_blocks: int, norm, dropout: bool = False):
        super().__init__()
        bias = norm.func is nn.InstanceNorm2d
        m = [nn.ReflectionPad2d(3), nn.Conv2d(c_in, ngf, 7, bias=bias), norm(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            m += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias), norm(ngf * mult * 2), nn.ReLU(True)]
        m += [JResnetBlock(4 * ngf, norm, dropout, bias) for _ in range(n_blocks)]
        for mult in (4, 2):
            m += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1, bias=bias),
                  norm(ngf * mult // 2), nn.ReLU(True)]
        m += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, c_out, 7), nn.Tanh()]
        self.model = nn.Sequential(*m)

    def forward(self, x):
        return self.model(x)


# ---- the reference pix2pix UnetGenerator (nested skip-connection blocks) -------------------------

class JUnetBlock(nn.Module):
    def __init__(self, outer: int, inner: int, input_nc: int | None = None, submodule: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, norm=None, dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        bias = norm.func is nn.InstanceNorm2d
        down_conv = nn.Conv2d(input_nc or outer, inner, 4, 2, 1, bias=bias)
        down_relu, up_relu = nn.LeakyReLU(0.2, True), nn.ReLU(True)  # in place, as the reference
        if outermost:
            model = [down_conv, submodule, up_relu, nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            model = [down_relu, down_conv, up_relu, nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias), norm(outer)]
        else:
            model = [down_relu, down_conv, norm(inner), submodule, up_relu,
                     nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=bias), norm(outer)]
            model += [nn.Dropout(0.5)] if dropout else []
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class JUnetGenerator(nn.Module):
    def __init__(self, c_in: int, c_out: int, num_downs: int, ngf: int, norm, dropout: bool = True):
        super().__init__()
        block = JUnetBlock(8 * ngf, 8 * ngf, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = JUnetBlock(8 * ngf, 8 * ngf, submodule=block, norm=norm, dropout=dropout)
        for outer in (4 * ngf, 2 * ngf, ngf):
            block = JUnetBlock(outer, 2 * outer, submodule=block, norm=norm)
        self.model = JUnetBlock(c_out, ngf, input_nc=c_in, submodule=block, outermost=True, norm=norm)

    def forward(self, x):
        return self.model(x)


# ---- ESRGAN's first release (architecture.py / block.py nesting) ---------------------------------

class OldDenseBlock(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Sequential(nn.Conv2d(nf + i * gc, gc, 3, 1, 1), nn.LeakyReLU(0.2, True)))
        self.conv5 = nn.Sequential(nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1))

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(torch.cat((x, x1), 1))
        x3 = self.conv3(torch.cat((x, x1, x2), 1))
        x4 = self.conv4(torch.cat((x, x1, x2, x3), 1))
        return self.conv5(torch.cat((x, x1, x2, x3, x4), 1)).mul(0.2) + x


class OldRRDB(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.RDB1, self.RDB2, self.RDB3 = OldDenseBlock(nf, gc), OldDenseBlock(nf, gc), OldDenseBlock(nf, gc)

    def forward(self, x):
        return self.RDB3(self.RDB2(self.RDB1(x))).mul(0.2) + x


class Shortcut(nn.Module):
    def __init__(self, sub: nn.Module):
        super().__init__()
        self.sub = sub

    def forward(self, x):
        return x + self.sub(x)


class OldESRGAN(nn.Module):
    """architecture.RRDB_Net(upscale=4): block.sequential flattens everything into ``model``."""

    def __init__(self, nb: int, nf: int, gc: int):
        super().__init__()
        trunk = nn.Sequential(*[OldRRDB(nf, gc) for _ in range(nb)], nn.Conv2d(nf, nf, 3, 1, 1))
        self.model = nn.Sequential(
            nn.Conv2d(3, nf, 3, 1, 1), Shortcut(trunk),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2, True),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.2, True), nn.Conv2d(nf, 3, 3, 1, 1))

    def forward(self, x):
        return self.model(x)


# ---- Real-ESRGAN's RRDBNet as a formula over its state dict -------------------------------------

def dense_block_formula(sd: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    """x1..x4 = LReLU(conv_i([x, x1, …])), x5 = conv5([x, x1, …, x4]); out = 0.2·x5 + x."""
    def conv(i, t):
        return F.conv2d(t, sd[f"{prefix}.conv{i}.weight"], sd[f"{prefix}.conv{i}.bias"], padding=1)
    feats = [x]
    for i in range(1, 5):
        feats.append(F.leaky_relu(conv(i, torch.cat(feats, 1)), 0.2))
    return conv(5, torch.cat(feats, 1)) * 0.2 + x


def rrdbnet_formula(sd: dict, x: torch.Tensor, scale: int) -> torch.Tensor:
    """Real-ESRGAN's RRDBNet forward on [0, 1] input, written out from BasicSR's definition."""
    def conv(name, t):
        return F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)
    if scale < 4:  # BasicSR's pixel_unshuffle: view + permute
        r = 2 if scale == 2 else 4
        b, c, h, w = x.shape
        x = x.view(b, c, h // r, r, w // r, r).permute(0, 1, 3, 5, 2, 4).reshape(b, c * r * r, h // r, w // r)
    feat = conv("conv_first", x)
    trunk = feat
    n_blocks = len({k.split(".")[1] for k in sd if k.startswith("body.")})
    for i in range(n_blocks):
        inner = trunk
        for r in (1, 2, 3):
            inner = dense_block_formula(sd, f"body.{i}.rdb{r}", inner)
        trunk = inner * 0.2 + trunk
    feat = feat + conv("conv_body", trunk)
    for name in ("conv_up1", "conv_up2"):
        feat = F.leaky_relu(conv(name, F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
    return conv("conv_last", F.leaky_relu(conv("conv_hr", feat), 0.2))


# ---- CycleGAN --------------------------------------------------------------------------------------

def _import_resnet(tmp_path, ref: nn.Module, prefix: str = "") -> ResnetGenerator:
    path = tmp_path / "latest_net_G.pth"
    torch.save({prefix + k: v for k, v in ref.state_dict().items()}, path)  # as BaseModel.save_networks
    converted = convert_junyanz_resnet(read_torch_weights(path))
    c = converted.config
    ours = ResnetGenerator(c["channels"], c["channels"], c["gen_features"], c["n_blocks"])
    ours.load_state_dict(converted.state_dict, strict=True)
    return ours.eval()


@pytest.mark.parametrize("n_blocks", [9, 6])
def test_cyclegan_reference_resnet_matches_exactly(tmp_path, n_blocks):
    ref = randomise(JResnetGenerator(3, 3, 8, n_blocks, j_norm("instance"))).eval()
    ours = _import_resnet(tmp_path, ref)
    assert convert_junyanz_resnet(ref.state_dict()).config == {"channels": 3, "gen_features": 8, "n_blocks": n_blocks}
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        diff = max_diff(ref(x), ours(x))
    print(f"cyclegan resnet_{n_blocks}blocks: max abs diff {diff:.3g}")
    assert diff <= TOLERANCE


def test_cyclegan_old_instance_norm_statistics_are_dropped_and_unused(tmp_path):
    # Old reference code tracked InstanceNorm statistics; its files carry them. The reference's test
    # script runs in train mode (no --eval), where InstanceNorm uses each image's own statistics.
    ref = randomise(JResnetGenerator(3, 3, 8, 2, j_norm("instance", tracked=True)))
    sd = ref.state_dict()
    assert sum(k.endswith("running_mean") for k in sd) == 3 + 2 * 2 + 2
    converted = convert_junyanz_resnet(sd)
    assert any("dropped 27 unused InstanceNorm" in note for note in converted.notes)  # 9 layers × 3 tensors
    ours = _import_resnet(tmp_path, ref)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        default_test = ref.train()(x)  # the reference's test.py without --eval
        assert max_diff(default_test, ours(x)) <= TOLERANCE
        assert max_diff(ref.eval()(x), ours(x)) > 0.01  # only an --eval run would have used them


def test_cyclegan_dataparallel_prefix_and_dropout_layout(tmp_path):
    ref = randomise(JResnetGenerator(3, 3, 8, 2, j_norm("instance"), dropout=True)).eval()
    ours = _import_resnet(tmp_path, ref, prefix="module.")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert max_diff(ref(x), ours(x)) <= TOLERANCE


def test_cyclegan_batch_norm_generator_is_refused_in_one_line():
    sd = JResnetGenerator(3, 3, 8, 2, j_norm("batch")).state_dict()
    with pytest.raises(UserError, match=r"'model\.2\.weight' \(a BatchNorm scale\) shows --norm batch") as err:
        convert_junyanz_resnet(sd)
    assert "\n" not in str(err.value)


# ---- pix2pix ---------------------------------------------------------------------------------------

def _import_unet(tmp_path, ref: nn.Module) -> UNetGenerator:
    path = tmp_path / "latest_net_G.pth"
    torch.save(ref.state_dict(), path)
    converted = convert_junyanz_unet(read_torch_weights(path))
    c = converted.config
    ours = UNetGenerator(c["channels"], c["channels"], c["depth"], c["features"], c["norm"])
    ours.load_state_dict(converted.state_dict, strict=True)
    return ours


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_pix2pix_reference_unet_matches_in_eval_mode(tmp_path, norm):
    ref = randomise(JUnetGenerator(3, 3, 6, 8, j_norm(norm))).eval()
    ours = _import_unet(tmp_path, ref).eval()
    assert convert_junyanz_unet(ref.state_dict()).config == {"channels": 3, "features": 8, "depth": 6, "norm": norm}
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        diff = max_diff(ref(x), ours(x))
    print(f"pix2pix unet depth 6 ({norm} norm, eval): max abs diff {diff:.3g}")
    assert diff <= TOLERANCE


def test_pix2pix_reference_test_mode_batch_statistics_and_dropout(tmp_path):
    """The reference's test.py without --eval: train-mode BatchNorm on the one test image and
    dropout on its ngf·8 decoder levels. Same seed → the same output, bit for bit."""
    ref = randomise(JUnetGenerator(3, 3, 7, 4, j_norm("batch")))
    ours = _import_unet(tmp_path, ref).eval()
    assert list(reference_dropout_layers(7)) == [1, 2] and list(reference_dropout_layers(8)) == [1, 2, 3]
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    ref_eval = copy.deepcopy(ref).eval()  # the reference's train-mode pass updates its running stats
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        torch.manual_seed(7)
        expected = ref.train()(x)
        with junyanz_test_mode(ours):
            torch.manual_seed(7)
            got = ours(x)
            torch.manual_seed(8)
            other_seed = ours(x)
    diff = max_diff(expected, got)
    print(f"pix2pix unet depth 7 (reference test mode, batch norm + dropout): max abs diff {diff:.3g}")
    assert diff <= TOLERANCE
    assert max_diff(got, other_seed) > 1e-3  # dropout is really on
    assert not ours.training and all(m.track_running_stats for m in ours.modules()
                                     if isinstance(m, nn.BatchNorm2d))
    assert all(torch.equal(v, before[k]) for k, v in ours.state_dict().items())  # running stats untouched
    with torch.no_grad():
        assert max_diff(ref_eval(x), ours(x)) <= TOLERANCE  # and back to eval mode afterwards


def test_pix2pix_old_instance_norm_statistics_are_dropped(tmp_path):
    # Train mode, as the reference's test.py without --eval (no dropout here: it is random).
    ref = randomise(JUnetGenerator(3, 3, 6, 8, j_norm("instance", tracked=True), dropout=False)).train()
    ours = _import_unet(tmp_path, ref).eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert max_diff(ref(x), ours(x)) <= TOLERANCE


# ---- ESRGAN / Real-ESRGAN ------------------------------------------------------------------------

def test_rrdb_dense_block_equals_the_formula():
    block = randomise(ResidualDenseBlock(16, 8))
    sd = {f"rdb.{k}": v for k, v in block.state_dict().items()}
    x = torch.randn(2, 16, 9, 11)
    with torch.no_grad():
        assert torch.equal(block(x), dense_block_formula(sd, "rdb", x))


@pytest.mark.parametrize("scale", [4, 2, 1])
def test_real_esrgan_rrdbnet_matches_the_formula(tmp_path, scale):
    ref = randomise(RRDBNet(scale, n_blocks=2, features=16, growth=8))
    ema, plain = ref.state_dict(), {k: torch.zeros_like(v) for k, v in ref.state_dict().items()}
    path = tmp_path / "RealESRGAN.pth"
    torch.save({"params_ema": ema, "params": plain}, path)  # as BasicSR saves; EMA is preferred
    converted = convert_esrgan_rrdb(read_torch_weights(path))
    assert converted.config == {"arch": "rrdb", "scale": scale, "n_blocks": 2, "features": 16, "growth": 8,
                                "value_range": "0,1", "bicubic_skip": False}
    c = converted.config
    ours = build_rrdb(c["scale"], c["n_blocks"], c["features"], c["growth"], value_range=c["value_range"])
    ours.load_state_dict(converted.state_dict, strict=True)
    x01 = torch.rand(1, 3, 16, 16)  # Real-ESRGAN's input: RGB in [0, 1]
    with torch.no_grad():
        expected = rrdbnet_formula(ema, x01, scale)
        assert torch.equal(ours.forward_native(x01), expected)
        diff = max_diff((ours(x01 * 2 - 1) + 1) / 2, expected)  # the toolkit's [-1, 1] in and out
    assert expected.shape[-1] == 16 * scale
    print(f"Real-ESRGAN RRDBNet x{scale}: max abs diff {diff:.3g} ([-1, 1] wrapper), native bit-exact")
    assert diff <= TOLERANCE


def test_esrgan_renamed_layouts_match(tmp_path):
    """xinntao/ESRGAN: RRDBNet_arch.py names, and the first release's flat ``model`` Sequential
    (its nesting rebuilt above; the names come from the modules, not from our converter)."""
    old = randomise(OldESRGAN(2, 16, 8))
    sd_old = old.state_dict()
    assert "model.1.sub.0.RDB1.conv1.0.weight" in sd_old and "model.10.bias" in sd_old
    path = tmp_path / "RRDB_ESRGAN_x4.pth"
    torch.save(sd_old, path)
    x01 = torch.rand(1, 3, 12, 12)
    converted = convert_esrgan_rrdb(read_torch_weights(path))
    ours = build_rrdb(4, 2, 16, 8, value_range="0,1")
    ours.load_state_dict(converted.state_dict, strict=True)
    with torch.no_grad():
        expected = old(x01)
        diff_old = max_diff((ours(x01 * 2 - 1) + 1) / 2, expected)
        assert torch.equal(ours.forward_native(x01), expected)
    print(f"ESRGAN first-release layout: max abs diff {diff_old:.3g}")
    assert diff_old <= TOLERANCE

    # RRDBNet_arch.py: same nesting as BasicSR, renamed (RRDB_trunk/RDB1, trunk_conv, upconv1/2, HRconv).
    renames = {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}

    def esrgan_name(k: str) -> str:
        head, rest = k.split(".", 1)
        if head == "body":
            return "RRDB_trunk." + rest.replace("rdb", "RDB")
        return f"{renames.get(head, head)}.{rest}"
    sd_new = {esrgan_name(k): v for k, v in ours.state_dict().items()}
    assert "RRDB_trunk.1.RDB3.conv5.bias" in sd_new and "HRconv.weight" in sd_new
    converted = convert_esrgan_rrdb(sd_new)
    assert converted.config["scale"] == 4 and converted.config["n_blocks"] == 2
    assert all(torch.equal(converted.state_dict[k], v) for k, v in ours.state_dict().items())


# ---- recognition and errors ---------------------------------------------------------------------

def test_each_converter_recognises_only_its_own_layout():
    layouts = {
        convert_junyanz_resnet: JResnetGenerator(3, 3, 8, 2, j_norm("instance")).state_dict(),
        convert_junyanz_unet: JUnetGenerator(3, 3, 6, 8, j_norm("batch")).state_dict(),
        convert_esrgan_rrdb: build_rrdb(4, 1, 8, 4).state_dict(),
    }
    for converter in CONVERTERS:
        for owner, sd in layouts.items():
            assert (converter(sd) is not None) == (converter is owner), (converter.__name__, owner.__name__)
    strangers = [SRResNet(4, 2, 8).state_dict(), ResnetGenerator(3, 3, 8, 2).state_dict(),
                 UNetGenerator(3, 3, 5, 8).state_dict(), PatchDiscriminator(6, 8).state_dict(),
                 {"model.weight": torch.zeros(3)}, {"model.1.weight": torch.zeros(8, 3, 7, 7)}]
    for sd in strangers:
        assert all(converter(sd) is None for converter in CONVERTERS)


def test_partial_match_names_the_first_unmatched_tensor():
    sd = dict(JResnetGenerator(3, 3, 8, 2, j_norm("instance")).state_dict())
    sd["model.10.conv_block.5.weight"] = torch.zeros(32, 32, 1, 1)
    with pytest.raises(UserError, match=r"'model\.10\.conv_block\.5\.weight' is 32×32×1×1.*32×32×3×3"):
        convert_junyanz_resnet(sd)

    sd = dict(JUnetGenerator(3, 3, 6, 8, j_norm("batch")).state_dict())
    sd = {**dict(list(sd.items())[:3]), "model.model.7.weight": torch.zeros(4, 4), **sd}
    with pytest.raises(UserError, match=r"'model\.model\.7\.weight' \(4×4\) does not belong") as err:
        convert_junyanz_unet(sd)
    assert "\n" not in str(err.value)

    sd = dict(build_rrdb(4, 1, 8, 4).state_dict())
    del sd["conv_hr.bias"]
    with pytest.raises(UserError, match=r"'conv_hr\.bias' \(8\) is missing"):
        convert_esrgan_rrdb(sd)


# ---- the safe reader ------------------------------------------------------------------------------

def test_reader_unwraps_containers_and_reads_safetensors(tmp_path):
    sd = {"a.weight": torch.randn(2, 2), "a.bias": torch.randn(2)}
    cases = {"netG.pth": {"netG": sd, "netD": {"x": torch.zeros(1)}},
             "state.pth": {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3},
             "model.pth": {"model": {"params": sd}}}
    for name, obj in cases.items():
        torch.save(obj, tmp_path / name)
        got = read_torch_weights(tmp_path / name)
        assert list(got) == list(sd) and all(torch.equal(got[k], sd[k]) for k in sd), name
    torch.save(sd, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)  # torch < 1.6 files
    assert list(read_torch_weights(tmp_path / "legacy.pth")) == list(sd)
    save_file(sd, str(tmp_path / "w.safetensors"))
    assert all(torch.equal(read_torch_weights(tmp_path / "w.safetensors")[k], sd[k]) for k in sd)
    torch.save({"epoch": 3, "opt": {"lr": 0.1}}, tmp_path / "none.pth")
    with pytest.raises(UserError, match="no tensors found"):
        read_torch_weights(tmp_path / "none.pth")


class _Payload:
    """A pickle that, when loaded by an ordinary unpickler, opens (creates) a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_reader_refuses_code_truncation_and_junk_without_running_anything(tmp_path):
    marker = tmp_path / "marker"
    torch.save({"w": torch.zeros(2), "x": _Payload(marker)}, tmp_path / "evil.pth")
    with open(tmp_path / "evil-raw.pth", "wb") as f:
        pickle.dump(_Payload(marker), f, protocol=2)
    torch.save(nn.Conv2d(1, 1, 1), tmp_path / "whole-module.pth")  # a pickled module needs its class
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated; such files still circulate
        torch.jit.script(nn.Conv2d(1, 1, 1)).save(str(tmp_path / "torchscript.pt"))
    good = tmp_path / "good.pth"
    torch.save({"w": torch.zeros(1000)}, good)
    (tmp_path / "truncated.pth").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    torch.save({"w": torch.zeros(1000)}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    legacy = (tmp_path / "legacy.pth").read_bytes()
    (tmp_path / "legacy-truncated.pth").write_bytes(legacy[: len(legacy) - 100])
    (tmp_path / "text.pth").write_text("hello world")
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    for name in ("evil.pth", "evil-raw.pth", "whole-module.pth", "torchscript.pt", "truncated.pth",
                 "legacy-truncated.pth", "text.pth", "empty.pth", "junk.safetensors", "missing.pth"):
        with pytest.raises(UserError) as err:
            read_torch_weights(tmp_path / name)
        message = str(err.value)
        assert name in message and "\n" not in message, message
        # torch's advice to its callers (load again with weights_only=False: run the code) is never relayed
        assert "weights_only" not in message and "not a PyTorch file" not in message, message
    assert not marker.exists()
    with pytest.raises(UserError, match=r"names the Python object (io|builtins)\.open, so reading it would run code"):
        read_torch_weights(tmp_path / "evil.pth")
    with pytest.raises(UserError, match="TorchScript archive: a program"):
        read_torch_weights(tmp_path / "torchscript.pt")


@pytest.mark.parametrize("make", [
    lambda: torch.zeros(1).expand(2048, 2048, 3, 3),  # stride 0: 4 bytes declared as 151 MB
    lambda: torch.as_strided(torch.zeros(4096), (2048, 2048), (1, 1)),  # overlapping rows
], ids=["stride-0", "overlapping"])
def test_tensors_that_repeat_their_values_are_refused_before_anything_is_built(tmp_path, make):
    torch.save({"params_ema": {"conv_first.weight": make(), "conv_first.bias": torch.zeros(2048)}},
               tmp_path / "tiny.pth")
    assert (tmp_path / "tiny.pth").stat().st_size < 40_000  # declaring 17 MB (overlapping) or 151 MB (stride 0)
    with pytest.raises(UserError, match=r"tensor 'conv_first.weight' \(2048×2048.*repeats or overlaps its values"):
        read_torch_weights(tmp_path / "tiny.pth")


def test_tensors_sharing_bytes_and_files_over_the_value_cap_are_refused(tmp_path, monkeypatch):
    import translate.weights

    one = torch.randn(64, 64)
    torch.save({"a.weight": one, "b.weight": one.view(64, 64)}, tmp_path / "shared.pth")
    with pytest.raises(UserError, match="'b.weight' shares its bytes with another tensor"):
        read_torch_weights(tmp_path / "shared.pth")
    monkeypatch.setattr(translate.weights, "MAX_VALUES", 1000)
    torch.save({"a.weight": torch.zeros(40, 40)}, tmp_path / "big.pth")
    with pytest.raises(UserError, match="more than 1,000 values"):
        read_torch_weights(tmp_path / "big.pth")
    sliced = torch.randn(8, 16)[:, :4]  # a slice with gaps is stored whole: it owns its values
    torch.save({"a.weight": sliced}, tmp_path / "slice.pth")
    assert torch.equal(read_torch_weights(tmp_path / "slice.pth")["a.weight"], sliced)


# ---- training our own RRDB ------------------------------------------------------------------------

def test_rrdb_trains_on_minus_one_to_one_images():
    torch.manual_seed(0)
    G = build_generator("rrdb", 2, n_blocks=1, features=8, growth=4)
    assert isinstance(G, RRDBNet) and G.value_range == (-1.0, 1.0) and G.multiple == 2
    lr = torch.rand(2, 3, 8, 8) * 2 - 1
    target = -F.interpolate(lr, scale_factor=2, mode="nearest")  # a fixed, learnable ×2 mapping
    opt = torch.optim.Adam(G.parameters(), lr=5e-3)
    losses = []
    for _ in range(20):
        loss = F.l1_loss(G(lr), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.85 * losses[0], losses  # 0.513 → 0.389 measured
    assert all(torch.isfinite(p.grad).all() for p in G.parameters())
    with pytest.raises(UserError):
        build_rrdb(8)
    with pytest.raises(UserError):
        build_rrdb(4, value_range="1,0")
