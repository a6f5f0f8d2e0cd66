"""CUT plugin: the PatchNCE loss against a direct cross-entropy, the paper's settings per mode, the
encoder layers it reads, the preview, and a short training that learns a known unpaired mapping
and reloads to the same outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from translate_plugins.cut.networks import PatchProjection, encode
from translate_plugins.cut.training import nce, patch_nce_loss, preview
from translate_plugins.cyclegan.data import builtin_domain
from translate_plugins.cyclegan.networks import ResnetGenerator

from translate.data.datasets import uint8_to_tensor
from translate.errors import UserError
from translate.loading import load_model
from translate.options import TrainOptions
from translate.registry import load_plugin
from translate.request import new_request

pytestmark = pytest.mark.usefixtures("one_thread")

DOMAINS = {"a": "shapes", "b": "shapes-inverted"}
# 16² images: a 2-layer PatchGAN, one residual block, few patches.
TINY = {"gen_features": 8, "disc_features": 8, "n_blocks": 1, "disc_layers": 2, "nce_patches": 64}


def _plugin():
    return load_plugin("cut")


def _unit(*shape: int, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


# ---- the loss ------------------------------------------------------------------------------------

def test_patch_nce_is_the_cross_entropy_of_each_query_over_its_images_keys():
    """For each image, query i against all P keys of that image, target i: the softmax cross-entropy
    (the authors' masked self-entry adds exp(-10/τ) ≈ 0)."""
    batch, patches, dim, tau = 3, 5, 8, 0.07
    q, k = _unit(batch * patches, dim, seed=1), _unit(batch * patches, dim, seed=2)
    direct = torch.stack([
        F.cross_entropy(q.view(batch, patches, dim)[b] @ k.view(batch, patches, dim)[b].T / tau,
                        torch.arange(patches)) for b in range(batch)]).mean()
    torch.testing.assert_close(patch_nce_loss(q, k, batch, tau), direct)


def test_patch_nce_is_low_for_matching_features_and_high_for_shuffled_ones():
    batch, patches, dim = 2, 64, 16
    k = _unit(batch * patches, dim)
    same = patch_nce_loss(k, k, batch, 0.07).item()
    shuffled = patch_nce_loss(k[torch.randperm(len(k), generator=torch.Generator().manual_seed(0))], k, batch,
                              0.07).item()
    assert same < 0.05 and shuffled > 5.0  # chance is log(64) ≈ 4.2; a wrong match scores worse
    query = k.clone().requires_grad_(True)
    key = k.clone().requires_grad_(True)
    patch_nce_loss(query + 0.1, key, batch, 0.07).backward()
    assert query.grad.abs().sum() > 0 and key.grad is None  # the keys are constants


def test_nce_is_zero_ish_for_the_identity_and_undoes_a_flip():
    """An output equal to its input scores low PatchNCE; a mirrored output (G's answer to the
    mirrored input, under flip equivariance) has its features mirrored back and scores the same.
    Layer 0, the padded image, is the one whose features commute with a mirror before training."""
    torch.manual_seed(0)
    plugin = _plugin()
    config = new_request(plugin, {**DOMAINS, **TINY, "size": 16, "nce_layers": (0,)}).config
    modules = plugin.build(config, TrainOptions(size=16))
    g, proj = modules["generator"], modules["projection"]
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.manual_seed(1)
        straight = nce(g, proj, x, x, config).item()
        torch.manual_seed(1)
        flipped = nce(g, proj, x, x.flip(-1), config, flipped=True).item()
        torch.manual_seed(1)
        unrelated = nce(g, proj, x, torch.rand(2, 3, 16, 16) * 2 - 1, config).item()
    assert straight == pytest.approx(flipped, rel=1e-4) and straight < unrelated


# ---- config and networks -------------------------------------------------------------------------

def test_modes_set_the_papers_values_unless_given():
    plugin = _plugin()
    cut = new_request(plugin, DOMAINS).config
    fast = new_request(plugin, {**DOMAINS, "mode": "fastcut"}).config
    assert (cut.lambda_nce, cut.nce_idt, cut.flip_equivariance, cut.decay_fraction) == (1.0, True, False, 0.5)
    assert (fast.lambda_nce, fast.nce_idt, fast.flip_equivariance, fast.decay_fraction) == (10.0, False, True, 0.25)
    assert new_request(plugin, {**DOMAINS, "mode": "fastcut", "lambda_nce": 3.0}).config.lambda_nce == 3.0
    assert (cut.nce_patches, cut.nce_features, cut.nce_temperature, cut.lr) == (256, 256, 0.07, 2e-4)
    assert (cut.n_blocks, cut.nce_layers) == (9, (0, 4, 7, 10, 14))  # 256², the paper's places
    small = new_request(plugin, {**DOMAINS, "size": 32, "n_blocks": 2}).config
    assert small.nce_layers == (0, 4, 7, 10)  # block 5 is past a 2-block encoder


def test_bad_nce_layers_and_sizes_are_one_line_errors(cli):
    plugin = _plugin()
    with pytest.raises(UserError, match="--nce-layers 0,12: .* from 0 to 11"):
        new_request(plugin, {**DOMAINS, "size": 32, "n_blocks": 2, "nce_layers": (0, 12)})
    result = cli("train", "cut", "--a", "shapes", "--b", "shapes-inverted", "--size", "30", ok=False)
    assert result.exit_code != 0 and "multiple of 4" in result.output and "Traceback" not in result.output
    result = cli("train", "cut", "--a", "shapes", ok=False)
    assert result.exit_code != 0 and "--b DIR" in result.output


def test_encoder_layers_are_the_input_the_down_convs_and_residual_blocks():
    g = ResnetGenerator(3, 3, 8, 5)
    x = torch.rand(1, 3, 16, 16)
    feats = encode(g, x, (0, 4, 7, 10, 14))
    assert [tuple(f.shape[1:]) for f in feats] == [(3, 22, 22), (16, 8, 8), (32, 4, 4), (32, 4, 4), (32, 4, 4)]
    assert torch.equal(feats[0][..., 3:-3, 3:-3], x)  # layer 0: the reflection-padded input
    proj = PatchProjection([f.shape[1] for f in feats], 256)
    out = proj(feats, [torch.arange(4)] * 5)
    assert all(o.shape == (4, 256) for o in out) and torch.allclose(out[2].norm(dim=1), torch.ones(4))


def test_plugin_module_does_not_import_torch():
    code = "import sys, translate_plugins.cut; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_preview_shows_real_a_and_its_translation_and_the_identity_row():
    a = torch.rand(3, 3, 4, 4)
    batch = {"a": a, "b": a + 1}
    shown = preview(lambda x: -x, batch, n=2, identity=True)
    assert not shown.problems() and shown.columns == ("real", "translated (fake)")
    assert shown.rows == ("A → B", "B → B (identity)")
    grid = shown.images.view(2, 2, 2, 3, 4, 4)  # item, row, column
    torch.testing.assert_close(grid[:, 0, 1], -a[:2])
    torch.testing.assert_close(grid[:, 1, 0], a[:2] + 1)
    assert preview(lambda x: -x, batch, n=2).rows == ("A → B",)


# ---- training ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from translate.trainer import Trainer

    out = tmp_path_factory.mktemp("cut") / "run"
    request = new_request(_plugin(), {**DOMAINS, **TINY, "lr": 1e-3, "size": 16, "batch_size": 2, "steps": 50,
                                      "precision": "fp32", "device": "cpu", "sample_every": 0, "log_every": 5})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only adds synchronisation
    try:
        trainer = Trainer(request, out, progress=False)
        trainer.run()
    finally:
        torch.set_num_threads(threads)
    return out, trainer.ctx.inference_modules()["generator"]


def test_short_training_learns_the_known_unpaired_mapping(trained):
    """shapes → shapes-inverted: the true G is x ↦ -x. After 50 steps at 16², G must translate
    held-out shapes far better than the identity (measured: MAE 0.52 vs 1.58 after 60 steps), and
    the PatchNCE loss falls from its start near chance."""
    out, _ = trained
    model = load_model(out)
    held_out = builtin_domain("shapes", 16, seed=777, count=64)
    x = torch.stack([uint8_to_tensor(held_out.load(i, 3)) for i in range(64)])
    with torch.no_grad():
        mae = (model.apply_tensor(x) + x).abs().mean().item()
    assert mae < 0.5 * (2 * x).abs().mean().item()
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    nce_curve = [row["loss_nce"] for row in logs if "loss_nce" in row]
    assert "loss_nce_idt" in logs[-1] and nce_curve[-1] < 0.8 * nce_curve[0]


def test_checkpoint_reloads_to_identical_outputs(trained):
    out, live = trained
    model = load_model(out)
    assert set(model.modules) == {"generator"}
    x = torch.rand(2, 3, 20, 28) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.modules["generator"](x), live.eval()(x))


