"""Evaluation during training: --eval-every appends to metrics.jsonl, --keep-best keeps
best.safetensors, resume continues the same history, --tensorboard and index.html see it all."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

import translate
from translate.errors import UserError
from translate.run_metrics import read_records

# A 2-D GAN on ring8: its evaluation (mode coverage of 2,500 samples) needs no Inception network.
RING = dict(data="ring8", batch_size=64, sample_every=0, log_every=5, progress=False)


def _best_meta(run):
    with safe_open(str(run / "best.safetensors"), "pt") as f:
        return f.metadata()


def test_eval_every_keeps_the_best_model_by_the_chosen_metric(tmp_path):
    run = tmp_path / "run"
    translate.train("gan", **RING, steps=40, eval_every=10, keep_best="reverse_kl", eval_images=1000, out=run)
    records = read_records(run / "metrics.jsonl")
    assert [r["step"] for r in records] == [10, 20, 30, 40]
    assert all({"modes", "hq_percent", "reverse_kl"} <= r.keys() for r in records)
    best = min(records, key=lambda r: r["reverse_kl"])
    meta = _best_meta(run)
    assert meta["best_metric"] == "reverse_kl" and float(meta["best_value"]) == pytest.approx(best["reverse_kl"])
    assert int(meta["step"]) == best["step"]
    # best.safetensors is a checkpoint like model.safetensors: it loads and samples.
    points = translate.load(run / "best.safetensors").sample_tensor(16, seed=0)
    assert points.shape == (16, 2) and torch.isfinite(points).all()
    page = (run / "index.html").read_text()
    assert "reverse_kl" in page and "metrics" in page


def test_a_resumed_run_continues_the_history_and_the_best(tmp_path):
    run = tmp_path / "run"
    translate.train("gan", **RING, steps=20, eval_every=10, keep_best="max:hq_percent", eval_images=500, out=run)
    first_best = float(_best_meta(run)["best_value"])
    # An evaluation logged after the last checkpoint (a killed run) is dropped on resume.
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 25, "hq_percent": 100.0}) + "\n" + '{"step": 26, "hq_')
    translate.train("gan", resume=run, steps=40, progress=False)
    steps = [r["step"] for r in read_records(run / "metrics.jsonl")]
    assert steps == [10, 20, 30, 40]
    best = max(read_records(run / "metrics.jsonl"), key=lambda r: r["hq_percent"])
    assert float(_best_meta(run)["best_value"]) == pytest.approx(max(first_best, best["hq_percent"]))


def test_tensorboard_gets_losses_metrics_and_samples(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    translate.train("gan", data="shapes", size=16, batch_size=8, steps=4, log_every=2, sample_every=2,
                    tensorboard=True, out=run, progress=False)
    events = EventAccumulator(str(run / "tensorboard")).Reload()
    assert [e.step for e in events.Scalars("loss/loss_g")] == [2, 4]
    assert events.Tags()["images"]  # the sample grids


@pytest.mark.parametrize("values, message", [
    (dict(keep_best="accuracy", eval_every=5), "no known goal"),
    (dict(keep_best="fid"), "needs --eval-every"),
    (dict(eval_every=-1), "--eval-every must be at least 0"),
])
def test_bad_evaluation_options_are_one_line_before_any_step(tmp_path, values, message):
    with pytest.raises(UserError, match=message):
        translate.train("gan", **RING, steps=5, **values, out=tmp_path / "run")
    assert not (tmp_path / "run" / "log.jsonl").exists()


def test_a_metric_the_evaluation_does_not_measure_stops_with_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(UserError, match="measured .*modes.*checkpoint saved"):
        translate.train("gan", **RING, steps=20, eval_every=10, keep_best="fid", eval_images=200, out=run)
    assert (run / "model.safetensors").is_file()


def test_held_out_data_flags_are_recorded_and_reread(tmp_path, cli):
    """--eval-DATA: held-out data recorded in config.toml and the checkpoint, used by evaluation."""
    run = tmp_path / "run"
    cli("train", "gan", "--data", "ring8", "--eval-data", "grid25", "--steps", 10, "--eval-every", 10,
        "--eval-images", 300, "--batch-size", 32, "--sample-every", 0, "--out", run)
    assert 'eval_data = "grid25"' in (run / "config.toml").read_text()
    record = read_records(run / "metrics.jsonl")[0]
    assert record["modes_total"] == 25  # scored against grid25's modes, not ring8's


def test_a_missing_held_out_folder_is_one_line_before_any_step(tmp_path, cli):
    """--eval-a nonexist fails at set-up, naming --eval-a (not --a), with no run folder written:
    not at the first evaluation, which may be hours in."""
    run = tmp_path / "run"
    result = cli("train", "cyclegan", "--a", "shapes", "--b", "shapes-inverted", "--size", 32, "--gen-features", 8,
                 "--disc-features", 8, "--n-blocks", 1, "--steps", 4, "--eval-every", 3, "--eval-a", tmp_path / "nope",
                 "--eval-b", "shapes", "--out", run, ok=False)
    assert result.exit_code != 0 and f"--eval-a {tmp_path / 'nope'}: no such file or folder" in result.output
    assert "Traceback" not in result.output and not run.exists()


def test_an_edited_best_file_or_undecodable_log_is_not_trusted_on_resume(tmp_path):
    from safetensors.torch import save_file

    from translate.run_metrics import RunMetrics

    (tmp_path / "metrics.jsonl").write_bytes(b'{"step": 2, "fid": 3.0}\n\xff\xfe{"step": 9')  # cut short, not UTF-8
    for value in ("abc", "nan", "-inf"):
        save_file({"w": torch.zeros(1)}, str(tmp_path / "best.safetensors"),
                  metadata={"best_metric": "fid", "best_value": value})
        metrics = RunMetrics(tmp_path, keep_best="fid")
        metrics.resume(5)
        assert metrics.best is None, value  # the next evaluation writes a new best
    assert read_records(tmp_path / "metrics.jsonl") == [{"step": 2, "fid": 3.0}]
