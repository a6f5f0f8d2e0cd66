"""Built-in datasets, generated on the fly (nothing is downloaded).

Image sets (H×W×3 uint8, with class labels):
  shapes   a filled circle, square or triangle of random colour, size, position and rotation on a
           dark background; classes: circle, square, triangle.
  digits   the digits 0-9 drawn with a scalable font, with random scale, shift, rotation and
           stroke colour; classes: 0..9.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

BUILTIN_SIZE = 2048  # images per built-in image set: enough variety, generated in about a second


def _bright_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(rng.random(), 0.6 + 0.4 * rng.random(), 0.7 + 0.3 * rng.random())
    return int(r * 255), int(g * 255), int(b * 255)


def _render_shape(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image, ImageDraw

    ss = 4  # supersampling factor for anti-aliased edges
    canvas = size * ss
    img = Image.new("RGB", (canvas, canvas), tuple(int(v) for v in rng.integers(0, 40, 3)))
    draw = ImageDraw.Draw(img)
    radius = canvas * (0.18 + 0.17 * rng.random())
    cx, cy = (radius + (canvas - 2 * radius) * rng.random(2))
    colour = _bright_colour(rng)
    if kind == 0:
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    else:
        corners = 4 if kind == 1 else 3
        start = rng.random() * 2 * math.pi
        pts = [(cx + radius * math.cos(start + 2 * math.pi * i / corners),
                cy + radius * math.sin(start + 2 * math.pi * i / corners)) for i in range(corners)]
        draw.polygon(pts, fill=colour)
    return np.asarray(img.resize((size, size), Image.LANCZOS))


def _digit_font(pixels: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=pixels)
    except TypeError:  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _render_digit(digit: int, size: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image, ImageDraw

    ss = 4
    canvas = size * ss
    layer = Image.new("L", (canvas, canvas), 0)
    font = _digit_font(int(canvas * (0.6 + 0.25 * rng.random())))
    draw = ImageDraw.Draw(layer)
    box = draw.textbbox((0, 0), str(digit), font=font)
    w, h = box[2] - box[0], box[3] - box[1]
    x = (canvas - w) / 2 - box[0] + (rng.random() - 0.5) * canvas * 0.15
    y = (canvas - h) / 2 - box[1] + (rng.random() - 0.5) * canvas * 0.15
    draw.text((x, y), str(digit), fill=255, font=font, stroke_width=int(canvas * 0.02))
    layer = layer.rotate((rng.random() - 0.5) * 30, resample=Image.BILINEAR)
    mask = np.asarray(layer.resize((size, size), Image.LANCZOS), dtype=np.float32)[..., None] / 255.0
    colour = np.array(_bright_colour(rng), dtype=np.float32)
    background = rng.integers(0, 30, 3).astype(np.float32)
    return (background + mask * (colour - background)).clip(0, 255).astype(np.uint8)


@dataclass
class ImageSet:
    images: list[np.ndarray]
    labels: list[int]
    classes: list[str]


def shapes(size: int, seed: int = 0, count: int = BUILTIN_SIZE) -> ImageSet:
    rng = np.random.default_rng([seed, 1])
    labels = [int(v) for v in rng.integers(0, 3, count)]
    return ImageSet([_render_shape(k, size, rng) for k in labels], labels, ["circle", "square", "triangle"])


def digits(size: int, seed: int = 0, count: int = BUILTIN_SIZE) -> ImageSet:
    rng = np.random.default_rng([seed, 2])
    labels = [int(v) for v in rng.integers(0, 10, count)]
    return ImageSet([_render_digit(d, size, rng) for d in labels], labels, [str(d) for d in range(10)])


IMAGE_SETS: dict[str, Callable[..., ImageSet]] = {"shapes": shapes, "digits": digits}


def names() -> list[str]:
    return sorted(IMAGE_SETS)


def write_example_images(folder: str | Path, count: int = 8, size: int = 32, seed: int = 0) -> Path:
    """A folder of ``count`` PNG shape images (for conformance checks and quick examples)."""
    from .images import write_image

    folder = Path(folder)
    for i, img in enumerate(shapes(size, seed, count).images):
        write_image(folder / f"{i:03d}.png", img.astype(np.float32) / 255.0)
    return folder
