"""``translate data check``, ``pair`` and ``split`` (translate/data/doctor.py): counts, modes and
problems of a data folder and what training will do with it; the paired layouts convert both ways."""

from __future__ import annotations

import shutil

import numpy as np
from PIL import Image


def _folder(path, sizes, seed=0, mode="RGB"):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, (w, h) in enumerate(sizes):
        img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).convert(mode)
        img.save(path / f"{i:02d}.png")
    return path


def test_data_check_reports_counts_modes_problems_and_what_training_does(tmp_path, cli):
    data = _folder(tmp_path / "data", [(40, 30), (64, 48), (20, 20)])
    Image.new("I;16", (50, 50)).save(data / "deep.png")
    shutil.copy(data / "00.png", data / "again.png")
    (data / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    result = cli("data", "check", data, "--size", 32, ok=False)
    out = result.output
    assert result.exit_code == 1
    assert "6 image file(s), 5 readable" in out and "I;16 1" in out
    assert "UNREADABLE" in out and "broken.jpg" in out
    assert "DUPLICATE content (2 files): 00.png, again.png" in out
    assert "16-bit image(s) are reduced to 8 bits" in out
    assert "a 32×32 RGB crop" in out and "smaller than 32" in out
    (data / "broken.jpg").unlink()
    assert "no problems found" in cli("data", "check", data).output


def test_data_check_finds_pairing_problems(tmp_path, cli):
    a = _folder(tmp_path / "a", [(32, 32), (32, 32), (32, 32)])
    b = _folder(tmp_path / "b", [(32, 32), (32, 24)])
    out = cli("data", "check", a, "--b", b, "--paired", ok=False).output
    assert "1 name(s) only in A: 02" in out and "1 pair(s) differ in size: 01 (32×32 vs 32×24)" in out
    aligned = _folder(tmp_path / "aligned", [(33, 16)])
    assert "odd width" in cli("data", "check", aligned, "--aligned", ok=False).output


def test_pair_and_split_are_inverse(tmp_path, cli):
    a = _folder(tmp_path / "A", [(24, 16), (30, 20)], seed=1)
    b = _folder(tmp_path / "B", [(24, 16), (30, 20)], seed=2)
    cli("data", "pair", a, b, "-o", tmp_path / "aligned")
    joined = np.asarray(Image.open(tmp_path / "aligned" / "01.png"))
    assert joined.shape == (20, 60, 3)
    cli("data", "split", tmp_path / "aligned", "-o", tmp_path / "back")
    for side, folder in (("A", a), ("B", b)):
        for name in ("00.png", "01.png"):
            assert np.array_equal(np.asarray(Image.open(tmp_path / "back" / side / name)),
                                  np.asarray(Image.open(folder / name)))
    result = cli("data", "pair", a, b, "-o", tmp_path / "aligned", ok=False)
    assert "already exist" in result.output  # never overwritten silently
    b2 = _folder(tmp_path / "B2", [(24, 16), (31, 20)], seed=2)
    assert "differ in size" in cli("data", "pair", a, b2, "-o", tmp_path / "x", ok=False).output


def test_pair_and_split_never_write_into_their_own_input(tmp_path, cli, error_line):
    aligned = _folder(tmp_path / "al", [(32, 16), (32, 16)])
    text = error_line(cli("data", "split", aligned, "-o", aligned, ok=False))
    assert "writes into the input folder" in text
    assert sorted(p.name for p in aligned.iterdir()) == ["00.png", "01.png"]
    a = _folder(aligned / "A", [(16, 16)], seed=1)
    b = _folder(aligned / "B", [(16, 16)], seed=2)
    before = (a / "00.png").read_bytes()
    text = error_line(cli("data", "pair", a, b, "-o", a, "--overwrite", ok=False))
    assert "writes into the input folder A" in text and (a / "00.png").read_bytes() == before
    assert "input folder B" in error_line(cli("data", "pair", a, b, "-o", b / "sub", ok=False))
    cli("data", "split", a, "-o", tmp_path / "elsewhere")  # a folder beside the input is fine


def test_data_check_shows_a_few_names_of_a_large_duplicate_group_and_its_count(tmp_path, cli):
    data = _folder(tmp_path / "data", [(16, 16)])
    for i in range(40):
        shutil.copy(data / "00.png", data / f"copy{i:03d}.png")
    lines = [line for line in cli("data", "check", data, ok=False).output.splitlines() if "DUPLICATE" in line]
    assert len(lines) == 1 and "(41 files)" in lines[0] and "and 36 more" in lines[0] and len(lines[0]) < 200