def test_eval_translates_a_and_writes_the_three_folders(trained, cli, tmp_path):
    out, _ = trained
    cli("eval", out, "--a", "shapes", "--b", "shapes-inverted", "--images", "3", "--no-fid", "-o", tmp_path / "ev")
    for folder in ("real_a", "real_b", "fake_b"):
        assert len(list((tmp_path / "ev" / folder).glob("*.png"))) == 3
    missing = cli("eval", out, "--a", "shapes", "-o", tmp_path / "e2", ok=False)
    assert missing.exit_code != 0 and "--b DIR" in missing.output and "Traceback" not in missing.output


def test_fastcut_trains_from_the_headline_command_and_applies(cli, tmp_path):
    run = tmp_path / "fast"
    cli("train", "cut", "--a", "shapes", "--b", "shapes-inverted", "--mode", "fastcut", "--size", "16", "--steps", "2",
        "--batch-size", "2", "--n-blocks", "1", "--gen-features", "4", "--disc-features", "4", "--disc-layers", "2",
        "--sample-every", "0", "--log-every", "1", "--precision", "fp32", "--out", run)
    logs = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert "loss_nce" in logs[-1] and "loss_nce_idt" not in logs[-1]
    model = load_model(run)
    assert (model.config.lambda_nce, model.config.flip_equivariance) == (10.0, True)
    x = torch.rand(1, 3, 13, 19) * 2 - 1
    assert model.apply_tensor(x).shape == x.shape and model.apply_tensor(x, tta=True).shape == x.shape


