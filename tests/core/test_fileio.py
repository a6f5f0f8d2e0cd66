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
