"""Edge cases from the audit of ``translate sample``, ``export``, ``plot``, config files and points
files: each is one "Error:" line naming the file and the fix, given before anything is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import translate
from translate.config import read_config_file
from translate.errors import UserError




@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One-step GANs, a few seconds on a CPU: 16 px images, and 2-D points (ring8)."""
    root = tmp_path_factory.mktemp("cli_edge")
    translate.train("gan", out=root / "img", data="shapes", size=16, batch_size=2, features=4, steps=1,
                    sample_every=0, progress=False, device="cpu")
    translate.train("gan", out=root / "pts", data="ring8", batch_size=8, steps=1, sample_every=0, progress=False,
                    device="cpu")
    return {"img": root / "img", "pts": root / "pts"}


# ---- 1. sample and export never replace a file without --overwrite ---------------------------------
def test_sample_refuses_an_existing_file_without_overwrite(tmp_path, cli, runs, error_line):
    out = tmp_path / "s.png"
    out.write_bytes(b"mine")
    text = error_line(cli("sample", runs["img"], "-n", "4", "-o", out, ok=False))
    assert str(out) in text and "pass --overwrite to replace it" in text
    assert out.read_bytes() == b"mine"
    cli("sample", runs["img"], "-n", "4", "-o", out, "--overwrite")
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_sample_refuses_existing_pngs_in_a_folder(tmp_path, cli, runs, error_line):
    out = tmp_path / "grid"
    cli("sample", runs["img"], "-n", "2", "-o", out)
    before = (out / "00000.png").read_bytes()
    text = error_line(cli("sample", runs["img"], "-n", "3", "--seed", "1", "-o", out, ok=False))
    assert str(out / "00000.png") in text and "--overwrite" in text
    assert not (out / "00002.png").exists() and (out / "00000.png").read_bytes() == before
    cli("sample", runs["img"], "-n", "3", "--seed", "1", "-o", out, "--overwrite")
    assert (out / "00002.png").exists()


def test_sample_points_refuse_an_existing_file(tmp_path, cli, runs, error_line):
    out = tmp_path / "pts.csv"
    cli("sample", runs["pts"], "-n", "5", "-o", out)
    text = error_line(cli("sample", runs["pts"], "-n", "5", "-o", out, ok=False))
    assert str(out) in text and "--overwrite" in text


def test_export_refuses_an_existing_file_without_overwrite(tmp_path, cli, runs, error_line):
    from translate.exported import read_metadata

    out = tmp_path / "g.pt"
    out.write_bytes(b"mine")
    text = error_line(cli("export", runs["img"], "-o", out, ok=False))
    assert str(out) in text and "pass --overwrite to replace it" in text
    assert out.read_bytes() == b"mine"
    cli("export", runs["img"], "-o", out, "--overwrite")
    assert read_metadata(out)["plugin"] == "gan"
    text = error_line(cli("export", runs["img"], "-o", tmp_path, ok=False))
    assert "is a folder" in text and "model.onnx" in text


# ---- 2. plot names the path it was given -------------------------------------------------------------
def test_plot_of_a_file_outside_a_run_names_it(tmp_path, cli, monkeypatch, error_line):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("hi")
    text = error_line(cli("plot", "afile", ok=False))
    assert "afile" in text and "run folder" in text and "log.jsonl" in text
    assert "Error: .:" not in text


def test_plot_still_takes_a_file_in_a_run(cli, runs):
    pytest.importorskip("matplotlib")
    result = cli("plot", runs["img"] / "log.jsonl")
    assert (runs["img"] / "curves.png").is_file() and "curves.png" in result.output


# ---- 3. a mistyped section of a config file ------------------------------------------------------------
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


# ---- 4. points files ---------------------------------------------------------------------------------
def test_points_with_nan_name_the_file(tmp_path, cli, error_line):
    pts = np.random.default_rng(0).normal(size=(40, 2))
    pts[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", pts)
    text = error_line(cli("train", "gan", "--data", tmp_path / "nan.npy", "--steps", "1", "--out", tmp_path / "r",
                         ok=False))
    assert "nan.npy" in text and "NaN/inf" in text and "--point-scale" not in text
    assert not (tmp_path / "r").exists()


def test_points_with_inf_in_a_csv_name_the_file(tmp_path):
    from translate_plugins.gan.points import open_points

    pts = np.random.default_rng(0).normal(size=(10, 2))
    pts[[2, 5], 0] = np.inf
    np.savetxt(tmp_path / "inf.csv", pts, delimiter=",")
    with pytest.raises(UserError, match=r"inf\.csv: 2 of its 10 points hold NaN/inf"):
        open_points(str(tmp_path / "inf.csv"))


def test_csv_with_a_header_line_is_read(tmp_path):
    from translate_plugins.gan.points import open_points

    pts = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    np.savetxt(tmp_path / "h.csv", pts, delimiter=",", header="x,y", comments="")
    np.testing.assert_allclose(open_points(str(tmp_path / "h.csv")).points, pts, rtol=1e-6)
    np.savetxt(tmp_path / "plain.csv", pts, delimiter=",")
    np.testing.assert_allclose(open_points(str(tmp_path / "plain.csv")).points, pts, rtol=1e-6)
    (tmp_path / "two.csv").write_text("x,y\na,b\n1,2\n")  # only one header line is skipped
    with pytest.raises(UserError, match="two.csv: cannot read points"):
        open_points(str(tmp_path / "two.csv"))


def test_sampled_points_train_again(tmp_path, cli, runs):
    """What ``translate sample`` writes (a CSV with an x,y header) is valid --data."""
    out = tmp_path / "pts.csv"
    cli("sample", runs["pts"], "-n", "64", "-o", out)
    assert out.read_text().startswith("x,y\n")
    cli("train", "gan", "--data", out, "--steps", "1", "--batch-size", "8", "--sample-every", "0",
        "--out", tmp_path / "r", "--device", "cpu")
    assert (tmp_path / "r" / "model.safetensors").is_file()
