"""CycleGAN plugin: networks, unpaired data, pools that survive --resume, apply in both directions,
the headline command, and a short training that learns a known unpaired mapping."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from translate.request import TrainRequest
from translate.loading import load_model
from translate.data.datasets import uint8_to_tensor
from translate.errors import UserError
from translate.options import TrainOptions
from translate.registry import load_plugin
from translate.trainer import Interrupted, train
from translate_plugins.cyclegan import CycleGANPlugin
from translate_plugins.cyclegan.data import UnpairedDataset, builtin_domain, open_domain
from translate_plugins.cyclegan.networks import ResnetGenerator
from translate_plugins.cyclegan.training import identity_factor, pool_query, translate

TINY = dict(gen_features=8, disc_features=8, n_blocks=1)
DOMAINS = {"a": "shapes", "b": "shapes-inverted"}


def _plugin():
    return load_plugin("cyclegan")


def _write_images(folder, sizes, seed):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")


# ---- networks ------------------------------------------------------------------------------------

def test_networks_match_the_reference_sizes_and_paper_layout():
    plugin = _plugin()
    modules = plugin.build(plugin.Config(**plugin.paper), TrainOptions(size=256))
    count = {name: sum(p.numel() for p in m.parameters()) for name, m in modules.items()}
    # The reference implementation prints 11.378 M for its 9-block G and 2.765 M for the 70×70 D.
    assert count["g_ab"] == count["g_ba"] == 11_378_179
    assert count["d_a"] == count["d_b"] == 2_764_737
    g = modules["g_ab"]
    kinds = [type(m).__name__ for m in g.modules()]
    assert kinds.count("ResidualBlock") == 9 and "BatchNorm2d" not in kinds
    assert kinds.count("ReflectionPad2d") == 2 + 2 * 9  # c7s1 in and out, two per residual block
    assert isinstance(g.net[-1], torch.nn.Tanh)
    from translate_plugins.cyclegan import _blocks

    assert _blocks(plugin.Config(), 128) == 6 and _blocks(plugin.Config(n_blocks=3), 256) == 3
    x = torch.rand(2, 3, 36, 44) * 2 - 1  # multiples of 4 map to the same size, in [-1, 1]
    y = ResnetGenerator(3, 3, 8, 1)(x)
    assert y.shape == x.shape and y.abs().max() <= 1


def test_image_skip_shows_the_generator_the_colours_instance_norm_removes(cli):
    """The paper's generator cannot tell x from x + c for a constant colour c (instance norm after
    the first convolution removes it), so colour mappings have a floor; with --image-skip it can.
    The option is on by default (--paper turns it off), and a checkpoint recorded before the field
    existed (no image_skip in its metadata) is the paper's network, as it was trained."""
    from translate.request import new_request, recorded_request

    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 20) * 1.2 - 0.8
    shift = torch.tensor([0.3, -0.2, 0.1]).view(1, 3, 1, 1)
    paper, skip = ResnetGenerator(3, 3, 8, 1), ResnetGenerator(3, 3, 8, 1, image_skip=True)
    with torch.no_grad():
        assert torch.allclose(paper(x), paper(x + shift), atol=1e-5)
        assert (skip(x) - skip(x + shift)).abs().mean() > 1e-3
    assert set(skip.state_dict()) == set(paper.state_dict())  # same weight names; the last conv has +3 inputs
    assert skip.net[-2].in_channels == paper.net[-2].in_channels + 3

    plugin = _plugin()
    assert new_request(plugin, DOMAINS).config.image_skip is True
    assert new_request(plugin, {**DOMAINS, "image_skip": False}).config.image_skip is False
    assert "--image-skip / --no-image-skip" in cli("train", "cyclegan", "--help").output
    old = new_request(plugin, {**DOMAINS, "image_skip": True}).metadata(step=0)
    config = json.loads(old["config"])
    del config["image_skip"]
    assert recorded_request(plugin, {**old, "config": json.dumps(config)}, "old.safetensors").config.image_skip is False


