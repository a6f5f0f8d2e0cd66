"""The scoring code of benchmarks/quality.py, in its task modules quality_*.py (the quality figures in
docs/): the paired tasks and the baselines are what they claim, so a number in the README cannot come
from a scoring slip. No training here: models are stand-ins whose right answer is known."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
quality_common = pytest.importorskip("quality_common")
quality_paired = pytest.importorskip("quality_paired")
quality_sr = pytest.importorskip("quality_sr")
quality_unpaired = pytest.importorskip("quality_unpaired")
pytest.importorskip("skimage")


def crops() -> np.ndarray:
    return quality_common.photo_crops(quality_unpaired.CG_TEST_PHOTOS, 4, 32, seed=0)


def test_paired_tasks_degrade_the_input_and_keep_the_photo_as_target():
    x = crops()
    grey, target = quality_paired.paired_task("colourise", x)
    assert np.array_equal(target, x) and np.allclose(grey[..., 0], grey[..., 2])
    assert np.allclose(grey[..., 0], 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2], atol=1e-6)
    blurred, target = quality_paired.paired_task("deblur", x)
    assert np.array_equal(target, x) and blurred.std() < x.std()  # blurred, not moved
    assert np.allclose(blurred.mean((1, 2)), x.mean((1, 2)), atol=0.02)
    inputs, target = quality_paired.paired_task("permute", x)
    assert np.array_equal(inputs, x) and np.array_equal(target, x[..., [1, 2, 0]])
    with pytest.raises(ValueError, match="colourise"):
        quality_paired.paired_task("sepia", x)


class Known:
    """A stand-in model whose apply_tensor is a fixed function of its input ([-1, 1] tensors)."""

    def __init__(self, fn):
        self.fn = fn

    def apply_tensor(self, batch: torch.Tensor) -> torch.Tensor:
        return self.fn(batch)


def test_pix2pix_scores_rank_the_right_answer_above_both_baselines():
    size, mean_target = 32, np.full((32, 32, 3), 0.5, np.float32)
    # the true inverse of the permute pair: perfect, whatever the baselines say
    perfect = quality_paired.pix2pix_scores(Known(lambda b: b[:, [1, 2, 0]]), "permute", size, mean_target, fid=False)
    assert perfect["model"] < 1e-6 and perfect["identity"] > 0.05 and perfect["mean_image"] > 0.05
    assert perfect["model_psnr"] > 90  # floored error, not inf
    copy = quality_paired.pix2pix_scores(Known(lambda b: b), "colourise", size, mean_target, fid=False)
    assert copy["model"] == pytest.approx(copy["identity"], abs=1e-6)  # the identity baseline is the copy
    flat = quality_paired.pix2pix_scores(Known(torch.zeros_like), "deblur", size, mean_target, fid=False)
    assert flat["model"] == pytest.approx(flat["mean_image"], abs=1 / 255)  # 0 in [-1, 1] is the 0.5 image
    if quality_common.lpips_network() is not None:
        assert perfect["model_lpips"] < 1e-3 < perfect["identity_lpips"]
        assert copy["model_lpips"] == pytest.approx(copy["identity_lpips"], abs=1e-4)


def test_sr_patches_tile_the_image_without_overlap():
    image = torch.rand(1, 3, 70, 135)
    patches = quality_sr.to_patches(image, 32)
    assert patches.shape == (2 * 4, 32, 32, 3)
    assert np.array_equal(patches[5], image[0, :, 32:64, 32:64].permute(1, 2, 0).numpy())  # row 1, column 1


def test_cyclegan_scores_put_the_true_colour_grade_at_zero_and_the_copy_at_one():
    """The real-photo grades are per-pixel colour maps that move the photo (identity error well above 8-bit
    rounding): the true map scores ~0 with nothing left to either part of the split, the copy 1 × identity."""
    photos = {"a": quality_unpaired.CG_TRAIN_PHOTOS[:1], "test": quality_unpaired.CG_TEST_PHOTOS}

    def mapped(name):
        def fn(b):
            x = ((b + 1) / 2).permute(0, 2, 3, 1).numpy()
            return torch.from_numpy(quality_unpaired.colour_mapping(name, x)).permute(0, 3, 1, 2) * 2 - 1
        return Known(fn)

    true = quality_unpaired.cyclegan_scores(mapped("grade"), "grade", 32, photos)
    assert true["identity"] > 0.04 and true["error"] < 2 / 255 and true["held_in"] < 0.05
    assert true["colour_map"] < 0.01 and true["artefacts"] < 2 / 255
    copy = quality_unpaired.cyclegan_scores(Known(lambda b: b), "fade", 32, photos)
    assert copy["identity"] > 0.04 and copy["error"] == pytest.approx(copy["identity"], rel=0.02)
    if quality_common.lpips_network() is not None:  # LPIPS too: the copy scores as the input, the true map ~0
        assert copy["lpips"] == pytest.approx(copy["identity_lpips"], abs=0.005) and copy["identity_lpips"] > 0.01
        assert true["lpips"] < 0.25 * true["identity_lpips"]


def test_sr_scores_give_a_bicubic_stand_in_the_bicubic_row_on_every_metric():
    """PSNR, SSIM and LPIPS of the model and of the baseline go through the same code: a "model" that
    is bicubic itself scores as bicubic on each (LPIPS nan, with a line saying why, without a network)."""
    import torch.nn.functional as F

    class Bicubic(torch.nn.Module):
        def forward(self, x):
            return F.interpolate(x, scale_factor=4, mode="bicubic", antialias=True, align_corners=False)

    photos = [photo[:96, :128] for photo in quality_sr.sr_test_images(None)]
    scores = quality_sr.sr_scores(Bicubic(), 4, False, photos)
    for key in ("psnr_y", "ssim_y"):
        assert scores[key] == pytest.approx(scores[f"bicubic_{key}"], abs=0.01), key
    assert 0.3 < scores["bicubic_ssim_y"] < 1 and scores["bicubic_psnr_y"] > 15
    if quality_common.lpips_network() is None:
        assert np.isnan(scores["lpips"]) and "not measured" in quality_common.lpips_line()
    else:
        assert scores["lpips"] == pytest.approx(scores["bicubic_lpips"], abs=0.005) and scores["lpips"] > 0.01


def test_a_variant_key_no_plugin_has_is_one_line_before_any_training(capsys):
    """--variants and --base keys are checked against the plugin's settings when the command starts
    (a typo used to fail in a worker with a traceback, after the header)."""
    quality = pytest.importorskip("quality")
    for argv, plugin in ((["--variants", "default,lr=1e-4+nope=1"], "srgan"),
                         (["--task", "cyclegan", "--base", "gen_features=16+bogus=1"], "cyclegan"),
                         (["--task", "pix2pix", "--variants", "nope=1"], "pix2pix")):
        with pytest.raises(SystemExit) as exit_info:
            quality.main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"{plugin} has no setting" in err, err
