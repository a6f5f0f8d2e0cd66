"""One training loop for every plugin.

The trainer owns everything that is not the model: devices and precision, data order, EMA,
logging, sample grids, checkpoints, Ctrl-C and ``--resume``. The plugin owns the networks and
what one step does (see :mod:`translate.plugin`). A run goes through four phases, one method
each of :class:`Trainer`: set-up, the loop, checkpoints (during and after), and the finish.

Under torchrun (:mod:`translate.distributed`) every process runs this same loop on its shard of
the data; ``TrainContext.optimize`` averages the gradients over the processes, so all replicas
make the same update. Rank 0 alone takes the run folder's lock and writes (checkpoints, samples,
logs, metrics, index.html, the progress line); the others wait for it where it writes, and leave
without a message when it reports an error or an interruption. Every rank agrees on the step at
which the run stops (a stop flag is all-reduced after each step).

What a step sees, :class:`TrainContext`, is in :mod:`translate.context`; the signal handling and
:class:`Interrupted` are in :mod:`translate.stopping`. Both stay importable from here.
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import distributed, run_folder
from .checkpoint import load_state, read_run_metadata, save_model, save_state
from .context import PREVIEW_SEED, TrainContext, collate_preview  # noqa: F401 (PREVIEW_SEED re-exported)
from .data.images import save_grid
from .data.sampler import ResumableSampler
from .errors import DataError, UserError
from .fileio import atomic_path, open_append, write_text_atomic
from .metric_goals import goal_table
from .plugin import Preview, call_hook
from .progress import Progress, stage
from .request import TrainRequest
from .run_folder import MODEL_FILE, STATE_FILE
from .runtime import Runtime, make_runtime, pick_device
from .starting_weights import load_starting_weights
from .stopping import Interrupted, StopNow, _StopFlag

# Training-state entries of a distributed run (per-rank RNG states, the shared noise generator),
# stored beside the plugin's buffers and taken out again before the plugin sees them.
DIST_KEY = "_dist."


def ema_decay(decay: float, step: int) -> float:
    """The EMA decay used after update ``step`` (0-based): ``decay``, warmed up as min(decay,
    (1 + step) / (10 + step)) (TensorFlow's ExponentialMovingAverage with num_updates; diffusers'
    EMAModel), so a short run's average is not mostly its untrained start: at 0.999 a constant decay
    keeps 55 % of the initial weights after 600 steps; warmed up, the decay is 0.985 there (an average
    over the last ~70 steps) and reaches 0.999 after 9,000 steps."""
    return min(decay, (1 + step) / (10 + step))


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


def _original_message(exc: Exception) -> str:
    """The message of an error raised in a DataLoader worker, which wraps it with its traceback."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if lines and lines[0].startswith("Caught "):
        return lines[-1].split(": ", 1)[-1]
    return lines[0] if lines else type(exc).__name__