def test_residual_generator_starts_as_the_identity_and_learns_a_correction():
    """--residual: out = clamp(x + last conv), that conv zero at start, so the untrained generator
    returns its input exactly (black and white included); one optimiser step moves it; the weight
    names stay the paper's, so files load either way."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 20) * 2 - 1
    x[0, :, 0, 0], x[0, :, 0, 1] = -1.0, 1.0
    g = ResnetGenerator(3, 3, 8, 1, image_skip=True, residual=True)
    with torch.no_grad():
        assert torch.equal(g(x), x)
    assert set(g.state_dict()) == set(ResnetGenerator(3, 3, 8, 1, image_skip=True).state_dict())
    opt = torch.optim.Adam(g.parameters(), lr=1e-2)
    (g(x) - (x * 0.5)).abs().mean().backward()
    opt.step()
    with torch.no_grad():
        assert (g(x) - x).abs().mean() > 1e-3


def test_guided_output_keeps_the_inputs_detail_and_reloads_to_identical_outputs(cli, tmp_path):
    """--guided-radius R: G's output is the guided filter of its raw output with the input as
    guide (no weights: the paper's names stay); an untrained G's noise barely passes; a trained
    run records R and eps and its checkpoint reloads to identical outputs."""
    from translate.nn.guided import guided

    torch.manual_seed(0)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 6), size=32, mode="bilinear") * 2 - 1
    g = ResnetGenerator(3, 3, 8, 1, image_skip=True, guided=(4, 1e-3))
    plain = ResnetGenerator(3, 3, 8, 1, image_skip=True)
    plain.load_state_dict(g.state_dict())  # same keys, same weights
    with torch.no_grad():
        raw, out = plain(x), g(x)
        assert torch.allclose(out, guided(x, raw, 4, 1e-3))

        def detail(v):  # what a 3×3 mean does not explain: texture and noise
            return (v - torch.nn.functional.avg_pool2d(v, 3, 1, 1, count_include_pad=False)).abs().mean()
        assert detail(out - x) < 0.5 * detail(raw - x)
    result = cli("train", "cyclegan", "--a", "shapes", "--b", "shapes-inverted", "--size", "32", "--steps", "2",
                 "--n-blocks", "1", "--gen-features", "8", "--disc-features", "8", "--guided-radius", "6",
                 "--sample-every", "0", "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    model = load_model(tmp_path / "run")
    assert (model.config.guided_radius, model.config.guided_eps) == (6, 1e-3)
    image = torch.rand(1, 3, 36, 44) * 2 - 1
    assert torch.equal(model.apply_tensor(image), load_model(tmp_path / "run").apply_tensor(image))
    if importlib.util.find_spec("onnxruntime"):  # the filter is written to export: it does, with parity
        exported = cli("export", str(tmp_path / "run"), "-o", str(tmp_path / "g.onnx"))
        assert exported.exit_code == 0 and "parity" in exported.output, exported.output


def test_disc_norm_none_takes_the_instance_norm_out_of_both_patchgans(cli):
    """--disc-norm none (the default) builds the PatchGANs without normalisation (so they see
    absolute colour and contrast); instance is the paper's; an unknown value is one line."""
    from translate.request import new_request

    plugin = _plugin()
    assert new_request(plugin, DOMAINS).config.disc_norm == "none"
    config = new_request(plugin, {**DOMAINS, **TINY}).config
    modules = plugin.build(config, TrainOptions(size=32))
    for name in ("d_a", "d_b"):
        kinds = {type(m).__name__ for m in modules[name].modules()}
        assert "InstanceNorm2d" not in kinds and "Identity" in kinds
    paper = plugin.build(plugin.Config(**TINY, disc_norm="instance"), TrainOptions(size=32))["d_a"]
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in paper.modules())
    assert set(modules["d_a"].state_dict()) == set(paper.state_dict())  # no norm weights either way
    result = cli("train", "cyclegan", "--a", "shapes", "--b", "shapes-inverted", "--disc-norm", "batch", ok=False)
    assert result.exit_code != 0 and "--disc-norm" in result.output


