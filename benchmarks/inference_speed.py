"""Batch inference against the reference tools: the same imported weights applied to the same folder
of photos by ``translate apply`` and by the reference projects' own inference path, side by side.

    python benchmarks/inference_speed.py --realesrgan /tmp/Real-ESRGAN             # both networks
    python benchmarks/inference_speed.py --realesrgan DIR --blocks 2 --repeats 1     # a quick run
    python benchmarks/inference_speed.py --big --blocks 23                           # 4000×3000 ×4 RSS

Weights (random, seeded, fixed): a CycleGAN ResNet generator in the reference's layout
(junyanz/pytorch-CycleGAN-and-pix2pix ``resnet_9blocks``, instance norm, its ``init_weights``
normal(0, 0.02)) saved as its ``BaseModel.save_networks`` saves it, and a Real-ESRGAN RRDBNet ×4
in the RealESRGAN_x4plus layout (``--blocks`` RRDBs, 23 as released; 64 features, growth 32)
saved as BasicSR saves it (``params_ema``), its last convolution scaled so that outputs span the
image range. Both are turned into translate checkpoints by ``translate import``.

Photos: Debian's mate-backgrounds nature photos (``--photos``, default: the package unpacked under
/tmp: ``apt-get download mate-backgrounds && dpkg-deb -x mate-backgrounds_*.deb DIR``), else
scikit-image's sample photos; centre-cropped to 4:3 and resized (Lanczos) to ``--cyclegan-sizes``
and ``--sr-sizes`` (LR sizes), saved as PNG. Sizes stay within translate's default tile (512), so
both sides run each image whole and their outputs can be equal.

Rows, each in a fresh subprocess (its peak RSS is its own), run ``--repeats`` times in turn:

reference   CycleGAN: junyanz's test.py loop (``--model test --dataset_mode single --preprocess
            none --no_dropout``): their SingleDataset (PIL RGB, ``__make_power_2`` base 4, ToTensor,
            Normalize 0.5) through a DataLoader of batch 1, ``netG`` under no_grad, and their
            ``save_images``: ``tensor2im`` (truncating to uint8) and a PNG per visual (real and
            fake, as test.py writes both). A faithful re-implementation: the clone is 3 GB of
            history, so it is not fetched; the generator class is written from their networks.py.
            Real-ESRGAN: their ``RealESRGANer`` class itself, loaded from a clone (``--realesrgan``,
            ``realesrgan/utils.py``; basicsr, which does not install here, is stubbed for the one
            download helper it imports) with the BasicSR RRDBNet written out below, driven by the
            loop of their inference_realesrgan.py (cv2.imread, ``enhance(outscale=4)``,
            cv2.imwrite PNG) at its CPU settings: ``--fp32``, ``--tile 0``, ``--pre_pad 0``.
translate   ``translate.inference.apply_files`` (what ``translate apply`` runs) on the imported
            checkpoint, ``--precision fp32`` and the default ``auto`` (bf16 on a CPU with AVX-512
            BF16 or AMX); with ``--onnx`` also ``--backend onnxruntime`` (the checkpoint exported
            by translate export's code, then run in onnxruntime's CPU provider, fp32).

Printed per row: images/s over the loop (model loading apart, shown as ``load s``), peak RSS, and
the PSNR of its outputs against the reference's (8-bit, over all images: mean and lowest). CPU
timings move with other load: the load average is printed, and the spread over repeats.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from _measure import run_row

ROOT = Path(__file__).resolve().parents[1]
MATE = Path("/tmp/photos_src/root/usr/share/backgrounds/mate/nature")
ROWS = [("reference", "fp32"), ("translate", "fp32"), ("translate", "auto")]


# ---- the reference networks, written from their published code ---------------------------------
def junyanz_resnet(n_blocks: int = 9, ngf: int = 64):
    """junyanz's ResnetGenerator(3, 3, 64, InstanceNorm2d(affine=False), no dropout, reflect)."""
    import functools

    import torch.nn as nn

    norm = functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)

    class ResnetBlock(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.conv_block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), norm(dim),
                                            nn.ReLU(True), nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True),
                                            norm(dim))

        def forward(self, x):
            return x + self.conv_block(x)

    class ResnetGenerator(nn.Module):
        def __init__(self):
            super().__init__()
            m = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, padding=0, bias=True), norm(ngf), nn.ReLU(True)]
            for mult in (1, 2):
                m += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                      norm(ngf * mult * 2), nn.ReLU(True)]
            m += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
            for mult in (4, 2):
                m += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                         bias=True), norm(ngf * mult // 2), nn.ReLU(True)]
            m += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7, padding=0), nn.Tanh()]
            self.model = nn.Sequential(*m)

        def forward(self, x):
            return self.model(x)

    return ResnetGenerator()


