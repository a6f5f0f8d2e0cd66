"""pix2pix training speed and peak memory at 64² and 256², fp32 against bf16, in one run.

    python benchmarks/pix2pix_speed.py                  # CPU, paper model (batch 1, 64 features)
    python benchmarks/pix2pix_speed.py --device cuda --batch-size 16 --steps 50

Each (size, precision) runs in its own fresh process, one after the other, so that the peak
memory of one does not hide another's. A step is the plugin's real ``train_step`` (G forward, D
update, G update, Adam, the learning-rate schedule) on one fixed batch of shapes2shaded pairs, so
data loading is left out. Measured after ``--warmup`` steps.

Peak memory: on CPU the peak resident set size of the process (``resource.getrusage`` ru_maxrss,
which counts torch's allocations, unlike tracemalloc), printed whole and as the growth over the
resident size just before the first step (model and optimiser built, batch made): the training
working set. On CUDA ``torch.cuda.max_memory_allocated`` (tensors only, not the allocator's
cache or the CUDA context).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import time


def _rss_mb() -> float:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(size: int, precision: str, args: argparse.Namespace) -> dict:
    """Runs in a child process: build the plugin's networks, step, time, read the peak."""
    import resource

    import torch

    from translate.data.datasets import uint8_to_tensor
    from translate.options import TrainOptions
    from translate.registry import load_plugin
    from translate.runtime import make_runtime
    from translate.context import TrainContext
    from translate_plugins.pix2pix.data import shapes2shaded

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    plugin = load_plugin("pix2pix")
    config = plugin.Config(features=args.features, d_features=args.features)
    options = TrainOptions(size=size, batch_size=args.batch_size, device=args.device, precision=precision)
    runtime = make_runtime(args.device, precision, plugin.channels_last)
    modules = {name: runtime.module(m) for name, m in plugin.build(config, options).items()}
    optimizers = plugin.optimizers(config, modules)
    steps = args.steps if size <= 64 else max(2, args.steps // 5)
    schedulers = plugin.schedulers(config, optimizers, steps + args.warmup)
    pairs = [shapes2shaded(size, i, 0) for i in range(args.batch_size)]
    batch = {"input": torch.stack([uint8_to_tensor(a) for a, _ in pairs]),
             "target": torch.stack([uint8_to_tensor(b) for _, b in pairs])}
    ctx = TrainContext(plugin, config, options, runtime, modules, optimizers, schedulers, {}, None,
                       batches=itertools.repeat(batch))
    for m in modules.values():
        m.train()
    cuda = runtime.device.type == "cuda"

    def run(n: int) -> None:
        for _ in range(n):
            plugin.train_step(ctx)
            for sched in schedulers.values():
                sched.step()
        if cuda:
            torch.cuda.synchronize()

    before = _rss_mb()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    run(args.warmup)
    t0 = time.perf_counter()
    run(steps)
    seconds = time.perf_counter() - t0
    if cuda:
        peak, growth = torch.cuda.max_memory_allocated() / 2**20, None
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        growth = peak - before
    return {"size": size, "precision": runtime.precision, "images_per_s": steps * args.batch_size / seconds,
            "step_s": seconds / steps, "steps": steps, "peak_mb": peak, "growth_mb": growth,
            "threads": torch.get_num_threads(), "device": str(runtime.device)}


def _child(queue, size, precision, args) -> None:
    try:
        queue.put(measure(size, precision, args))
    except Exception as exc:  # report, don't hang the parent
        queue.put({"size": size, "precision": precision, "error": f"{type(exc).__name__}: {exc}"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--sizes", default="64,256", help="training sizes, comma-separated")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--batch-size", type=int, default=1, help="the paper's 1 (Isola et al. 2017, §6.2)")
    parser.add_argument("--features", type=int, default=64, help="G and D width (paper: 64)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps at 64² (a fifth of that above 64²)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = parser.parse_args()

    spawn = mp.get_context("spawn")  # a fresh process per measurement: its own peak memory
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        for precision in args.precisions.split(","):
            queue = spawn.Queue()
            proc = spawn.Process(target=_child, args=(queue, size, precision, args))
            proc.start()
            results.append(queue.get())
            proc.join()

    first = next((r for r in results if "error" not in r), {})
    mem = ("peak CUDA memory allocated (MiB)" if args.device == "cuda"
           else "peak RSS (MiB), and its growth over the RSS before the first step")
    print(f"pix2pix training, {first.get('device', args.device)}, {first.get('threads', '?')} threads, "
          f"batch {args.batch_size}, {args.features} features; memory: {mem}")
    print(f"{'size':>6} {'precision':>9} {'images/s':>9} {'s/step':>8} {'peak MiB':>9} {'growth':>8}  vs fp32")
    base = {}
    for r in results:
        if "error" in r:
            print(f"{r['size']:>6} {r['precision']:>9}  failed: {r['error']}")
            continue
        if r["precision"] == "fp32":
            base[r["size"]] = r
        ref = base.get(r["size"])
        # On CPU compare the growth: the peak also holds torch itself, the same in every run.
        key = "peak_mb" if r["growth_mb"] is None else "growth_mb"
        ratio = (f"{r['images_per_s'] / ref['images_per_s']:.2f}x speed, {r[key] / ref[key]:.2f}x memory"
                 if ref and r is not ref else "")
        growth = "" if r["growth_mb"] is None else f"{r['growth_mb']:.0f}"
        print(f"{r['size']:>6} {r['precision']:>9} {r['images_per_s']:>9.2f} {r['step_s']:>8.3f} "
              f"{r['peak_mb']:>9.0f} {growth:>8}  {ratio}")


if __name__ == "__main__":
    main()