def test_lr_d_sets_only_the_discriminators_learning_rate():
    """--lr-d gives the PatchGANs' Adam its own rate (two time-scales); unset, both use --lr."""
    plugin = _plugin()
    modules = plugin.build(plugin.Config(**TINY), TrainOptions(size=32))
    rates = {name: opt.param_groups[0]["lr"] for name, opt in plugin.optimizers(plugin.Config(**TINY), modules).items()}
    assert rates == {"generators": 2e-4, "discriminators": 2e-4}
    config = plugin.Config(**TINY, lr=1e-4, lr_d=4e-4)
    optimizers = plugin.optimizers(config, modules)
    assert optimizers["generators"].param_groups[0]["lr"] == 1e-4
    assert optimizers["discriminators"].param_groups[0]["lr"] == 4e-4
    d_params = {id(p) for name in ("d_a", "d_b") for p in modules[name].parameters()}
    assert {id(p) for p in optimizers["discriminators"].param_groups[0]["params"]} == d_params


def test_paper_trains_the_published_recipe_and_old_checkpoints_keep_theirs(cli, tmp_path):
    """Our three departures from Zhu et al. 2017 (image skip, no norm in D, identity loss fading
    out) are the defaults; --paper restores all three (and is recorded); a checkpoint written before
    a field existed loads with the value it was trained with, not today's default."""
    from translate.request import new_request, recorded_request

    plugin = _plugin()
    ours, paper = new_request(plugin, DOMAINS).config, new_request(plugin, {**DOMAINS, "paper": True}).config
    assert (ours.image_skip, ours.disc_norm, ours.identity_decay) == (True, "none", 1.0)
    assert (paper.image_skip, paper.disc_norm, paper.identity_decay) == (False, "instance", 0.0)
    mixed = new_request(plugin, {**DOMAINS, "paper": True, "identity_decay": 0.5}).config
    assert (mixed.image_skip, mixed.identity_decay) == (False, 0.5)  # a flag overrides --paper
    assert "--paper" in cli("train", "cyclegan", "--help").output
    result = cli("train", "cyclegan", *(f"--{k}={v}" for k, v in DOMAINS.items()), "--paper", "--size", "24",
                 "--steps", "1", "--n-blocks", "1", "--gen-features", "4", "--disc-features", "4",
                 "--sample-every", "0", "--out", str(tmp_path / "run"))
    model = load_model(tmp_path / "run")
    assert (model.config.image_skip, model.config.disc_norm, model.config.identity_decay) == (False, "instance", 0.0)
    assert "paper = true" in (tmp_path / "run" / "config.toml").read_text() and result.exit_code == 0
    meta = new_request(plugin, {**DOMAINS, **TINY}).metadata(step=0)
    config = {k: v for k, v in json.loads(meta["config"]).items()
              if k not in ("image_skip", "disc_norm", "identity_decay")}
    old = recorded_request(plugin, {**meta, "config": json.dumps(config)}, "old.safetensors").config
    assert (old.image_skip, old.disc_norm, old.identity_decay) == (False, "instance", 0.0)


def test_plugin_module_does_not_import_torch():
    code = "import sys, translate_plugins.cyclegan; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- data ----------------------------------------------------------------------------------------

