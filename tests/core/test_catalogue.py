"""The catalogue of data sets and released models: gathered from every installed plugin's own file,
checked when a plugin registers, names resolved (bare, qualified, ambiguous), broken plugins
skipped with a warning, a path always winning over a name, and the docs' table kept in step with
the files. Downloads and imports end to end are tested beside the plugins that own the entries."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from translate import catalogue, registry
from translate.catalogue_file import catalogue_problems
from translate.errors import UserError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "usage.md"

FAKE_CATALOGUE = """
[datasets.facades]
url = "https://example.org/sets/facades.zip"
size = 1000
source = "example.org"
licence = "CC0"
layout = "A/ B/"
train = "translate train catplugin --data {dir}/A"

[models.tiny]
url = "https://example.org/models/tiny.pth"
task = "noise → shapes"
source = "example.org"
licence = "CC0"
size = 100
"""


class FakeDist:
    def __init__(self, name: str, entry_points: dict[str, str]):
        self.metadata = {"Name": name, "Summary": ""}
        self.version = "1.0"
        self.entry_points = [metadata.EntryPoint(k, v, registry.GROUP) for k, v in entry_points.items()]


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """An installed third-party plugin with its own catalogue, and one that fails to import."""
    package = tmp_path / "catplugin"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent("""
        from translate_plugins.gan import GanPlugin

        class CatPlugin(GanPlugin):
            catalogue = "catalogue.toml"
    """))
    (package / "catalogue.toml").write_text(FAKE_CATALOGUE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "catplugin", raising=False)  # each test's own copy, not the last one's
    real = list(metadata.distributions())
    dists = [FakeDist("translate-cat", {"catplugin": "catplugin:CatPlugin"}),
             FakeDist("translate-broken", {"brokencat": "no_such_module_here:Plugin"})]
    monkeypatch.setattr(registry.metadata, "distributions", lambda: [*real, *dists])
    monkeypatch.setattr(catalogue, "_warned", set())
    return package


def test_a_third_party_catalogue_joins_the_builtins_and_a_broken_plugin_is_skipped(third_party, capsys):
    assert catalogue.find("models", "tiny").qualified == "catplugin/tiny"
    assert "skipping plugin 'brokencat'" in capsys.readouterr().err
    with pytest.raises(UserError) as err:
        catalogue.find("datasets", "facades")  # cyclegan's, pix2pix's and this plugin's
    assert "catplugin/facades" in str(err.value) and "pix2pix/facades" in str(err.value)
    assert catalogue.find("datasets", "catplugin/facades").url == "https://example.org/sets/facades.zip"
    assert catalogue.find("models", "catplugin/nothing") is None


def test_a_broken_catalogue_breaks_the_contract_in_one_line(third_party):
    from catplugin import CatPlugin

    assert catalogue_problems(CatPlugin) == []
    (third_party / "catalogue.toml").write_text(FAKE_CATALOGUE.replace('size = 100\n', 'size = "big"\n')
                                                .replace('licence = "CC0"\nlayout', 'layout')
                                                + '\n[model.x]\nurl = "ftp://x"\n')
    problems = catalogue_problems(CatPlugin)
    assert any("[datasets.facades] lacks 'licence'" in p for p in problems)
    assert any("[models.tiny] 'size' must be a positive number" in p for p in problems)
    assert any("unknown table [model]" in p for p in problems)
    (third_party / "catalogue.toml").write_text("[datasets.x\n")
    assert "not valid TOML" in catalogue_problems(CatPlugin)[0]


def test_a_path_wins_over_a_name_and_neither_is_one_line_naming_translate_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "horse2zebra").mkdir()  # a run folder that happens to share a model's name
    assert catalogue.resolve_checkpoint("horse2zebra") == Path("horse2zebra")
    with pytest.raises(UserError, match="no such checkpoint file or folder.*'translate models'"):
        catalogue.resolve_checkpoint("runs/missing")
    with pytest.raises(UserError, match="did you mean 'horse2zebra'"):
        catalogue.require("models", "hors2zebra")


def test_data_get_refuses_a_folder_that_is_not_empty(cli, tmp_path, error_line):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    line = error_line(cli("data", "get", "horse2zebra", "-o", tmp_path / "taken", ok=False))
    assert "not empty; pass --overwrite" in line and (tmp_path / "taken/mine.txt").read_text() == "keep"


def test_the_docs_table_lists_every_catalogue_entry():
    """docs/usage.md's table of names is checked against the plugins' files, so neither drifts."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Data sets and released models by name"):]
    rows = {tuple(c.strip().strip("`") for c in line.strip("|").split("|")[:3])
            for line in section.splitlines() if line.startswith(("| data set |", "| model |"))}
    expected = {(kind, e.qualified, catalogue.human_size(e.size))
                for kind in ("datasets", "models") for e in catalogue.entries(kind)}
    assert rows == {("data set" if k == "datasets" else "model", n, s) for k, n, s in expected}



def test_listing_commands_do_not_import_torch():
    code = ("import sys; from click.testing import CliRunner; from translate.cli import cli; "
            "codes = [CliRunner().invoke(cli, args).exit_code for args in (['models'], ['data', 'list'])]; "
            "print(codes, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[0, 0] False", proc.stderr


def test_a_second_unpack_into_the_same_folder_that_lost_the_race_is_one_line(tmp_path, monkeypatch):
    """Two `data get` into one -o: the first to finish places the folder; the other is refused
    by the same check as before its download, and leaves nothing of its own behind."""
    import zipfile

    from translate import archive, catalogue
    from translate.errors import UserError

    monkeypatch.setenv("TRANSLATE_HOME", str(tmp_path / "home"))
    with zipfile.ZipFile(tmp_path / "set.zip", "w") as z:
        z.writestr("set/trainA/a.txt", "mine")
    out = tmp_path / "data" / "set"
    real_unpack = archive.unpack

    def unpack_while_another_finishes(src, target, **limits):
        out.mkdir(parents=True)
        (out / "theirs.txt").write_text("placed by the other process")
        return real_unpack(src, target, **limits)

    monkeypatch.setattr(archive, "unpack", unpack_while_another_finishes)
    with pytest.raises(UserError, match="not empty; pass --overwrite") as info:
        catalogue.unpack_into(tmp_path / "set.zip", out, 100, overwrite=False)
    assert "\n" not in str(info.value)
    assert [p.name for p in out.iterdir()] == ["theirs.txt"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["set"]  # no .partial left
