"""Config dataclass fields become flags and config-file keys; precedence; resolved config."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from typing import Literal

import pytest

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