def test_unpaired_dataset_pairs_random_b_reproducibly(tmp_path):
    _write_images(tmp_path / "a", [(40, 48)] * 3, seed=1)
    _write_images(tmp_path / "b", [(50, 36)] * 7, seed=2)
    src_a, src_b = open_domain(str(tmp_path / "a"), "--a", 32, 0), open_domain(str(tmp_path / "b"), "--b", 32, 0)
    ds = UnpairedDataset(src_a, src_b, size=32, resize=36)
    assert len(ds) == 7  # the larger domain, as the reference; A indices wrap around
    item = ds[(5, 123)]
    assert item["a"].shape == item["b"].shape == (3, 32, 32)
    assert torch.equal(item["b"], ds[(5, 123)]["b"])  # the B pick is a function of the seed
    bs = {ds[(0, s)]["b"].sum().item() for s in range(12)}
    assert len(bs) > 3  # ...and different seeds pair the same A with different B's


def test_builtin_domains_are_unpaired_and_inverted():
    a = builtin_domain("shapes", 32, seed=0, count=16)
    b_same_seed = builtin_domain("shapes-inverted", 32, seed=0, count=16)
    assert np.array_equal(b_same_seed.load(3, 3), 255 - a.load(3, 3))  # the true mapping is exact
    ds = _plugin().dataset(_plugin().Config(), TrainOptions(size=32), DOMAINS)
    a_imgs = {ds.source_a.load(i, 3).tobytes() for i in range(len(ds.source_a))}
    b_as_a = {(255 - ds.source_b.load(i, 3)).tobytes() for i in range(len(ds.source_b))}
    assert not a_imgs & b_as_a  # B is drawn with another seed: no A image has its translation in B


def test_size_not_a_multiple_of_4_is_a_one_line_error_before_any_run_folder(cli, tmp_path):
    """The generator halves the image twice: --size 30 would train until the cycle loss met a 32²
    reconstruction of a 30² image; it is refused up front, and no run folder is made."""
    result = cli("train", "cyclegan", "--a", "shapes", "--b", "shapes-inverted", "--size", "30", "--steps", "2",
                 "--out", str(tmp_path / "run"), ok=False)
    assert result.exit_code != 0 and "--size 30" in result.output and "multiple of 4 (e.g. 28)" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_missing_or_unknown_domain_is_a_one_line_error(cli, tmp_path):
    result = cli("train", "cyclegan", "--a", "shapes", "--out", tmp_path / "r", ok=False)
    assert result.exit_code != 0 and "--b DIR" in result.output and "Traceback" not in result.output
    with pytest.raises(UserError, match="--b nowhere: no such file or folder"):
        open_domain("nowhere", "--b", 32, 0)


def test_identity_decay_lowers_the_identity_weight_to_zero(tmp_path):
    """--identity-decay F: the identity-loss weight falls linearly from its full value at step 0 to
    0 at F × steps (1, the default: over the whole run; 0 keeps the paper's constant weight); once it
    is 0 the identity passes are skipped and the logged loss stays at 0."""
    from translate.request import new_request

    assert [identity_factor(s, 10, 0.0) for s in (0, 5, 9)] == [1.0, 1.0, 1.0]
    assert [identity_factor(s, 10, 0.5) for s in (0, 1, 4, 5, 9)] == [1.0, 0.8, pytest.approx(0.2), 0.0, 0.0]
    assert identity_factor(5, 10, 1.0) == 0.5
    plugin = _plugin()
    assert new_request(plugin, DOMAINS).config.identity_decay == 1.0
    with pytest.raises(UserError, match="identity-decay"):
        new_request(plugin, {**DOMAINS, "identity_decay": 1.5})
    options = TrainOptions(size=32, batch_size=1, steps=4, log_every=1, precision="fp32", device="cpu",
                           sample_every=0)
    config = plugin.Config(identity_decay=0.5, **TINY)
    train(TrainRequest(plugin, options, config, DOMAINS), tmp_path / "run", progress=False)
    logs = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    identity = [row["loss_identity"] for row in logs if "loss_identity" in row]
    assert len(identity) == 4 and identity[0] > identity[1] > 0 and identity[2:] == [0.0, 0.0]


# ---- pool and resume -----------------------------------------------------------------------------