def basicsr_rrdbnet(num_block: int = 23, num_feat: int = 64, num_grow_ch: int = 32):
    """BasicSR's RRDBNet(num_in_ch=3, num_out_ch=3, scale=4) (basicsr/archs/rrdbnet_arch.py)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class ResidualDenseBlock(nn.Module):
        def __init__(self):
            super().__init__()
            for i in range(1, 5):
                setattr(self, f"conv{i}", nn.Conv2d(num_feat + (i - 1) * num_grow_ch, num_grow_ch, 3, 1, 1))
            self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
            self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

        def forward(self, x):
            x1 = self.lrelu(self.conv1(x))
            x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
            x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
            x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
            x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
            return x5 * 0.2 + x

    class RRDB(nn.Module):
        def __init__(self):
            super().__init__()
            self.rdb1, self.rdb2, self.rdb3 = ResidualDenseBlock(), ResidualDenseBlock(), ResidualDenseBlock()

        def forward(self, x):
            return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x

    class RRDBNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_first = nn.Conv2d(3, num_feat, 3, 1, 1)
            self.body = nn.Sequential(*[RRDB() for _ in range(num_block)])
            self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)
            self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

        def forward(self, x):
            feat = self.conv_first(x)
            feat = feat + self.conv_body(self.body(feat))
            feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
            feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
            return self.conv_last(self.lrelu(self.conv_hr(feat)))

    return RRDBNet()


# ---- inputs: photos and weights -----------------------------------------------------------------
def source_photos(folder: Path | None, count: int) -> list:
    """``count`` RGB photos as PIL images: the folder's JPEG/PNG files, else scikit-image's."""
    from PIL import Image

    folder = folder or (MATE if MATE.is_dir() else None)
    if folder:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:count]
        return [Image.open(p).convert("RGB") for p in files]
    from skimage import data

    return [Image.fromarray(getattr(data, n)()) for n in ("astronaut", "chelsea", "coffee", "rocket")][:count]


def four_by_three(img, w: int, h: int):
    """Centre crop to w:h, then Lanczos to w×h."""
    from PIL import Image

    W, H = img.size
    cw, ch = (W, W * h // w) if W * h <= H * w else (H * w // h, H)
    left, top = (W - cw) // 2, (H - ch) // 2
    return img.crop((left, top, left + cw, top + ch)).resize((w, h), Image.LANCZOS)


def write_photos(photos: list, sizes: list[tuple[int, int]], folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(photos):
        for w, h in sizes:
            four_by_three(img, w, h).save(folder / f"photo{i}_{w}x{h}.png")
    return len(photos) * len(sizes)


def cyclegan_weights(path: Path) -> None:
    """The reference's resnet_9blocks with its init_weights('normal', 0.02), as save_networks saves it."""
    import torch

    torch.manual_seed(0)
    net = junyanz_resnet()
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
            torch.nn.init.constant_(m.bias, 0.0)
    torch.save(net.state_dict(), path)


def rrdb_weights(path: Path, blocks: int, photo_dir: Path, features: int = 64, growth: int = 32) -> None:
    """BasicSR's RRDBNet with its own init, the last conv rescaled so that SR outputs of the photos
    have mean 0.5 and spread 0.2 per channel (random weights otherwise give a flat, clamped image)."""
    import torch
    from PIL import Image

    torch.manual_seed(0)
    net = basicsr_rrdbnet(blocks, features, growth).eval()
    for name, m in net.body.named_modules():  # BasicSR: default_init_weights(scale=0.1) in each dense block
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight)
            m.weight.data.mul_(0.1)
            torch.nn.init.zeros_(m.bias)
    first = sorted(photo_dir.iterdir())[0]
    x = torch.from_numpy(np.array(Image.open(first).convert("RGB"))).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y = net(x[..., :64, :64])
        s = 0.2 / y.std(dim=(0, 2, 3))
        net.conv_last.weight.mul_(s[:, None, None, None])
        net.conv_last.bias.mul_(s).add_(0.5 - y.mean(dim=(0, 2, 3)) * s)
    sd = net.state_dict()
    torch.save({"params_ema": sd, "params": sd}, path)


def translate_cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "translate", *args], check=True, capture_output=True, text=True)


