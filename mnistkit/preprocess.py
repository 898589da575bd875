"""Pixels in, MNIST-like 28x28 out.

MNIST's digits were made in a fixed way: the ink was cropped to its bounding box, scaled with
anti-aliasing to fit a 20x20 box without changing its shape, and placed in a 28x28 field so that
its centre of mass sat at the centre. A model trained on MNIST expects exactly that, so a digit
drawn in a browser or photographed on paper goes through the same steps, each a small function
here, before a model sees it. ``preprocessing_steps`` keeps every stage so a page can show it.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

SIZE = 28  # MNIST's field, in pixels
BOX = 20  # the box a digit is scaled to fit, inside the field
CENTRE = 14.0  # where MNIST puts a digit's centre of mass (its row and column, 0-27)
MAX_PIXELS = 25_000_000  # larger pictures are refused before they are decoded
WORKING_SIZE = 1024  # larger pictures are first shrunk to this many pixels a side
INK_FLOOR = 0.2  # contrast below this share of the strongest ink counts as paper (texture, shade)
MIN_CONTRAST = 20  # grey levels (of 255) the ink must stand out by, or the picture is blank
MIN_STROKE = 2.0  # MNIST pixels: thinner strokes are widened to this before scaling


class ImageError(ValueError):
    """A picture that cannot be read or turned into a digit."""


class BlankImageError(ImageError):
    """A picture with no ink in it, such as an empty canvas."""


class ImageTooLargeError(ImageError):
    """A picture with too many pixels to be the drawing of one digit."""


@dataclass(frozen=True)
class Step:
    """One stage of preprocessing: its name, its picture and a sentence for a learner."""

    name: str
    image: np.ndarray  # 2-D uint8, ready to display
    explanation: str


def read_image(data: bytes | BinaryIO | str | os.PathLike) -> Image.Image:
    """Decode an uploaded picture safely: its size is checked before its pixels are decoded."""
    source = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)  # reads the header only
    except FileNotFoundError as error:
        raise ImageError(f"There is no picture at {data}.") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooLargeError(
            "The picture has far too many pixels to be the drawing of one digit."
        ) from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise ImageError(
            "The file is not a picture that can be read (PNG, JPEG, GIF, BMP or WebP)."
        ) from error
    try:
        _check_size(image.width, image.height)
        image.seek(0)  # the first frame of an animation
        image.load()
    except ImageTooLargeError:
        image.close()
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        image.close()
        raise ImageError(
            "The picture file is damaged or cut short, so it cannot be decoded."
        ) from error
    return _upright(image)


def to_mnist(image: Image.Image | np.ndarray) -> np.ndarray:
    """Any picture of one digit as a (28, 28) uint8 array in MNIST's convention.

    The same steps as ``preprocessing_steps`` with every option on, without the pictures of
    each stage: only the 28x28 work.
    """
    ink, _ = ink_map(grayscale(image))
    widened = widen_thin_strokes(ink)
    top, left, bottom, right = ink_bounding_box(widened)
    return _display(centre_by_mass(pad_to_field(scale_to_box(widened[top:bottom, left:right]))))


def preprocessing_steps(
    image: Image.Image | np.ndarray, *, crop_and_scale: bool = True, center: bool = True
) -> list[Step]:
    """Every stage from a picture to MNIST's 28x28; the last one is what a model sees."""
    gray = grayscale(image)
    ink, light_background = ink_map(gray)
    if light_background:
        paper = "dark ink on a light background, so its shades were inverted"
    else:
        paper = "light ink on a dark background, as MNIST has"
    steps = [
        Step(
            "raw",
            _display(gray, 255),
            "The picture as given, in shades of grey (any transparent part as plain background).",
        ),
        Step(
            "ink",
            _display(ink),
            f"The ink found in it, white on black as in MNIST (the picture had {paper}).",
        ),
    ]
    if crop_and_scale:
        widened = widen_thin_strokes(ink)
        top, left, bottom, right = ink_bounding_box(widened)
        cropped = widened[top:bottom, left:right]
        scaled = scale_to_box(cropped)
        note = (
            " (its strokes widened first, being too thin to survive)" if widened is not ink else ""
        )
        steps += [
            Step("cropped", _display(cropped), f"Cut down to the ink's bounding box{note}."),
            Step(
                "scaled",
                _display(scaled),
                "Scaled smoothly to fit a 20x20 box, keeping its shape, as MNIST's digits were.",
            ),
        ]
        if center:
            final = centre_by_mass(pad_to_field(scaled))
            steps.append(_centred_step(final))
        else:
            final = place_as_in_picture(scaled, (top, left), ink.shape)
            steps.append(
                Step(
                    "placed",
                    _display(final),
                    "Put in a 28x28 field where it was in the picture, not centred as MNIST's are.",
                )
            )
    else:
        final = resize_to_field(ink)
        steps.append(
            Step(
                "resized",
                _display(final),
                "The whole picture squeezed to 28x28, with no cropping, so the digit may end up "
                "small, stretched or off-centre.",
            )
        )
        if center:
            final = centre_by_mass(final)
            steps.append(_centred_step(final))
    return steps


