"""SRGAN speed and memory, fp32 against bf16, measured side by side in one run.

    python benchmarks/srgan_speed.py                  # CPU, paper-sized model (×4, 16 blocks, 96 px crops)
    python benchmarks/srgan_speed.py --device cuda --steps 20 --apply-size 1024

Prints, for each precision:
  pretrain img/s   SRResNet step (MSE, generator only), HR crops per second
  gan img/s        SRGAN step (discriminator step + generator step with the VGG54 loss; random
                   VGG19 weights: the speed does not depend on them)
  apply MP/s       output megapixels per second of ``translate apply``'s path (tiled, --tile LR px);
                   apply-whole runs the same image as one tile, to show what tiling saves
  peak MB          peak memory of that phase: CUDA max_memory_allocated, or on the CPU the peak
                   resident size of a fresh process running only that phase, minus its size before

Each (phase, precision) runs in its own process so that peaks do not mix. On a shared machine the
timings are contended: compare the columns of one run, not numbers across runs.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _autocast(torch, device, precision):
    import contextlib

    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _sync(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_phase(phase: str, precision: str, args, out) -> None:
    import torch
    import torch.nn.functional as F

    from translate_plugins.srgan.networks import SRDiscriminator, SRResNet
    from translate_plugins.srgan.losses import VGG54Loss, vgg19_features
    from translate_plugins.srgan.losses import ADVERSARIAL
    from translate_plugins.srgan.training import super_resolve

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cl = torch.channels_last
    G = SRResNet(args.scale, args.n_blocks).to(device, memory_format=cl)
    base = _peak_rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20

    if phase.startswith("apply"):
        tile = args.tile if phase == "apply" else args.apply_size  # apply-whole: one tile, for contrast
        G.eval()
        lr = torch.rand(1, 3, args.apply_size, args.apply_size, device=device) * 2 - 1

        def work():
            with torch.no_grad(), _autocast(torch, device, precision):
                return super_resolve(G, lr, args.scale, tile=tile, overlap=16)
        units = (args.apply_size * args.scale) ** 2 / 1e6  # output megapixels per call
        steps = args.apply_repeats
    else:
        n, s = args.batch_size, args.size
        hr = torch.rand(n, 3, s, s, device=device).mul(2).sub(1).contiguous(memory_format=cl)
        lr = F.interpolate(hr, scale_factor=1 / args.scale, mode="bicubic", antialias=True)
        lr = lr.contiguous(memory_format=cl)
        opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.9, 0.999))
        if phase == "gan":
            D = SRDiscriminator(s).to(device, memory_format=cl)
            opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.9, 0.999))
            vgg = VGG54Loss(vgg19_features().eval().requires_grad_(False)).to(device, memory_format=cl)

        def work():
            with _autocast(torch, device, precision):
                if phase == "pretrain":
                    loss = F.mse_loss(G(lr).float(), hr)
                else:
                    with torch.no_grad():
                        fake = G(lr)
                    loss_d = ADVERSARIAL.discriminator(D(hr), D(fake))
                    opt_d.zero_grad(set_to_none=True)
                    loss_d.backward()
                    opt_d.step()
                    D.requires_grad_(False)
                    sr = G(lr)
                    loss = vgg(sr, hr) + 1e-3 * ADVERSARIAL.generator(D(sr))
                    D.requires_grad_(True)
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
        units = n
        steps = args.steps

    work()  # warm-up (cuDNN / oneDNN kernel selection)
    _sync(torch, device)
    t0 = time.perf_counter()
    for _ in range(steps):
        work()
    _sync(torch, device)
    seconds = time.perf_counter() - t0
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20 - base
    else:
        peak = _peak_rss_mb() - base
    out.put((phase, precision, units * steps / seconds, peak))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--n-blocks", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--size", type=int, default=96, help="HR crop size of the training phases")
    p.add_argument("--steps", type=int, default=3, help="timed training steps per phase (after 1 warm-up)")
    p.add_argument("--apply-size", type=int, default=192, help="LR side of the apply image (output ×scale)")
    p.add_argument("--apply-repeats", type=int, default=2)
    p.add_argument("--tile", type=int, default=96, help="LR tile size of the apply phase")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--phases", default="pretrain,gan,apply,apply-whole")
    args = p.parse_args()

    ctx = mp.get_context("spawn")
    results = {}
    phases, precisions = args.phases.split(","), args.precisions.split(",")
    print(f"device {args.device}, ×{args.scale}, {args.n_blocks} blocks, batch {args.batch_size} of "
          f"{args.size}px HR crops; apply {args.apply_size}² LR → {args.apply_size * args.scale}², "
          f"tile {args.tile}",
          flush=True)
    for phase in phases:
        for precision in precisions:
            queue = ctx.Queue()
            proc = ctx.Process(target=run_phase, args=(phase, precision, args, queue))
            proc.start()
            proc.join()
            if proc.exitcode != 0:
                print(f"{phase} {precision}: failed (exit {proc.exitcode})", flush=True)
                continue
            _, _, rate, peak = queue.get()
            results[phase, precision] = (rate, peak)
            print(f"  {phase:<11} {precision:<5} {rate:9.2f} {'MP/s' if phase.startswith('apply') else 'img/s'}  "
                  f"peak {peak:8.0f} MB", flush=True)

    print(f"\n{'phase':<12}" + "".join(f"{pr + ' rate':>14}{pr + ' peak MB':>14}" for pr in precisions)
          + (f"{'speed-up':>10}" if len(precisions) == 2 else ""))
    for phase in phases:
        row = f"{phase:<12}"
        for pr in precisions:
            rate, peak = results.get((phase, pr), (float("nan"), float("nan")))
            row += f"{rate:14.2f}{peak:14.0f}"
        if len(precisions) == 2:
            a, b = (results.get((phase, pr), (float("nan"),))[0] for pr in precisions)
            row += f"{b / a:9.2f}x"
        print(row)
    print("(rates: img/s for training phases, output MP/s for apply)")


if __name__ == "__main__":
    main()
