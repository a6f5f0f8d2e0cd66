"""Plugin discovery: listing, unknown names, broken plugins, duplicates, disabling."""

from __future__ import annotations

from importlib import metadata

import pytest

from translate import registry
from translate.errors import PluginError, UserError


class FakeDist:
    """Just enough of importlib.metadata.Distribution for discovery."""

    def __init__(self, name: str, entry_points: dict[str, str], version: str = "1.0"):
        self.metadata = {"Name": name, "Summary": f"{name} summary"}
        self.version = version
        self.entry_points = [metadata.EntryPoint(k, v, registry.GROUP) for k, v in entry_points.items()]


@pytest.fixture
def fake_dists(monkeypatch):
    real = list(metadata.distributions())

    def install(*dists):
        monkeypatch.setattr(registry.metadata, "distributions", lambda: [*real, *dists])

    return install


def test_builtin_plugins_are_listed_from_metadata():
    found = registry.discover()
    assert {"gan"} <= set(found)
    assert found["gan"].distribution == "translate-gan"
    assert found["gan"].value == "translate_plugins.gan:GanPlugin"


def test_loaded_plugin_is_validated_and_named():
    plugin = registry.load_plugin("gan")
    assert plugin.name == "gan" and plugin.description
    assert plugin.distribution == "translate-gan"


def test_unknown_name_lists_installed_and_suggests_closest():
    with pytest.raises(UserError) as err:
        registry.get_info("gna")
    message = str(err.value)
    assert "unknown plugin 'gna'" in message and "gan" in message and "did you mean 'gan'" in message


def test_broken_plugin_is_reported_by_name_and_others_still_load(fake_dists):
    fake_dists(FakeDist("broken-dist", {"broken": "no_such_module_xyz:Plugin"}))
    with pytest.raises(PluginError) as err:
        registry.load_plugin("broken")
    message = str(err.value)
    assert "broken" in message and "broken-dist" in message and "ModuleNotFoundError" in message
    assert registry.load_plugin("gan").name == "gan"


def test_broken_plugin_marked_in_listing(fake_dists, cli):
    fake_dists(FakeDist("broken-dist", {"broken": "no_such_module_xyz:Plugin"}))
    out = cli("plugins").output
    broken_line = next(line for line in out.splitlines() if "broken" in line and "BROKEN" in line)
    assert "broken-dist" in broken_line and "no_such_module_xyz" in broken_line
    assert any(line.startswith("gan ") for line in out.splitlines())


def test_non_plugin_target_fails_contract(fake_dists):
    fake_dists(FakeDist("odd-dist", {"odd": "os.path:join"}))
    with pytest.raises(PluginError, match="plugin 'odd'.*Plugin subclass"):
        registry.load_plugin("odd")


def test_two_distributions_claiming_one_name_make_only_that_name_unusable(fake_dists):
    fake_dists(FakeDist("first-dist", {"dup": "a:P"}), FakeDist("second-dist", {"dup": "b:P"}))
    found = registry.discover()  # no error: every other plugin still works
    assert "dup" not in found and "gan" in found
    with pytest.raises(PluginError) as err:
        registry.get_info("dup")
    assert "first-dist" in str(err.value) and "second-dist" in str(err.value)
    assert registry.load_plugin("gan").name == "gan"


def test_a_third_party_claiming_a_builtin_name_is_reported_and_the_builtin_kept(fake_dists, capsys):
    fake_dists(FakeDist("impostor", {"gan": "impostor:GanPlugin"}))
    registry._warned.clear()
    found = registry.discover()
    assert found["gan"].distribution == "translate-gan"
    assert "impostor" in capsys.readouterr().err
    assert registry.load_plugin("gan").distribution == "translate-gan"


def test_disable_by_environment(monkeypatch):
    monkeypatch.setenv(registry.DISABLE_ENV, "gan")
    assert "gan" not in registry.discover()
    with pytest.raises(UserError, match="disabled"):
        registry.get_info("gan")


def _one_line_error(proc) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_unknown_plugin(cli_subprocess):
    line = _one_line_error(cli_subprocess("train", "cyclegna", "--help", ok=False))
    assert "unknown plugin 'cyclegna'" in line and "gan" in line


