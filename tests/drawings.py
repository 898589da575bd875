"""Make PNG 'drawings' from real MNIST digits, the way a drawing canvas would hand them over.

A real test digit is enlarged and pasted, small and off-centre, on a 280x280 canvas in one of
the three styles seen in practice. Tests use these pictures to check the whole path from an
uploaded or drawn image to a predicted digit.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

CANVAS_SIZE = 280
STYLES = ("white-on-black", "black-on-transparent", "black-on-white")


def canvas_png(
    digit_image: np.ndarray,
    style: str = "white-on-black",
    scale: int = 4,
    offset: tuple[int, int] = (30, 140),
) -> bytes:
    """A 280x280 PNG holding ``digit_image`` (28x28, MNIST convention) enlarged ``scale`` times.

    ``offset`` is where the enlarged digit's top-left corner goes, as (left, top) in pixels.
    Styles: "white-on-black" (grey), "black-on-transparent" (RGBA, as drawing canvases give
    it: the ink is in the alpha channel) and "black-on-white" (RGB, like a scan).
    """
    ink = _pasted(digit_image, scale, offset)
    if style == "white-on-black":
        image = Image.fromarray(ink, mode="L")
    elif style == "black-on-transparent":
        black = np.zeros_like(ink)
        image = Image.fromarray(np.dstack([black, black, black, ink]), mode="RGBA")
    elif style == "black-on-white":
        paper = 255 - ink
        image = Image.fromarray(np.dstack([paper, paper, paper]), mode="RGB")
    else:
        raise ValueError(f"style must be one of {', '.join(STYLES)}; got {style!r}.")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _pasted(digit_image: np.ndarray, scale: int, offset: tuple[int, int]) -> np.ndarray:
    """The digit enlarged with smooth edges, on an empty canvas of ink values (0 = none)."""
    size = 28 * scale
    left, top = offset
    if not (0 <= left <= CANVAS_SIZE - size and 0 <= top <= CANVAS_SIZE - size):
        raise ValueError(f"A {size}px digit at {offset} does not fit on the canvas.")
    digit = Image.fromarray(np.asarray(digit_image, dtype=np.uint8), mode="L")
    enlarged = np.asarray(digit.resize((size, size), Image.Resampling.BILINEAR))
    canvas = np.zeros((CANVAS_SIZE, CANVAS_SIZE), dtype=np.uint8)
    canvas[top : top + size, left : left + size] = enlarged
    return canvas
