"""Training throughput on 1 process against N processes under torchrun, side by side.

    python benchmarks/ddp_scaling.py                           # CPU: 1 vs 2 processes, gan (DCGAN 32²)
    python benchmarks/ddp_scaling.py --plugin pix2pix --size 64
    python benchmarks/ddp_scaling.py --device cuda --nproc 1,2,4,8 --batch-size 64 --size 64

Each setting is a real ``translate train`` run in its own subprocess: the single process as a user
starts it, the others through ``python -m torch.distributed.run --standalone --nproc_per_node N``.
``--batch-size`` is per process (as in ``translate train`` under torchrun), so N processes train on
a global batch N times larger: the figure to compare is images per second (weak scaling). It is
measured from the run's own ``log.jsonl`` between the first logged step after ``--warmup`` steps
and the last step, so start-up, data set-up and the final checkpoint are left out.

On the CPU every setting gets the same cores: ``--threads`` (default: all cores) torch threads for
one process, ``threads / N`` for each of N processes (``OMP_NUM_THREADS``), so the comparison is
one process using the machine against N processes sharing it, with gloo between them. On CUDA each
process gets its own GPU (``LOCAL_RANK``) and NCCL.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLUGIN_FLAGS = {
    "gan": ["--data", "shapes", "--features", "32", "--latent-dim", "64"],
    "pix2pix": ["--aligned", "shapes2shaded", "--features", "16", "--d-features", "16", "--dropout", "0"],
}


def run(args: argparse.Namespace, nproc: int, out: Path) -> dict:
    threads = max(1, args.threads // nproc) if args.device == "cpu" else args.threads
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
    flags = [*PLUGIN_FLAGS[args.plugin], "--size", str(args.size), "--batch-size", str(args.batch_size),
             "--steps", str(args.steps), "--device", args.device, "--precision", args.precision,
             "--log-every", "1", "--sample-every", "0", "--checkpoint-every", str(args.steps), "--out", str(out)]
    launcher = ([sys.executable, "-m", "translate"] if nproc == 1 else
                [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
                 "-m", "translate"])
    t0 = time.perf_counter()
    proc = subprocess.run([*launcher, "train", args.plugin, *flags], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{nproc} process(es) failed:\n{proc.stderr[-3000:]}")
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    first = next(r for r in log if r["step"] >= args.warmup)
    last = log[-1]
    seconds = last["seconds"] - first["seconds"]
    # One batch per step: gan's default loss takes one D step per G step; pix2pix one batch a step.
    images = (last["step"] - first["step"]) * args.batch_size * nproc
    return {"nproc": nproc, "threads": threads, "global_batch": args.batch_size * nproc,
            "images_per_s": images / seconds, "s_per_step": seconds / (last["step"] - first["step"]), "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugin", choices=sorted(PLUGIN_FLAGS), default="gan")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--nproc", default="1,2", help="process counts to compare, e.g. 1,2,4")
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="CPU: torch threads of one process, split among N processes")
    args = parser.parse_args()
    counts = [int(n) for n in args.nproc.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            rows.append(run(args, n, Path(tmp) / f"run{n}"))
    import torch

    where = (torch.cuda.get_device_name(0) if args.device == "cuda" else
             f"{os.cpu_count()} CPU cores ({_cpu_name()})")
    print(f"{args.plugin}, {args.size}², --batch-size {args.batch_size} per process, {args.precision}, "
          f"{args.device}: {where}; steps {args.warmup}-{args.steps} timed")
    print(f"{'processes':>9} {'threads/proc':>12} {'global batch':>12} {'s/step':>8} {'img/s':>8} {'speed-up':>8}")
    base = rows[0]["images_per_s"]
    for r in rows:
        print(f"{r['nproc']:>9} {r['threads']:>12} {r['global_batch']:>12} {r['s_per_step']:>8.3f} "
              f"{r['images_per_s']:>8.1f} {r['images_per_s'] / base:>7.2f}×")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