# The steps -----------------------------------------------------------------------------------


def grayscale(image: Image.Image | np.ndarray) -> np.ndarray:
    """The picture as a 2-D float array of shades, 0 (black) to 255 (white)."""
    pixels = _small_array(image)
    if pixels is None:  # a PIL image, or a large array: decoded and shrunk by Pillow
        picture = _shrunk(_as_picture(image))
        pixels = np.asarray(picture)
    pixels = pixels.astype(np.float32)
    if pixels.ndim == 2:
        return pixels
    shade = pixels[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if pixels.shape[2] == 3:
        return shade
    opacity = pixels[..., 3] / 255
    if opacity.min() == 1:
        return shade
    background = transparent_background(shade, opacity)
    return shade * opacity + background * (1 - opacity)


def transparent_background(shade: np.ndarray, opacity: np.ndarray) -> float:
    """The shade that the transparent part of a picture stands for, judged from what is opaque."""
    opaque = opacity > 0.5
    if opaque.mean() > 0.5:
        return float(np.median(shade[opaque]))  # transparent margins around a sheet of paper
    edge = opaque & ~ndimage.binary_erosion(opaque)
    inside = opaque & ~edge
    if inside.any() and abs(shade[edge].mean() - shade[inside].mean()) > 32:
        # Marks anti-aliased against a background fade towards it at their edges.
        return 255.0 if shade[edge].mean() > shade[inside].mean() else 0.0
    # Otherwise the marks are one colour (a pen on a transparent canvas): contrast with it.
    marks = opacity.sum()
    ink_shade = (shade * opacity).sum() / marks if marks else 0.0
    return 255.0 if ink_shade < 128 else 0.0


def ink_map(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Ink as 0 (none) to 1 (strongest), and whether the background was the lighter side.

    The most common shade is taken as the background; ink is whatever differs from it on the
    other side. Faint differences (paper texture, shadows) are dropped.
    """
    background = float(np.bincount(np.rint(gray).astype(np.uint8).ravel()).argmax())
    light_background = background >= 128
    contrast = (background - gray) if light_background else (gray - background)
    contrast = np.clip(contrast, 0, None)
    strongest = float(contrast.max())
    if strongest < MIN_CONTRAST:
        raise BlankImageError("The picture is blank: there is no digit in it.")
    floor = INK_FLOOR * strongest
    ink = np.clip((contrast - floor) / (strongest - floor), 0, 1)
    return ink.astype(np.float32), light_background


def ink_bounding_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """The smallest rectangle holding all the ink, as (top, left, bottom, right), end exclusive."""
    rows = np.flatnonzero(ink.any(axis=1))
    columns = np.flatnonzero(ink.any(axis=0))
    return int(rows[0]), int(columns[0]), int(rows[-1]) + 1, int(columns[-1]) + 1


def widen_thin_strokes(ink: np.ndarray, box: int = BOX) -> np.ndarray:
    """The ink with strokes widened when scaling to ``box`` would make them thinner than MNIST's."""
    top, left, bottom, right = ink_bounding_box(ink)
    factor = box / max(bottom - top, right - left)
    min_width = MIN_STROKE / factor
    # Only the ink's surroundings can change, so the work is done on them alone: the same
    # result as on the whole picture, in a fraction of the time for a small digit.
    margin = int(np.ceil(min_width / 2)) + 1
    rows = slice(max(0, top - margin), min(ink.shape[0], bottom + margin))
    columns = slice(max(0, left - margin), min(ink.shape[1], right + margin))
    region = ink[rows, columns]
    around = thicken(region, min_width)
    if around is region:
        return ink
    widened = ink.copy()
    widened[rows, columns] = around
    return widened


def scale_to_box(cropped: np.ndarray, box: int = BOX) -> np.ndarray:
    """The ink scaled to fit ``box`` x ``box`` with its aspect ratio kept, smoothly."""
    height, width = cropped.shape
    factor = box / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    scaled = Image.fromarray(cropped.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
    scaled = np.clip(np.asarray(scaled), 0, None)
    # Scaling averages thin strokes into faint ones; bring the strongest ink back to full.
    return scaled / max(float(scaled.max()), 1e-6)


def thicken(ink: np.ndarray, min_width: float) -> np.ndarray:
    """The ink with strokes thinner than ``min_width`` pixels widened to about that width."""
    mask = ink > 0.5
    if not mask.any():
        return ink
    # Strokes less than 2 pixels too thin are left alone (``radius`` below). A lower bound on
    # the width, four times cheaper than the width itself, settles most drawings at once.
    if stroke_width(mask, metric="chessboard") > min_width - 2:
        return ink
    width = stroke_width(mask)
    if width >= min_width:
        return ink
    radius = (min_width - width) / 2
    if radius < 1:
        return ink  # no pixel is that close to a stroke without being on it
    distance, (rows, columns) = ndimage.distance_transform_edt(~mask, return_indices=True)
    # Each pixel near a stroke takes the ink of the stroke's nearest pixel.
    return np.where(distance <= radius, np.maximum(ink, ink[rows, columns]), ink)


def stroke_width(mask: np.ndarray, metric: str = "euclidean") -> float:
    """The typical width of the strokes in a binary picture, in pixels.

    With ``metric="chessboard"`` a lower bound on it, quicker to find: no pixel is farther from
    the background by chessboard steps than in a straight line.
    """
    # Across a stroke w pixels wide, the distances to its edge run 1, 2, ..., w/2, ..., 2, 1,
    # whose mean is about (w + 2) / 4.
    top, left, bottom, right = ink_bounding_box(mask)  # outside it there is only background
    inside = np.pad(mask[top:bottom, left:right], 1)
    if metric == "chessboard":
        distance = ndimage.distance_transform_cdt(inside, metric="chessboard")
    else:
        distance = ndimage.distance_transform_edt(inside)
    return float(4 * distance[distance > 0].mean() - 2)


def pad_to_field(scaled: np.ndarray, size: int = SIZE) -> np.ndarray:
    """The scaled digit in the middle of an empty ``size`` x ``size`` field."""
    field = np.zeros((size, size), dtype=np.float32)
    height, width = scaled.shape
    top, left = (size - height) // 2, (size - width) // 2
    field[top : top + height, left : left + width] = scaled
    return field


def centre_by_mass(field: np.ndarray) -> np.ndarray:
    """The field shifted by whole pixels so the ink's centre of mass is at MNIST's centre."""
    if not field.any():
        return field
    centre_row, centre_column = ndimage.center_of_mass(field)
    top, left, bottom, right = ink_bounding_box(field)
    size = field.shape[0]
    # Round the shift as MNIST did, but never push ink off the field.
    shift_rows = int(np.clip(round(CENTRE - centre_row), -top, size - bottom))
    shift_columns = int(np.clip(round(CENTRE - centre_column), -left, size - right))
    # The shift never moves ink past an edge, so what wraps round is background: a roll is a shift.
    return np.roll(field, (shift_rows, shift_columns), axis=(0, 1))


def place_as_in_picture(
    scaled: np.ndarray, corner: tuple[int, int], picture_shape: tuple[int, int]
) -> np.ndarray:
    """The scaled digit in a 28x28 field, at the place it had in the picture."""
    field = np.zeros((SIZE, SIZE), dtype=np.float32)
    height, width = scaled.shape
    top = min(round(corner[0] / picture_shape[0] * SIZE), SIZE - height)
    left = min(round(corner[1] / picture_shape[1] * SIZE), SIZE - width)
    field[top : top + height, left : left + width] = scaled
    return field


def resize_to_field(ink: np.ndarray) -> np.ndarray:
    """The whole picture shrunk to 28x28, the naive way: no crop, shape not kept."""
    resized = Image.fromarray(ink.astype(np.float32)).resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized), 0, 1)


# Model inputs --------------------------------------------------------------------------------


def flatten(images) -> np.ndarray:
    """A batch of 28x28 images as rows of 784 pixels: shape (n, 784)."""
    images = np.asarray(images)
    if images.shape[-2:] == (SIZE, SIZE) and images.ndim in (2, 3):
        return images.reshape(-1, SIZE * SIZE)
    if images.ndim == 2 and images.shape[1] == SIZE * SIZE:
        return images
    raise ValueError(
        f"Expected 28x28 images, shape (n, 28, 28) or (n, 784); got shape {images.shape}."
    )


def scale(images) -> np.ndarray:
    """MNIST pixels 0-255 as float32 values from 0 to 1."""
    return np.asarray(images, dtype=np.float32) / 255


# Helpers -------------------------------------------------------------------------------------


def _upright(image: Image.Image) -> Image.Image:
    """The picture turned the way its camera's EXIF orientation says, as a decoded copy."""
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block: keep the picture as stored
        return image
    if upright is not image:
        image.close()
    return upright


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            f"The picture is {width:,} x {height:,} pixels, too large to be the drawing of one "
            f"digit (the limit is about {MAX_PIXELS // 1_000_000} megapixels)."
        )


