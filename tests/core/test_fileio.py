"""translate/fileio.py: files are written atomically (a full disk keeps the previous version) with
the modes the umask asks for."""

from __future__ import annotations

import os
import stat

import pytest
import torch

import translate
from translate.errors import UserError


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, tiny_gan_run):
    import errno
    import shutil

    import translate.fileio as fileio

    out = tmp_path / "run"
    shutil.copytree(tiny_gan_run, out)
    before = (out / "model.safetensors").read_bytes()
    real_replace = os.replace

    def full(src, dst):
        if str(dst).endswith(".safetensors"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", full)
    with pytest.raises(UserError, match="disk is full.*previous version is unchanged") as info:
        translate.train("gan", resume=out, steps=4, progress=False)
    assert "\n" not in str(info.value)
    assert (out / "model.safetensors").read_bytes() == before
    assert not list(out.glob(".*.tmp*"))


def test_written_files_honour_the_umask(tmp_path):
    from translate.fileio import write_text_atomic

    from safetensors.torch import save_file

    from translate.fileio import atomic_path

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "f.txt", "x")
        with atomic_path(tmp_path / "m.safetensors") as tmp:  # save_file replaces the file, mode 0600
            save_file({"w": torch.zeros(1)}, str(tmp))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "m.safetensors").stat().st_mode) == 0o644


def test_a_full_disk_reported_by_safetensors_itself_is_one_line(tmp_path, monkeypatch, tiny_gan_run):
    import shutil

    from safetensors import SafetensorError

    import translate.checkpoint as checkpoint

    out = tmp_path / "run"
    shutil.copytree(tiny_gan_run, out)
    before = (out / "model.safetensors").read_bytes()

    def full(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a checkpoint")
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                              'message: "No space left on device" })')

    monkeypatch.setattr(checkpoint, "save_file", full)
    with pytest.raises(UserError, match="disk is full.*previous version is unchanged") as info:
        translate.train("gan", resume=out, steps=3, progress=False)
    assert "\n" not in str(info.value) and "state.safetensors" in str(info.value)
    assert (out / "model.safetensors").read_bytes() == before
    assert not list(out.glob(".*.tmp*"))


def test_a_full_disk_while_writing_an_image_or_a_log_line_is_one_line(tmp_path, monkeypatch):
    import errno

    import numpy as np
    from PIL import Image

    from translate.data.images import write_image
    from translate.fileio import open_append

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    with pytest.raises(UserError, match=r"step-1\.png: the disk is full.*nothing was written"):
        write_image(tmp_path / "step-1.png", np.zeros((4, 4, 3), np.float32))
    assert not list(tmp_path.iterdir())
    monkeypatch.undo()
    log = open_append(tmp_path / "log.jsonl")
    monkeypatch.setattr(log._file, "flush", lambda: full(None))
    with pytest.raises(UserError, match=r"log\.jsonl: the disk is full"):
        log.write('{"step": 1}\n')
    log.close()


def test_a_file_size_limit_while_writing_a_checkpoint_is_one_line(tmp_path, monkeypatch):
    """EFBIG (ulimit -f, or a FAT32 disk's 4 GiB) arrives from safetensors as its own error type."""
    from safetensors import SafetensorError

    import translate.checkpoint as checkpoint

    def too_large(tensors, filename, metadata=None):
        raise SafetensorError("Error while serializing: I/O error: File too large (os error 27)")

    monkeypatch.setattr(checkpoint, "save_file", too_large)
    with pytest.raises(UserError, match=r"m\.safetensors: the file grew past .*ulimit -f.*nothing was written"):
        checkpoint.write_safetensors(tmp_path / "m.safetensors", {}, {})
    assert not list(tmp_path.iterdir())


def test_a_write_into_a_read_only_folder_or_under_a_file_is_one_line(tmp_path, monkeypatch):
    import errno
    import tempfile

    from translate.fileio import write_text_atomic

    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="afile is a file, not a folder"):
        write_text_atomic(tmp_path / "afile" / "config.toml", "x")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(UserError, match=r"config\.toml: cannot write there \(Read-only file system\)"):
        write_text_atomic(tmp_path / "config.toml", "x")


def test_appending_never_follows_a_link_nor_opens_a_fifo(tmp_path):
    from translate.fileio import open_append

    target = tmp_path / "target.txt"
    target.write_text("keep\n")
    (tmp_path / "log.jsonl").symlink_to(target)
    with pytest.raises(UserError, match="log.jsonl is a symbolic link"):
        open_append(tmp_path / "log.jsonl")
    os.mkfifo(tmp_path / "metrics.jsonl")  # nobody reads it: a plain open would block for ever
    with pytest.raises(UserError, match="metrics.jsonl is a FIFO"):
        open_append(tmp_path / "metrics.jsonl")
    assert target.read_text() == "keep\n"
    with open_append(tmp_path / "new.jsonl") as log:
        log.write("line\n")
    assert (tmp_path / "new.jsonl").read_text() == "line\n"
