"""PSNR and SSIM as super-resolution papers report them (Ledig et al. 2017, §3.1): on the Y
(luma, ITU-R BT.601 studio range) channel, after cropping ``scale`` pixels from each border, on
8-bit images. The implementation is ``translate.metrics.image_quality``, shared with ``translate
eval``-style folder comparisons; this module keeps the names the srgan plugin has always used.
"""

from __future__ import annotations

from translate.metrics.image_quality import BT601, psnr_y, quantize, rgb_to_y, ssim_y
from translate.metrics.image_quality import crop_border as _crop

__all__ = ["BT601", "psnr_y", "quantize", "rgb_to_y", "ssim_y", "_crop"]
