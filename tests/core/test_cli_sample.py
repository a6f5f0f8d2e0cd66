"""``translate sample``: an existing file or folder of PNGs is never overwritten without
``--overwrite`` (one "Error:" line, given before anything is written)."""

from __future__ import annotations


def test_sample_refuses_an_existing_file_without_overwrite(tmp_path, cli, tiny_gan_run, error_line):
    out = tmp_path / "s.png"
    out.write_bytes(b"mine")
    text = error_line(cli("sample", tiny_gan_run, "-n", "4", "-o", out, ok=False))
    assert str(out) in text and "pass --overwrite to replace it" in text
    assert out.read_bytes() == b"mine"
    cli("sample", tiny_gan_run, "-n", "4", "-o", out, "--overwrite")
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_sample_refuses_existing_pngs_in_a_folder(tmp_path, cli, tiny_gan_run, error_line):
    out = tmp_path / "grid"
    cli("sample", tiny_gan_run, "-n", "2", "-o", out)
    before = (out / "00000.png").read_bytes()
    text = error_line(cli("sample", tiny_gan_run, "-n", "3", "--seed", "1", "-o", out, ok=False))
    assert str(out / "00000.png") in text and "--overwrite" in text
    assert not (out / "00002.png").exists() and (out / "00000.png").read_bytes() == before
    cli("sample", tiny_gan_run, "-n", "3", "--seed", "1", "-o", out, "--overwrite")
    assert (out / "00002.png").exists()


def test_sample_points_refuse_an_existing_file(tmp_path, cli, tiny_points_run, error_line):
    out = tmp_path / "pts.csv"
    cli("sample", tiny_points_run, "-n", "5", "-o", out)
    text = error_line(cli("sample", tiny_points_run, "-n", "5", "-o", out, ok=False))
    assert str(out) in text and "--overwrite" in text
