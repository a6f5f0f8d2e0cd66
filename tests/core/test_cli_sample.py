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


def test_samples_are_drawn_in_batches_and_refused_beyond_the_memory_budget(tiny_gan_run, monkeypatch):
    import pytest
    import torch

    import translate
    from translate import model as model_module
    from translate.errors import UserError

    model = translate.load(tiny_gan_run)
    sizes = []
    hook = model.plugin.sample
    monkeypatch.setattr(model.plugin, "sample", lambda *a, **k: sizes.append(a[2]) or hook(*a, **k))
    monkeypatch.setattr(model_module, "SAMPLE_BATCH_BYTES", 2 * 3 * 16 * 16 * 4)  # two 16-px samples a call
    out = model.sample_tensor(21, seed=3)
    assert out.shape == (21, 3, 16, 16) and sizes == [16, 2, 2, 1]  # the first call learns a sample's weight
    assert torch.equal(out[:16], model.sample_tensor(16, seed=3))  # the same noise stream
    monkeypatch.setattr(model_module, "SAMPLE_MEMORY", 3 * 16 * 16 * 4 * 100)
    sizes.clear()
    with pytest.raises(UserError, match=r"-n 1000000000: .* draw at most 100 at a time"):
        model.sample_tensor(10**9)
    assert sizes == [16]  # refused after one small batch, before the whole is allocated


def test_samples_into_a_folder_stream_past_the_memory_budget(tiny_gan_run, tmp_path, monkeypatch):
    """-n for FID (tens of thousands) into a folder holds one batch at a time: the budget that
    refuses a grid does not apply, and the files equal the unbatched draw."""
    import numpy as np
    from PIL import Image

    import translate
    from translate import model as model_module

    model = translate.load(tiny_gan_run)
    monkeypatch.setattr(model_module, "SAMPLE_BATCH_BYTES", 2 * 3 * 16 * 16 * 4)
    whole = model.sample(21, seed=5, grid=False)
    monkeypatch.setattr(model_module, "SAMPLE_MEMORY", 3 * 16 * 16 * 4 * 10)  # a grid of 21 is refused now
    calls = []
    hook = model.plugin.write_samples
    monkeypatch.setattr(model.plugin, "write_samples", lambda s, p, start=0: calls.append(len(s)) or hook(s, p, start))
    model.write_samples(21, tmp_path / "many", seed=5)
    assert calls == [16, 2, 2, 1] and sorted(p.name for p in (tmp_path / "many").iterdir())[-1] == "00020.png"
    for i in (0, 15, 16, 20):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "many" / f"{i:05d}.png")), np.asarray(whole[i]))


def test_sample_counts_and_seeds_out_of_range_are_one_line(tmp_path, cli, tiny_gan_run, error_line):
    for flags, message in ((["-n", "0"], "-n must be at least 1"), (["--seed", str(2**70)], "--seed"),
                           (["--seed", str(-2**64)], "--seed")):
        text = error_line(cli("sample", tiny_gan_run, *flags, "-o", tmp_path / "s.png", ok=False))
        assert message in text and "Traceback" not in text
    out = tmp_path / "many"
    out.mkdir()
    (out / "00007.png").write_bytes(b"mine")
    # an existing folder is checked by its entries, not by naming every one of -n's files
    text = error_line(cli("sample", tiny_gan_run, "-n", str(10**12), "-o", out, ok=False))
    assert "1 output(s) already exist" in text and "00007.png" in text
