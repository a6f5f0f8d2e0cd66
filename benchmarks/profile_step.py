"""Where a training step's time goes: torch.profiler tables, FLOPs, a measured conv roofline, peak RSS.

    python benchmarks/profile_step.py                        # CycleGAN 128², pix2pix 256², SRResNet ×4, fp32
    python benchmarks/profile_step.py --full                 # also CycleGAN 256² and SRGAN's GAN stage
    python benchmarks/profile_step.py --full --precision both --no-profile --steps 2 --warmup 1
                                                             # the one summary table: every workload, fp32 | bf16
    python benchmarks/profile_step.py --precision both --workloads cyclegan128 --steps 1 --warmup 1

The summary table gives s/step, images/s, peak RSS and the achieved TFLOP/s (FLOPs counted with
``torch.utils.flop_counter``) per workload and precision. Workloads: CycleGAN 128² and 256² and
pix2pix 256² at batch 1; SRGAN ×4 on 16 HR crops of 96² (Ledig et al. 2017, §3.2), its MSE
(SRResNet) stage ``srgan96`` and its adversarial stage ``srgan96gan`` (VGG54 content loss).

For each workload (the papers' networks: CycleGAN's ResNet generators, 6 residual blocks
below 256² and 9 at 256², and two 70×70 PatchGANs with instance norm; pix2pix's U-Net 256 and
70×70 PatchGAN with batch norm) and each precision, a fresh subprocess builds the plugin's
modules, optimisers and a ``TrainContext`` exactly as ``benchmarks/cyclegan_speed.py`` does, feeds
one fixed random batch already on the device (so data loading is left out), then

1. runs ``--warmup`` steps, then times ``--steps`` plain steps (wall clock, s/step);
2. counts the FLOPs of one step with ``torch.utils.flop_counter.FlopCounterMode`` (forward and
   backward convolutions and matmuls; elementwise work is not counted);
3. profiles ``--steps`` steps with ``torch.profiler`` (CPU activities, shapes not recorded) and
   prints the top ops by self CPU time and a grouped summary (below);
4. prints peak RSS (``ru_maxrss``), and its growth over the RSS before the first step.

Roofline: this CPU's attainable convolution rate, measured in the same process just before and
just after the steps (the better of the two): a 1×256×64×64 → 256, 3×3 convolution (4.8 GFLOP) forward, channels_last and contiguous,
and forward+backward channels_last; the best of a few repetitions. The step's achieved rate
(FLOPs / wall time) and the convolutions' own rate (conv FLOPs / conv self time in the profile)
are printed as a share of the best forward figure.

Groups (by the op's own name, else its nearest ancestor in the profiler tree; backward ops by
their autograd node, e.g. ``ConvolutionBackward0``):

  convolution     conv2d / conv_transpose2d forward and backward (oneDNN's own reorders included)
  normalisation   instance / batch / group norm forward and backward
  padding         reflection (and other) padding forward and backward
  elementwise     activations, residual adds, dropout, concatenation, gradient accumulation
  conversions     dtype and layout copies: to / _to_copy / copy_ / contiguous / clone
  optimiser       everything under ``Optimizer.step`` and ``Optimizer.zero_grad``
  image pool      CycleGAN's history pool (its function is wrapped in a ``record_function``)
  loss            the adversarial, L1 and least-squares terms, forward and backward
  other           the rest (allocation, views, profiler and autograd bookkeeping)

CPU figures depend on other load on the machine: compare variants within one run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import time
from collections import defaultdict

from _measure import run_row, time_steps

# name: (plugin, HR/crop size, batch, config overrides). SRGAN: Ledig et al. 2017, §3.2: 16 HR crops
# of 96², ×4; "srgan96" is the MSE (SRResNet) stage, "srgan96gan" the adversarial stage with the VGG54
# content loss (random VGG19 weights: the speed does not depend on them).
WORKLOADS = {"cyclegan128": ("cyclegan", 128, 1, {}), "cyclegan256": ("cyclegan", 256, 1, {}),
             "pix2pix256": ("pix2pix", 256, 1, {}), "srgan96": ("srgan", 96, 16, {"stage": "pretrain"}),
             "srgan96gan": ("srgan", 96, 16, {"stage": "gan", "content_loss": "vgg54"}),
             "dcgan64": ("gan", 64, 64, {"arch": "dcgan"})}  # the plugin's batch 64 (Radford et al. 2016, §4: 128)
DEFAULT_WORKLOADS = ["cyclegan128", "pix2pix256", "srgan96"]
GROUPS = ["convolution", "normalisation", "padding", "elementwise", "conversions", "optimiser", "image pool",
          "loss", "other"]

# Substrings of (lower-cased) op or autograd-node names, tried in this order.
_NAME_RULES = [
    ("conversions", ("aten::to", "aten::_to_copy", "aten::copy_", "aten::contiguous", "aten::clone",
                     "tocopybackward", "clonebackward")),
    ("loss", ("l1_loss", "mse_loss", "l1lossbackward", "mselossbackward", "meanbackward", "powbackward",
              "binary_cross_entropy", "softplus", "logsigmoid", "loss::")),
    ("convolution", ("conv", "mkldnn_convolution")),
    ("normalisation", ("batch_norm", "instance_norm", "group_norm", "layer_norm", "batchnorm", "groupnorm",
                       "native_norm")),
    ("padding", ("pad", "reflection")),
    ("elementwise", ("relu", "tanh", "sigmoid", "add", "mul", "sub", "div", "threshold", "dropout",
                     "bernoulli", "cat", "accumulategrad", "fill_", "zero_", "where", "neg", "rsqrt")),
]


def classify(event) -> str:
    """The group of one profiler event, from its own name and its ancestors'."""
    chain = []
    e = event
    while e is not None:
        chain.append(e.name.lower())
        e = e.cpu_parent
    for name in chain:
        if name.startswith("optimizer.step") or name.startswith("optimizer.zero_grad"):
            return "optimiser"
        if name == "image_pool":
            return "image pool"
    for depth, name in enumerate(chain):  # innermost first: a copy_ inside instance_norm is a conversion
        if name.startswith("profilerstep") or name == "train_step":
            break
        for group, keys in _NAME_RULES:
            if group == "conversions" and depth:
                continue  # only the op itself is a conversion, not ops under a .to()
            if any(k in name for k in keys):
                return group
    return "other"