# ---- one row (in a child process) ---------------------------------------------------------------
def reference_cyclegan(pth: Path, photos: Path, out: Path) -> tuple[float, float, int]:
    """junyanz test.py (model test, dataset single, preprocess none): (load s, loop s, images)."""
    import torch
    import torchvision.transforms as transforms
    from PIL import Image

    t0 = time.perf_counter()
    net = junyanz_resnet()
    net.load_state_dict(torch.load(pth, map_location="cpu", weights_only=True))  # load_networks

    def make_power_2(img, base=4, method=Image.BICUBIC):  # base_dataset.__make_power_2
        ow, oh = img.size
        h, w = int(round(oh / base) * base), int(round(ow / base) * base)
        return img if (h, w) == (oh, ow) else img.resize((w, h), method)

    transform = transforms.Compose([transforms.Lambda(make_power_2), transforms.ToTensor(),
                                    transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])

    class SingleDataset(torch.utils.data.Dataset):
        def __init__(self):
            self.paths = sorted(str(p) for p in photos.iterdir())

        def __getitem__(self, i):
            return {"A": transform(Image.open(self.paths[i]).convert("RGB")), "A_paths": self.paths[i]}

        def __len__(self):
            return len(self.paths)

    def tensor2im(t):  # util.tensor2im: no clamp, truncation to uint8
        return ((np.transpose(t[0].cpu().float().numpy(), (1, 2, 0)) + 1) / 2.0 * 255.0).astype(np.uint8)

    loader = torch.utils.data.DataLoader(SingleDataset(), batch_size=1, shuffle=False, num_workers=0)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = 0
    for data in loader:  # test.py: set_input, test (no_grad forward), save_images
        real = data["A"]
        with torch.no_grad():
            fake = net(real)
        name = Path(data["A_paths"][0]).stem
        for label, im in (("real", real), ("fake", fake)):
            Image.fromarray(tensor2im(im)).save(out / f"{name}_{label}.png")
        n += 1
    return load, time.perf_counter() - t0, n


def reference_realesrgan(pth: Path, photos: Path, out: Path, clone: Path, blocks: int) -> tuple[float, float, int]:
    """Real-ESRGAN's inference_realesrgan.py loop around their RealESRGANer (fp32, tile 0, pre_pad 0)."""
    import importlib.util

    import cv2

    for name in ("basicsr", "basicsr.utils", "basicsr.utils.download_util"):  # only load_file_from_url is used
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["basicsr.utils.download_util"].load_file_from_url = None
    spec = importlib.util.spec_from_file_location("realesrgan_utils", clone / "realesrgan" / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    t0 = time.perf_counter()
    upsampler = utils.RealESRGANer(scale=4, model_path=str(pth), model=basicsr_rrdbnet(blocks), tile=0,
                                   tile_pad=10, pre_pad=0, half=False, device="cpu")
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    paths = sorted(str(p) for p in photos.iterdir())
    for path in paths:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        output, _ = upsampler.enhance(img, outscale=4)
        cv2.imwrite(str(out / f"{Path(path).stem}_out.png"), output)
    return load, time.perf_counter() - t0, len(paths)


def translate_apply(ckpt: Path, photos: Path, out: Path, precision: str,
                    backend: str = "torch") -> tuple[float, float, int, str]:
    """``translate apply CKPT PHOTOS -o OUT --device cpu --precision P --backend B`` in this
    process; opening the model (with onnxruntime: exporting it) is timed apart."""
    from translate.inference import apply_files, onnxruntime_model, open_model

    t0 = time.perf_counter()
    model = (open_model(ckpt, "cpu", precision=precision) if backend == "torch"
             else onnxruntime_model(ckpt, device="cpu", precision=precision))
    load = time.perf_counter() - t0
    jobs = [(p, out / f"{p.stem}.png") for p in sorted(photos.iterdir())]
    t0 = time.perf_counter()
    apply_files(model, jobs, device="cpu", precision=precision, progress=False)
    resolved = getattr(getattr(model, "runtime", None), "precision", "fp32")
    return load, time.perf_counter() - t0, len(jobs), resolved


def run_one(args) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    model, impl, precision, work = args.one
    work = Path(work)
    photos, out = work / f"photos_{model}", Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    resolved = precision
    if impl == "reference" and model == "cyclegan":
        load, loop, n = reference_cyclegan(work / "latest_net_G.pth", photos, out)
    elif impl == "reference":
        load, loop, n = reference_realesrgan(work / "RealESRGAN_x4plus.pth", photos, out, Path(args.realesrgan),
                                             args.blocks)
    else:
        backend = "onnxruntime" if impl == "onnx" else "torch"
        load, loop, n, resolved = translate_apply(work / f"{model}.safetensors", photos, out, precision, backend)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"model": model, "impl": impl, "requested": precision, "precision": resolved, "load_s": load,
            "loop_s": loop, "images": n, "img_per_s": n / loop, "peak_rss_mib": peak,
            "threads": torch.get_num_threads()}


