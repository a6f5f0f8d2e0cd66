"""Training speed and peak memory of our CycleGAN and pix2pix steps against the reference code.

    python benchmarks/reference_speed.py --reference /path/to/pytorch-CycleGAN-and-pix2pix
    python benchmarks/reference_speed.py --reference REF --workloads cyclegan128,pix2pix256 \
        --steps 1 --warmup 1 --threads 1

The reference is junyanz/pytorch-CycleGAN-and-pix2pix, the authors' PyTorch code for both papers.
It is not part of this repository and is never copied into it; get it with

    git clone https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix

and pass the clone's folder as ``--reference`` (this script only puts that folder on ``sys.path``
and imports its ``models`` package; it needs ``models/`` and ``util/image_pool.py``, nothing of its
data or visualisation code).

Workloads, all fp32 on the CPU at batch 1, with the same networks on both sides:

  cyclegan128 / cyclegan256  CycleGAN at 128² / 256²: two ResNet generators with 9 residual blocks
                             (the reference's default ``--netG resnet_9blocks``, at both sizes; ours
                             is set to ``n_blocks=9``, whose own default is 6 below 256²), two 70×70
                             PatchGANs with instance norm, LSGAN, λ = 10, identity 0.5, pool of 50.
  pix2pix256                 pix2pix at 256²: U-Net 256 (8 downsamplings, dropout) and a 70×70
                             PatchGAN, batch norm, the vanilla (log) GAN loss, λ_L1 = 100, no pool.

Each (workload, implementation) runs in its own fresh subprocess, one after the other, so that the
peak memory of one does not hide another's:

  reference     the model built as their ``train.py`` builds it: every option of their
                ``BaseOptions``/``TrainOptions`` at its default, the model's own
                ``modify_commandline_options`` applied (``--model cycle_gan`` / ``pix2pix``), the
                model class instantiated with those options and ``model.setup(opt)`` (schedulers;
                nothing is loaded). A step is ``model.set_input(batch); model.optimize_parameters()``
                on one fixed random batch shaped like their dataset's (``A``, ``B`` in [-1, 1],
                1×3×S×S, and ``A_paths``/``B_paths``). Their learning rate is stepped per epoch,
                so not in the step.
  ours fp32     the plugin built as ``benchmarks/profile_step.py``'s ``build()`` builds it (the
                plugin's modules through the runtime, its optimisers and schedulers, a
                ``TrainContext`` fed one fixed batch); a step is ``plugin.train_step(ctx)`` and the
                schedulers' step.
  ours auto     the same with ``--precision auto``, resolved as the trainer resolves it (the
                resolved precision is printed: fp32 on CPUs without AMX / AVX-512 BF16).

Measured: ``--warmup`` steps, then the wall time of ``--steps`` steps (s/step, and images/s = batch
items per second; a CycleGAN item is one A and one B image); peak RSS (``ru_maxrss``) of the
process, and its growth over the resident size just before the first step (networks, optimisers and
batch built): the training working set. The parameter counts of both sides are printed per
workload, generators and discriminators apart: equal counts are the check that the networks match.
One known difference: our pix2pix U-Net keeps the bias of its first and innermost encoder
convolutions, which no norm follows (64 + 512 parameters of 57.2M), where the reference drops every
down-convolution bias under batch norm (see ``translate_plugins/pix2pix/reference.py``); the
convolutions computed are the same, the two bias adds are negligible.

If the reference's modules import optional display packages (``dominate``, ``visdom``) that are not
installed, empty stand-in modules are registered for them; its model code does not use them.

Ratios: reference s/step ÷ ours (> 1: ours is faster) and our peak RSS ÷ the reference's (< 1: ours
needs less). CPU figures depend on other load on the machine: compare rows within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys

from _measure import run_row, time_steps

WORKLOADS = {"cyclegan128": ("cyclegan", 128), "cyclegan256": ("cyclegan", 256), "pix2pix256": ("pix2pix", 256)}
REFERENCE_MODEL = {"cyclegan": "cycle_gan", "pix2pix": "pix2pix"}
# (implementation, precision) rows per workload, in this order.
ROWS = [("reference", "fp32"), ("ours", "fp32"), ("ours", "auto")]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def _count(modules: dict) -> dict:
    """Parameters of the generators (names starting with G/g) and the discriminators (D/d)."""
    g = sum(p.numel() for n, m in modules.items() if n.lower().startswith("g") for p in m.parameters())
    d = sum(p.numel() for n, m in modules.items() if n.lower().startswith("d") for p in m.parameters())
    return {"params_g": g, "params_d": d}


# ---- the reference ------------------------------------------------------------------------------
def _reference_parser(size: int) -> argparse.ArgumentParser:
    """The options of the reference's BaseOptions + TrainOptions that exist in its versions since
    2019, at their defaults (GPU and file options set for a CPU run without data)."""
    p = argparse.ArgumentParser()
    add = p.add_argument
    # BaseOptions
    add("--dataroot", default="unused")
    add("--name", default="reference_speed")
    add("--gpu_ids", default="-1")
    add("--checkpoints_dir", default="./checkpoints")
    add("--model", default="cycle_gan")
    add("--input_nc", type=int, default=3)
    add("--output_nc", type=int, default=3)
    add("--ngf", type=int, default=64)
    add("--ndf", type=int, default=64)
    add("--netD", default="basic")
    add("--netG", default="resnet_9blocks")
    add("--n_layers_D", type=int, default=3)
    add("--norm", default="instance")
    add("--init_type", default="normal")
    add("--init_gain", type=float, default=0.02)
    add("--no_dropout", action="store_true")
    add("--dataset_mode", default="unaligned")
    add("--direction", default="AtoB")
    add("--serial_batches", action="store_true")
    add("--num_threads", type=int, default=4)
    add("--batch_size", type=int, default=1)
    add("--load_size", type=int, default=round(size * 286 / 256))
    add("--crop_size", type=int, default=size)
    add("--max_dataset_size", type=float, default=float("inf"))
    add("--preprocess", default="resize_and_crop")
    add("--no_flip", action="store_true")
    add("--display_winsize", type=int, default=256)
    add("--epoch", default="latest")
    add("--load_iter", type=int, default=0)
    add("--verbose", action="store_true")
    add("--suffix", default="")
    # TrainOptions
    add("--display_freq", type=int, default=400)
    add("--print_freq", type=int, default=100)
    add("--save_latest_freq", type=int, default=5000)
    add("--save_epoch_freq", type=int, default=5)
    add("--save_by_iter", action="store_true")
    add("--continue_train", action="store_true")
    add("--epoch_count", type=int, default=1)
    add("--phase", default="train")
    add("--n_epochs", type=int, default=100)
    add("--n_epochs_decay", type=int, default=100)
    add("--beta1", type=float, default=0.5)
    add("--lr", type=float, default=0.0002)
    add("--gan_mode", default="lsgan")
    add("--pool_size", type=int, default=50)
    add("--lr_policy", default="linear")
    add("--lr_decay_iters", type=int, default=50)
    return p


# What the brief of this benchmark fixes for each model; checked against the options the reference
# itself produced, so that a different reference version that changed a default is noticed.
EXPECTED = {
    "cycle_gan": {"netG": "resnet_9blocks", "netD": "basic", "n_layers_D": 3, "norm": "instance",
                  "init_type": "normal", "init_gain": 0.02, "no_dropout": True, "gan_mode": "lsgan",
                  "lambda_A": 10.0, "lambda_B": 10.0, "lambda_identity": 0.5, "pool_size": 50, "lr": 0.0002,
                  "beta1": 0.5, "input_nc": 3, "output_nc": 3, "ngf": 64, "ndf": 64, "direction": "AtoB"},
    "pix2pix": {"netG": "unet_256", "netD": "basic", "n_layers_D": 3, "norm": "batch", "init_type": "normal",
                "init_gain": 0.02, "no_dropout": False, "gan_mode": "vanilla", "lambda_L1": 100.0,
                "pool_size": 0, "lr": 0.0002, "beta1": 0.5, "input_nc": 3, "output_nc": 3, "ngf": 64, "ndf": 64,
                "direction": "AtoB"},
}


def _stub_missing(names: list[str]) -> list[str]:
    """Empty stand-ins for optional visualisation packages the reference may import (their HTML
    and visdom display code); a package that is installed is left alone."""
    import importlib.util
    import types

    stubbed = []
    for name in names:
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = types.ModuleType(name)
            stubbed.append(name)
    return stubbed


def not_a_reference(path: str) -> str | None:
    """Why ``path`` is not a clone of the reference (one line), or None when it is one."""
    if os.path.isfile(os.path.join(path, "models", "networks.py")):
        return None
    return (f"{path} has no models/networks.py; pass a clone of "
            "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix as --reference")


def reference_model(model_name: str, size: int, reference: str, checkpoints_dir: str, seed: int = 0):
    """The reference's model (``cycle_gan`` or ``pix2pix``) at its default options for ``size``²
    crops, built as its train.py builds it, on the CPU; returns (model, stubbed package names)."""
    import torch

    sys.path.insert(0, os.path.abspath(reference))
    stubbed = _stub_missing(["dominate", "visdom"])
    torch.manual_seed(seed)
    from models import find_model_using_name  # the reference's package

    model_class = find_model_using_name(model_name)
    parser = model_class.modify_commandline_options(_reference_parser(size), True)
    opt = parser.parse_args(["--model", model_name])
    opt.isTrain = True
    opt.gpu_ids = []
    opt.checkpoints_dir = checkpoints_dir
    # The learning-rate options were --niter/--niter_decay before 2020: give both spellings.
    opt.niter, opt.niter_decay = opt.n_epochs, opt.n_epochs_decay
    wrong = {k: (getattr(opt, k, None), v) for k, v in EXPECTED[model_name].items() if getattr(opt, k, None) != v}
    if wrong:
        raise SystemExit(f"reference options differ from the benchmark's: {wrong} (got, expected)")
    try:
        model = model_class(opt)  # what their models.create_model does
    except TypeError:  # reference versions before 2019: a no-argument constructor and initialize(opt)
        model = model_class()
        model.initialize(opt)
    model.setup(opt)
    return model, stubbed


def build_reference(workload: str, reference: str, checkpoints_dir: str):
    import torch

    name, size = WORKLOADS[workload]
    model, stubbed = reference_model(REFERENCE_MODEL[name], size, reference, checkpoints_dir)
    batch = {"A": torch.rand(1, 3, size, size) * 2 - 1, "B": torch.rand(1, 3, size, size) * 2 - 1,
             "A_paths": ["A/0.png"], "B_paths": ["B/0.png"]}
    nets = {n: getattr(model, "net" + n) for n in model.model_names}
    for net in nets.values():
        net.train()

    def step() -> None:
        model.set_input(batch)
        model.optimize_parameters()

    return step, nets, {"precision": "fp32", "stand_ins": stubbed}


# ---- ours ---------------------------------------------------------------------------------------
def build_ours(workload: str, precision: str):
    """benchmarks/profile_step.py's build() (the plugin's layout), with the reference's networks."""
    import dataclasses

    from profile_step import build
    from translate.registry import load_plugin

    overrides = {}
    if WORKLOADS[workload][0] == "cyclegan":
        if "n_blocks" not in {f.name for f in dataclasses.fields(load_plugin("cyclegan").Config)}:
            raise SystemExit("the cyclegan plugin's Config has no n_blocks field: cannot match resnet_9blocks")
        overrides["n_blocks"] = 9  # the reference's resnet_9blocks at every size
    _, _, ctx, step = build(workload, precision, "cpu", overrides=overrides)
    return step, ctx.modules, {"precision": ctx.runtime.precision, "channels_last": ctx.runtime.channels_last}


