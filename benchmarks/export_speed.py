"""Inference speed of exported generators: PyTorch eager against onnxruntime (CPU) and
TorchScript, at 256² and 1024², for the pix2pix and CycleGAN generators, side by side.

    python benchmarks/export_speed.py                    # CPU
    python benchmarks/export_speed.py --sizes 256 --repeats 5 --threads 1

The paper's networks with random weights (seeded): pix2pix's U-Net of depth 8 with 64 features
(Isola et al. 2017, §6.1.1) and CycleGAN's ResNet generator with 9 blocks of 64 features (Zhu et
al. 2017, §7.2). Each is exported with ``translate export``'s own code, parity check included
(its max |diff| is printed), then timed on one random image per call:

eager        ``Model.apply_tensor`` with a tile that holds the image: what ``translate apply``
             runs (fp32, channels_last, no autograd)
onnxruntime  the .onnx file in an InferenceSession, CPUExecutionProvider, all graph optimisations
torchscript  the .pt file from ``torch.jit.load``

All three use ``--threads`` threads (torch.set_num_threads and onnxruntime's intra-op pool).
Each figure is the median of ``--repeats`` calls after one warm-up call; the machine's load
average is printed before and after, since other processes distort CPU timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

NETWORKS = {  # plugin → (data flags, config) of the paper's generator
    "pix2pix": ({"aligned": "shapes2shaded"}, {"depth": 8, "features": 64}),
    "cyclegan": ({"a": "shapes", "b": "shapes-inverted"}, {"n_blocks": 9, "gen_features": 64}),
}


def paper_model(name: str):
    """A translate Model of the plugin's paper-size generator, random weights, fp32 on the CPU."""
    import torch

    from translate.model import Model
    from translate.registry import load_plugin
    from translate.request import new_request

    torch.manual_seed(0)
    plugin = load_plugin(name)
    data, config = NETWORKS[name]
    request = new_request(plugin, {**data, **config, "size": 256}, where="benchmark")
    modules = plugin.build(request.config, request.options, training=False)
    return Model(request, 0, {k: m.eval() for k, m in modules.items()}).to("cpu", "fp32")


def median_ms(fn, x, repeats: int) -> float:
    fn(x)  # warm-up: allocations, onnxruntime's first-run planning
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="256,1024")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--networks", default="pix2pix,cyclegan")
    args = ap.parse_args()

    import torch

    from translate.export import export_model
    from translate.exported import load_exported

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs, {args.threads} thread(s), torch {torch.__version__}")
    print(f"{'network':<9} {'size':>5} | {'eager ms':>9} {'onnxrt ms':>9} {'ratio':>6} | {'jit ms':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.networks.split(","):
            model = paper_model(name)
            runners, notes = {}, []
            for ext in ("onnx", "pt"):
                result = export_model(model, Path(tmp) / f"{name}.{ext}")
                runners[ext] = load_exported(result.path, trust_code=True)  # written just now, by us
                notes.append(f"{ext} {result.max_diff:.1g}")
            for size in (int(s) for s in args.sizes.split(",")):
                x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
                eager = median_ms(lambda t: model.apply_tensor(t, tile=1 << 16), x, args.repeats)
                onnx_ms = median_ms(runners["onnx"], x, args.repeats)
                jit_ms = median_ms(runners["pt"], x, args.repeats)
                print(f"{name:<9} {size:>5} | {eager:>9.0f} {onnx_ms:>9.0f} {eager / onnx_ms:>5.2f}x | "
                      f"{jit_ms:>9.0f} {eager / jit_ms:>5.2f}x", flush=True)
            print(f"{'':<9} parity max |diff| at 2×3×37×45: {', '.join(notes)}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
          "(ratio = eager time / exported time: above 1 the export is faster)")


if __name__ == "__main__":
    main()