def _as_picture(image: Image.Image | np.ndarray) -> Image.Image:
    """A PIL image in mode L, RGB or RGBA, from a PIL image or an array of any usual kind."""
    if isinstance(image, Image.Image):
        _check_size(image.width, image.height)
        return _normal_mode(image)
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(
            f"Expected a grey (height, width) or colour (height, width, 3 or 4) picture; "
            f"got an array of shape {array.shape}."
        )
    if array.size == 0:
        raise BlankImageError("The picture is empty: it has no pixels.")
    _check_size(array.shape[1], array.shape[0])
    return Image.fromarray(_as_bytes(array))


def _small_array(image: Image.Image | np.ndarray) -> np.ndarray | None:
    """An array picture small enough to use as it is (grey, RGB or RGBA uint8), else None.

    A canvas's drawing arrives as such an array; going through Pillow would only copy it twice.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        return None
    array = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        return None
    if array.size == 0 or max(array.shape[:2]) > WORKING_SIZE:
        return None
    return array


def _as_bytes(array: np.ndarray) -> np.ndarray:
    """Pixel values as uint8 0-255, whatever their type (bool, 0-1 floats, 16-bit, ...)."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if array.dtype.kind not in "uif":
        raise ImageError(f"Expected pixel values that are numbers; got {array.dtype}.")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise ImageError("Some pixel values are not numbers (NaN or infinite); fix them first.")
    if array.dtype.kind == "f" and values.min() >= 0 and values.max() <= 1:
        values = values * 255
    elif array.dtype.kind in "ui" and array.dtype.itemsize == 2:
        values = values / 257  # 16-bit shades
    elif values.min() < 0 or values.max() > 255:
        halves = values / 2  # halved, so that the range of the largest floats cannot overflow
        values = (halves - halves.min()) / max(halves.max() - halves.min(), 1e-12) * 255
    return np.rint(values).astype(np.uint8)


