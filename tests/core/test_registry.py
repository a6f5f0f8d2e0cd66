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
