"""One training loop for every plugin.

The trainer owns everything that is not the model: devices and precision, data order, EMA,
logging, sample grids, checkpoints, Ctrl-C and ``--resume``. The plugin owns the networks and
what one step does (see :mod:`translate.plugin`). A run goes through four phases, one method
each of :class:`Trainer`: set-up, the loop, checkpoints (during and after), and the finish.
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from .checkpoint import MODEL_FILE, STATE_FILE, load_state, save_model, save_state
from .data.images import save_grid
from .data.sampler import ResumableSampler
from .errors import DataError, UserError
from .fileio import atomic_path, remove_stale_temps, write_text_atomic
from .plugin import call_hook
from .progress import Progress, stage
from .request import TrainRequest
from .runlock import run_lock
from .runtime import Runtime, make_runtime

PREVIEW_SEED = 1234  # fixed, so successive sample grids show the same noise / inputs


class Interrupted(Exception):
    """Raised after Ctrl-C or SIGTERM once the checkpoint is safely written; ``exit_code`` is the
    shell's convention for that signal (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, step: int, out_dir: Path, signum: int = signal.SIGINT):
        self.exit_code = 128 + int(signum)
        super().__init__(f"interrupted at step {step}; checkpoint saved in {out_dir} "
                         f"(continue with --resume {out_dir})")


@dataclass
class TrainContext:
    """What a plugin's steps see. ``config`` is the plugin's config, ``options`` the trainer's."""

    plugin: Any
    config: Any
    options: Any
    runtime: Runtime
    modules: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any]
    scalers: dict[str, Any]
    ema: dict[str, torch.nn.Module] | None
    buffers: dict[str, torch.Tensor] = field(default_factory=dict)
    step: int = 0
    consumed: int = 0  # batches drawn from the data stream so far
    _batches: Iterator | None = None
    _preview_batch: dict | None = None

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    def next_batch(self) -> dict[str, Any]:
        """A fresh batch, on the device (4-D tensors channels_last when the plugin asks for it)."""
        self.consumed += 1
        return self.runtime.tensor(next(self._batches))

    def autocast(self):
        return self.runtime.autocast()

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """Backward ``loss`` and step optimiser ``name``, with the fp16 grad scaler when in use.
        Gradients of that optimiser's parameters are cleared first, so stale gradients that other
        losses left in them never leak into this update."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        scaler = self.scalers.get(name)
        # Backward runs outside autocast (as PyTorch recommends) even when called inside it.
        with torch.autocast(self.device.type, enabled=False):
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()

    @contextlib.contextmanager
    def frozen(self, *modules: torch.nn.Module):
        """Turn off gradients of ``modules`` (e.g. D during the G step) to save their backward."""
        saved = [(p, p.requires_grad) for m in modules for p in m.parameters()]
        for p, _ in saved:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in saved:
                p.requires_grad_(flag)

    def randn(self, *shape: int) -> torch.Tensor:
        """Noise on the device from the run's RNG (restored on resume)."""
        return torch.randn(*shape, device=self.device)

    def inference_modules(self) -> dict[str, torch.nn.Module]:
        """The modules apply/sample would use now: EMA copies when EMA is on."""
        source = self.ema if self.ema else self.modules
        return {name: source[name] for name in self.plugin.inference_modules}

    def preview_generator(self) -> torch.Generator:
        return torch.Generator(device="cpu").manual_seed(PREVIEW_SEED)

    def preview_batch(self) -> dict[str, Any]:
        """The same few dataset items every time (for translation previews)."""
        return self.runtime.tensor(self._preview_batch)


def _collate_preview(dataset, n: int = 8) -> dict[str, Any]:
    items = [dataset[(i, PREVIEW_SEED + i)] for i in range(min(n, len(dataset)))]
    return torch.utils.data.default_collate(items)


def _update_ema(ema: dict[str, torch.nn.Module], modules: dict[str, torch.nn.Module], decay: float) -> None:
    with torch.no_grad():
        for name, shadow in ema.items():
            live = modules[name]
            e_params = [p for p in shadow.parameters()]
            l_params = [p.detach() for p in live.parameters()]
            if e_params:
                torch._foreach_lerp_(e_params, l_params, 1.0 - decay)
            for eb, lb in zip(shadow.buffers(), live.buffers()):
                eb.copy_(lb)


class _StopFlag:
    """Ctrl-C (SIGINT), SIGTERM (docker stop, Slurm, Kubernetes) and SIGHUP (a closed terminal or
    SSH session) ask the loop to stop after the current step and save a checkpoint. A second
    signal only warns (stopping now would lose the steps since the last checkpoint); a third
    aborts without saving."""

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

    def __init__(self, describe_save=lambda: "a checkpoint"):
        self.requested = False
        self.signum = signal.SIGINT
        self.count = 0
        self.describe_save = describe_save
        self._previous: dict[int, Any] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            self.requested, self.signum = True, signum
            print(f"\n{name}: finishing this step, then saving {self.describe_save()}…", file=sys.stderr, flush=True)
        elif self.count == 2:
            print(f"{name}: still saving; once more aborts now and loses the steps since the last checkpoint",
                  file=sys.stderr, flush=True)
        else:
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        return False