def test_pool_fills_then_swaps_half_the_time():
    torch.manual_seed(0)
    buffers: dict = {}
    first = torch.randn(4, 3, 8, 8)
    assert torch.equal(pool_query(buffers, "p", first, 4), first) and buffers["p"].shape[0] == 4
    swapped = 0
    for _ in range(50):
        new = torch.randn(1, 3, 8, 8)
        before = buffers["p"].clone()
        out = pool_query(buffers, "p", new, 4)
        if not torch.equal(out, new):  # returned an old fake, and stored the new one in its place
            swapped += 1
            assert any(torch.equal(out[0], old) for old in before)
            assert any(torch.equal(new[0], img) for img in buffers["p"])
    assert 10 < swapped < 40


class _CtrlCAtStep5(CycleGANPlugin):
    """Sends itself SIGINT during step 5, as a user pressing Ctrl-C would."""

    name = "cyclegan"

    def train_step(self, ctx):
        logs = super().train_step(ctx)
        if ctx.step == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return logs


@pytest.mark.slow  # ~4 s; resume exactness is also checked for every plugin by the conformance checks
def test_resume_restores_weights_and_image_pools_exactly(tmp_path):
    plugin = _plugin()
    config = plugin.Config(pool_size=6, **TINY)  # 2 fakes a step: the pools fill by step 3, then swap
    options = TrainOptions(size=32, batch_size=2, steps=10, precision="fp32", device="cpu", sample_every=0)
    train(TrainRequest(plugin, options, config, DOMAINS), tmp_path / "straight", progress=False)
    with pytest.raises(Interrupted):
        train(TrainRequest(_CtrlCAtStep5(), options, config, DOMAINS), tmp_path / "resumed", progress=False)
    assert load_file(tmp_path / "resumed" / "state.safetensors")["buffer.pool_a"].shape[0] == 6
    train(TrainRequest(plugin, options, config, DOMAINS), tmp_path / "resumed", resume=True, progress=False)
    straight = load_file(tmp_path / "straight" / "state.safetensors")
    resumed = load_file(tmp_path / "resumed" / "state.safetensors")
    checked = [k for k in straight if k.startswith(("module.", "buffer.pool_"))]
    assert {"buffer.pool_a", "buffer.pool_b"} <= set(checked)
    for key in checked:
        assert torch.equal(straight[key], resumed[key]), key


# ---- apply ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cyclegan") / "run"
    plugin = _plugin()
    options = TrainOptions(size=32, batch_size=2, steps=3, precision="fp32", device="cpu", sample_every=0)
    train(TrainRequest(plugin, options, plugin.Config(**TINY), DOMAINS), out, progress=False)
    return out


def test_apply_any_size_both_directions_and_tiles(tiny_run):
    model = load_model(tiny_run)
    plugin = model.plugin
    x = torch.rand(2, 3, 37, 50) * 2 - 1
    with torch.no_grad():
        a2b = plugin.apply(model.modules, model.config, x)
        b2a = plugin.apply(model.modules, model.config, x, direction="b2a")
        direct = model.modules["g_ba"](x[..., :36, :48])
        whole = plugin.apply(model.modules, model.config, x[..., :36, :48], direction="b2a")
        tiles = plugin.apply(model.modules, model.config, x, direction="b2a", tile=24, overlap=8)
        small = plugin.apply(model.modules, model.config, x[..., :3, :5])
    assert a2b.shape == b2a.shape == tiles.shape == x.shape and small.shape == (2, 3, 3, 5)
    assert torch.allclose(whole, direct, atol=1e-6) and not torch.allclose(a2b, b2a, atol=1e-3)
    # Tiles are normalised on their own statistics: close to, not equal to, the whole image.
    assert torch.corrcoef(torch.stack([tiles.flatten(), b2a.flatten()]))[0, 1] > 0.8
    with pytest.raises(UserError, match="a2b.*b2a"):
        plugin.apply(model.modules, model.config, x, direction="sideways")
    with pytest.raises(UserError, match="plugin 'cyclegan': apply takes no --label"):
        model.apply_tensor(x, label="cat")  # the core refuses options the hook does not declare


