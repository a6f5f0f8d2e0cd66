"""``translate demo``: the page in a real headless Chromium shows for an uploaded PNG the output that
``translate apply`` writes for the same file (pixel for pixel: the page runs apply's code on the same
machine, and PNG is lossless), in each direction a two-way model offers; a model that samples gets a
page that draws what ``translate sample`` draws. Without Gradio, a bad checkpoint or a busy port the
command stops with one line before any server starts."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
START_TIMEOUT = 90  # seconds for the server to answer (imports of torch and Gradio on a busy 2-core box)
WAIT = 30  # seconds for the page to show something


def _browser_or_skip() -> tuple[str, str]:
    pytest.importorskip("gradio", reason="Gradio is not installed (pip install 'translate-gan[demo]')")
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")
    browser = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)")
    return browser, driver


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"translate demo exited ({proc.returncode}): {log.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"translate demo did not answer within {START_TIMEOUT} s: {log.read_text()}")


def _stop(proc: subprocess.Popen) -> None:
    """Ctrl-C as a person would; killed if it does not end in 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    binary, driver = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


def _served(run_fixture: str, folder: Path, request) -> tuple[subprocess.Popen, object]:
    """``translate demo RUN`` in a subprocess, as a person starts it, and the browser on its page.
    The skip comes before the run is trained, and the browser starts while the server loads; the
    caller stops the server (``_stop``)."""
    _browser_or_skip()
    run = request.getfixturevalue(run_fixture)
    port, log = _free_port(), folder / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "translate", "demo", str(run), "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, GRADIO_ANALYTICS_ENABLED="False"))
    try:
        page = request.getfixturevalue("browser")
        url = f"http://127.0.0.1:{port}/"
        _wait_until_up(proc, url, log)
        page.get(url)
    except BaseException:
        _stop(proc)
        raise
    return proc, page


@pytest.fixture(scope="module")
def cyclegan_page(tmp_path_factory, request):
    """The demo page of the tiny CycleGAN; the server is always stopped."""
    proc, page = _served("tiny_cyclegan_run", tmp_path_factory.mktemp("demo"), request)
    try:
        yield page
    finally:
        _stop(proc)


def _find(page, css: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(page, WAIT).until(lambda p: p.find_element(By.CSS_SELECTOR, css))


def _shown_output(page, previous: str | None = None) -> np.ndarray:
    """The output image the page shows (fetched from its src), once it differs from ``previous``."""
    from selenium.webdriver.support.ui import WebDriverWait

    def new_src(p):
        src = _find(p, "#demo-output img").get_attribute("src")
        return src if src and src != previous else None

    src = WebDriverWait(page, WAIT).until(new_src)
    with urllib.request.urlopen(src, timeout=10) as response:
        return src, np.asarray(Image.open(io.BytesIO(response.read())))


def _applied(cli, run, src: Path, out: Path, *args: str) -> np.ndarray:
    cli("apply", run, src, "-o", out, *args)
    return np.asarray(Image.open(out))


@pytest.mark.slow  # a Gradio server and a headless browser: ~16 s on 2 cores
def test_an_uploaded_image_shows_what_apply_writes_in_each_direction(cyclegan_page, request, cli, tmp_path):
    from selenium.webdriver.common.by import By

    tiny_cyclegan_run = request.getfixturevalue("tiny_cyclegan_run")

    src = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 20, 3), dtype=np.uint8)).save(src)
    _find(cyclegan_page, "#demo-input input[type=file]").send_keys(str(src))
    first, shown = _shown_output(cyclegan_page)
    assert np.array_equal(shown, _applied(cli, tiny_cyclegan_run, src, tmp_path / "a2b.png"))
    assert "20×24 → 20×24" in _find(cyclegan_page, "#demo-info").text
    assert _find(cyclegan_page, "#demo-download").is_enabled()

    cyclegan_page.find_element(By.CSS_SELECTOR, "#demo-direction input[value=b2a]").click()
    _, shown = _shown_output(cyclegan_page, previous=first)
    assert np.array_equal(shown, _applied(cli, tiny_cyclegan_run, src, tmp_path / "b2a.png", "--direction", "b2a"))


@pytest.mark.slow
def test_a_model_that_samples_gets_a_page_that_draws_what_sample_draws(tmp_path, request, cli):
    proc, page = _served("tiny_gan_run", tmp_path, request)
    try:
        seed = _find(page, "#demo-seed input")
        seed.clear()
        seed.send_keys("3")
        _find(page, "#demo-count input[type=number]").clear()
        _find(page, "#demo-count input[type=number]").send_keys("4")
        _find(page, "#demo-draw").click()
        _, shown = _shown_output(page)
    finally:
        _stop(proc)
    cli("sample", request.getfixturevalue("tiny_gan_run"), "-n", "4", "--seed", "3", "-o", tmp_path / "grid.png")
    assert np.array_equal(shown, np.asarray(Image.open(tmp_path / "grid.png")))


def test_without_gradio_the_command_says_what_to_install(cli, error_line, monkeypatch, tmp_path):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else find_spec(name, *a))
    text = error_line(cli("demo", tmp_path / "any", ok=False))
    assert "pip install 'translate-gan[demo]'" in text


@pytest.fixture
def no_page(monkeypatch):
    """Building a page is a failure: these errors must come before any server."""
    import translate.demo

    def refuse(*args, **kwargs):
        raise AssertionError("a page was built")

    monkeypatch.setattr(translate.demo, "translate_page", refuse)
    monkeypatch.setattr(translate.demo, "sample_page", refuse)


def test_a_bad_checkpoint_fails_before_the_server_starts(cli, error_line, tmp_path, no_page):
    pytest.importorskip("gradio", reason="Gradio is not installed (pip install 'translate-gan[demo]')")
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    assert str(bad) in error_line(cli("demo", bad, ok=False))


def test_a_busy_port_is_one_line_before_the_model_loads(cli, error_line, tmp_path, no_page):
    pytest.importorskip("gradio", reason="Gradio is not installed (pip install 'translate-gan[demo]')")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        text = error_line(cli("demo", tmp_path / "no-such-run", "--port", port, ok=False))
    assert f"--port {port}" in text and "another program" in text