def _worker_died(exc: RuntimeError) -> bool:
    """Whether torch's DataLoader reports one of its worker processes dead (killed, or exited)."""
    return str(exc).startswith("DataLoader worker (pid")


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
        self.metrics: dict[str, Any] = {}
        self.tensorboard = None
        self.run_metrics = None
        self.dist: distributed.Session | None = None  # set by run() under torchrun
        self._data_base = (0, 0)  # (global data position, ctx.consumed) where this process started
        self._stop: _StopFlag | None = None  # the signal handlers of the loop (or the finish) now running
        self._live = True  # the run page reloads itself until the run's last page is written
        self.seconds_per_step: float | None = None  # as the progress line shows it (logged for the page)

    @property
    def is_main(self) -> bool:
        """Rank 0 under torchrun (the one that writes), and every single-process run."""
        return self.dist is None or self.dist.is_main

    @property
    def world_size(self) -> int:
        return 1 if self.dist is None else self.dist.world_size

    # ---- phase 1: set-up ------------------------------------------------------------------------
    def setup(self) -> TrainContext:
        """Runtime, data, networks, optimisers and (on resume) their saved state; the run folder."""
        plugin, config, options, dist = self.plugin, self.request.config, self.options, self.dist
        show = self.progress and self.is_main
        torch.manual_seed(options.seed)
        runtime = make_runtime(options.device, options.precision, plugin.channels_last,
                               call_hook(plugin, "preferred_precision", config, options),
                               local_rank=dist.env.local_rank if dist else None)
        stage(f"reading data ({', '.join(f'--{k} {v}' for k, v in self.request.data.items())})…", show)
        self.dataset = call_hook(plugin, "dataset", config, options, self.request.data)
        if len(self.dataset) == 0:
            raise UserError(f"plugin '{plugin.name}': the dataset from {self.request.data} is empty")
        if self.request.eval_data and options.eval_every:  # every rank: all must stop, or none
            stage(f"checking the held-out data ({', '.join(f'--eval-{k} {v}' for k, v in self.request.eval_data.items())})…",
                  show)
            self._check_eval_data()
        processes = (f"; {dist.describe()}, --batch-size {options.batch_size} each = global batch "
                     f"{options.batch_size * dist.world_size}" if dist else "")
        stage(f"{len(self.dataset):,} training items; building networks on {runtime.device.type} "
              f"({runtime.precision}){processes}…", show)
        modules = {name: runtime.module(m) for name, m in call_hook(plugin, "build", config, options).items()}
        if options.init and not self.resume:
            load_starting_weights(options.init, modules, config)
        if dist is not None:
            modules = dist.prepare_modules(modules)
        missing = [n for n in plugin.inference_modules if n not in modules]
        if missing:
            raise UserError(f"plugin '{plugin.name}': build() returned no module named {', '.join(missing)}")
        optimizers = call_hook(plugin, "optimizers", config, modules)
        schedulers = call_hook(plugin, "schedulers", config, optimizers, options.steps)
        scalers = ({name: torch.amp.GradScaler("cuda") for name in optimizers}
                   if runtime.precision == "fp16" else {})
        ema = ({name: copy.deepcopy(modules[name]).requires_grad_(False).eval() for name in plugin.inference_modules}
               if options.ema > 0 else None)
        step, consumed, buffers, position, saved_world, dist_state = 0, 0, {}, 0, self.world_size, {}
        if self.resume:
            step, consumed, buffers = load_state(self.out_dir / STATE_FILE, modules, ema, optimizers, schedulers,
                                                 scalers)
            dist_state = {k[len(DIST_KEY):]: buffers.pop(k) for k in list(buffers) if k.startswith(DIST_KEY)}
            position, saved_world = self._saved_position(consumed)
        self._data_base = (position, consumed)
        batches = iter(self._loader(runtime, position))
        preview_items = collate_preview(self.dataset)
        noise = self._seed_ranks(runtime.device, step, dist_state, saved_world) if dist is not None else None
        ctx = TrainContext(plugin, config, options, runtime, modules, optimizers, schedulers, scalers, ema,
                           buffers={k: runtime.tensor(v) for k, v in buffers.items()}, step=step, consumed=consumed,
                           dist=dist, batches=batches, preview_items=preview_items, noise=noise)
        self.ctx = ctx
        if self.is_main:
            self._write_run_files(runtime)
            self._setup_reporting()
            self._refresh_report()  # a page to open from the start: it reloads itself as the run goes
        elif options.eval_every and not plugin.can("evaluate"):
            raise UserError(f"--eval-every: plugin '{plugin.name}' has no evaluation (no evaluate hook)")
        return ctx

    def _check_eval_data(self) -> None:
        """Open the held-out data the way the training data are opened, now: a wrong --eval-* path
        fails before the first step instead of at the first evaluation, possibly hours in."""
        request = self.request
        try:
            call_hook(self.plugin, "dataset", request.config, self.options, {**request.data, **request.eval_data})
        except UserError as exc:
            raise UserError(self._eval_flags(str(exc))) from None

    def _eval_flags(self, message: str) -> str:
        """A data error about held-out data names the --eval-* flag the user gave, not the training one."""
        import re

        for flag in self.request.eval_data:  # "--data x", "--data: ...", "(--data)": any use not part of a longer flag
            dashed = flag.replace("_", "-")
            message = re.sub(rf"(?<![\w-])--{re.escape(dashed)}(?![\w-])", f"--eval-{dashed}", message)
        return message

    def _saved_position(self, consumed: int) -> tuple[int, int]:
        """(global data position, world size) of the checkpoint being resumed. A run resumed on
        another number of processes continues at the same place of the data stream, with the new
        global batch; say so once."""
        meta = read_run_metadata(self.out_dir)
        try:
            saved_world = int(meta.get("world_size", "1"))
            position = int(meta.get("data_position", consumed * self.options.batch_size))
        except ValueError:
            raise UserError(f"{self.out_dir / STATE_FILE}: its world_size/data_position metadata are not integers; "
                            "it was edited") from None
        if saved_world != self.world_size and self.is_main and self.progress:
            b = self.options.batch_size
            stage(f"note: this run trained on {saved_world} process(es) (global batch {saved_world * b}) and "
                  f"continues on {self.world_size} (global batch {self.world_size * b}) from the same place in the "
                  "data; the RNG streams of the processes restart, so it is not bit-identical to an "
                  "uninterrupted run")
        return position, saved_world

    def _seed_ranks(self, device: torch.device, step: int, saved: dict[str, torch.Tensor],
                    saved_world: int) -> torch.Generator:
        """Under torchrun: each rank's own global RNG (for dropout, augmentation in the step, pools):
        the saved state of this rank on resume, else seeded from (seed, rank, step); returns the
        noise generator every rank shares (the single-process stream from here on, or the saved one)."""
        dist = self.dist
        noise = torch.Generator(device=device)
        noise.set_state(saved["noise"] if "noise" in saved else _default_generator(device).get_state())
        own = f"rng.{dist.rank}."
        if saved_world == dist.world_size and own + "cpu" in saved:
            torch.set_rng_state(saved[own + "cpu"])
            if device.type == "cuda" and own + "cuda" in saved:
                torch.cuda.set_rng_state(saved[own + "cuda"], device)
        else:
            import numpy as np

            torch.manual_seed(int(np.random.SeedSequence([self.options.seed, dist.rank, step])
                                  .generate_state(1, np.uint64)[0]) & (2**63 - 1))
        return noise

    def _setup_reporting(self) -> None:
        """metrics.jsonl / best.safetensors for --eval-every, and TensorBoard for --tensorboard."""
        options = self.options
        if options.eval_every:
            if not self.plugin.can("evaluate"):
                raise UserError(f"--eval-every: plugin '{self.plugin.name}' has no evaluation (no evaluate hook)")
            from .run_metrics import RunMetrics

            self.run_metrics = RunMetrics(self.out_dir, options.keep_best, goal_table(self.plugin))
            self.run_metrics.resume(self.ctx.step)
        if options.tensorboard:
            from .tensorboard_log import TENSORBOARD_MISSING, TensorboardLog

            if not TensorboardLog.available():  # say so now, not at the first log line
                raise UserError(TENSORBOARD_MISSING)
            self.tensorboard = TensorboardLog.for_run(self.out_dir)

    def _loader(self, runtime: Runtime, position: int) -> torch.utils.data.DataLoader:
        """Batches of --batch-size from global stream position ``position``; under torchrun this
        rank's share of each global batch (see :class:`ResumableSampler`)."""
        options, dist = self.options, self.dist
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_size=options.batch_size,
            sampler=ResumableSampler(len(self.dataset), options.seed, start=position,
                                     rank=dist.rank if dist else 0, world_size=self.world_size),
            num_workers=options.workers,
            # Own generator: creating the iterator must not draw from the global RNG, or a resumed
            # run would diverge from an uninterrupted one.
            generator=torch.Generator().manual_seed(options.seed),
            pin_memory=runtime.device.type == "cuda",
            drop_last=True,
            persistent_workers=options.workers > 0,
        )

    def _position(self) -> int:
        """Samples drawn by all processes together since the run began: where a resume continues."""
        position, consumed = self._data_base
        return position + (self.ctx.consumed - consumed) * self.options.batch_size * self.world_size

    def _metadata(self) -> dict[str, str]:
        b, world = self.options.batch_size, self.world_size
        return {**self.request.metadata(self.ctx.step), "world_size": str(world), "global_batch_size": str(b * world),
                "data_position": str(self._position())}

    def _write_run_files(self, runtime: Runtime) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / run_folder.SAMPLES_DIR).mkdir(exist_ok=True)
        note = f"{runtime.device.type}, {runtime.precision}"
        if self.dist is not None:
            note += (f", {self.world_size} processes × --batch-size {self.options.batch_size} = global batch "
                     f"{self.world_size * self.options.batch_size}")
        write_text_atomic(self.out_dir / run_folder.CONFIG_FILE, self.request.config_toml(note))

    # ---- phase 2: the loop ----------------------------------------------------------------------
    def loop(self) -> None:
        """Steps until ``--steps``; Ctrl-C stops after the current step with a checkpoint."""
        ctx, options = self.ctx, self.options
        bar = Progress(options.steps, ctx.step, enabled=self.progress and self.is_main, device=ctx.device.type)
        t0, consumed0 = time.perf_counter(), ctx.consumed
        log = open_append(self.out_dir / run_folder.LOG_FILE) if self.is_main else contextlib.nullcontext()
        with _StopFlag(self._checkpoint_size, quiet=not self.is_main) as stop, log as log_file:
            self._stop = stop
            for m in ctx.modules.values():
                m.train()
            while ctx.step < options.steps:
                raw = self._step()
                for sched in ctx.schedulers.values():
                    sched.step()
                if ctx.ema is not None:
                    _update_ema(ctx.ema, ctx.modules, ema_decay(options.ema, ctx.step))
                ctx.step += 1
                elapsed = time.perf_counter() - t0
                self.seconds_per_step = bar.seconds_per_step(ctx.step)
                self.images_per_s = ((ctx.consumed - consumed0) * options.batch_size * self.world_size
                                     / max(elapsed, 1e-9))
                signum = self._agreed_signal(stop)
                if ctx.step % options.log_every == 0 or ctx.step == options.steps:
                    self._log(raw, elapsed, log_file)
                bar.update(ctx.step, self.logs, self.images_per_s)
                unfinished = ctx.step < options.steps
                if options.sample_every and ctx.step % options.sample_every == 0 and unfinished:
                    self.preview()
                if options.eval_every and ctx.step % options.eval_every == 0 and unfinished:
                    self.evaluate()
                    signum = signum or self._agreed_signal(stop)  # a stop drops the evaluation: save now
                if options.checkpoint_every and ctx.step % options.checkpoint_every == 0 and unfinished:
                    self.checkpoint()
                if signum or (self.until is not None and ctx.step >= self.until and unfinished):
                    self._live = False  # the pages written now are the run's last
                    self.checkpoint()
                    self.preview()  # its page comes after its samples
                    bar.close()
                    interrupted = Interrupted(ctx.step, self.out_dir, signum or stop.signum)
                    if not self.is_main:
                        raise distributed.Quiet(interrupted.exit_code)
                    raise interrupted
        bar.close()

    def _agreed_signal(self, stop: _StopFlag) -> int:
        """The stop signal received (0: none). A signal reaches the ranks at slightly different
        moments: they all stop at the first point where one of them has it."""
        signum = int(stop.signum) if stop.requested else 0
        return signum if self.dist is None else self.dist.max_int(signum)

    def _step(self) -> dict[str, Any]:
        """One training step. A data error (a file that became unreadable, a decoder failure)
        saves what the run has learnt before it is reported, so it never costs the run."""
        try:
            if self.dist is None:
                return call_hook(self.plugin, "train_step", self.ctx)
            with self.dist.synchronising():
                return call_hook(self.plugin, "train_step", self.ctx)
        except RuntimeError as exc:
            if not _worker_died(exc):
                raise
            # a worker killed (the kernel's OOM killer, a kill -9): as for an unreadable file, the
            # run is saved first; torch reports it from its SIGCHLD handler, anywhere in the step
            self._data_failed(DataError(_original_message(exc).rstrip(". ")),
                              f"if memory ran out, lower --workers (now {self.options.workers}) or --batch-size")
        except (ConnectionError, EOFError) as exc:
            if not self.options.workers:
                raise
            # the same death, when torch's SIGCHLD report landed outside a step (e.g. while the run
            # page was written): the next batch finds the worker's queue gone
            self._data_failed(DataError(f"DataLoader worker stopped (its queue: {type(exc).__name__})"),
                              f"if memory ran out, lower --workers (now {self.options.workers}) or --batch-size")
        except DataError as exc:
            self._data_failed(exc)

    def _data_failed(self, exc: DataError, advice: str = "fix or remove the file (or add --skip-bad-images)") -> None:
        """Report a data error in one line, with the run saved where that is possible."""
        if self.options.workers and hasattr(signal, "SIGCHLD"):
            # torch's SIGCHLD handler raises again for each dead worker, anywhere: not during the save
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if self.dist is not None:
            # The other ranks are inside this step's collectives: no checkpoint can be written
            # now. This rank stops; theirs fail at once and leave quietly.
            saved = (f"continue from the last checkpoint with --resume {self.out_dir}"
                     if (self.out_dir / STATE_FILE).exists() else "then run again")
            raise UserError(f"{self._rank_prefix()}{_original_message(exc)}; {advice}, {saved}") from None
        if self.ctx.step > 0:
            self.checkpoint()
        saved = f"checkpoint of step {self.ctx.step} saved in {self.out_dir}; " if self.ctx.step > 0 else ""
        raise UserError(f"{_original_message(exc)}; {saved}{advice}, "
                        f"then run again{f' with --resume {self.out_dir}' if saved else ''}") from None

    def _checkpoint_size(self) -> str:
        state = self.out_dir / STATE_FILE
        size = sum(f.stat().st_size for f in (state, self.out_dir / MODEL_FILE) if f.exists())
        return f"a checkpoint (about {size / 1e6:.0f} MB)" if size else "a checkpoint"

    def _log(self, raw: dict[str, Any], elapsed: float, log_file) -> None:
        """Losses into log.jsonl (and TensorBoard). Under torchrun the mean over the processes: the
        loss of the global batch; every rank gets it, so all agree when it is not finite."""
        logs = {k: float(v) for k, v in raw.items()}
        self.logs = logs if self.dist is None else self.dist.mean_values(logs)
        if self.is_main:
            record = {"step": self.ctx.step, **self.logs, "images_per_s": round(self.images_per_s, 2),
                      "seconds": round(elapsed, 3)}
            if self.seconds_per_step is not None:
                record["seconds_per_step"] = round(self.seconds_per_step, 4)
            if self.dist is not None:
                record.update(world_size=self.world_size, global_batch=self.world_size * self.options.batch_size)
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
            if self.tensorboard is not None:
                self.tensorboard.scalars(self.ctx.step, {f"loss/{k}": v for k, v in self.logs.items()})
        bad = [k for k, v in self.logs.items() if v != v or v in (float("inf"), float("-inf"))]
        if bad and not _model_is_finite(self.ctx.modules):
            if not self.is_main:
                raise distributed.Quiet(1)
            fp32 = "" if self.ctx.runtime.precision == "fp32" else " or use --precision fp32"
            raise UserError(f"plugin '{self.plugin.name}': training diverged at step {self.ctx.step} "
                            f"({', '.join(bad)} not finite); lower the learning rate{fp32}")

    # ---- phase 3: checkpoints and previews -------------------------------------------------------
    def checkpoint(self) -> None:
        """state.safetensors and model.safetensors (rank 0 writes; under torchrun the others send
        it their RNG states, then wait until it is written)."""
        ctx, extra = self.ctx, {}
        if self.dist is not None:
            states = self.dist.all_gather_object(_rng_states(ctx.device))
            agree = self.dist.replicas_agree(ctx.modules.values())
            if self.is_main:
                extra = {f"{DIST_KEY}rng.{r}.{kind}": t for r, state in enumerate(states) for kind, t in state.items()}
                extra[f"{DIST_KEY}noise"] = ctx.noise_generator.get_state()
                if not agree:
                    print(f"warning: at step {ctx.step} the processes' weights differ (non-deterministic "
                          "gradients?); the checkpoint holds rank 0's", file=sys.stderr)

        def write() -> None:
            meta = self._metadata()
            save_state(self.out_dir / STATE_FILE, meta, ctx.step, ctx.consumed, ctx.modules, ctx.ema, ctx.optimizers,
                       ctx.schedulers, ctx.scalers, {**ctx.buffers, **extra})
            save_model(self.out_dir / MODEL_FILE, self.plugin.inference_modules, meta, ctx.modules, ctx.ema)
            self._refresh_report()

        self._on_main(write)

    def _refresh_report(self) -> None:
        """RUN/index.html: samples, curves, metrics and config, for a look without writing code.
        A report that cannot be written is a warning: it must never cost the run."""
        from .report import write_index

        try:
            write_index(self.out_dir, goal_table(self.plugin), live=self._live)
        except Exception as exc:  # noqa: BLE001 - the report is a convenience; the checkpoint is saved
            print(f"warning: could not write {self.out_dir / run_folder.INDEX_FILE}: {exc}", file=sys.stderr)

    def evaluate(self) -> None:
        """The plugin's evaluation of the model apply would use now (EMA weights when EMA is on),
        on the held-out data (or the training data), appended to metrics.jsonl; the best model by
        --keep-best is saved as best.safetensors. An evaluation that fails (a missing Inception,
        unreadable held-out data) saves the run first, so it costs nothing. Under torchrun rank 0
        evaluates while the others wait."""
        error = None
        if self.is_main:
            try:
                self._evaluate_here()
            except UserError as exc:
                error = exc
        failed = error is not None
        if self.dist is not None:
            failed = bool(self.dist.max_int(int(failed)))
        if failed:
            self.checkpoint()
            if not self.is_main:
                raise distributed.Quiet(1)
            raise UserError(f"{self._eval_flags(str(error))} (evaluation at step {self.ctx.step}; checkpoint saved in "
                            f"{self.out_dir})") from None

    def _evaluate_here(self) -> None:
        from .evaluation import evaluate_model

        ctx = self.ctx
        data = self.request.eval_data or self.request.data
        # A stop signal drops the evaluation at once (docker stop waits 10 s, torchrun 30 s): nothing
        # of it is recorded, and the caller saves the checkpoint. evaluate_model puts the modules in
        # eval mode, under no_grad, and back; errors: evaluate()
        interruptible = self._stop.interrupting("evaluation") if self._stop else contextlib.nullcontext()
        try:
            with interruptible:
                metrics = evaluate_model(self.plugin, ctx.inference_modules(), self.request.config,
                                         self.out_dir / run_folder.EVAL_DIR, data,
                                         n=self.options.eval_images or None, seed=self.options.seed,
                                         train_options=self.options, train_data=self.request.data)
        except StopNow:
            return
        self.metrics = metrics
        if self.run_metrics.append(ctx.step, self.metrics):
            save_model(self.out_dir / run_folder.BEST_FILE, self.plugin.inference_modules,
                       {**self._metadata(), **self.run_metrics.best_metadata()}, ctx.modules, ctx.ema)
        if self.tensorboard is not None:
            self.tensorboard.scalars(ctx.step, {f"eval/{k}": float(v) for k, v in self.metrics.items()
                                                if isinstance(v, (int, float))})

    def preview(self) -> None:
        """The plugin's preview (images as a grid, or its own PIL image) as samples/step-N.png."""
        self._on_main(self._preview_here)

    def _preview_here(self) -> None:
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
        shown = shown if isinstance(shown, Preview) else Preview(shown)
        path = run_folder.sample_file(self.out_dir, ctx.step)
        grid = _save_preview(path, shown)
        write_text_atomic(self.out_dir / run_folder.SAMPLES_DIR / run_folder.SAMPLES_LAYOUT,
                          json.dumps({"columns": list(shown.columns), "rows": list(shown.rows), "title": shown.title,
                                      "grid": list(grid)}) + "\n")
        with atomic_path(self.out_dir / run_folder.LATEST_SAMPLES) as tmp:
            shutil.copyfile(path, tmp)
        if self.tensorboard is not None:
            self.tensorboard.image("samples", ctx.step, shown.images if not shown.columns else _read_png(path))
        self._refresh_report()  # after the files it shows: a page never names samples not yet written

    # ---- phase 4: finish ----------------------------------------------------------------------
    def finish(self, seconds: float) -> TrainResult:
        """The last evaluation, checkpoint and preview. A stop signal meanwhile drops the evaluation
        and ends with the checkpoint written, as a stop in the loop does."""
        self._live = False  # the pages written from now on are the run's last (the last preview writes one)
        with _StopFlag(self._checkpoint_size, quiet=not self.is_main) as stop:
            self._stop = stop
            evaluate = bool(self.options.eval_every) and self.is_main and not self._evaluated_now()
            if self.dist is not None:
                evaluate = bool(self.dist.max_int(int(evaluate)))  # rank 0 decides
            if evaluate:
                self.evaluate()
            self.checkpoint()
            signum = self._agreed_signal(stop)
            if signum:
                interrupted = Interrupted(self.ctx.step, self.out_dir, signum)
                if not self.is_main:
                    raise distributed.Quiet(interrupted.exit_code)
                raise interrupted
            self.preview()

        def close() -> None:
            if self.tensorboard is not None:
                self.tensorboard.close()

        self._on_main(close)
        return TrainResult(self.out_dir, self.ctx.step, seconds, self.images_per_s, self.logs)

    def _evaluated_now(self) -> bool:
        from .run_metrics import read_records

        records = read_records(self.run_metrics.path) if self.run_metrics else []
        return bool(records) and records[-1]["step"] == self.ctx.step

    # ---- under torchrun: who does what -------------------------------------------------------------
    def _rank_prefix(self) -> str:
        return f"rank {self.dist.rank}: " if self.dist is not None and not self.is_main else ""

    def _on_main(self, work) -> None:
        """``work()`` on rank 0 only; under torchrun the other ranks wait until it is done (and
        leave quietly if it fails: rank 0 reports it)."""
        if self.dist is None:
            work()
            return
        error = None
        if self.is_main:
            try:
                work()
            except UserError as exc:
                error = exc
        self.dist.settle(error)

    def _agreed(self, work) -> None:
        """``work()`` on every rank; if it fails with a UserError anywhere, the job stops with one
        message per distinct failure (a failure shared with rank 0 is printed by rank 0 alone)."""
        if self.dist is None:
            work()
            return
        error = None
        try:
            work()
        except UserError as exc:
            error = UserError(f"{self._rank_prefix()}{exc}")
        self.dist.settle(error)

    def _enter_folder(self, stack: contextlib.ExitStack) -> None:
        """Rank 0 takes the run folder (lock, no finished run there, no stale temporaries)."""
        if not self.is_main:
            return
        stack.enter_context(run_folder.claim(self.out_dir, self.resume))

    def _last_page_of_a_failed_run(self) -> None:
        """A run that ends in an error leaves a page that stops reloading (the lock is still held)."""
        if self._live and self.is_main and (self.out_dir / run_folder.INDEX_FILE).is_file():
            self._live = False
            self._refresh_report()

    def _lost_peer(self) -> BaseException:
        """What a rank says when a collective failed because another rank is gone."""
        if not self.is_main:
            return distributed.Quiet(1)
        try:
            step = f"step {read_run_metadata(self.out_dir)['step']}"
        except (UserError, KeyError):
            step = None
        saved = (f"its last checkpoint ({step}) is in {self.out_dir}: continue with --resume {self.out_dir}"
                 if step else "no checkpoint was written")
        return UserError(f"another training process stopped (it failed, was killed, or lost its connection; torchrun "
                         f"names it); {saved}")

    def run(self) -> TrainResult:
        t0 = time.perf_counter()
        self.dist = distributed.init_from_env(pick_device(self.options.device).type)
        try:
            with contextlib.ExitStack() as stack:
                self._agreed(lambda: self._enter_folder(stack))
                stack.callback(self._last_page_of_a_failed_run)
                self._agreed(self.setup)
                self.loop()
                return self.finish(time.perf_counter() - t0)
        except distributed.Quiet:
            self.dist.linger()
            raise
        except Exception as exc:
            if self.dist is not None and distributed.is_distributed_error(exc):
                lost = self._lost_peer()
                if isinstance(lost, distributed.Quiet):
                    self.dist.linger()
                raise lost from None
            raise
        finally:
            if self.dist is not None:
                self.dist.close()


