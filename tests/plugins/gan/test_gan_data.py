"""The gan plugin's points files (.npy, .csv): NaN/inf is one line naming the file, a header line is
read, and what ``translate sample`` writes trains again."""

from __future__ import annotations

import numpy as np
import pytest

from translate.errors import UserError


def test_points_with_nan_name_the_file(tmp_path, cli, error_line):
    pts = np.random.default_rng(0).normal(size=(40, 2))
    pts[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", pts)
    text = error_line(cli("train", "gan", "--data", tmp_path / "nan.npy", "--steps", "1", "--out", tmp_path / "r",
                         ok=False))
    assert "nan.npy" in text and "NaN/inf" in text and "--point-scale" not in text
    assert not (tmp_path / "r").exists()


def test_points_with_inf_in_a_csv_name_the_file(tmp_path):
    from translate_plugins.gan.data import open_points

    pts = np.random.default_rng(0).normal(size=(10, 2))
    pts[[2, 5], 0] = np.inf
    np.savetxt(tmp_path / "inf.csv", pts, delimiter=",")
    with pytest.raises(UserError, match=r"inf\.csv: 2 of its 10 points hold NaN/inf"):
        open_points(str(tmp_path / "inf.csv"))


def test_csv_with_a_header_line_is_read(tmp_path):
    from translate_plugins.gan.data import open_points

    pts = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    np.savetxt(tmp_path / "h.csv", pts, delimiter=",", header="x,y", comments="")
    np.testing.assert_allclose(open_points(str(tmp_path / "h.csv")).points, pts, rtol=1e-6)
    np.savetxt(tmp_path / "plain.csv", pts, delimiter=",")
    np.testing.assert_allclose(open_points(str(tmp_path / "plain.csv")).points, pts, rtol=1e-6)
    (tmp_path / "two.csv").write_text("x,y\na,b\n1,2\n")  # only one header line is skipped
    with pytest.raises(UserError, match="two.csv: cannot read points"):
        open_points(str(tmp_path / "two.csv"))


def test_sampled_points_train_again(tmp_path, cli, tiny_points_run):
    """What ``translate sample`` writes (a CSV with an x,y header) is valid --data."""
    out = tmp_path / "pts.csv"
    cli("sample", tiny_points_run, "-n", "64", "-o", out)
    assert out.read_text().startswith("x,y\n")
    cli("train", "gan", "--data", out, "--steps", "1", "--batch-size", "8", "--sample-every", "0",
        "--out", tmp_path / "r", "--device", "cpu")
    assert (tmp_path / "r" / "model.safetensors").is_file()
