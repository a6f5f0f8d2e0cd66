"""translate/limits.py: one size limit for every piece of metadata read from a file, checked before
a parser sees it (config files, run logs, safetensors headers; the exported-model and checkpoint
readers have their own tests beside them)."""

from __future__ import annotations

import json

import pytest

import translate.limits
from translate.config import read_config_file
from translate.errors import UserError
from translate.limits import read_bytes, safetensors_header_problem

LIMIT = 10_000


@pytest.fixture
def small_limit(monkeypatch):
    from translate import report

    monkeypatch.setattr(translate.limits, "MAX_METADATA_BYTES", LIMIT)
    monkeypatch.setattr(report, "MAX_METADATA_BYTES", LIMIT)


def test_a_config_file_over_the_limit_is_one_line(tmp_path, small_limit):
    config = tmp_path / "big.toml"
    config.write_text("steps = 3\n" + "# padding\n" * 2000)
    with pytest.raises(UserError, match=r"big.toml: its config file is 20,010 bytes, over translate's limit of 10,000"):
        read_config_file(config)
    config.write_text("steps = 3\n")
    assert read_config_file(config) == {"steps": 3}


def test_a_file_that_never_ends_is_read_no_further_than_the_limit(small_limit):
    with pytest.raises(UserError, match="over translate's limit of 10,000 bytes"):
        read_bytes("/dev/zero", "config file")  # its size says 0


def test_a_long_run_log_is_read_from_its_last_part(tmp_path, small_limit):
    from translate.report import read_log

    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"step": i, "loss": 0.5}) + "\n" for i in range(2000)))
    assert log.stat().st_size > 3 * LIMIT
    records = read_log(log)
    assert records and records[-1]["step"] == 1999 and len(records) * 28 <= LIMIT
    assert [r["step"] for r in records] == list(range(records[0]["step"], 2000))  # whole lines only


def test_a_metrics_log_over_the_limit_is_one_line(tmp_path, small_limit):
    from translate.run_metrics import read_records

    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(json.dumps({"step": i, "fid": 1.0}) + "\n" for i in range(2000)))
    with pytest.raises(UserError, match="metrics.jsonl: its metrics.jsonl is [\\d,]+ bytes, over translate's limit"):
        read_records(log)


@pytest.mark.parametrize("head, problem", [
    (b"", "0 bytes, shorter than a safetensors header"),
    ((1 << 40).to_bytes(8, "little") + b"{}", "its header length says 1,099,511,627,776 bytes, more than the file holds"),
    ((LIMIT + 1).to_bytes(8, "little") + b" " * (LIMIT + 1), "its header is 10,001 bytes, over translate's limit"),
    ((2).to_bytes(8, "little") + b"{}", ""),
], ids=["empty", "length-lies", "over-limit", "fine"])
def test_safetensors_headers_are_measured_before_parsing(tmp_path, small_limit, head, problem):
    path = tmp_path / "x.safetensors"
    path.write_bytes(head)
    assert safetensors_header_problem(path).startswith(problem) if problem else not safetensors_header_problem(path)
