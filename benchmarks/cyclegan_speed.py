"""CycleGAN training speed and peak memory: 64², 128², 256², fp32 against bf16, side by side.

    python benchmarks/cyclegan_speed.py                  # CPU
    python benchmarks/cyclegan_speed.py --device cuda --steps 20

Each setting runs in its own subprocess (so peak memory is its own): the paper's networks (64
filters; 6 residual blocks below 256², 9 at 256²; two 70×70 PatchGANs), batch size 1, identity
loss on, one full CycleGAN step (generators, pools, discriminators) through the plugin's
``train_step`` exactly as the trainer calls it. Batches are random tensors already on the device,
so the figures measure the model, not image decoding. Peak memory: on CUDA
``torch.cuda.max_memory_allocated``; on CPU the peak resident set of the process minus its
resident set once the networks are built (so it counts activations, gradients, Adam state and
pools, not the Python/torch runtime).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from _measure import rss_mib as _rss_mib


def run_one(size: int, precision: str, device: str, steps: int, warmup: int, batch: int) -> dict:
    import torch

    from translate.options import TrainOptions
    from translate.runtime import make_runtime
    from translate.context import TrainContext
    from translate_plugins.cyclegan import CycleGANPlugin

    torch.manual_seed(0)
    plugin = CycleGANPlugin()
    plugin.name = "cyclegan"
    config = plugin.Config()
    options = TrainOptions(size=size, batch_size=batch, steps=steps + warmup, device=device, precision=precision)
    runtime = make_runtime(device, precision, plugin.channels_last)
    modules = {n: runtime.module(m) for n, m in plugin.build(config, options).items()}
    optimizers = plugin.optimizers(config, modules)
    data = {k: runtime.tensor(torch.rand(batch, 3, size, size) * 2 - 1) for k in ("a", "b")}

    def batches():
        while True:
            yield data

    ctx = TrainContext(plugin, config, options, runtime, modules, optimizers, {}, {}, None, batches=batches())
    cuda = runtime.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    base = _rss_mib()
    for m in modules.values():
        m.train()
    for _ in range(warmup):
        plugin.train_step(ctx)
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        plugin.train_step(ctx)
    sync()
    seconds = time.perf_counter() - t0
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    return {"size": size, "precision": runtime.precision, "images_per_s": steps * batch / seconds,
            "s_per_step": seconds / steps, "peak_mib": peak, "blocks": plugin.blocks(config, size)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per setting (default: 5 on CPU "
                    "below 256², 2 at 256²; 20 on CUDA)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=1, help="Zhu et al. 2017, §4: 1")
    ap.add_argument("--one", nargs=2, metavar=("SIZE", "PRECISION"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        size, precision = int(args.one[0]), args.one[1]
        print(json.dumps(run_one(size, precision, args.device, args.steps, args.warmup, args.batch_size)))
        return

    print(f"CycleGAN training step, batch {args.batch_size}, device {args.device} "
          "(CPU figures depend on other load on the machine)")
    print(f"{'size':>5} {'blocks':>6} | {'fp32 img/s':>10} {'bf16 img/s':>10} {'speed-up':>8} | "
          f"{'fp32 peak MiB':>13} {'bf16 peak MiB':>13} {'ratio':>6}")
    for size in (int(s) for s in args.sizes.split(",")):
        steps = args.steps or (20 if args.device == "cuda" else (2 if size >= 256 else 5))
        rows = {}
        for precision in ("fp32", "bf16"):
            out = subprocess.run([sys.executable, __file__, "--one", str(size), precision, "--device", args.device,
                                  "--steps", str(steps), "--warmup", str(args.warmup),
                                  "--batch-size", str(args.batch_size)],
                                 capture_output=True, text=True, check=True)
            rows[precision] = json.loads(out.stdout.strip().splitlines()[-1])
        f, b = rows["fp32"], rows["bf16"]
        print(f"{size:>5} {f['blocks']:>6} | {f['images_per_s']:>10.3f} {b['images_per_s']:>10.3f} "
              f"{b['images_per_s'] / f['images_per_s']:>7.2f}x | {f['peak_mib']:>13.0f} {b['peak_mib']:>13.0f} "
              f"{b['peak_mib'] / f['peak_mib']:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
