"""Fault and bad-input sweep: run the CLI on broken files, bad flags, crafted checkpoints and
signals, and check that each case ends with one "Error:" line (never a traceback) or succeeds,
and that no earlier work is lost. Prints one line per case and a summary.

    python benchmarks/fault_sweep.py [--keep DIR]

Every case runs `python -m translate ...` in a subprocess on tiny data (a few minutes in all on
2 CPU cores).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DECODABLE = {"gif-named.png"}  # readable whatever its extension says: training must work
TINY = ["--size", "16", "--features", "8", "--latent-dim", "8", "--batch-size", "4", "--sample-every", "0"]


@dataclass
class Case:
    name: str
    args: list[str]
    expect: str = "error"  # "error": non-zero exit with one Error line; "fail": non-zero exit; "ok": exit 0
    contains: str = ""  # text the output must contain


def run(args: list[str], env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "translate", *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=timeout)


def judge(case: Case, proc: subprocess.CompletedProcess) -> tuple[bool, str]:
    text = (proc.stdout + proc.stderr).strip()
    errors = [line for line in text.splitlines() if line.startswith("Error:")]
    if "Traceback" in text:
        return False, "traceback: " + text.splitlines()[-1][:150]
    if case.expect == "ok" and proc.returncode != 0:
        return False, f"rc {proc.returncode}: {text.splitlines()[-1][:150] if text else ''}"
    if case.expect == "fail" and proc.returncode == 0:
        return False, f"rc 0: {text[:150]}"
    if case.expect == "error" and (proc.returncode == 0 or len(errors) != 1):
        return False, f"rc {proc.returncode}, {len(errors)} error lines: {text[:150]}"
    if case.contains and case.contains not in text:
        return False, f"missing '{case.contains}': {text[:150]}"
    shown = errors[0] if errors else (text.splitlines()[-1] if text else "")
    return True, shown[:150]


def images(folder: Path, n: int = 6, size: int = 24, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def bad_file_cases(work: Path) -> list[Case]:
    """Broken or unusual files of every format the data scan and apply read."""
    cases = []
    makers = {
        "zero-byte.png": lambda p: p.write_bytes(b""),
        "text-named.jpg": lambda p: p.write_text("not an image"),
        "truncated.webp": lambda p: (_save(p, "WEBP"), p.write_bytes(p.read_bytes()[:60])),
        "truncated.bmp": lambda p: (_save(p, "BMP"), p.write_bytes(p.read_bytes()[:100])),
        "truncated.tiff": lambda p: (_save(p, "TIFF"), p.write_bytes(p.read_bytes()[:200])),
        "gif-named.png": lambda p: _save(p, "GIF"),  # a whole image under the wrong extension: readable
        "header-only.jpg": lambda p: (_save(p, "JPEG"), p.write_bytes(p.read_bytes()[:300])),
    }
    for name, make in makers.items():
        folder = images(work / f"data-{name}", 4)
        make(folder / name)
        cases.append(Case(f"train: {name} in --data", ["train", "gan", "--data", str(folder), "--steps", "1",
                                                        "--out", str(work / f"run-{name}"), *TINY],
                          "ok" if name in DECODABLE else "error", "" if name in DECODABLE else name))
        cases.append(Case(f"train: {name} with --skip-bad-images",
                          ["train", "gan", "--data", str(folder), "--steps", "1", "--skip-bad-images",
                           "--out", str(work / f"skip-{name}"), *TINY], "ok"))
    odd = images(work / "data-odd-modes", 2)
    Image.fromarray(np.zeros((24, 24), np.uint16) + 40000).save(odd / "gray16.png")
    pal = Image.new("P", (24, 24))
    pal.info["transparency"] = 0
    pal.save(odd / "palette.png")
    Image.new("CMYK", (24, 24), (10, 20, 30, 40)).save(odd / "cmyk.jpg")
    Image.new("1", (24, 24), 1).save(odd / "bilevel.png")
    cases.append(Case("train: 16-bit, palette, CMYK, 1-bit images", ["train", "gan", "--data", str(odd), "--steps", "1",
                                                                      "--out", str(work / "run-modes"), *TINY], "ok"))
    return cases


def _save(path: Path, fmt: str) -> None:
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(path, format=fmt)


def flag_cases(work: Path, data: Path) -> list[Case]:
    out = str(work / "never")
    train = ["train", "gan", "--data", str(data), "--out", out, "--steps", "1"]
    odd = work / "odd-widths"
    odd.mkdir()
    Image.new("RGB", (25, 12)).save(odd / "x.png")
    config_dir = work / "a-config-folder"
    config_dir.mkdir()
    bad_toml = work / "bad.toml"
    bad_toml.write_text("steps = [1,\n")
    json_list = work / "list.json"
    json_list.write_text("[1, 2]")
    return [
        Case("train: --batch-size 0", [*train, "--batch-size", "0"], contains="--batch-size"),
        Case("train: --size -8", [*train, "--size", "-8"], contains="--size"),
        Case("train: --checkpoint-every -1", [*train, "--checkpoint-every", "-1"], contains="--checkpoint-every"),
        Case("train: --beta1 1.5", [*train, "--beta1", "1.5"], contains="--beta1"),
        Case("train: --hidden a,b", [*train, "--hidden", "a,b"], contains="hidden"),
        Case("train: --precision fp16 on a CPU", [*train, "--precision", "fp16", "--device", "cpu"], contains="fp16"),
        Case("train: --config missing file", [*train, "--config", str(work / "nope.toml")], contains="does not exist"),
        Case("train: --config a folder", [*train, "--config", str(config_dir)]),
        Case("train: --config invalid TOML", [*train, "--config", str(bad_toml)], contains="not a valid TOML"),
        Case("train: --config JSON list", [*train, "--config", str(json_list)], contains="keys and values"),
        Case("train: --resume a missing folder", ["train", "gan", "--resume", str(work / "nope")]),
        Case("train: --resume a file", ["train", "gan", "--resume", str(bad_toml)]),
        Case("train: unknown plugin", ["train", "gann", "--data", str(data)], contains="did you mean"),
        Case("train: --data a file", ["train", "gan", "--data", str(bad_toml), "--out", out]),
        Case("train: cyclegan with one domain", ["train", "cyclegan", "--a", str(data), "--out", out], contains="--b"),
        Case("train: pix2pix --aligned odd widths", ["train", "pix2pix", "--aligned", str(odd), "--out", out, "--size",
                                                     "32", "--steps", "1"], contains="odd width"),
        Case("train: srgan --scale 3", ["train", "srgan", "--data", str(data), "--scale", "3", "--out", out,
                                        "--steps", "1"]),
    ]


def checkpoint_cases(work: Path, gan_run: Path, cg_run: Path, data: Path) -> list[Case]:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    def crafted(name: str, **changes) -> str:
        with safe_open(str(gan_run / "model.safetensors"), "pt") as f:
            meta = dict(f.metadata())
        meta.update(changes)
        path = work / name
        save_file(load_file(str(gan_run / "model.safetensors")), str(path), metadata=meta)
        return str(path)

    truncated = work / "truncated.safetensors"
    truncated.write_bytes((gan_run / "model.safetensors").read_bytes()[:500])
    photo = images(work / "photos", 1) / "00.png"
    return [
        Case("sample: -n 0", ["sample", str(gan_run), "-n", "0"]),
        Case("sample: -o x.xyz", ["sample", str(gan_run), "-o", str(work / "x.xyz")]),
        Case("sample: a truncated checkpoint", ["sample", str(truncated)]),
        Case("sample: metadata with plugin_version 9.0", ["sample", crafted("v9.safetensors", plugin_version="9.0"), "-o",
                                                          str(work / "v9.png")], "ok", "different major version"),
        Case("sample: options metadata not JSON", ["sample", crafted("opts.safetensors", options="{")]),
        Case("sample: ema flag but no EMA tensors", ["sample", crafted("ema.safetensors", ema="true")]),
        Case("sample: --class on an unconditional model", ["sample", str(gan_run), "--class", "cat"]),
        Case("apply: a sampling model", ["apply", str(gan_run), str(photo), "-o", str(work / "a.png")]),
        Case("apply: no such checkpoint", ["apply", str(work / "none"), str(photo)]),
        Case("apply: a folder without images", ["apply", str(cg_run), str(work / "a-config-folder")]),
        Case("apply: a non-image input", ["apply", str(cg_run), str(work / "bad.toml"), "-o", str(work / "b.png")]),
        Case("apply: --tile 0", ["apply", str(cg_run), str(photo), "-o", str(work / "c.png"), "--tile", "0"]),
        Case("apply: --set without =", ["apply", str(cg_run), str(photo), "--set", "direction"]),
        Case("apply: --device cuda without a GPU", ["apply", str(cg_run), str(photo), "--device", "cuda"]),
        Case("eval: a model without eval data", ["eval", str(cg_run)]),
        Case("interpolate: a translation model", ["interpolate", str(cg_run)]),
        Case("neighbours: missing --data folder", ["neighbours", str(gan_run), "--data", str(work / "nope")]),
        Case("plugin check: no such module", ["plugin", "check", "nowhere.module:Plugin"], "fail", "cannot import"),
        Case("plugin new: into a file", ["plugin", "new", "ok_name", str(work / "bad.toml")]),
        Case("apply: a 20000×20000-class image", ["apply", str(cg_run), str(photo), "-o", str(work / "d.png")], "ok"),
    ]


def signal_cases(work: Path) -> list[tuple[str, bool, str]]:
    """(case, passed, detail) for signals and kill -9 on real runs."""
    results = []
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)):
        run_dir = work / f"sig-{sig.name}"
        proc = subprocess.Popen([sys.executable, "-m", "translate", "train", "gan", "--data", "ring8", "--steps",
                                 "100000", "--batch-size", "16", "--log-every", "1", "--sample-every", "0", "--out",
                                 str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait(run_dir / "log.jsonl", 3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        ok = proc.returncode == code and (run_dir / "state.safetensors").is_file() and "Traceback" not in err
        results.append((f"signal {sig.name} while training → exit {code} with a checkpoint", ok,
                        f"rc {proc.returncode}; {err.strip().splitlines()[-1][:100] if err.strip() else ''}"))
    run_dir = work / "sig-twice"
    proc = subprocess.Popen([sys.executable, "-m", "translate", "train", "gan", "--data", "ring8", "--steps", "100000",
                             "--batch-size", "16", "--log-every", "1", "--sample-every", "0", "--out", str(run_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait(run_dir / "log.jsonl", 3)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)  # two signals before the handler runs would merge into one
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    # The second signal warns when it lands during the save, and is ignored when the save is
    # already done and the process is on its way out; either way: exit 130, a checkpoint, no traceback.
    ok = proc.returncode == 130 and "Traceback" not in err and (run_dir / "state.safetensors").is_file()
    results.append(("Ctrl-C twice: warns, still saves", ok, f"rc {proc.returncode}"))
    run_dir = work / "kill9"
    proc = subprocess.Popen([sys.executable, "-m", "translate", "train", "gan", "--data", "ring8", "--steps", "100000",
                             "--batch-size", "16", "--log-every", "1", "--checkpoint-every", "1", "--sample-every", "0",
                             "--out", str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait(run_dir / "log.jsonl", 5)
    proc.kill()
    proc.communicate()
    stale = run_dir / ".model.safetensors.k1ll.tmp.safetensors"
    stale.write_bytes(b"")
    resumed = run(["train", "gan", "--resume", str(run_dir), "--steps", str(_step(run_dir) + 2)])
    ok = resumed.returncode == 0 and not stale.exists()
    results.append(("kill -9 with checkpoints every step; resume cleans temporaries", ok,
                    f"rc {resumed.returncode}"))
    return results


def _wait(log: Path, lines: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= lines):
        time.sleep(0.2)


def _step(run_dir: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(run_dir / "state.safetensors"), "pt") as f:
        return int(f.metadata()["step"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="translate-sweep-"))
    work.mkdir(parents=True, exist_ok=True)
    data = images(work / "data", 6)
    gan_run, cg_run = work / "gan-run", work / "cg-run"
    assert run(["train", "gan", "--data", str(data), "--steps", "2", "--out", str(gan_run), *TINY]).returncode == 0
    assert run(["train", "cyclegan", "--a", str(data), "--b", "shapes", "--steps", "1", "--size", "24",
                "--gen-features", "4", "--disc-features", "4", "--n-blocks", "1", "--out", str(cg_run)]).returncode == 0
    before = (gan_run / "model.safetensors").read_bytes()
    cases = bad_file_cases(work) + flag_cases(work, data) + checkpoint_cases(work, gan_run, cg_run, data)
    passed = 0
    for case in cases:
        env = {"TRANSLATE_MAX_PIXELS": "100"} if "20000" in case.name else None
        if env:
            case = Case(case.name, case.args, "error", "TRANSLATE_MAX_PIXELS")
        ok, detail = judge(case, run(case.args, env))
        passed += ok
        print(f"{'ok  ' if ok else 'FAIL'} {case.name:<48} {detail}")
    for name, ok, detail in signal_cases(work):
        passed += ok
        print(f"{'ok  ' if ok else 'FAIL'} {name:<48} {detail}")
    total = len(cases) + 5
    intact = (gan_run / "model.safetensors").read_bytes() == before
    print(f"\n{passed}/{total} cases passed; earlier checkpoint {'intact' if intact else 'CHANGED'}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if passed == total and intact else 1)


if __name__ == "__main__":
    main()
