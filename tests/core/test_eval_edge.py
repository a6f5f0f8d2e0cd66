"""Edge cases of ``translate compare`` and ``translate eval``: images too small for SSIM's 11×11
window (scored with the largest window that fits, and named in a note), a ``--crop-border`` that
leaves nothing (one line naming the file and its size, before any work), and an srgan ``--hr``
image too small to score (one line naming it, with nothing written to ``-o``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import translate
from translate.errors import UserError
from translate.metrics.folders import compare_folders
from translate.metrics.image_quality import ssim


pytestmark = pytest.mark.usefixtures("one_thread")


def noise_pair(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth-ish random RGB image and a noisy copy (so SSIM is neither 1 nor 0)."""
    rng = np.random.default_rng(seed)
    real = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    fake = np.clip(real + rng.normal(0, 20, real.shape), 0, 255).round().astype(np.uint8)
    return real, fake


def write_pairs(root, sizes: dict[str, tuple[int, int]]):
    """root/real/NAME.png and root/fake/NAME.png for each NAME: (height, width)."""
    real_dir, fake_dir = root / "real", root / "fake"
    real_dir.mkdir(), fake_dir.mkdir()
    arrays = {}
    for i, (name, (h, w)) in enumerate(sizes.items()):
        real, fake = noise_pair(h, w, i)
        Image.fromarray(real).save(real_dir / f"{name}.png")
        Image.fromarray(fake).save(fake_dir / f"{name}.png")
        arrays[name] = real, fake
    return real_dir, fake_dir, arrays


def numpy_ssim(x: np.ndarray, y: np.ndarray, window: int) -> float:
    """Wang et al. 2004 written out: Gaussian window (σ 1.5, ``window`` taps, normalised), valid
    positions, per channel, on the 8-bit scale."""
    taps = np.exp(-((np.arange(window) - window // 2) ** 2) / (2 * 1.5 ** 2))
    g = np.outer(taps, taps) / taps.sum() ** 2
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for c in range(x.shape[2]):
        a, b = x[..., c].astype(np.float64), y[..., c].astype(np.float64)

        def filt(img):
            view = np.lib.stride_tricks.sliding_window_view(img, (window, window))
            return (view * g).sum(axis=(-1, -2))

        mu_a, mu_b = filt(a), filt(b)
        va, vb, cov = filt(a * a) - mu_a ** 2, filt(b * b) - mu_b ** 2, filt(a * b) - mu_a * mu_b
        values.append(np.mean((2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))))
    return float(np.mean(values))


def as_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]


# ---- translate compare: tiny images ----------------------------------------------------------------

def test_compare_scores_a_tiny_image_with_a_smaller_window_and_names_it(tmp_path, cli):
    real_dir, fake_dir, arrays = write_pairs(tmp_path, {"a": (24, 24), "b": (20, 30), "tiny": (7, 5)})
    result = json.loads(cli("compare", real_dir, fake_dir, "--no-fid", "--no-lpips", "--json").output)
    # normal images keep the standard 11×11 window; the 5×7 one gets 5×5, the largest odd that fits
    expected = [ssim(as_tensor(f), as_tensor(r)).item() for r, f in (arrays["a"], arrays["b"])]
    expected.append(numpy_ssim(*arrays["tiny"][::-1], window=5))
    assert numpy_ssim(*arrays["a"][::-1], window=11) == pytest.approx(expected[0], abs=1e-9)
    assert result["ssim"] == pytest.approx(np.mean(expected), abs=1e-9) and result["n_pairs"] == 3
    [note] = [n for n in result["notes"] if n.startswith("ssim:")]
    assert f"{real_dir / 'tiny.png'} (5×7, window 5×5)" in note and "a.png" not in note
    lines = cli("compare", real_dir, fake_dir, "--no-fid", "--no-lpips").output.splitlines()
    assert sum("tiny.png" in line for line in lines) == 1  # said once, as a note
    assert any(line.startswith("ssim 0.") for line in lines)
    assert any("(smaller, or none, for images under 11 px: see notes)" in line for line in lines)


def test_compare_normal_images_keep_the_11_px_window_and_give_the_same_figures(tmp_path, cli):
    real_dir, fake_dir, arrays = write_pairs(tmp_path, {"a": (24, 24), "b": (11, 40)})
    result = json.loads(cli("compare", real_dir, fake_dir, "--no-fid", "--no-lpips", "--json").output)
    expected = [numpy_ssim(f, r, window=11) for r, f in arrays.values()]
    assert result["ssim"] == pytest.approx(np.mean(expected), abs=1e-9)
    assert not any(n.startswith("ssim:") for n in result["notes"])
    assert "11×11 σ 1.5, K1" in result["protocol"]["psnr_ssim"]  # no "smaller" remark


def test_compare_skips_ssim_below_3_px_but_keeps_psnr(tmp_path, cli):
    real_dir, fake_dir, arrays = write_pairs(tmp_path, {"a": (16, 16), "dot": (2, 9)})
    result = json.loads(cli("compare", real_dir, fake_dir, "--no-fid", "--no-lpips", "--json").output)
    assert result["ssim"] == pytest.approx(numpy_ssim(*arrays["a"][::-1], window=11), abs=1e-9)  # dot left out
    mse = [np.mean((r.astype(float) - f.astype(float)) ** 2) for r, f in arrays.values()]
    assert result["psnr"] == pytest.approx(np.mean([10 * np.log10(255 ** 2 / m) for m in mse]), abs=1e-6)  # float32 decode
    [note] = [n for n in result["notes"] if n.startswith("ssim:")]
    assert f"{real_dir / 'dot.png'} (9×2)" in note and "left out of its mean" in note
    # only unscoreable pairs: no ssim at all (no line), psnr still printed
    only = tmp_path / "only"
    only.mkdir()
    real_dir, fake_dir, _ = write_pairs(only, {"dot": (2, 2)})
    output = cli("compare", real_dir, fake_dir, "--no-fid", "--no-lpips").output
    assert "\npsnr " in output and "\nssim " not in output and "dot.png (2×2)" in output


# ---- translate compare: --crop-border too large --------------------------------------------------------

def test_crop_border_that_leaves_nothing_names_the_file_size_and_fix(tmp_path, cli):
    real_dir, fake_dir, _ = write_pairs(tmp_path, {"big": (80, 90), "x": (40, 40)})
    result = cli("compare", real_dir, fake_dir, "--no-fid", "--no-lpips", "--crop-border", "30", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0, result.output
    assert f"{real_dir / 'x.png'} (40×40)" in result.output and "big.png" not in result.output
    assert "--crop-border 19 or less" in result.output
    cli("compare", real_dir, fake_dir, "--no-fid", "--no-lpips", "--crop-border", "19")  # and that works


def test_crop_border_is_checked_before_the_inception_is_needed(tmp_path):
    real_dir, fake_dir, _ = write_pairs(tmp_path, {"a": (40, 40), "b": (40, 40)})
    # a missing Inception file would be the error if FID ran first
    with pytest.raises(UserError, match=r"--crop-border 20 leaves nothing of 2 real image\(s\)"):
        compare_folders(real_dir, fake_dir, inception_weights=tmp_path / "missing.pth", crop_border=20, lpips=False)


# ---- translate eval srgan: an HR image too small to score ----------------------------------------------

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