def _normal_mode(image: Image.Image) -> Image.Image:
    """The image in mode L, RGB or RGBA, keeping transparency and 16-bit shades."""
    bands = image.getbands()
    transparent = "A" in bands or "a" in bands or "transparency" in image.info
    if transparent:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    if image.mode in ("L", "RGB"):
        return image
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        return Image.fromarray(_as_bytes(np.asarray(image)))
    return image.convert("RGB" if len(bands) > 1 else "L")


def _shrunk(picture: Image.Image) -> Image.Image:
    """Very large pictures shrunk (smoothly) so that no side exceeds WORKING_SIZE."""
    if max(picture.size) <= WORKING_SIZE:
        return picture
    factor = WORKING_SIZE / max(picture.size)
    size = (max(1, round(picture.width * factor)), max(1, round(picture.height * factor)))
    return picture.resize(size, Image.Resampling.BOX)


def _centred_step(field: np.ndarray) -> Step:
    return Step(
        "centred",
        _display(field),
        "Moved so that the ink's centre of mass sits at the field's centre, as in MNIST.",
    )


def _display(image: np.ndarray, top: float = 1.0) -> np.ndarray:
    """Shades from 0 to ``top`` as uint8 0-255."""
    return np.rint(np.clip(image / top, 0, 1) * 255).astype(np.uint8)