@pytest.fixture
def hostile_modules(tmp_path, monkeypatch):
    """Modules in tmp_path, importable, that do at import what no plugin should."""
    def write(**sources: str) -> None:
        for name, source in sources.items():
            (tmp_path / f"{name}.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))

    return write


@pytest.mark.parametrize("body, said", [("raise SystemExit(3)", "called exit(3)"),
                                        ("import sys; sys.exit()", "called exit(None)"),
                                        ("raise KeyboardInterrupt", "raised KeyboardInterrupt (no Ctrl-C")])
def test_a_plugin_that_exits_or_raises_keyboard_interrupt_at_import_is_broken_alone(
        fake_dists, hostile_modules, cli, body, said):
    hostile_modules(exits_at_import=body)
    fake_dists(FakeDist("hostile-dist", {"aa_hostile": "exits_at_import:Plugin"}))
    with pytest.raises(PluginError, match=r"plugin 'aa_hostile' \(from hostile-dist 1.0\) failed to import: "):
        registry.load_plugin("aa_hostile")
    out = cli("plugins").output  # listed first, yet every plugin after it is listed too
    broken = next(line for line in out.splitlines() if line.startswith("BROKEN aa_hostile"))
    assert said in broken
    assert any(line.startswith("gan ") for line in out.splitlines())


def test_a_real_ctrl_c_while_a_plugin_imports_still_stops(fake_dists, hostile_modules):
    """A SIGINT that arrives during a plugin's import is the user's: it is not taken for that plugin's bug."""
    hostile_modules(interrupted_import="import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n"
                                       "import time\nfor _ in range(100):\n    time.sleep(0.01)\n")
    fake_dists(FakeDist("slow-dist", {"slow": "interrupted_import:Plugin"}))
    with pytest.raises(KeyboardInterrupt):
        registry.load_plugin("slow")


def test_import_names_a_plugin_that_exits_at_import_and_asks_the_others(fake_dists, hostile_modules, cli,
                                                                        error_line, tmp_path):
    import torch

    hostile_modules(exits_at_import="raise SystemExit(3)")
    fake_dists(FakeDist("hostile-dist", {"aa_hostile": "exits_at_import:Plugin"}))
    torch.save({"w": torch.zeros(2)}, tmp_path / "unknown.pth")
    result = cli("import", tmp_path / "unknown.pth", "-o", tmp_path / "out.safetensors", ok=False)
    assert "recognises this layout" in error_line(result)  # the other plugins were asked
    warning = next(line for line in result.output.splitlines() if "aa_hostile" in line)
    assert warning.startswith("warning: ") and "called exit(3)" in warning


@pytest.mark.parametrize("body, said", [
    ("    def __init__(self):\n        raise RuntimeError('no')\n", "Hostile() failed: RuntimeError: no"),
    ("    def __init__(self):\n        raise SystemExit(0)\n", "Hostile() called exit(0)"),
    ("    description = 12345\n", "description is int; it must be one line of text"),
])
def test_a_plugin_whose_class_misbehaves_is_broken_alone(fake_dists, hostile_modules, cli, body, said):
    """The constructor that raises or exits, a description that is no text: that plugin is broken,
    listed as such, and the listing goes on (it used to end there, even with exit 0)."""
    module = f"hostile_class_{len(body)}"  # one module per case: an imported module stays imported
    hostile_modules(**{module: f"from translate_plugins.gan import GanPlugin\n\n\nclass Hostile(GanPlugin):\n{body}"})
    fake_dists(FakeDist("hostile-dist", {"aa_hostile": f"{module}:Hostile"}))
    with pytest.raises(PluginError, match=r"plugin 'aa_hostile'") as err:
        registry.load_plugin("aa_hostile")
    assert said in str(err.value)
    out = cli("plugins").output
    assert any(line.startswith("BROKEN aa_hostile") for line in out.splitlines())
    assert any(line.startswith("gan ") for line in out.splitlines())


@pytest.mark.parametrize("value", ["this is :: not valid", "just_a_module"])
def test_an_entry_point_that_is_not_module_colon_class_is_named(fake_dists, value):
    fake_dists(FakeDist("odd-dist", {"odd": value}))
    with pytest.raises(PluginError, match=rf"plugin 'odd'.*entry point '{value}' is not 'package.module:PluginClass'"):
        registry.load_plugin("odd")


def test_a_disable_list_naming_no_plugin_is_flagged(monkeypatch, cli):
    monkeypatch.setenv(registry.DISABLE_ENV, "gan, ganx,,\t,")
    out = cli("plugins").output
    assert "disabled gan (by" in out
    assert "disabled 'ganx'" in out and "no installed plugin has this name" in out