def conv_roofline(dtype_name: str, reps: int = 5) -> dict:
    """Best GFLOP/s of a 1×256×64×64, 3×3, 256-filter convolution (fwd CL, fwd contiguous, fwd+bwd CL)."""
    import torch
    import torch.nn.functional as F

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    torch.manual_seed(0)
    flops = 2 * 256 * 256 * 9 * 64 * 64
    out = {}
    for label, fmt in (("fwd_channels_last", torch.channels_last), ("fwd_contiguous", torch.contiguous_format)):
        x = torch.randn(1, 256, 64, 64, dtype=dtype).contiguous(memory_format=fmt)
        w = torch.randn(256, 256, 3, 3, dtype=dtype).contiguous(memory_format=fmt) * 0.02
        best = float("inf")
        with torch.no_grad():
            for i in range(reps + 1):
                t0 = time.perf_counter()
                F.conv2d(x, w, padding=1)
                if i:
                    best = min(best, time.perf_counter() - t0)
        out[label] = flops / best / 1e9
    x = torch.randn(1, 256, 64, 64, dtype=dtype).contiguous(memory_format=torch.channels_last).requires_grad_()
    w = (torch.randn(256, 256, 3, 3, dtype=dtype) * 0.02).contiguous(memory_format=torch.channels_last).requires_grad_()
    best = float("inf")
    for i in range(max(2, reps // 2) + 1):
        t0 = time.perf_counter()
        F.conv2d(x, w, padding=1).sum().backward()
        if i:
            best = min(best, time.perf_counter() - t0)
        x.grad = w.grad = None
    out["fwd_bwd_channels_last"] = 3 * flops / best / 1e9
    return out


def build(workload: str, precision: str, device: str, layout: str = "plugin", overrides: dict | None = None):
    """The plugin's modules, optimisers and a TrainContext, as the trainer builds them; ``layout``
    ``channels_last`` or ``contiguous`` overrides the plugin's memory format; ``overrides`` are
    config values on top of the workload's."""
    import dataclasses

    import torch
    import torch.nn.functional as F

    from translate.context import TrainContext
    from translate.options import TrainOptions
    from translate.plugin import call_hook
    from translate.registry import load_plugin
    from translate.runtime import make_runtime

    name, size, batch_size, overrides = (*WORKLOADS[workload][:3], {**WORKLOADS[workload][3], **(overrides or {})})
    torch.manual_seed(0)
    plugin = load_plugin(name)
    config = dataclasses.replace(plugin.Config(), **overrides)
    if name == "srgan" and config.stage == "gan":
        from translate_plugins.srgan import losses

        losses.find_weights = lambda explicit: None
        losses.load_vgg54 = lambda path: losses.vgg19_features().eval().requires_grad_(False)
    options = TrainOptions(size=size, batch_size=batch_size, device=device, precision=precision)
    # The values a run would train with ("auto" fields resolved), as translate.request does.
    data = {flag: f"(random tensors for --{flag})" for flag in plugin.data_flags}
    config = call_hook(plugin, "finalize_config", config, set(overrides), data, options)
    channels_last = plugin.channels_last if layout == "plugin" else layout == "channels_last"
    # --precision auto resolved as the trainer resolves it (the plugin's preference, if any).
    runtime = make_runtime(device, precision, channels_last, call_hook(plugin, "preferred_precision", config, options))
    modules = {n: runtime.module(m) for n, m in plugin.build(config, options).items()}
    if layout == "contiguous":  # also over a plugin's own choice in build()
        modules = {n: m.to(memory_format=torch.contiguous_format) for n, m in modules.items()}
    optimizers = plugin.optimizers(config, modules)
    schedulers = plugin.schedulers(config, optimizers, 1000)
    if name == "cyclegan":
        batch = {k: torch.rand(1, 3, size, size) * 2 - 1 for k in ("a", "b")}
    elif name == "gan":
        batch = {"image": torch.rand(batch_size, 3, size, size) * 2 - 1}
    elif name == "srgan":
        hr = torch.rand(batch_size, 3, size, size) * 2 - 1
        batch = {"hr": hr, "lr": F.interpolate(hr, scale_factor=1 / config.scale, mode="bicubic", antialias=True)}
    else:
        batch = {k: torch.rand(1, 3, size, size) * 2 - 1 for k in ("input", "target")}
    batch = {k: runtime.tensor(v) for k, v in batch.items()}
    ctx = TrainContext(plugin, config, options, runtime, modules, optimizers, schedulers, {}, None,
                       batches=itertools.repeat(batch))
    for m in modules.values():
        m.train()

    def step() -> None:
        plugin.train_step(ctx)
        for sched in schedulers.values():
            sched.step()

    return plugin, config, ctx, step


def _instrument(name: str) -> None:
    """Wrap the image pool and the loss functions of the plugin in record_function scopes."""
    import functools

    import torch

    def scoped(label, fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            with torch.profiler.record_function(label):
                return fn(*a, **k)
        return wrapper

    if name == "srgan":
        return  # its losses are grouped by their op names
    if name == "cyclegan":
        from translate_plugins.cyclegan import training as t

        t.pool_query = scoped("image_pool", t.pool_query)
        t._l1 = scoped("loss::l1", t._l1)
        t._gan_generator_loss = scoped("loss::gan_g", t._gan_generator_loss)
        lsgan = t.LSGAN

        class Scoped:
            discriminator = staticmethod(scoped("loss::gan_d", lsgan.discriminator))
            generator = staticmethod(scoped("loss::gan_g", lsgan.generator))

        t.LSGAN = Scoped()
    else:
        from translate_plugins.pix2pix import training as t

        make_loss = t.make_loss

        def scoped_loss(*a, **k):
            loss = make_loss(*a, **k)

            class Scoped:
                discriminator = staticmethod(scoped("loss::gan_d", loss.discriminator))
                generator = staticmethod(scoped("loss::gan_g", loss.generator))

            return Scoped()

        t.make_loss = scoped_loss

        class FScoped:
            def __getattr__(self, attr):
                import torch.nn.functional as F

                return scoped("loss::l1", F.l1_loss) if attr == "l1_loss" else getattr(F, attr)

        t.F = FScoped()


def run_one(workload: str, precision: str, args) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function
    from torch.utils.flop_counter import FlopCounterMode

    if args.threads:
        torch.set_num_threads(args.threads)
    roof = conv_roofline("fp32")
    plugin, config, ctx, step = build(workload, precision, "cpu", args.layout)
    if precision == "bf16" or ctx.runtime.precision == "bf16":
        roof_bf16 = conv_roofline("bf16", reps=3)
    else:
        roof_bf16 = None
    _instrument(WORKLOADS[workload][0])
    s_per_step, before = time_steps(step, args.warmup, args.steps)

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    flops = counter.get_total_flops()
    by_op = counter.get_flop_counts().get("Global", {})
    conv_flops = sum(v for k, v in by_op.items() if "conv" in str(k))

    events = []
    if not args.no_profile:
        with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
            for _ in range(args.steps):
                with record_function("train_step"):
                    step()
        events = prof.events()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Again after the steps: on a shared machine the attainable rate moves with other load, and
    # the best of the two is the closer estimate of what this CPU can do.
    roof = {k: max(v, w) for (k, v), w in zip(roof.items(), conv_roofline("fp32").values())}

    groups: dict[str, float] = defaultdict(float)
    ops: dict[str, list] = defaultdict(lambda: [0.0, 0, ""])
    total = 0.0
    for ev in events:
        us = ev.self_cpu_time_total
        g = classify(ev)
        groups[g] += us
        total += us
        row = ops[ev.name]
        row[0] += us
        row[1] += 1
        row[2] = row[2] or g
    profiled_s = (sum(ev.cpu_time_total for ev in events if ev.name == "train_step") / 1e6 / args.steps
                  if events else s_per_step)
    total = total or 1.0
    n = args.steps
    return {
        "workload": workload, "batch": WORKLOADS[workload][2], "precision": ctx.runtime.precision, "channels_last": ctx.runtime.channels_last, "threads": torch.get_num_threads(),
        "s_per_step": s_per_step, "profiled_s_per_step": profiled_s,
        "gflop_per_step": flops / 1e9, "conv_gflop_per_step": conv_flops / 1e9,
        "groups_ms": {g: groups.get(g, 0.0) / 1e3 / n for g in GROUPS}, "total_self_ms": total / 1e3 / n,
        "top_ops": sorted(([k, v[0] / 1e3 / n, v[1] / n, v[2]] for k, v in ops.items()),
                          key=lambda r: -r[1])[: args.top],
        "roofline_fp32": roof, "roofline_bf16": roof_bf16, "peak_rss_mib": peak, "rss_before_mib": before,
    }


def report(r: dict) -> None:
    total = r["total_self_ms"]
    layout = "channels_last" if r["channels_last"] else "contiguous"
    print(f"\n=== {r['workload']} {r['precision']}, batch {r['batch']}, {layout}, {r['threads']} threads ===")
    print(f"s/step {r['s_per_step']:.3f} (plain), {r['profiled_s_per_step']:.3f} (profiled); "
          f"{r['gflop_per_step']:.1f} GFLOP/step ({r['conv_gflop_per_step']:.1f} in convolutions)")
    if not r["top_ops"]:  # --no-profile
        print(f"peak RSS {r['peak_rss_mib']:.0f} MiB")
        return
    print(f"{'op (self CPU time)':<52} {'ms/step':>9} {'calls':>6} {'share':>6}  group")
    for name, ms, calls, group in r["top_ops"]:
        print(f"{name[:52]:<52} {ms:>9.1f} {calls:>6.0f} {100 * ms / total:>5.1f}%  {group}")
    print(f"{'group':<16} {'ms/step':>9} {'share':>6}")
    for g in GROUPS:
        ms = r["groups_ms"][g]
        print(f"{g:<16} {ms:>9.1f} {100 * ms / total:>5.1f}%")
    roof = r["roofline_fp32"]
    key = "roofline_bf16" if r["precision"] == "bf16" and r["roofline_bf16"] else "roofline_fp32"
    best = max(r[key]["fwd_channels_last"], r[key]["fwd_contiguous"])
    dt = "bf16" if key == "roofline_bf16" else "fp32"
    # The faster of the plain and the profiled timing: other load on a shared CPU only ever slows a step.
    achieved = r["gflop_per_step"] / min(r["s_per_step"], r["profiled_s_per_step"])
    conv_ms = r["groups_ms"]["convolution"]
    conv_rate = r["conv_gflop_per_step"] / (conv_ms / 1e3) if conv_ms else float("nan")
    print(f"roofline fp32 conv 1x256x64x64 3x3: {roof['fwd_channels_last']:.1f} GFLOP/s fwd channels_last, "
          f"{roof['fwd_contiguous']:.1f} contiguous, {roof['fwd_bwd_channels_last']:.1f} fwd+bwd")
    if r["roofline_bf16"]:
        b = r["roofline_bf16"]
        print(f"roofline bf16 conv: {b['fwd_channels_last']:.1f} GFLOP/s fwd channels_last, "
              f"{b['fwd_contiguous']:.1f} contiguous, {b['fwd_bwd_channels_last']:.1f} fwd+bwd")
    print(f"achieved (faster timing): step {achieved:.1f} GFLOP/s = {100 * achieved / best:.0f}% of the {dt} conv peak; "
          f"convolutions alone {conv_rate:.1f} GFLOP/s = {100 * conv_rate / best:.0f}% "
          f"(conv {100 * conv_ms / total:.0f}% of the step: non-conv work bounds the speed-up at "
          f"{total / max(conv_ms, 1e-9):.2f}x)")
    print(f"peak RSS {r['peak_rss_mib']:.0f} MiB ({r['peak_rss_mib'] - r['rss_before_mib']:.0f} MiB over the "
          "RSS before the first step)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", default=None, help=f"comma-separated, of {', '.join(WORKLOADS)} "
                    f"(default: {','.join(DEFAULT_WORKLOADS)}; with --full also cyclegan256,srgan96gan)")
    ap.add_argument("--full", action="store_true", help="include CycleGAN 256² and SRGAN's adversarial stage")
    ap.add_argument("--no-profile", action="store_true",
                    help="time and count FLOPs only: no profiler tables (the summary table for all workloads)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "both", "auto"])
    ap.add_argument("--steps", type=int, default=3, help="timed steps, and profiled steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--top", type=int, default=15, help="rows of the per-op table")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--layout", default="plugin", choices=["plugin", "channels_last", "contiguous"],
                    help="memory format of modules and batches (default: the plugin's, channels_last)")
    ap.add_argument("--json", action="store_true", help="also print each result as one JSON line")
    ap.add_argument("--one", nargs=2, metavar=("WORKLOAD", "PRECISION"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one[0], args.one[1], args)))
        return
    workloads = (args.workloads.split(",") if args.workloads
                 else DEFAULT_WORKLOADS + (["cyclegan256", "srgan96gan"] if args.full else []))
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    results = []
    for w in workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w}; choose from {', '.join(WORKLOADS)}")
        for p in precisions:
            cmd = [sys.executable, __file__, "--one", w, p, "--steps", str(args.steps), "--warmup",
                   str(args.warmup), "--top", str(args.top), "--threads", str(args.threads), "--layout", args.layout]
            cmd += ["--no-profile"] if args.no_profile else []
            r = run_row(cmd, f"{w} {p}")
            if r is None:
                continue
            results.append(r)
            report(r)
            if args.json:
                print(json.dumps(r))
            sys.stdout.flush()
    if len(results) > 1:
        summary(results)


def summary(results: list[dict]) -> None:
    """One row per (workload, precision): speed, achieved rate, memory, and the profile's groups."""
    profiled = any(r["top_ops"] for r in results)
    print(f"\n{'workload':<12} {'prec':<5} {'batch':>5} {'s/step':>7} {'img/s':>7} {'GFLOP':>6} {'TFLOP/s':>8} "
          f"{'RSS MiB':>8}" + ("  " + " ".join(f"{g[:6]:>6}" for g in GROUPS) if profiled else ""))
    for r in results:
        total = r["total_self_ms"]
        row = (f"{r['workload']:<12} {r['precision']:<5} {r['batch']:>5} {r['s_per_step']:>7.2f} "
               f"{r['batch'] / r['s_per_step']:>7.2f} {r['gflop_per_step']:>6.0f} "
               f"{r['gflop_per_step'] / r['s_per_step'] / 1e3:>8.3f} {r['peak_rss_mib']:>8.0f}")
        if profiled and r["top_ops"]:
            row += "  " + " ".join(f"{100 * r['groups_ms'][g] / total:>5.1f}%" for g in GROUPS)
        print(row)
    print("img/s: training images (CycleGAN: pairs, SRGAN: HR crops) per second; TFLOP/s: counted FLOPs "
          "(convolutions and matmuls, torch.utils.flop_counter) per wall second")


if __name__ == "__main__":
    main()