def _save_preview(path: Path, preview: Preview) -> tuple[int, int]:
    """``preview``'s images as ``path`` (a grid of ``len(columns)`` columns when named); returns
    the grid's (columns, rows) as the page captions them."""
    import math

    images = preview.images
    if isinstance(images, torch.Tensor):
        n = images.shape[0]
        columns = min(len(preview.columns) or max(1, math.ceil(math.sqrt(n))), n)
        save_grid(path, images, nrow=columns)
        return columns, math.ceil(n / columns)
    with atomic_path(path) as tmp:
        images.save(tmp, format="PNG")
    return max(1, len(preview.columns)), max(1, len(preview.rows))


def _read_png(path: Path):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def _default_generator(device: torch.device) -> torch.Generator:
    if device.type == "cuda":
        return torch.cuda.default_generators[device.index if device.index is not None else torch.cuda.current_device()]
    return torch.default_generator


def _rng_states(device: torch.device) -> dict[str, torch.Tensor]:
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def train(request: TrainRequest, out_dir: str | Path, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train ``request`` and write the run folder; ``resume`` continues the run already in it.
    Under torchrun (RANK, WORLD_SIZE, LOCAL_RANK set) every process calls this; see
    :mod:`translate.distributed`."""
    return Trainer(request, out_dir, resume, progress).run()