# ---- one measurement (in a child process) -------------------------------------------------------
def run_one(workload: str, impl: str, precision: str, args) -> dict:
    import tempfile

    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="reference_speed_") as tmp:
        if impl == "reference":
            step, nets, info = build_reference(workload, args.reference, tmp)
        else:
            step, nets, info = build_ours(workload, precision)
        s_per_step, before = time_steps(step, args.warmup, args.steps)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"workload": workload, "impl": impl, "requested": precision, **info, **_count(nets),
            "s_per_step": s_per_step, "img_per_s": 1 / s_per_step, "peak_rss_mib": peak,
            "growth_mib": peak - before, "threads": torch.get_num_threads(), "torch": torch.__version__}


# ---- the parent ---------------------------------------------------------------------------------
def _table(results: list[dict]) -> None:
    ref = {r["workload"]: r for r in results if r["impl"] == "reference"}
    head = (f"{'workload':<12} {'implementation':<14} {'precision':<11} {'s/step':>8} {'img/s':>7} "
            f"{'peak RSS MiB':>12} {'growth MiB':>10} {'params':>11} {'ref÷ours s/step':>15} {'ours÷ref peak':>13}")
    print("\n" + head)
    print("-" * len(head))
    for r in results:
        prec = r["precision"] if r["requested"] == r["precision"] else f"{r['requested']}→{r['precision']}"
        base = ref.get(r["workload"])
        if r["impl"] == "ours" and base:
            speed = f"{base['s_per_step'] / r['s_per_step']:.2f}x"
            mem = f"{r['peak_rss_mib'] / base['peak_rss_mib']:.2f}x"
        else:
            speed = mem = "-"
        params = r["params_g"] + r["params_d"]
        print(f"{r['workload']:<12} {r['impl']:<14} {prec:<11} {r['s_per_step']:>8.3f} {r['img_per_s']:>7.3f} "
              f"{r['peak_rss_mib']:>12.0f} {r['growth_mib']:>10.0f} {params:>11,} {speed:>15} {mem:>13}")
    print("\nparameters (generators + discriminators):")
    for w in dict.fromkeys(r["workload"] for r in results):
        rows = [r for r in results if r["workload"] == w]
        seen = {}
        for r in rows:
            seen.setdefault(r["impl"], (r["params_g"], r["params_d"]))
        parts = [f"{impl} G {g:,} + D {d:,}" for impl, (g, d) in seen.items()]
        verdict = ""
        if "reference" in seen and "ours" in seen:
            (rg, rd), (og, od) = seen["reference"], seen["ours"]
            if (rg, rd) == (og, od):
                verdict = "  -> same networks"
            else:
                verdict = f"  -> MISMATCH: ours G {og - rg:+,}, D {od - rd:+,}"
                if WORKLOADS[w][0] == "pix2pix" and od == rd and og - rg == 64 + 512:
                    verdict += (" = the biases of our U-Net's first and innermost encoder convolutions "
                                "(64 + 512; no norm follows them), which the reference drops under batch norm")
        print(f"  {w:<12} " + "; ".join(parts) + verdict)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference", required=True,
                    help="folder of a clone of https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix")
    ap.add_argument("--workloads", default="cyclegan128,cyclegan256,pix2pix256",
                    help=f"comma-separated, of {', '.join(WORKLOADS)} (default: all)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--json", action="store_true", help="also print each result as one JSON line")
    ap.add_argument("--one", nargs=3, metavar=("WORKLOAD", "IMPL", "PRECISION"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not_a_reference(args.reference):
        sys.exit(f"reference_speed: {not_a_reference(args.reference)}")
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be at least 1 and --warmup at least 0")
    if args.one:
        print("RESULT " + json.dumps(run_one(*args.one, args)))
        return
    workloads = [w for w in args.workloads.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w}; choose from {', '.join(WORKLOADS)}")

    import torch

    threads = args.threads if args.threads > 0 else torch.get_num_threads()
    omp = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"torch {torch.__version__}; {threads} threads (OMP_NUM_THREADS={omp}); "
          f"CPU: {_cpu_model()} ({os.cpu_count()} logical CPUs); reference: {os.path.abspath(args.reference)}; "
          f"batch 1, {args.warmup} warm-up + {args.steps} timed steps", flush=True)
    results = []
    for w in workloads:
        for impl, precision in ROWS:
            cmd = [sys.executable, os.path.abspath(__file__), "--one", w, impl, precision, "--reference",
                   args.reference, "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--threads", str(args.threads)]
            r = run_row(cmd, f"{w} {impl} {precision}")
            if r is None:
                continue
            results.append(r)
            print(f"  {w} {impl} {precision}: {r['s_per_step']:.3f} s/step, peak RSS {r['peak_rss_mib']:.0f} MiB "
                  f"(resolved {r['precision']}, {r['threads']} threads)", flush=True)
            if args.json:
                print(json.dumps(r), flush=True)
    if results:
        _table(results)


if __name__ == "__main__":
    main()
