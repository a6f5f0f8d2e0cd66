"""translate/request.py: a run's options are checked before anything is written (one line naming
the flag); --resume keeps the model and the data the run was trained with, from any folder."""

from __future__ import annotations

import pytest

import translate
from translate.errors import UserError
from translate.registry import load_plugin
from translate.request import new_request
from translate.trainer import train


@pytest.mark.parametrize("flags, message", [
    (["--log-every", "0"], "--log-every must be at least 1"),
    (["--seed", "-1"], "--seed -1"),
    (["--seed", "12345678901234567890123"], "--seed"),
    (["--workers", "-1"], "--workers must be at least 0"),
    (["--lr", "-1"], "--lr -1.0: must be > 0"),
    (["--lr", "nan"], "--lr nan: must be a finite number"),
    (["--steps", "1e400"], "--steps"),
    (["--ema", "1.5"], "--ema must be in [0, 1)"),
])
def test_bad_numbers_are_one_line_and_write_nothing(tmp_path, cli, flags, message, error_line):
    out = tmp_path / "run"
    text = error_line(cli("train", "gan", "--data", "shapes", "--out", out, *flags, ok=False))
    assert message in text and not out.exists()


def test_a_missing_data_flag_is_one_line(cli, tmp_path, error_line):
    line = error_line(cli("train", "gan", "--out", tmp_path / "r", ok=False))
    assert "--data" in line


def _train(out, steps, resume=False, **flags):
    plugin = load_plugin("gan")
    values = {"data": "shapes", "size": 16, "batch_size": 8, "features": 8, "latent_dim": 8,
              "precision": "fp32", "device": "cpu", "steps": steps, "sample_every": 0, "ema": 0.9, **flags}
    return train(new_request(plugin, {k: str(v) for k, v in values.items()}), out, resume=resume, progress=False)


def test_resume_refuses_to_change_the_model(tmp_path, cli):
    _train(tmp_path / "run", 2)
    result = cli("train", "gan", "--resume", tmp_path / "run", "--latent-dim", "4", ok=False)
    assert result.exit_code != 0 and "cannot change latent_dim" in result.output


def test_resume_with_fewer_steps_than_done_is_refused(tmp_path, cli):
    _train(tmp_path / "run", 3)
    before = (tmp_path / "run" / "state.safetensors").read_bytes()
    result = cli("train", "gan", "--resume", tmp_path / "run", "--steps", "2", ok=False)
    assert result.exit_code != 0 and "at step 3 already, past --steps 2" in result.output
    assert (tmp_path / "run" / "state.safetensors").read_bytes() == before


def test_resume_finds_the_data_from_any_folder_and_follows_data_that_moved(tmp_path, monkeypatch):
    """Data paths are recorded absolute, so --resume works from another working directory; data that
    moved may be pointed to on --resume, but an existing recorded folder cannot be swapped."""
    import shutil

    from PIL import Image

    work = tmp_path / "work"
    (work / "imgs").mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (16, 16), (40 * i, 90, 200 - 40 * i)).save(work / "imgs" / f"{i}.png")
    monkeypatch.chdir(work)
    translate.train("gan", data="imgs", size=16, batch_size=2, steps=2, out="run", progress=False)
    assert 'data = "' + str(work / "imgs") + '"' in (work / "run" / "config.toml").read_text()
    monkeypatch.chdir(tmp_path)
    assert translate.train("gan", resume=work / "run", steps=3, progress=False).step == 3
    other = tmp_path / "other"
    shutil.copytree(work / "imgs", other)
    with pytest.raises(UserError, match="keeps the run.s data"):
        translate.train("gan", resume=work / "run", steps=4, data=other)
    shutil.move(work / "imgs", tmp_path / "moved")
    with pytest.raises(UserError, match="no such file or folder"):
        translate.train("gan", resume=work / "run", steps=4, progress=False)
    with pytest.raises(UserError, match="no such file or folder"):
        translate.train("gan", resume=work / "run", steps=4, data=tmp_path / "elsewhere")
    assert translate.train("gan", resume=work / "run", steps=4, data=tmp_path / "moved", progress=False).step == 4
    with pytest.raises(UserError, match="keeps the run.s data"):  # a built-in data set stays what it was
        translate.train("gan", resume=_builtin_run(tmp_path), steps=4, data="digits")
    assert str(tmp_path / "moved") in (work / "run" / "config.toml").read_text()


def _builtin_run(tmp_path):
    out = tmp_path / "builtin"
    translate.train("gan", data="shapes", size=16, batch_size=2, steps=1, sample_every=0, out=out, progress=False)
    return out


def test_eval_images_message_matches_its_help_and_unused_eval_data_is_said(tmp_path, cli, error_line):
    text = error_line(cli("train", "gan", "--data", "shapes", "--eval-images", "-5", "--out", tmp_path / "r",
                          ok=False))
    assert "--eval-images -5: give 0 (the plugin's default count) or more" in text and "turns it off" not in text
    plugin = load_plugin("gan")
    with _stderr() as err:
        new_request(plugin, {"data": "shapes", "eval_data": "shapes"})
    assert "--eval-data given without --eval-every" in err.getvalue()
    with _stderr() as err:
        new_request(plugin, {"data": "shapes", "eval_data": "shapes", "eval_every": 5})
    assert err.getvalue() == ""


def _stderr():
    import contextlib
    import io

    return contextlib.redirect_stderr(io.StringIO())


def test_a_bad_image_in_held_out_data_is_reported_under_eval_data(tmp_path, cli, error_line):
    from PIL import Image

    held = tmp_path / "held"
    held.mkdir()
    for i in range(2):
        Image.new("RGB", (16, 16)).save(held / f"{i}.png")
    (held / "broken.png").write_bytes(b"junk")
    text = error_line(cli("train", "gan", "--data", "shapes", "--size", "16", "--eval-data", held, "--eval-every",
                          "1", "--out", tmp_path / "r", ok=False))
    assert text.startswith("Error: --eval-data: 1 unreadable") and "broken.png" in text
