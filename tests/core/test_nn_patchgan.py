"""translate/nn/patchgan.py: a --size too small for the PatchGAN's layers is one line naming the
smallest size that fits, before anything is written."""

from __future__ import annotations

import pytest

import translate
from translate.errors import UserError


@pytest.mark.parametrize("plugin, data", [("cyclegan", {"a": "shapes", "b": "shapes"}),
                                          ("pix2pix", {"aligned": "shapes2shaded"})])
def test_an_image_too_small_for_the_patchgan_is_one_line(tmp_path, plugin, data):
    with pytest.raises(UserError, match="--size 16 is too small for the PatchGAN.*needs at least 24"):
        translate.train(plugin, **data, size=16, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