@pytest.mark.slow  # ~1-2 min on 2 cores: trains, reloads, exports and resumes the default networks at 32²
def test_cut_passes_the_conformance_checks(tmp_path):
    from translate.testing import check_plugin

    results = check_plugin("cut", tmp_path)
    assert all(r.ok for r in results), "\n".join(r.line() for r in results)


def test_guided_output_is_cyclegans_and_trains_in_cut(cli, tmp_path):
    """--guided-radius reaches CUT's generator (the ResNet one, shared with cyclegan): the run records
    it, and the output is the guided filter of the raw generator's with the input as guide."""
    from translate.nn.guided import guided

    run = tmp_path / "guided"
    result = cli("train", "cut", "--a", "shapes", "--b", "shapes-inverted", "--size", "32", "--steps", "2",
                 "--n-blocks", "1", "--gen-features", "4", "--disc-features", "4", "--disc-layers", "2",
                 "--guided-radius", "5", "--sample-every", "0", "--precision", "fp32", "--out", run)
    assert result.exit_code == 0, result.output
    model = load_model(run)
    g = model.modules["generator"]
    assert g.guided == (5, 1e-3)
    x = torch.rand(1, 3, 20, 28) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(model.apply_tensor(x), guided(x, g.unfiltered(x), 5, 1e-3), atol=1e-5)