# ---- comparing outputs --------------------------------------------------------------------------
def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def output_psnr(reference: Path, ours: Path) -> tuple[float, float]:
    """(mean, lowest) PSNR over images of our outputs against the reference's (same stem)."""
    from PIL import Image

    values = []
    for mine in sorted(ours.iterdir()):
        theirs = next(p for p in reference.iterdir() if p.stem in (f"{mine.stem}_fake", f"{mine.stem}_out"))
        values.append(psnr(np.asarray(Image.open(mine).convert("RGB")), np.asarray(Image.open(theirs).convert("RGB"))))
    finite = [v for v in values if math.isfinite(v)]
    mean = statistics.mean(finite) if finite else math.inf
    return mean, min(values)


# ---- the parent ---------------------------------------------------------------------------------
def prepare(args, work: Path) -> dict[str, int]:
    """Photos at the benchmark's sizes, the reference-format weights and their imported checkpoints."""
    photos = source_photos(Path(args.photos) if args.photos else None, args.count)
    sizes = {"cyclegan": [tuple(map(int, s.split("x"))) for s in args.cyclegan_sizes.split(",")],
             "rrdb": [tuple(map(int, s.split("x"))) for s in args.sr_sizes.split(",")]}
    counts = {}
    for model in args.models.split(","):
        counts[model] = write_photos(photos, sizes[model], work / f"photos_{model}")
        if model == "cyclegan":
            cyclegan_weights(work / "latest_net_G.pth")
            translate_cli("import", str(work / "latest_net_G.pth"), "-o", str(work / "cyclegan.safetensors"))
        else:
            rrdb_weights(work / "RealESRGAN_x4plus.pth", args.blocks, work / f"photos_{model}")
            translate_cli("import", str(work / "RealESRGAN_x4plus.pth"), "-o", str(work / "rrdb.safetensors"))
    return counts


def row_command(args, model: str, impl: str, precision: str, work: Path, out: Path) -> list[str]:
    cmd = [sys.executable, os.path.abspath(__file__), "--one", model, impl, precision, str(work),
           "--out-dir", str(out), "--blocks", str(args.blocks), "--threads", str(args.threads)]
    return cmd + (["--realesrgan", args.realesrgan] if args.realesrgan else [])


def spread(values: list[float]) -> str:
    med = statistics.median(values)
    return f"{med:.3f}" if len(values) == 1 else f"{med:.3f} ({min(values):.3f}-{max(values):.3f})"


def table(results: dict, psnrs: dict) -> None:
    head = (f"{'model':<9} {'implementation':<10} {'precision':<10} {'images/s (median, range)':>26} "
            f"{'load s':>7} {'peak RSS MiB':>13} {'× reference':>12} {'PSNR vs ref dB (mean, min)':>27}")
    print("\n" + head + "\n" + "-" * len(head))
    for (model, impl, precision), runs in results.items():
        speed = [r["img_per_s"] for r in runs]
        ref = results.get((model, "reference", "fp32"))
        ratio = "-" if impl == "reference" or not ref else (
            f"{statistics.median(speed) / statistics.median(r['img_per_s'] for r in ref):.2f}x")
        p = psnrs.get((model, impl, precision))
        quality = "-" if p is None else f"{p[0]:.1f}, {p[1]:.1f}"
        resolved = runs[0]["precision"]
        label = precision if resolved == precision else f"{precision}→{resolved}"
        print(f"{model:<9} {impl:<10} {label:<10} {spread(speed):>26} {statistics.median(r['load_s'] for r in runs):>7.2f} "
              f"{max(r['peak_rss_mib'] for r in runs):>13.0f} {ratio:>12} {quality:>27}")


