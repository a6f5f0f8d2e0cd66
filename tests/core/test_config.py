"""Config dataclass fields become flags and config-file keys; precedence; resolved config."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from typing import Literal

import pytest

import translate
from translate.request import new_request
from translate.config import coerce, param, read_config_file
from translate.errors import UserError
from translate.registry import load_plugin

def resolve(plugin, values, config_file=None):
    """(options, config, data) of a new run, resolved as translate.train does."""
    request = new_request(plugin, values, config_file)
    return request.options, request.config, request.data


def test_every_config_field_is_a_flag_with_default_and_help(cli):
    out = cli("train", "gan", "--help").output
    plugin = load_plugin("gan")
    for field in dataclasses.fields(plugin.Config):
        assert f"--{field.name.replace('_', '-')}" in out
    assert "--d-steps" in out and "Goodfellow" in out  # help text comes from the dataclass
    assert "--latent-dim" in out and "default: 100" in out
    # trainer options and data flags too, with the plugin's own defaults
    assert "--batch-size" in out and "default: 64" in out and "--data" in out


def test_precedence_defaults_file_flags(tmp_path):
    plugin = load_plugin("gan")
    cfg = tmp_path / "c.toml"
    cfg.write_text('steps = 7\nlr = 0.001\nlatent_dim = 8\n[data]\ndata = "shapes"\n')
    options, config, data = resolve(plugin, {"latent_dim": "16"}, str(cfg))
    assert options.steps == 7 and config.lr == 0.001  # from the file
    assert config.latent_dim == 16  # flag beats file
    assert config.beta1 == 0.5 and options.batch_size == 64  # dataclass / plugin defaults
    assert data == {"data": "shapes"} and config.arch == "dcgan"


def test_data_flags_replace_the_files_data_as_a_whole(tmp_path):
    # A file's `aligned` beside given --a/--b would be two layouts at once, which pix2pix refuses.
    plugin = load_plugin("pix2pix")
    a, b, held = (tmp_path / n for n in ("A", "B", "held"))
    for folder in (a, b, held):
        folder.mkdir()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'aligned = "shapes2shaded"\neval_aligned = "{held}"\n[train]\nsteps = 3\n')
    options, _, data = resolve(plugin, {"a": str(a), "b": str(b)}, str(cfg))
    assert data == {"a": str(a), "b": str(b)} and options.steps == 3
    request = new_request(plugin, {"a": str(a), "b": str(b)}, str(cfg))
    assert request.eval_data == {"aligned": str(held)}  # held-out data not given: the file's stay
    _, _, data = resolve(plugin, {}, str(cfg))
    assert data == {"aligned": "shapes2shaded"}


def test_unknown_config_key_suggests(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("latnt_dim = 3\n")
    with pytest.raises(UserError, match="unknown key 'latnt_dim'.*latent_dim"):
        resolve(load_plugin("gan"), {}, str(cfg))


def test_bad_flag_value_is_a_one_line_error(cli):
    result = cli("train", "gan", "--data", "shapes", "--latent-dim", "many", ok=False)
    assert result.exit_code != 0 and "latent-dim" in result.output and "Traceback" not in result.output


def test_coerce_types():
    @dataclass
    class C:
        a: tuple[int, ...] = param((1, 2), "")
        b: Literal["x", "y"] = param("x", "")
        c: int | None = param(None, "")
        d: bool = param(False, "")

    hints = {"a": tuple[int, ...], "b": Literal["x", "y"], "c": int | None, "d": bool}
    assert coerce("3,4,5", hints["a"], "a") == (3, 4, 5)
    assert coerce("y", hints["b"], "b") == "y"
    assert coerce("none", hints["c"], "c") is None and coerce("4", hints["c"], "c") == 4
    assert coerce("true", hints["d"], "d") is True
    with pytest.raises(UserError):
        coerce("z", hints["b"], "b")


def test_resolved_config_is_written_and_reusable(tmp_path, cli):
    out = tmp_path / "run"
    cli("train", "gan", "--data", "ring8", "--steps", "3", "--batch-size", "8", "--latent-dim", "4",
        "--out", out, "--sample-every", "0")
    written = tomllib.loads((out / "config.toml").read_text())
    assert written["model"]["latent_dim"] == 4 and written["model"]["arch"] == "mlp"
    assert written["train"]["steps"] == 3 and written["data"]["data"] == "ring8"
    flat = read_config_file(out / "config.toml")
    options, config, data = resolve(load_plugin("gan"), {}, str(out / "config.toml"))
    assert config.latent_dim == 4 and options.batch_size == 8 and data["data"] == "ring8"
    assert flat["plugin"] == "gan"


def test_toml_tables_and_types_name_the_file(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[steps]\na = 1\n")
    with pytest.raises(UserError, match=f"{config}: steps is a table; write steps = VALUE"):
        translate.train("gan", data="shapes", config=config, out=tmp_path / "x")
    config.write_text('[train]\nbatch_size = "many"\n')
    with pytest.raises(UserError, match=f"{config}: batch-size: invalid value 'many'"):
        translate.train("gan", data="shapes", config=config, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_section_typo_suggests_the_known_section(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[trian]\nsteps = 3\n")
    with pytest.raises(UserError) as info:
        read_config_file(config)
    text = str(info.value)
    assert "[trian] is not a known section" in text and "did you mean [train]?" in text and str(config) in text
    config.write_text("[steps]\nvalue = 3\n")  # no section is close: the table is probably a key
    with pytest.raises(UserError, match="steps is a table; write steps = VALUE"):
        read_config_file(config)
    config.write_text("[train]\nsteps = 3\n[model]\nlr = 0.1\n")
    assert read_config_file(config) == {"steps": 3, "lr": 0.1}


def test_section_typo_through_the_cli(tmp_path, cli, error_line):
    config = tmp_path / "c.toml"
    config.write_text("[modle]\nfeatures = 4\n")
    text = error_line(cli("train", "gan", "--data", "shapes", "--config", config, "--out", tmp_path / "r", ok=False))
    assert "[modle]" in text and "[model]" in text
    assert not (tmp_path / "r").exists()


def test_unknown_keyword_is_the_cli_error_with_a_did_you_mean(tmp_path, cli):
    with pytest.raises(UserError, match="unknown key 'batchsize' for plugin 'gan'; did you mean 'batch_size'"):
        translate.train("gan", data="shapes", batchsize=4, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    result = cli("train", "gan", "--data", "shapes", "--latnt-dim", "3", ok=False)
    assert result.exit_code != 0


def test_bools_are_not_numbers(tmp_path):
    with pytest.raises(UserError, match="steps.*expected a number, not true"):
        translate.train("gan", data="shapes", steps=True, out=tmp_path / "x")
    config = tmp_path / "c.toml"
    config.write_text("steps = true\n")
    with pytest.raises(UserError, match=f"{re.escape(str(config))}: steps.*not true"):
        translate.train("gan", data="shapes", config=config, out=tmp_path / "x")
