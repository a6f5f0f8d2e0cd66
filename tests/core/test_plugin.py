"""The plugin contract, checked: misspelt hooks, signatures, what hooks return, options the core
refuses, and a contract module that imports no torch."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
import torch

import translate
from translate.config import param
from translate.errors import PluginError, UserError
from translate.interfaces import Dataset
from translate.plugin import HOOKS, Plugin, call_hook, contract_problems, validate_plugin
from translate.registry import load_plugin
from translate import testing
from translate.testing import check_plugin


class Zeros(Dataset):
    def __len__(self):
        return 4

    def get(self, index, seed):
        return {"image": torch.zeros(3, 8, 8)}


@dataclass
class TinyConfig:
    lr: float = param(1e-3, "learning rate", positive=True)


class Tiny(Plugin):
    """The smallest plugin that satisfies the contract: a 1×1 conv 'translator'."""

    description = "tiny test plugin"
    Config = TinyConfig

    def build(self, config, options, training=True):
        return {"generator": torch.nn.Conv2d(3, 3, 1)}

    def dataset(self, config, options, data):
        return Zeros()

    def optimizers(self, config, modules):
        return {"generator": torch.optim.SGD(modules["generator"].parameters(), lr=config.lr)}

    def train_step(self, ctx):
        batch = ctx.next_batch()
        loss = ctx.modules["generator"](batch["image"]).pow(2).mean()
        ctx.optimize("generator", loss)
        return {"loss": loss.detach()}

    def apply(self, modules, config, images, tile: int = 512):
        return modules["generator"](images).tanh()


def _subclass(**members: Any) -> type:
    return type("Variant", (Tiny,), members)


def test_a_conforming_plugin_has_no_problems():
    assert contract_problems(Tiny) == []
    assert validate_plugin(Tiny).description == "tiny test plugin"


def test_a_misspelt_hook_is_reported_with_a_did_you_mean():
    def evalute(self, modules, config, out_dir):
        return {}

    problems = contract_problems(_subclass(evalute=evalute))
    assert any("evalute" in p and "did you mean evaluate()" in p for p in problems), problems
    with pytest.raises(PluginError, match="evalute.*did you mean evaluate"):
        validate_plugin(_subclass(evalute=evalute))
    problems = contract_problems(_subclass(preveiw=lambda self, ctx, batch: None))
    assert any("did you mean preview()" in p for p in problems), problems
    problems = contract_problems(_subclass(inference_module=("generator",)))  # a misspelt attribute too
    assert any("did you mean inference_modules" in p for p in problems), problems


def test_paper_values_must_name_config_fields_and_paper_needs_them():
    """``paper`` (what --paper sets) is checked at registration; --paper on a plugin without one is
    one line (its defaults are the paper's), and with one it sits under explicit values."""
    from translate.request import new_request

    assert contract_problems(_subclass(paper={"lr": 0.1})) == []
    problems = contract_problems(_subclass(paper={"learning_rate": 0.1}))
    assert any("paper names no Config field: learning_rate" in p for p in problems), problems
    tiny = validate_plugin(Tiny)
    tiny.name = "tiny"
    with pytest.raises(UserError, match="--paper: plugin 'tiny' departs from no published recipe"):
        new_request(tiny, {"data": "x", "paper": True})
    published = validate_plugin(_subclass(paper={"lr": 0.1}))
    assert new_request(published, {"data": "x"}).config.lr == 1e-3
    assert new_request(published, {"data": "x", "paper": True}).config.lr == 0.1
    assert new_request(published, {"data": "x", "paper": True, "lr": 0.5}).config.lr == 0.5


def test_helpers_are_allowed_when_private_or_declared():
    def helper(self):
        return 1

    assert contract_problems(_subclass(_helper=helper)) == []
    assert contract_problems(_subclass(helper=helper, helpers=("helper",))) == []
    assert contract_problems(_subclass(helper=helper))  # undeclared public method: reported


def test_a_hook_with_the_wrong_signature_is_reported():
    problems = contract_problems(_subclass(dataset=lambda self, config: []))
    assert any("dataset" in p and "must accept (config, options, data)" in p for p in problems), problems
    problems = contract_problems(_subclass(finalize_config=lambda self, config, explicit, data: config))
    assert any("finalize_config" in p and "options" in p for p in problems), problems


def test_what_hooks_return_is_checked_naming_plugin_and_hook():
    plugin = validate_plugin(Tiny)
    plugin.name = "tiny"
    with pytest.raises(PluginError, match=r"plugin 'tiny': build\(\) returned a list of 1; it must return dict"):
        call_hook(_with(plugin, build=lambda *a, **k: [torch.nn.Identity()]), "build", None, None)
    with pytest.raises(PluginError, match=r"discriminator_step\(\) returned float"):
        call_hook(_with(plugin, discriminator_step=lambda ctx, batch: 0.5), "discriminator_step", None, None)
    with pytest.raises(PluginError, match=r"optimizers\(\) returned a dict of str"):
        call_hook(_with(plugin, optimizers=lambda c, m: {"g": "adam"}), "optimizers", None, None)
    assert call_hook(plugin, "d_steps", TinyConfig()) == 1


def test_a_captioned_preview_is_checked_when_the_hook_returns_it():
    from translate.plugin import Preview

    plugin = validate_plugin(Tiny)
    plugin.name = "tiny"
    images = torch.zeros(6, 3, 4, 4)
    good = Preview(images, columns=("input", "output", "target"), rows=("one", "other"), title="pairs")
    assert call_hook(_with(plugin, preview=lambda ctx, batch: good), "preview", None, None) is good
    for bad, why in ((Preview(images, columns=("a", "b", "c", "d")), "6 images do not fill rows of 4 columns"),
                     (Preview(images, rows=("x",)), "rows without columns"),
                     (Preview(images, columns=("a", "")), "columns must be a tuple of non-empty strings"),
                     (Preview("a picture"), "images is str")):
        with pytest.raises(PluginError, match=rf"plugin 'tiny': preview\(\) returned a Preview that cannot be "
                                              rf"shown: .*{why}") as info:
            call_hook(_with(plugin, preview=lambda ctx, batch, bad=bad: bad), "preview", None, None)
        assert "\n" not in str(info.value)


def _with(plugin: Plugin, **hooks: Any) -> Plugin:
    for name, fn in hooks.items():
        setattr(plugin, name, fn)
    return plugin


def test_a_wrong_return_type_during_training_is_one_line(tmp_path):
    class FloatLogs(Tiny):
        def train_step(self, ctx):
            super().train_step(ctx)
            return 0.5

    plugin = validate_plugin(FloatLogs)
    plugin.name = "floatlogs"
    with pytest.raises(PluginError, match=r"plugin 'floatlogs': train_step\(\) returned float"):
        translate.train(plugin, data="x", steps=1, batch_size=2, size=8, out=tmp_path / "run", progress=False,
                        device="cpu")


def test_apply_options_are_filtered_by_the_hook_signature(tmp_path):
    plugin = validate_plugin(Tiny)
    plugin.name = "tiny"
    model = translate.train(plugin, data="x", steps=2, batch_size=2, size=8, out=tmp_path / "run",
                            progress=False, device="cpu", sample_every=0)
    x = torch.zeros(1, 3, 8, 8)
    assert model(x, tile=64).shape == (1, 3, 8, 8)  # declared: passed
    with pytest.raises(UserError, match=r"plugin 'tiny': apply takes no --direction \(it takes --tile\)"):
        model(x, direction="b2a")


def test_every_hook_of_the_base_class_is_in_the_hook_table():
    public = {n for n, v in vars(Plugin).items() if callable(v) and not n.startswith("_")}
    assert public - set(HOOKS) == {"can", "accepted_options"}


def test_the_contract_module_imports_no_torch():
    code = "import sys, translate.plugin, translate.request, translate.api; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# Three of the five in the slow set: each trains, resumes and reloads its plugin end to end.
@pytest.mark.parametrize("name", ["gan", "srgan", pytest.param("pix2pix", marks=pytest.mark.slow),
                                  pytest.param("cyclegan", marks=pytest.mark.slow),
                                  pytest.param("cut", marks=pytest.mark.slow)])
def test_builtin_plugins_pass_the_conformance_checks(name, tmp_path):
    results = check_plugin(name, tmp_path)
    assert all(r.ok for r in results), "\n".join(r.line() for r in results)
    assert [r.name for r in results] == ["contract", "config round trip", "build", "train 2 steps",
                                         "checkpoint reload", "apply / sample", "export", "resume"]


def test_check_fails_a_plugin_that_is_not_resumable(tmp_path):
    class Forgetful(Tiny):
        """Keeps a step counter outside ctx.buffers: a resumed run starts it again."""

        def train_step(self, ctx):
            self._count = getattr(self, "_count", 0) + 1
            batch = ctx.next_batch()
            loss = ctx.modules["generator"](batch["image"] + self._count).pow(2).mean()
            ctx.optimize("generator", loss)
            return {"loss": loss.detach()}

    results = {r.name: r for r in check_plugin(Forgetful, tmp_path)}
    assert results["train 2 steps"].ok and not results["resume"].ok
    assert "differs from 2 steps" in results["resume"].detail


def test_load_of_an_unknown_target_is_a_failed_check():
    results = check_plugin("no_such_module:Nothing")
    assert len(results) == 1 and not results[0].ok and "cannot import" in results[0].detail
    with pytest.raises(UserError, match="unknown plugin"):
        load_plugin("no-such-plugin")


# ---- plugin check: hooks that hang, exit or raise KeyboardInterrupt ------------------------------

def _forever(self, config, options, training=True):
    while True:  # a hook that never returns, in Python (a signal handler can run between bytecodes)
        time.sleep(0.01)


def test_a_hook_that_never_returns_fails_its_check_by_name_and_reports_as_it_goes(tmp_path):
    reported = []
    start = time.perf_counter()
    results = check_plugin(_subclass(build=_forever), tmp_path, timeout=1, report=reported.append)
    assert time.perf_counter() - start < 20
    by_name = {r.name: r for r in results}
    assert by_name["contract"].ok and not by_name["build"].ok
    assert "no result after 1 s: hook build()" in by_name["build"].detail and "--timeout" in by_name["build"].detail
    assert "skipped: build failed" in by_name["train 2 steps"].detail
    assert reported == results  # each line as its check ends, in order


def test_a_check_stuck_where_signals_cannot_reach_goes_to_on_stuck(tmp_path, monkeypatch):
    """Code that never lets the timer's signal in (a C extension's loop, simulated by blocking
    SIGALRM) is reported from the watchdog thread, which the command line exits from."""
    monkeypatch.setattr(testing, "STUCK_GRACE", 0.5)
    stuck = threading.Event()
    seen = []

    def deaf_build(self, config, options, training=True):
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        try:
            assert stuck.wait(20)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGALRM])  # the pending alarm ends the check
        return {"generator": torch.nn.Conv2d(3, 3, 1)}

    def on_stuck(result):
        seen.append(result)
        stuck.set()

    results = check_plugin(_subclass(build=deaf_build), tmp_path, timeout=1, on_stuck=on_stuck)
    assert [r.name for r in seen] == ["build"] and "hook build()" in seen[0].detail
    assert "ignores signals" in seen[0].detail
    assert not {r.name: r for r in results}["build"].ok


