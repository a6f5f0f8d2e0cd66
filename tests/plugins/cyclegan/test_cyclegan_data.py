"""The cyclegan plugin's data: the same folder given for both domains is warned about (the model
could only learn the identity)."""

from __future__ import annotations



import translate
from helpers import random_images as _images


def test_the_same_folder_for_both_domains_warns(tmp_path, capfd):
    data = _images(tmp_path / "data", 2)
    translate.train("cyclegan", a=data, b=data, size=16, steps=1, gen_features=4, disc_features=4, disc_layers=2,
                    n_blocks=1, sample_every=0, out=tmp_path / "run", progress=False, device="cpu")
    assert "--a and --b are the same" in capfd.readouterr().err
