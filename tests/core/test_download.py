"""Downloads into the cache, against a loopback server (helpers.serve_files): resume, retries,
checks, mirror, offline, and two processes at once. No test touches the internet."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import serve_files

from translate.download import DownloadError, cache_dir, fetch, mirrored, offline, partial_path, sidecar
from translate.errors import UserError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """Two retries without waiting, and none of the user's settings."""
    monkeypatch.setenv("TRANSLATE_DOWNLOAD_RETRIES", "2")
    monkeypatch.setenv("TRANSLATE_DOWNLOAD_BACKOFF", "0")
    for name in ("TRANSLATE_MIRROR", "TRANSLATE_OFFLINE", "TRANSLATE_HOME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    with serve_files({"/sets/x.bin": PAYLOAD}) as running:
        yield running


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def partial_size(dest: Path) -> int:
    part = partial_path(dest)
    return part.stat().st_size if part.exists() else 0


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_download_records_sha256_then_a_second_fetch_makes_no_request(server, tmp_path, capsys):
    dest = tmp_path / "x.bin"
    assert fetch(server.url("/sets/x.bin"), dest) == dest
    assert dest.read_bytes() == PAYLOAD and server.count == 1
    assert sidecar(dest).read_text().split()[0] == sha(PAYLOAD)
    assert "No published checksum: recorded sha256" in capsys.readouterr().err
    fetch(server.url("/sets/x.bin"), dest)
    assert server.count == 1
    assert not partial_path(dest).exists()


def test_catalogue_sha256_is_checked_and_said(server, tmp_path, capsys):
    dest = tmp_path / "x.bin"
    fetch(server.url("/sets/x.bin"), dest, sha256=sha(PAYLOAD).upper())
    assert "checked against the catalogue's sha256" in capsys.readouterr().err
    assert not sidecar(dest).exists()


def test_wrong_checksum_is_refused_and_nothing_is_kept(server, tmp_path):
    dest = tmp_path / "x.bin"
    with pytest.raises(DownloadError) as excinfo:
        fetch(server.url("/sets/x.bin"), dest, sha256=sha(b"other"))
    message = one_line_error(excinfo)
    assert server.url("/sets/x.bin") in message and str(dest) in message and "sha256" in message
    assert not dest.exists() and not partial_path(dest).exists()


def test_a_dropped_connection_is_resumed_with_range_and_no_byte_is_sent_twice(server, tmp_path):
    half = len(PAYLOAD) // 2
    server.drop_after = half
    dest = fetch(server.url("/sets/x.bin"), tmp_path / "x.bin")
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == [None, f"bytes={half}-"]
    assert server.requests[1]["headers"]["If-Range"].startswith('"')  # the first answer's ETag
    assert server.body_bytes == len(PAYLOAD)


def test_a_file_changed_on_the_server_between_drop_and_resume_is_fetched_whole(server, tmp_path):
    server.drop_after = 1000
    server.files["/sets/x.bin"] = PAYLOAD
    changed = PAYLOAD[::-1]

    def change_then_record(original=server.take_drop):
        drop = original()
        server.files["/sets/x.bin"] = changed  # after the first answer went out
        return drop

    server.take_drop = change_then_record
    dest = fetch(server.url("/sets/x.bin"), tmp_path / "x.bin")
    assert dest.read_bytes() == changed and server.count == 2


def test_a_partial_file_left_by_a_killed_process_is_resumed(server, tmp_path):
    dest = tmp_path / "x.bin"
    partial_path(dest).write_bytes(PAYLOAD[:1000])
    fetch(server.url("/sets/x.bin"), dest, sha256=sha(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD and [r["range"] for r in server.requests] == ["bytes=1000-"]


def test_a_download_killed_half_way_is_resumed_by_the_next_process(server, tmp_path):
    server.stall_after = len(PAYLOAD) // 2
    dest = tmp_path / "x.bin"
    code = ("import sys; from pathlib import Path; from translate.download import fetch; "
            "fetch(sys.argv[1], Path(sys.argv[2]))")
    proc = subprocess.Popen([sys.executable, "-c", code, server.url("/sets/x.bin"), str(dest)],
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while partial_size(dest) < len(PAYLOAD) // 4 and time.time() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=10)
    kept = partial_size(dest)
    assert 0 < kept <= len(PAYLOAD) // 2 and not dest.exists()
    fetch(server.url("/sets/x.bin"), dest, sha256=sha(PAYLOAD))  # the lock died with the process
    assert dest.read_bytes() == PAYLOAD and server.requests[-1]["range"] == f"bytes={kept}-"


def test_a_stale_partial_file_that_fails_the_check_is_fetched_whole_once(server, tmp_path):
    dest = tmp_path / "x.bin"
    partial_path(dest).write_bytes(b"an older version")
    fetch(server.url("/sets/x.bin"), dest, sha256=sha(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD and [r["range"] for r in server.requests] == ["bytes=16-", None]


def test_a_server_without_ranges_starts_over(server, tmp_path):
    server.ranges, server.drop_after = False, 1000
    dest = fetch(server.url("/sets/x.bin"), tmp_path / "x.bin")
    assert dest.read_bytes() == PAYLOAD and server.count == 2


def test_a_server_that_lies_about_the_length_is_caught(server, tmp_path):
    server.extra_length = 5000
    dest = tmp_path / "x.bin"
    with pytest.raises(DownloadError) as excinfo:
        fetch(server.url("/sets/x.bin"), dest)
    message = one_line_error(excinfo)
    assert f"of the {len(PAYLOAD) + 5000} bytes" in message and str(dest) in message
    assert not dest.exists()


def test_a_slow_server_times_out_quickly(server, tmp_path):
    server.delay = 10
    began = time.perf_counter()
    with pytest.raises(DownloadError) as excinfo:
        fetch(server.url("/sets/x.bin"), tmp_path / "x.bin", timeout=0.2, retries=1)
    assert time.perf_counter() - began < 3
    assert "timed out (2 tries)" in one_line_error(excinfo) and server.count == 2


def test_404_is_not_retried_and_names_url_and_place(server, tmp_path):
    dest = tmp_path / "gone.bin"
    with pytest.raises(DownloadError) as excinfo:
        fetch(server.url("/gone.bin"), dest)
    message = one_line_error(excinfo)
    assert "HTTP 404" in message and server.url("/gone.bin") in message and str(dest) in message
    assert server.count == 1


def test_a_busy_server_is_retried_then_given_up(server, tmp_path):
    server.status["/sets/x.bin"] = 503
    with pytest.raises(DownloadError, match="HTTP 503"):
        fetch(server.url("/sets/x.bin"), tmp_path / "x.bin")
    assert server.count == 3


def test_a_host_that_is_down_is_one_line(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError) as excinfo:
        fetch(f"http://127.0.0.1:{port}/x.bin", tmp_path / "x.bin", retries=1)
    assert "connection refused" in one_line_error(excinfo)


def test_mirror_serves_catalogue_urls_under_their_paths(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSLATE_MIRROR", server.base_url)
    dest = fetch("https://example.invalid/sets/x.bin", tmp_path / "x.bin")
    assert dest.read_bytes() == PAYLOAD and server.requests[0]["path"] == "/sets/x.bin"


def test_mirror_keeps_path_and_query_adds_its_prefix_and_is_idempotent(monkeypatch):
    monkeypatch.setenv("TRANSLATE_MIRROR", "http://lab:8000/mirror/")
    once = mirrored("https://people.example.org/a/b.zip?dl=1")
    assert once == "http://lab:8000/mirror/a/b.zip?dl=1" and mirrored(once) == once
    monkeypatch.setenv("TRANSLATE_MIRROR", "lab:8000")
    with pytest.raises(UserError, match="TRANSLATE_MIRROR"):
        mirrored("https://x.org/a")


@pytest.mark.parametrize("how", ["env", "argument"])
def test_offline_never_touches_the_network(server, tmp_path, monkeypatch, how):
    if how == "env":
        monkeypatch.setenv("TRANSLATE_OFFLINE", "yes")
    dest = tmp_path / "x.bin"
    with pytest.raises(DownloadError) as excinfo:
        fetch(server.url("/sets/x.bin"), dest, offline=True if how == "argument" else None)
    message = one_line_error(excinfo)
    assert server.url("/sets/x.bin") in message and str(dest) in message and server.count == 0


def test_a_file_put_in_place_by_hand_is_used_offline_and_recorded(server, tmp_path, capsys):
    dest = tmp_path / "x.bin"
    dest.write_bytes(PAYLOAD)
    assert fetch(server.url("/sets/x.bin"), dest, offline=True) == dest
    assert sidecar(dest).read_text().split()[0] == sha(PAYLOAD) and server.count == 0
    assert "recorded sha256" in capsys.readouterr().err


def test_a_tampered_cached_file_is_detected_against_its_recorded_sha256(server, tmp_path):
    dest = fetch(server.url("/sets/x.bin"), tmp_path / "x.bin")
    dest.write_bytes(PAYLOAD[:-1] + b"!")
    with pytest.raises(DownloadError) as excinfo:
        fetch(server.url("/sets/x.bin"), dest)
    assert "changed since its first download" in one_line_error(excinfo) and server.count == 1


def test_a_corrupt_cached_file_is_fetched_again_when_the_catalogue_knows_its_sha256(server, tmp_path):
    dest = fetch(server.url("/sets/x.bin"), tmp_path / "x.bin", sha256=sha(PAYLOAD))
    dest.write_bytes(b"damaged")
    fetch(server.url("/sets/x.bin"), dest, sha256=sha(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD and server.count == 2


def test_two_processes_fetching_one_file_both_succeed_and_one_downloads(server, tmp_path):
    server.delay = 0.5  # the first holds the lock while the second starts
    dest = tmp_path / "cache" / "x.bin"
    code = ("import sys; from pathlib import Path; from translate.download import fetch; "
            "fetch(sys.argv[1], Path(sys.argv[2]), sha256=sys.argv[3], progress=False)")
    procs = [subprocess.Popen([sys.executable, "-c", code, server.url("/sets/x.bin"), str(dest), sha(PAYLOAD)],
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(proc.wait(timeout=60), proc.stderr.read()) for proc in procs]
    assert [rc for rc, _ in results] == [0, 0], results
    assert dest.read_bytes() == PAYLOAD and server.count == 1
    assert sorted(p.name for p in dest.parent.iterdir()) == ["x.bin", "x.bin.lock"]


def test_cache_dir_and_offline_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRANSLATE_HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home"
    monkeypatch.delenv("TRANSLATE_HOME")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cache_dir() == tmp_path / "xdg" / "translate"
    for value, expected in [("1", True), ("True", True), ("yes", True), ("0", False), ("", False)]:
        monkeypatch.setenv("TRANSLATE_OFFLINE", value)
        assert offline() is expected
    assert os.environ["TRANSLATE_OFFLINE"] == ""
