"""Conformance checks for plugins: what ``translate plugin check`` runs, and a pytest helper.

    from translate.testing import assert_plugin_conforms

    def test_my_plugin_conforms(tmp_path):
        assert_plugin_conforms("my_plugin", tmp_path)     # or "my_package:MyPlugin", or the class

Each check trains for real on the data the plugin's ``example_run`` hook names or writes (a few
steps at 32²), so a plugin that passes can be installed and used: its contract and hook
signatures, a config that survives the round trip through a checkpoint's metadata, a build for
training and one for inference that agree, two training steps, a checkpoint that reloads to the
same weights, apply/sample outputs of the right shape and range, an exported file (ONNX and
TorchScript, for plugins with an ``export_module`` hook) equal to apply, and a resumed run equal
to an uninterrupted one.

Each check has a time limit (:data:`DEFAULT_TIMEOUT`, ``translate plugin check --timeout``): a hook
that never returns fails its check with the hook's name instead of hanging the command, and a hook
that calls ``exit()`` or raises KeyboardInterrupt fails too (a real Ctrl-C still stops the command).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import PluginError, UserError
from .plugin import Plugin, call_hook, contract_problems, validate_plugin

ODD_SIZE = (37, 45)  # apply must take sides the network cannot divide (padded and cropped back)
DEFAULT_TIMEOUT = 120.0  # seconds per check: the slowest built-in check takes a few seconds on a laptop CPU
STUCK_GRACE = 10.0  # after the time limit, how long a hook stuck in C code (deaf to signals) may take to notice


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        return f"{status} {self.name:<22} {self.seconds:6.1f}s  {self.detail}".rstrip()


class CheckFailed(AssertionError):
    """A conformance check that did not hold; the message says what to fix."""


class CheckTimedOut(BaseException):
    """A check ran past its time limit. A BaseException: a plugin's ``except Exception`` must not
    swallow it and carry on hanging."""


def load_target(target: str | type | Plugin) -> Plugin:
    """A plugin from an installed name, ``package.module:Class``, a Plugin class or an instance."""
    if isinstance(target, Plugin):
        return target
    if isinstance(target, type):
        plugin = validate_plugin(target)
        plugin.name = plugin.name or target.__name__.lower().removesuffix("plugin")
        return plugin
    if ":" in target:
        module_name, _, attr = target.partition(":")
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))  # an author's package that is not installed yet
        from .stopping import CtrlCWatch

        try:
            with CtrlCWatch() as watch:
                obj = getattr(importlib.import_module(module_name), attr)
        except KeyboardInterrupt as exc:
            if watch.is_real(exc):
                raise
            raise PluginError(f"{target}: cannot import (it raised KeyboardInterrupt; no Ctrl-C was pressed)") from None
        except SystemExit as exc:
            raise PluginError(f"{target}: cannot import (it called exit({exc.code!r}))") from None
        except Exception as exc:
            raise PluginError(f"{target}: cannot import ({type(exc).__name__}: {exc})") from None
        return load_target(obj)
    from .registry import load_plugin

    return load_plugin(target)


class _Checker:
    """Runs the checks in order; a check that fails skips the ones that depend on it."""

    def __init__(self, plugin: Plugin, workdir: Path, timeout: float | None = DEFAULT_TIMEOUT,
                 report: Callable[[CheckResult], None] | None = None,
                 on_stuck: Callable[[CheckResult], None] | None = None):
        self.plugin, self.workdir = plugin, workdir
        self.timeout, self.report, self.on_stuck = timeout, report, on_stuck
        self.results: list[CheckResult] = []
        self.request = None
        self.trainer = None
        self.model = None

    def run(self, name: str, check: Callable[[], str | None], needs: tuple[str, ...] = ()) -> None:
        failed = [r.name for r in self.results if not r.ok and r.name in needs]
        if failed:
            self._record(CheckResult(name, False, f"skipped: {', '.join(failed)} failed"))
            return
        from .stopping import CtrlCWatch

        t0 = time.perf_counter()
        try:
            with self._time_limit(name, t0), CtrlCWatch() as watch:
                detail, ok = check() or "", True
        except (CheckFailed, UserError) as exc:
            detail, ok = str(exc), False
        except CheckTimedOut as exc:
            detail, ok = str(exc), False
        except SystemExit as exc:  # exit(0) in a hook must not pass for success
            detail, ok = f"{self._culprit(exc.__traceback__)} called exit({exc.code!r})", False
        except KeyboardInterrupt as exc:
            if watch.is_real(exc):
                raise  # the user's Ctrl-C ends the check (the lines so far are out)
            detail, ok = f"{self._culprit(exc.__traceback__)} raised KeyboardInterrupt (no Ctrl-C was pressed)", False
        except Exception as exc:  # a plugin bug: say where, in one line
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            detail, ok = f"{type(exc).__name__}: {exc} ({Path(frame.filename).name}:{frame.lineno})", False
        self._record(CheckResult(name, ok, detail, time.perf_counter() - t0))

    def _record(self, result: CheckResult) -> None:
        self.results.append(result)
        if self.report is not None:
            self.report(result)

    # ---- time limits ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _time_limit(self, name: str, t0: float):
        """SIGALRM (main thread, POSIX) raises :class:`CheckTimedOut` in whatever the check runs; a
        hook stuck in C code that never lets a signal handler run is left to ``on_stuck``, called
        from a watchdog thread a little later (the command line exits there)."""
        seconds = self.timeout or 0
        main = threading.current_thread() is threading.main_thread()
        alarm = (seconds > 0 and main and hasattr(signal, "setitimer")
                 and signal.getitimer(signal.ITIMER_REAL)[0] == 0)  # an outer alarm (pytest-timeout) keeps its own
        if alarm:
            def expire(signum, frame):
                raise CheckTimedOut(self._timed_out(frame))

            previous = signal.signal(signal.SIGALRM, expire)
            signal.setitimer(signal.ITIMER_REAL, seconds)
        watchdog = None
        if seconds > 0 and self.on_stuck is not None:
            main_id = threading.main_thread().ident if main else threading.get_ident()

            def stuck():
                frame = sys._current_frames().get(main_id)
                self.on_stuck(CheckResult(name, False, self._timed_out(frame) + " and ignores signals",
                                          time.perf_counter() - t0))

            watchdog = threading.Timer(seconds + (STUCK_GRACE if alarm else 0), stuck)
            watchdog.daemon = True
            watchdog.start()
        try:
            yield
        finally:
            if watchdog is not None:
                # Wait for the cancelled thread to end: it holds the checker (and so the plugin's
                # tensors) until then, and a tensor freed by a daemon thread while the interpreter
                # shuts down aborts the process ("terminate called without an active exception").
                watchdog.cancel()
                watchdog.join()
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)

    def _timed_out(self, frame: Any) -> str:
        return (f"no result after {self.timeout:g} s: {self._culprit_frames(_stack(frame))} does not return "
                f"(if it is only slow, raise --timeout)")

    def _culprit(self, tb: Any) -> str:
        """The hook (or the plugin's function) where an exception came from."""
        return self._culprit_frames([f for f, _ in traceback.walk_tb(tb)])

    def _hook_name(self, code: Any) -> str:
        """The hook whose method runs ``code`` (a function set as a hook keeps its own name)."""
        from .plugin import HOOKS

        for name in HOOKS:
            if getattr(getattr(type(self.plugin), name, None), "__code__", None) is code:
                return name
        return code.co_name

    def _culprit_frames(self, frames: list[Any]) -> str:
        """Name the plugin's hook among ``frames`` (outermost first): the outermost frame of a
        method of the plugin's own class, with the innermost line of the plugin's code; else the
        innermost line anywhere."""
        own_dir = _package_dir(type(self.plugin))
        hook = next((f for f in frames if f.f_code.co_argcount and f.f_code.co_filename != _CORE_PLUGIN_FILE
                     and f.f_locals.get(f.f_code.co_varnames[0]) is self.plugin), None)
        mine = [f for f in frames if own_dir and Path(f.f_code.co_filename).resolve().is_relative_to(own_dir)]
        where = mine[-1] if mine else (frames[-1] if frames else None)
        line = f" ({Path(where.f_code.co_filename).name}:{where.f_lineno})" if where is not None else ""
        if hook is not None:
            return f"hook {self._hook_name(hook.f_code)}(){line}"
        if mine:
            return f"the plugin's {where.f_code.co_name}(){line}"
        return f"the check{line}"

    # ---- the checks ---------------------------------------------------------------------------
    def contract(self) -> str:
        problems = contract_problems(type(self.plugin))
        if problems:
            raise CheckFailed("; ".join(problems))
        return f"{len([h for h in _hooks() if self.plugin.can(h)])} optional hooks"

    def config_round_trip(self) -> str:
        from .request import new_request, recorded_request

        example = call_hook(self.plugin, "example_run", self.workdir / "data")
        self.example = {**example, "steps": 2, "checkpoint_every": 0, "sample_every": 0, "log_every": 1}
        self.request = new_request(self.plugin, self.example, where="example_run()")
        again = recorded_request(self.plugin, self.request.metadata(0), "metadata")
        if again.config != self.request.config or again.options != self.request.options:
            diff = [f.name for f in dataclasses.fields(again.config)
                    if getattr(again.config, f.name) != getattr(self.request.config, f.name)]
            raise CheckFailed(f"config changes through checkpoint metadata: {', '.join(diff) or 'options'}")
        return "resolved config == recorded config"

    def build(self) -> str:
        config, options = self.request.config, self.request.options
        full = call_hook(self.plugin, "build", config, options)
        lean = call_hook(self.plugin, "build", config, options, training=False)
        for name in self.plugin.inference_modules:
            if name not in full or name not in lean:
                raise CheckFailed(f"build() has no module '{name}' (inference_modules) "
                                  f"{'with training=False' if name in full else ''}".rstrip())
            a, b = _shapes(full[name]), _shapes(lean[name])
            if a != b:
                raise CheckFailed(f"'{name}' differs between build(training=True) and build(training=False)")
        extra = sorted(set(lean) - set(self.plugin.inference_modules))
        return f"modules {', '.join(full)}" + (f"; inference build also has {', '.join(extra)}" if extra else "")

    def train(self) -> str:
        from .run_folder import CONFIG_FILE, LOG_FILE, MODEL_FILE, STATE_FILE
        from .trainer import Trainer

        self.trainer = Trainer(self.request, self.workdir / "run", progress=False)
        result = self.trainer.run()
        missing = [f for f in (MODEL_FILE, STATE_FILE, CONFIG_FILE, LOG_FILE)
                   if not (result.out_dir / f).is_file()]
        if missing:
            raise CheckFailed(f"the run folder lacks {', '.join(missing)}")
        bad = [k for k, v in result.last_logs.items() if v != v or abs(v) == float("inf")]
        if bad:
            raise CheckFailed(f"losses not finite after 2 steps: {', '.join(bad)}")
        return f"2 steps, logs {', '.join(sorted(result.last_logs)) or '(none)'}"

    def checkpoint(self) -> str:
        import torch

        from .loading import load_model

        self.model = load_model(self.workdir / "run", plugin=self.plugin)
        live = self.trainer.ctx.inference_modules()
        for name, module in self.model.modules.items():
            saved, trained = module.state_dict(), live[name].state_dict()
            if saved.keys() != trained.keys() or not all(torch.equal(saved[k].cpu(), trained[k].cpu()) for k in saved):
                raise CheckFailed(f"'{name}' reloaded from model.safetensors differs from the trained weights")
        return f"{len(self.model.modules)} inference module(s) reload bit-identically"

    def outputs(self) -> str:
        import torch

        done = []
        if self.plugin.can("apply"):
            c = self.model.channels
            x = torch.rand(2, c, *ODD_SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
            y, y2 = self.model.apply_tensor(x), self.model.apply_tensor(x)
            _check_images(y, "apply", n=2)
            h, w = y.shape[-2:]
            if h % ODD_SIZE[0] or w % ODD_SIZE[1] or h // ODD_SIZE[0] != w // ODD_SIZE[1]:
                raise CheckFailed(f"apply of a {ODD_SIZE[0]}×{ODD_SIZE[1]} image gave {h}×{w}, not a whole multiple")
            if not torch.equal(y, y2):
                raise CheckFailed("apply gives different outputs for the same input (eval mode?)")
            done.append(f"apply {ODD_SIZE[0]}×{ODD_SIZE[1]} → {h}×{w}")
            if getattr(self.plugin, "tta", None):  # rotated copies are W×H: the declaration must survive that
                averaged = self.model.apply_tensor(x, tta=True)
                if averaged.shape != y.shape or not torch.isfinite(averaged).all():
                    raise CheckFailed(f"apply with tta={self.plugin.tta!r} gave {tuple(averaged.shape)} (without: "
                                      f"{tuple(y.shape)}) or non-finite values; declare tta = None if your networks "
                                      "cannot run on flipped or rotated images")
                done.append(f"tta {self.plugin.tta}")
        if self.plugin.can("sample"):
            s = self.model.sample_tensor(4, seed=0)
            if s.dim() == 4:
                _check_images(s, "sample", n=4)
            elif s.shape[0] != 4 or not torch.isfinite(s).all():
                raise CheckFailed(f"sample(4) gave shape {tuple(s.shape)} or non-finite values")
            if not torch.equal(s, self.model.sample_tensor(4, seed=0)):
                raise CheckFailed("sample with the same seed gives different outputs")
            done.append(f"sample {tuple(s.shape)}")
        if not done:
            raise CheckFailed("the plugin implements neither apply nor sample: nothing can use its checkpoints")
        return "; ".join(done)

    def export(self) -> str:
        """``translate export`` to TorchScript, and to ONNX when its optional packages are
        installed, each through the export's own parity check against apply at an odd size."""
        from .export import export_model
        from .exported import require_onnx

        if not self.plugin.can("export_module"):
            return "no export_module hook (optional): nothing to check"
        if call_hook(self.plugin, "export_module", self.model.modules, self.model.config) is None:
            return "export_module returns None: the plugin opts out of export"
        formats, skipped = ["torchscript"], ""
        try:
            require_onnx()
            formats.insert(0, "onnx")
        except UserError:
            skipped = "; ONNX not checked (pip install \"translate-gan[export]\")"
        done = []
        for fmt in formats:
            result = export_model(self.model, self.workdir / f"export.{'onnx' if fmt == 'onnx' else 'pt'}")
            done.append(f"{fmt} max |diff| {result.max_diff:.1g}")
        return f"{', '.join(done)} on {'×'.join(map(str, result.checked_shape))}{skipped}"

    def resume(self) -> str:
        import torch

        from .request import resume_request
        from .stopping import Interrupted
        from .trainer import Trainer

        try:
            Trainer(self.request, self.workdir / "resumed", progress=False, until=1).run()
        except Interrupted:
            pass  # expected: until=1 stops after one step with a checkpoint, as Ctrl-C does
        again = resume_request(self.plugin, self.workdir / "resumed", {"steps": 2})
        resumed = Trainer(again, self.workdir / "resumed", resume=True, progress=False)
        resumed.run()
        for name, module in self.trainer.ctx.modules.items():
            a, b = module.state_dict(), resumed.ctx.modules[name].state_dict()
            different = [k for k in a if not torch.equal(a[k].cpu(), b[k].cpu())]
            if different:
                raise CheckFailed(f"1 step + resume + 1 step differs from 2 steps in '{name}' ({different[0]}); "
                                  "keep training state in modules, optimisers, schedulers or ctx.buffers, and "
                                  "draw randomness from torch's RNG")
        return "1 + 1 resumed steps == 2 steps, bit for bit"


_CORE_PLUGIN_FILE = importlib.import_module(Plugin.__module__).__file__  # Plugin's own methods (train_step) are not the culprit


def _stack(frame: Any) -> list[Any]:
    """Frames from the outermost to ``frame``."""
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames[::-1]


def _package_dir(cls: type) -> Path | None:
    """The folder of the package that defines ``cls`` (its module's folder for a lone module)."""
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    top = sys.modules.get(cls.__module__.partition(".")[0])
    top_file = getattr(top, "__file__", None) or file
    return Path(top_file).resolve().parent if Path(top_file).name == "__init__.py" else Path(file).resolve().parent


def _hooks() -> list[str]:
    from .plugin import HOOKS

    return [name for name, hook in HOOKS.items() if not hook.required]


def _shapes(module: Any) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _check_images(x: Any, hook: str, n: int) -> None:
    import torch

    if x.dim() != 4 or x.shape[0] != n:
        raise CheckFailed(f"{hook} gave shape {tuple(x.shape)}; expected N×C×H×W with N = {n}")
    if not torch.isfinite(x).all():
        raise CheckFailed(f"{hook} gave non-finite values")
    if x.min() < -1.001 or x.max() > 1.001:
        raise CheckFailed(f"{hook} gave values in [{x.min():.3f}, {x.max():.3f}]; images are in [-1, 1]")


def check_plugin(target: str | type | Plugin, workdir: str | Path | None = None, *,
                 timeout: float | None = DEFAULT_TIMEOUT, report: Callable[[CheckResult], None] | None = None,
                 on_stuck: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run every conformance check on ``target``; returns one result per check. ``timeout``:
    seconds per check (None or 0: none); ``report`` is called with each result as it comes;
    ``on_stuck`` (from another thread) with the result of a check stuck past its time in code
    that ignores signals, which cannot be stopped: the command line prints it and exits."""
    try:
        plugin = load_target(target)
    except UserError as exc:
        result = CheckResult("load", False, str(exc))
        if report is not None:
            report(result)
        return [result]
    with tempfile.TemporaryDirectory(prefix="translate-check-") as tmp:
        checker = _Checker(plugin, Path(workdir) if workdir else Path(tmp), timeout, report, on_stuck)
        checker.run("contract", checker.contract)
        checker.run("config round trip", checker.config_round_trip, ("contract",))
        checker.run("build", checker.build, ("config round trip",))
        checker.run("train 2 steps", checker.train, ("build",))
        checker.run("checkpoint reload", checker.checkpoint, ("train 2 steps",))
        checker.run("apply / sample", checker.outputs, ("checkpoint reload",))
        checker.run("export", checker.export, ("apply / sample",))
        checker.run("resume", checker.resume, ("train 2 steps",))
    return checker.results


def assert_plugin_conforms(target: str | type | Plugin, workdir: str | Path | None = None) -> list[CheckResult]:
    """The pytest helper: every check must pass; the assertion lists the ones that did not."""
    results = check_plugin(target, workdir)
    failed = [r for r in results if not r.ok]
    assert not failed, "plugin conformance failed:\n" + "\n".join(r.line() for r in failed)
    return results