def _original_message(exc: Exception) -> str:
    """The message of an error raised in a DataLoader worker, which wraps it with its traceback."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if lines and lines[0].startswith("Caught "):
        return lines[-1].split(": ", 1)[-1]
    return lines[0] if lines else type(exc).__name__


def _model_is_finite(modules: dict[str, torch.nn.Module]) -> bool:
    return all(torch.isfinite(p).all() for m in modules.values() for p in m.parameters())


@dataclass
class TrainResult:
    out_dir: Path
    step: int
    seconds: float
    images_per_second: float
    last_logs: dict[str, float]


class Trainer:
    """One training run of ``request`` in ``out_dir``; ``resume`` continues the run already there.
    ``until`` stops after that step as Ctrl-C does (checkpoint, then :class:`Interrupted`)."""

    def __init__(self, request: TrainRequest, out_dir: str | Path, resume: bool = False, progress: bool = True,
                 until: int | None = None):
        self.request, self.plugin = request, request.plugin
        self.options = request.options
        self.out_dir = Path(out_dir)
        self.resume, self.progress, self.until = resume, progress, until
        self.logs: dict[str, float] = {}
        self.images_per_s = 0.0

    # ---- phase 1: set-up ------------------------------------------------------------------------
    def setup(self) -> TrainContext:
        """Runtime, data, networks, optimisers and (on resume) their saved state; the run folder."""
        plugin, config, options = self.plugin, self.request.config, self.options
        torch.manual_seed(options.seed)
        runtime = make_runtime(options.device, options.precision, plugin.channels_last,
                               call_hook(plugin, "preferred_precision", config, options))
        stage(f"reading data ({', '.join(f'--{k} {v}' for k, v in self.request.data.items())})…", self.progress)
        self.dataset = call_hook(plugin, "dataset", config, options, self.request.data)
        if len(self.dataset) == 0:
            raise UserError(f"plugin '{plugin.name}': the dataset from {self.request.data} is empty")
        stage(f"{len(self.dataset):,} training items; building networks on {runtime.device.type} "
              f"({runtime.precision})…", self.progress)
        modules = {name: runtime.module(m) for name, m in call_hook(plugin, "build", config, options).items()}
        missing = [n for n in plugin.inference_modules if n not in modules]
        if missing:
            raise UserError(f"plugin '{plugin.name}': build() returned no module named {', '.join(missing)}")
        optimizers = call_hook(plugin, "optimizers", config, modules)
        schedulers = call_hook(plugin, "schedulers", config, optimizers, options.steps)
        scalers = ({name: torch.amp.GradScaler("cuda") for name in optimizers}
                   if runtime.precision == "fp16" else {})
        ema = ({name: copy.deepcopy(modules[name]).requires_grad_(False).eval() for name in plugin.inference_modules}
               if options.ema > 0 else None)
        ctx = TrainContext(plugin, config, options, runtime, modules, optimizers, schedulers, scalers, ema)
        if self.resume:
            ctx.step, ctx.consumed, buffers = load_state(self.out_dir / STATE_FILE, modules, ema, optimizers,
                                                         schedulers, scalers)
            ctx.buffers.update({k: runtime.tensor(v) for k, v in buffers.items()})
        ctx._batches = iter(self._loader(runtime, ctx.consumed))
        ctx._preview_batch = _collate_preview(self.dataset)
        self.ctx = ctx
        self._write_run_files(runtime)
        return ctx

    def _loader(self, runtime: Runtime, consumed: int) -> torch.utils.data.DataLoader:
        options = self.options
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_size=options.batch_size,
            sampler=ResumableSampler(len(self.dataset), options.seed, start=consumed * options.batch_size),
            num_workers=options.workers,
            # Own generator: creating the iterator must not draw from the global RNG, or a resumed
            # run would diverge from an uninterrupted one.
            generator=torch.Generator().manual_seed(options.seed),
            pin_memory=runtime.device.type == "cuda",
            drop_last=True,
            persistent_workers=options.workers > 0,
        )

    def _write_run_files(self, runtime: Runtime) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "samples").mkdir(exist_ok=True)
        write_text_atomic(self.out_dir / "config.toml",
                          self.request.config_toml(f"{runtime.device.type}, {runtime.precision}"))

    # ---- phase 2: the loop ----------------------------------------------------------------------
    def loop(self) -> None:
        """Steps until ``--steps``; Ctrl-C stops after the current step with a checkpoint."""
        ctx, options = self.ctx, self.options
        bar = Progress(options.steps, ctx.step, enabled=self.progress, device=ctx.device.type)
        t0, consumed0 = time.perf_counter(), ctx.consumed
        with _StopFlag(self._checkpoint_size) as stop, open(self.out_dir / "log.jsonl", "a") as log_file:
            for m in ctx.modules.values():
                m.train()
            while ctx.step < options.steps:
                raw = self._step()
                for sched in ctx.schedulers.values():
                    sched.step()
                if ctx.ema is not None:
                    _update_ema(ctx.ema, ctx.modules, options.ema)
                ctx.step += 1
                elapsed = time.perf_counter() - t0
                self.images_per_s = (ctx.consumed - consumed0) * options.batch_size / max(elapsed, 1e-9)
                if ctx.step % options.log_every == 0 or ctx.step == options.steps:
                    self._log(raw, elapsed, log_file)
                bar.update(ctx.step, self.logs, self.images_per_s)
                unfinished = ctx.step < options.steps
                if options.sample_every and ctx.step % options.sample_every == 0 and unfinished:
                    self.preview()
                if options.checkpoint_every and ctx.step % options.checkpoint_every == 0 and unfinished:
                    self.checkpoint()
                if stop.requested or (self.until is not None and ctx.step >= self.until and unfinished):
                    self.checkpoint()
                    self.preview()
                    bar.close()
                    raise Interrupted(ctx.step, self.out_dir, stop.signum)
        bar.close()

    def _step(self) -> dict[str, Any]:
        """One training step. A data error (a file that became unreadable, a decoder failure)
        saves what the run has learnt before it is reported, so it never costs the run."""
        try:
            return call_hook(self.plugin, "train_step", self.ctx)
        except DataError as exc:
            if self.ctx.step > 0:
                self.checkpoint()
            saved = f"checkpoint of step {self.ctx.step} saved in {self.out_dir}; " if self.ctx.step > 0 else ""
            raise UserError(f"{_original_message(exc)}; {saved}fix or remove the file (or add --skip-bad-images), "
                            f"then run again{f' with --resume {self.out_dir}' if saved else ''}") from None

    def _checkpoint_size(self) -> str:
        state = self.out_dir / STATE_FILE
        size = sum(f.stat().st_size for f in (state, self.out_dir / MODEL_FILE) if f.exists())
        return f"a checkpoint (about {size / 1e6:.0f} MB)" if size else "a checkpoint"

    def _log(self, raw: dict[str, Any], elapsed: float, log_file) -> None:
        self.logs = {k: float(v) for k, v in raw.items()}
        record = {"step": self.ctx.step, **self.logs, "images_per_s": round(self.images_per_s, 2),
                  "seconds": round(elapsed, 3)}
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()
        bad = [k for k, v in self.logs.items() if v != v or v in (float("inf"), float("-inf"))]
        if bad and not _model_is_finite(self.ctx.modules):
            raise UserError(f"plugin '{self.plugin.name}': training diverged at step {self.ctx.step} "
                            f"({', '.join(bad)} not finite); lower the learning rate or use --precision fp32")

    # ---- phase 3: checkpoints and previews -------------------------------------------------------
    def checkpoint(self) -> None:
        ctx = self.ctx
        meta = self.request.metadata(ctx.step)
        save_state(self.out_dir / STATE_FILE, meta, ctx.step, ctx.consumed, ctx.modules, ctx.ema, ctx.optimizers,
                   ctx.schedulers, ctx.scalers, ctx.buffers)
        save_model(self.out_dir / MODEL_FILE, self.plugin, meta, ctx.modules, ctx.ema)

    def preview(self) -> None:
        """The plugin's preview (images as a grid, or its own PIL image) as samples/step-N.png."""
        ctx = self.ctx
        was_training = {n: m.training for n, m in ctx.modules.items()}
        for m in ctx.modules.values():
            m.eval()
        with torch.no_grad(), ctx.runtime.autocast():
            shown = call_hook(self.plugin, "preview", ctx, ctx.preview_batch())
        for n, m in ctx.modules.items():
            m.train(was_training[n])
        if shown is None:
            return
        path = self.out_dir / "samples" / f"step-{ctx.step:07d}.png"
        if isinstance(shown, torch.Tensor):
            save_grid(path, shown)
        else:
            with atomic_path(path) as tmp:
                shown.save(tmp, format="PNG")
        shutil.copyfile(path, self.out_dir / "samples.png")

    # ---- phase 4: finish ----------------------------------------------------------------------
    def finish(self, seconds: float) -> TrainResult:
        self.checkpoint()
        self.preview()
        return TrainResult(self.out_dir, self.ctx.step, seconds, self.images_per_s, self.logs)

    def run(self) -> TrainResult:
        t0 = time.perf_counter()
        with run_lock(self.out_dir):
            if not self.resume and (self.out_dir / STATE_FILE).exists():  # another run finished here meanwhile
                raise UserError(f"--out {self.out_dir} already holds a run; continue it with --resume {self.out_dir}")
            remove_stale_temps(self.out_dir)  # left by a killed writer; no writer can be active now
            self.setup()
            self.loop()
            return self.finish(time.perf_counter() - t0)


def train(request: TrainRequest, out_dir: str | Path, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train ``request`` and write the run folder; ``resume`` continues the run already in it."""
    return Trainer(request, out_dir, resume, progress).run()