@pytest.mark.parametrize("raised", [SystemExit(0), SystemExit(None), KeyboardInterrupt()])
def test_a_hook_that_exits_or_raises_keyboard_interrupt_fails_by_name(tmp_path, raised):
    def build(self, config, options, training=True):
        raise raised

    build_check = {r.name: r for r in check_plugin(_subclass(build=build), tmp_path)}["build"]
    assert not build_check.ok and "build()" in build_check.detail
    assert ("exit(" if isinstance(raised, SystemExit) else "KeyboardInterrupt") in build_check.detail


def test_exit_in_a_hook_is_a_plugin_error_naming_it():
    plugin = validate_plugin(Tiny)
    plugin.name = "tiny"

    def leave(*args, **kwargs):
        raise SystemExit(0)

    with pytest.raises(PluginError, match=r"plugin 'tiny': build\(\) called exit\(0\)"):
        call_hook(_with(plugin, build=leave), "build", None, None)


HANGING_PLUGIN = '''
import time
import torch
from translate.plugin import Plugin
from test_plugin_source import Tiny


class Hanging(Tiny):
    def build(self, config, options, training=True):
        while True:
            time.sleep(0.01)
'''


@pytest.mark.slow  # waits for the per-check timeout in a subprocess: ~5 s
def test_plugin_check_prints_each_line_at_once_into_a_pipe_and_times_out(tmp_path):
    import inspect

    here = sys.modules[__name__]
    (tmp_path / "test_plugin_source.py").write_text(inspect.getsource(here))
    (tmp_path / "hanging_plugin.py").write_text(HANGING_PLUGIN)
    proc = subprocess.Popen([sys.executable, "-m", "translate", "plugin", "check", "hanging_plugin:Hanging",
                             "--timeout", "2"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    first = proc.stdout.readline()  # a pipe, no PYTHONUNBUFFERED: the line must come while build hangs
    running = proc.poll() is None
    rest, err = proc.communicate(timeout=60)
    assert first.startswith("ok   contract") and running, first + rest + err
    assert proc.returncode == 1 and "Traceback" not in err
    assert "hook build()" in rest and "no result after 2 s" in rest