def test_headline_command_then_apply_a_folder_both_ways(cli, tmp_path, monkeypatch):
    _write_images(tmp_path / "horses", [(40, 48)] * 3, seed=1)
    _write_images(tmp_path / "zebras", [(52, 36), (52, 36), (30, 30)], seed=2)
    monkeypatch.chdir(tmp_path)
    # The command as documented; only the step budget and size are shrunk for a CPU test.
    cli("train", "cyclegan", "--a", "horses/", "--b", "zebras/", "--steps", "2", "--size", "32")
    run = tmp_path / "runs" / "cyclegan"
    model = load_model(run)
    assert set(model.modules) == {"g_ab", "g_ba"} and model.options.batch_size == 1
    cli("apply", run, "zebras/", "-o", "horses_out", "--direction", "b2a", "--batch-size", "2",
        "--precision", "fp32")
    cli("apply", run, "horses/000.png", "-o", "zebra.png")
    outs = sorted(p.name for p in (tmp_path / "horses_out").iterdir())
    assert outs == ["000.png", "001.png", "002.png"]
    assert Image.open(tmp_path / "horses_out" / "002.png").size == (30, 30)
    assert Image.open(tmp_path / "zebra.png").size == (48, 40)
    # The written file is what the reloaded g_ba computes (up to 8-bit rounding).
    src = uint8_to_tensor(np.asarray(Image.open(tmp_path / "zebras" / "000.png")))[None]
    with torch.no_grad():
        want = translate(model.modules, src, "b2a")[0]
    got = uint8_to_tensor(np.asarray(Image.open(tmp_path / "horses_out" / "000.png")))
    assert (got - want).abs().max() < 2 / 255 + 1e-3


# ---- quality -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_short_training_learns_the_known_unpaired_mapping(tmp_path):
    """shapes → shapes-inverted: the true G_AB is x ↦ -x. After 300 CPU steps on unpaired sets,
    G_AB must translate held-out shapes far better than the identity map (measured: MAE 0.19 vs
    1.59) and better than the best input-independent answer, the mean B image (0.23)."""
    plugin = _plugin()
    # lambda_identity 0: the identity loss asks G_AB(b) = b, which an inversion contradicts; the
    # paper uses it only where colours must be kept. lr 1e-3 so that 300 steps are enough.
    config = plugin.Config(gen_features=16, disc_features=16, n_blocks=2, lambda_identity=0.0, lr=1e-3)
    options = TrainOptions(size=32, batch_size=4, steps=300, precision="auto", device="cpu", sample_every=0)
    train(TrainRequest(plugin, options, config, DOMAINS), tmp_path / "run", progress=False)
    model = load_model(tmp_path / "run")
    held_out = builtin_domain("shapes", 32, seed=777, count=64)  # neither the A nor the B seed
    x = torch.stack([uint8_to_tensor(held_out.load(i, 3)) for i in range(64)])
    b_images = builtin_domain("shapes-inverted", 32, seed=778, count=256)
    b_mean = torch.stack([uint8_to_tensor(b_images.load(i, 3)) for i in range(256)]).mean(0)
    truth = -x
    with torch.no_grad():
        mae_model = (plugin.apply(model.modules, model.config, x) - truth).abs().mean().item()
        mae_back = (plugin.apply(model.modules, model.config, truth, direction="b2a") - x).abs().mean().item()
    mae_identity = (x - truth).abs().mean().item()
    mae_constant = (b_mean - truth).abs().mean().item()
    print(f"MAE to the true inversion: G_AB {mae_model:.3f}, G_BA {mae_back:.3f}, "
          f"identity {mae_identity:.3f}, mean-B constant {mae_constant:.3f}")
    assert mae_model < 0.3 * mae_identity and mae_back < 0.3 * mae_identity
    assert mae_model < 0.95 * mae_constant