def big_photo(args, work: Path) -> None:
    """Peak RSS of ``translate apply`` on one 4000×3000 photo ×4 (a 16000×12000 output), each
    precision in its own process (``/usr/bin/time``'s maximum resident set size)."""
    photos = source_photos(Path(args.photos) if args.photos else None, 1)
    folder = work / "photos_big"
    folder.mkdir()
    w, h = map(int, args.big_size.split("x"))
    four_by_three(photos[0], w, h).save(folder / "big.png")
    rrdb_weights(work / "RealESRGAN_x4plus.pth", args.blocks, folder, args.features, args.growth)
    translate_cli("import", str(work / "RealESRGAN_x4plus.pth"), "-o", str(work / "rrdb.safetensors"))
    for precision in args.big_precisions.split(","):
        cmd = ["/usr/bin/time", "-f", "%e s wall, %M KB peak", sys.executable, "-m", "translate", "apply",
               str(work / "rrdb.safetensors"), str(folder / "big.png"), "-o", str(work / f"big_{precision}.png"),
               "--device", "cpu", "--precision", precision, *args.big_args.split()]
        done = subprocess.run(cmd, capture_output=True, text=True)
        timing = done.stderr.strip().splitlines()[-1]
        peak = re.search(r"(\d+) KB peak", timing)
        print(f"translate apply {args.big_size} ×4, {args.blocks} RRDBs of {args.features} features "
              f"(growth {args.growth}), --precision {precision} {args.big_args}: {timing}"
              + (f" ({int(peak.group(1)) / 2**20:.2f} GiB)" if peak else ""), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="cyclegan,rrdb", help="cyclegan, rrdb or both")
    ap.add_argument("--realesrgan", help="a clone of https://github.com/xinntao/Real-ESRGAN (their RealESRGANer)")
    ap.add_argument("--photos", help="a folder of photos (default: mate-backgrounds under /tmp, else scikit-image)")
    ap.add_argument("--count", type=int, default=2, help="photos taken from the folder")
    ap.add_argument("--cyclegan-sizes", default="256x192,512x384")
    ap.add_argument("--sr-sizes", default="96x72,128x96", help="LR sizes (outputs are ×4)")
    ap.add_argument("--blocks", type=int, default=23, help="RRDBs (23 as RealESRGAN_x4plus; fewer for a quick run)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--onnx", action="store_true", help="also time translate apply --backend onnxruntime")
    ap.add_argument("--big", action="store_true", help="only the 4000×3000 ×4 peak-RSS check of translate apply")
    ap.add_argument("--big-precisions", default="auto,fp32")
    ap.add_argument("--big-size", default="4000x3000", help="the --big photo's size (e.g. 512x512: one tile)")
    ap.add_argument("--big-args", default="", help="more translate apply options, e.g. '--tile 256'")
    ap.add_argument("--features", type=int, default=64, help="--big only: RRDBNet width (64 released; fewer "
                    "to measure the output-side memory cheaply)")
    ap.add_argument("--growth", type=int, default=32, help="--big only: dense-block growth (32 released)")
    ap.add_argument("--one", nargs=4, metavar=("MODEL", "IMPL", "PRECISION", "WORK"), help=argparse.SUPPRESS)
    ap.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_one(args)))
        return

    import torch

    from reference_speed import _cpu_model

    print(f"torch {torch.__version__}; CPU: {_cpu_model()} ({os.cpu_count()} logical CPUs); threads "
          f"{args.threads or torch.get_num_threads()}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="inference_speed_") as tmp:
        work = Path(tmp)
        if args.big:
            big_photo(args, work)
            return
        if "rrdb" in args.models and not args.realesrgan:
            ap.error("--realesrgan DIR (a clone of xinntao/Real-ESRGAN) is needed for the rrdb rows")
        counts = prepare(args, work)
        print(f"photos: {counts}; RRDBNet ×4 with {args.blocks} blocks", flush=True)
        rows = ROWS + ([("onnx", "fp32")] if args.onnx else [])
        results, psnrs = {}, {}
        for repeat in range(args.repeats):
            for model in args.models.split(","):
                for impl, precision in rows:
                    out = work / f"out_{model}_{impl}_{precision}"
                    r = run_row(row_command(args, model, impl, precision, work, out), f"{model} {impl} {precision}")
                    if r is None:
                        continue
                    results.setdefault((model, impl, precision), []).append(r)
                    print(f"  [{repeat + 1}] {model} {impl} {precision}: {r['img_per_s']:.3f} images/s, "
                          f"peak RSS {r['peak_rss_mib']:.0f} MiB (load {r['load_s']:.2f} s)", flush=True)
                    if impl != "reference" and repeat == 0:
                        psnrs[(model, impl, precision)] = output_psnr(work / f"out_{model}_reference_fp32", out)
        table(results, psnrs)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
