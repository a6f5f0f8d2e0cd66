"""Mode-collapse benchmark: every loss of the gan plugin on ring8 and grid25 with one fixed budget.

Trains each (dataset, loss) pair for ``--steps`` generator steps from several seeds, evaluates 2,500
samples per run (translate.metrics.modes: modes captured, % high-quality, reverse KL; see that
module for the definitions) and prints the mean over seeds with the mean wall time per run.

    python benchmarks/gan_2d.py                       # all losses, both sets, 3 seeds, 2 runs at a time
    python benchmarks/gan_2d.py --losses nonsaturating,wgan-gp --datasets grid25 --seeds 2 --steps 2000

The base settings come from configs/gan-DATASET.toml when it exists (so the table measures the
shipped recipe), with ``--loss`` swapped; each loss keeps its paper defaults (WGAN: RMSProp 5e-5,
5 critic steps; WGAN-GP: Adam 1e-4 (0, 0.9), 5 critic steps) unless the config file sets them. The
budget is the same number of generator steps for every loss, so the WGANs make 5× more critic
updates (their wall time shows it). Runs go ``--jobs`` at a time, each in its own process with
``--threads`` threads (small MLPs: one thread per run uses two cores best).
Published anchors (Lin et al. 2018, PacGAN, Table 3/4): grid25 PacGAN4 24.8 modes / 93.6 % HQ /
reverse KL 0.04; ring8 PacGAN2 7.9 / 95.6 % / 0.07.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
LOSSES = ("nonsaturating", "minimax", "lsgan", "hinge", "wgan", "wgan-gp")


def run_one(dataset: str, loss: str, seed: int, steps: int | None, out: Path, threads: int,
            settings: dict[str, str] | None = None) -> dict[str, float]:
    import translate
    from translate_plugins.gan.evaluation import evaluate_points

    torch.set_num_threads(threads)
    config_file = REPO / "configs" / f"gan-{dataset}.toml"
    flags = {"data": dataset, "loss": loss, "seed": seed, "sample_every": 0, "checkpoint_every": 10**9}
    if steps:
        flags["steps"] = steps
    flags.update(settings or {})
    t0 = time.perf_counter()
    model = translate.train("gan", **flags, config=config_file if config_file.exists() else None, out=out,
                            progress=False)
    seconds = time.perf_counter() - t0
    stats = evaluate_points(model.modules["generator"], model.config, out, dataset, 2500, seed)
    return {**stats, "seconds": seconds, "steps": model.options.steps, "dataset": dataset, "loss": loss, "seed": seed}


def mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.fmean(finite) if len(finite) == len(values) else math.inf


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--losses", default=",".join(LOSSES))
    parser.add_argument("--datasets", default="ring8,grid25")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="generator steps per run (default: the config's)")
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at the same time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of the recipe, e.g. --set pack=2 (repeatable)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed … first-seed+seeds-1")
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the worker processes
    cells = [(d, loss) for d in args.datasets.split(",") for loss in args.losses.split(",")]
    settings = dict(item.split("=", 1) for item in args.set)
    print(f"# torch {torch.__version__}, {os.cpu_count()} CPU(s), {args.jobs} run(s) at a time with "
          f"{args.threads} thread(s) each, {args.seeds} seed(s) per cell", flush=True)
    results: dict[tuple[str, str], list[dict[str, float]]] = {cell: [] for cell in cells}
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        futures = [pool.submit(run_one, d, loss, seed, args.steps, Path(tmp) / f"{d}-{loss}-{seed}", args.threads,
                               settings) for d, loss in cells for seed in seeds]
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            results[(r["dataset"], r["loss"])].append(r)
            print(f"# {r['dataset']} {r['loss']} seed {r['seed']}: {r['modes']}/{r['modes_total']} modes, "
                  f"{r['hq_percent']:.2f} % HQ, reverse KL {r['reverse_kl']:.3f}, {r['seconds']:.0f} s", flush=True)
    # Means over seeds, and the spread: on how many seeds every mode was found, the worst seed's
    # modes and % high-quality (2,500 samples: steps of 0.04 %, hence two decimals), and each seed's
    # modes in seed order.
    print(f"{'data':<7} {'loss':<14} {'steps':>6} {'modes':>11} {'all modes':>9} {'min':>4} {'% HQ':>7} "
          f"{'min HQ':>7} {'rev KL':>7} {'s/run':>7}  modes per seed")
    for (dataset, loss), runs in results.items():
        if not runs:
            continue
        runs.sort(key=lambda r: r["seed"])
        total = runs[0]["modes_total"]
        full = sum(r["modes"] == total for r in runs)
        print(f"{dataset:<7} {loss:<14} {runs[0]['steps']:>6} "
              f"{mean([r['modes'] for r in runs]):>6.1f}/{total:<4} {full:>5}/{len(runs):<3} "
              f"{min(r['modes'] for r in runs):>4} {mean([r['hq_percent'] for r in runs]):>7.1f} "
              f"{min(r['hq_percent'] for r in runs):>7.2f} {mean([r['reverse_kl'] for r in runs]):>7.3f} "
              f"{mean([r['seconds'] for r in runs]):>7.1f}  {' '.join(str(r['modes']) for r in runs)}")


if __name__ == "__main__":
    sys.exit(main())
