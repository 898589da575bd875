"""Preprocessing: real MNIST digits drawn on canvases come back as MNIST made them."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from drawings import STYLES, canvas_png
from PIL import Image, ImageDraw
from scipy import ndimage

from mnistkit.preprocess import (
    BlankImageError,
    ImageError,
    ImageTooLargeError,
    Step,
    flatten,
    preprocessing_steps,
    read_image,
    scale,
    to_mnist,
)

OFFSETS = [(30, 140), (150, 20), (10, 10)]  # (left, top) of a 112-pixel digit on a 280 canvas


@pytest.fixture(scope="module")
def digits(mnist_path):
    """Twenty real test digits and their labels."""
    with np.load(mnist_path, allow_pickle=False) as stored:
        return stored["x_test"][:20], stored["y_test"][:20]


def best_correlation(result: np.ndarray, original: np.ndarray) -> float:
    """The correlation of two 28x28 images, allowing one pixel of shift either way."""
    return max(
        np.corrcoef(np.roll(result, (rows, columns), (0, 1)).ravel(), original.ravel())[0, 1]
        for rows in (-1, 0, 1)
        for columns in (-1, 0, 1)
    )


def png(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=options.pop("format", "PNG"), **options)
    return buffer.getvalue()


def drawn(strokes, width: int = 2, size: int = 280) -> Image.Image:
    """Black strokes of ``width`` pixels on a white canvas: lines (point lists) or ellipses."""
    canvas = Image.new("L", (size, size), 255)
    pen = ImageDraw.Draw(canvas)
    for kind, points in strokes:
        if kind == "line":
            pen.line(points, fill=0, width=width, joint="curve")
        else:
            pen.ellipse(points, outline=0, width=width)
    return canvas


# Canvas pictures of real digits ---------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_a_small_off_centre_digit_comes_back_close_to_the_original(digits, style):
    images, _ = digits
    for offset in OFFSETS:
        results = np.array(
            [to_mnist(read_image(canvas_png(image, style, 4, offset))) for image in images]
        )
        assert results.shape == (20, 28, 28) and results.dtype == np.uint8
        originals = images.astype(float)
        for result, original in zip(results.astype(float), originals, strict=True):
            assert best_correlation(result, original) > 0.85
            row, column = ndimage.center_of_mass(result)
            assert abs(row - 14) <= 0.5 and abs(column - 14) <= 0.5  # as MNIST centres them
            assert result.max() == 255 and result[0].max() == result[:, 0].max() == 0
        plain = [
            np.corrcoef(r.ravel(), o.ravel())[0, 1] for r, o in zip(results, originals, strict=True)
        ]
        assert np.mean(plain) > 0.85
        # Each result is nearer its own original than any of the other nineteen digits.
        distances = ((results[:, None].astype(float) - originals[None]) ** 2).sum(axis=(2, 3))
        assert np.array_equal(distances.argmin(axis=1), np.arange(20))


def test_the_three_styles_give_the_same_digit(digits):
    image = digits[0][3]
    results = [to_mnist(read_image(canvas_png(image, style, 5, (40, 60)))) for style in STYLES]
    for result in results[1:]:
        assert np.abs(result.astype(int) - results[0]).max() <= 2


def test_an_mnist_digit_is_almost_unchanged(digits):
    images, _ = digits
    for image in images:
        result = to_mnist(image)
        assert np.corrcoef(result.ravel(), image.ravel())[0, 1] > 0.97


def test_light_ink_on_transparent_and_dark_backgrounds(digits):
    image = digits[0][5]
    ink = np.asarray(Image.fromarray(image).resize((140, 140), Image.Resampling.BILINEAR))
    white = np.full_like(ink, 255)
    light_on_transparent = np.dstack([white, white, white, ink])  # white pen, no background
    grey_paper = np.where(ink > 0, 40 + ink * 0.8, 40).astype(np.uint8)  # light ink, grey paper
    expected = to_mnist(ink)
    for picture in (light_on_transparent, grey_paper, Image.fromarray(255 - ink).convert("RGB")):
        assert np.abs(to_mnist(picture).astype(int) - expected).mean() < 3


def test_a_sheet_with_transparent_margins(digits):
    image = digits[0][6]
    sheet = np.full((280, 280), 255, np.uint8)
    sheet[90:202, 80:192] = 255 - np.asarray(Image.fromarray(image).resize((112, 112)))
    opacity = np.zeros_like(sheet)
    opacity[30:250, 30:250] = 255  # like a screenshot's transparent shadow
    black = np.zeros_like(sheet)
    picture = np.dstack([np.where(opacity > 0, sheet, black)] * 3 + [opacity])
    assert best_correlation(to_mnist(picture).astype(float), image.astype(float)) > 0.85


# Blank pictures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "picture",
    [
        np.zeros((280, 280, 4), np.uint8),  # a transparent canvas
        np.full((280, 280, 4), 255, np.uint8),  # an opaque white one
        np.full((280, 280, 3), 255, np.uint8),
        np.zeros((280, 280), np.uint8),
        Image.new("L", (280, 280), 255),
        np.random.default_rng(0).integers(200, 212, (280, 280)).astype(np.uint8),  # bare paper
    ],
    ids=["transparent", "white RGBA", "white RGB", "black", "white PIL", "paper texture"],
)
def test_a_blank_canvas_raises(picture):
    with pytest.raises(BlankImageError) as caught:
        to_mnist(picture)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == "The picture is blank: there is no digit in it."


def test_a_blank_canvas_png_raises():
    for style in STYLES:
        with pytest.raises(BlankImageError):
            to_mnist(read_image(canvas_png(np.zeros((28, 28), np.uint8), style)))


# Thin strokes -----------------------------------------------------------------------------------


def rows_and_columns_with_ink(result: np.ndarray, level: int = 128) -> tuple[int, int]:
    ink = result >= level
    return int(ink.any(axis=1).sum()), int(ink.any(axis=0).sum())


def test_a_thin_one_survives():
    result = to_mnist(drawn([("line", [(140, 40), (140, 240)])]))
    rows, _ = rows_and_columns_with_ink(result)
    assert rows == 20  # unbroken, top to bottom of the 20-pixel box
    assert (result >= 128).sum(axis=1).max() >= 2  # and as wide as MNIST's ones


def test_a_thin_seven_survives_unbroken():
    result = to_mnist(drawn([("line", [(60, 50), (200, 50), (110, 240)])]))
    labelled, parts = ndimage.label(result >= 128)
    assert parts == 1
    assert rows_and_columns_with_ink(result) == (20, 15)
    assert (result >= 128).sum() >= 50


def test_a_thin_zero_stays_a_ring():
    result = to_mnist(drawn([("ellipse", [90, 40, 190, 240])]))
    ink = result >= 128
    assert ndimage.label(ink)[1] == 1
    holes = ndimage.binary_fill_holes(ink) & ~ink
    assert holes.sum() >= 30  # the middle of the zero stays empty
    assert result[ink].mean() > 180  # strong, not faint


def test_thin_strokes_fade_without_cropping_which_is_why_it_matters():
    naive = preprocessing_steps(drawn([("ellipse", [90, 40, 190, 240])]), crop_and_scale=False)
    assert naive[-1].image.max() < 128


@pytest.mark.parametrize("width", [2, 6, 22])
def test_stroke_width_on_the_canvas_barely_changes_the_result(width):
    results = [
        to_mnist(drawn([("line", [(60, 50), (200, 50), (110, 240)])], width=w)) for w in (width, 22)
    ]
    assert best_correlation(results[0].astype(float), results[1].astype(float)) > 0.8


# The steps --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        ({}, ["raw", "ink", "cropped", "scaled", "centred"]),
        ({"center": False}, ["raw", "ink", "cropped", "scaled", "placed"]),
        ({"crop_and_scale": False}, ["raw", "ink", "resized", "centred"]),
        ({"crop_and_scale": False, "center": False}, ["raw", "ink", "resized"]),
    ],
)
def test_steps_are_named_displayable_and_explained(digits, flags, names):
    picture = read_image(canvas_png(digits[0][0], "black-on-transparent", 4, (30, 140)))
    steps = preprocessing_steps(picture, **flags)
    assert [step.name for step in steps] == names
    for step in steps:
        assert isinstance(step, Step)
        assert step.image.ndim == 2 and step.image.dtype == np.uint8
        assert step.explanation.endswith(".") and step.explanation[0].isupper()
    assert steps[0].image.shape == steps[1].image.shape == (280, 280)
    assert steps[-1].image.shape == (28, 28)
    if not flags:
        assert np.array_equal(steps[-1].image, to_mnist(picture))
        assert max(steps[3].image.shape) == 20
    with pytest.raises(AttributeError):
        steps[0].name = "changed"


def test_the_ink_step_says_which_way_round_the_picture_was(digits):
    image = digits[0][0]
    dark_on_light = preprocessing_steps(255 - image)[1].explanation
    light_on_dark = preprocessing_steps(image)[1].explanation
    assert "inverted" in dark_on_light and "inverted" not in light_on_dark


def test_without_centring_an_off_centre_digit_stays_off_centre(digits):
    picture = read_image(canvas_png(digits[0][0], "white-on-black", 4, (5, 5)))
    placed = preprocessing_steps(picture, center=False)[-1].image
    centred = preprocessing_steps(picture)[-1].image
    row, column = ndimage.center_of_mass(placed.astype(float))
    assert row < 12 and column < 12  # top left, where it was drawn
    assert np.allclose(ndimage.center_of_mass(centred.astype(float)), 14, atol=0.5)


def test_without_cropping_a_small_digit_stays_small(digits):
    picture = read_image(canvas_png(digits[0][0], "black-on-white", 4, (30, 140)))
    resized = preprocessing_steps(picture, crop_and_scale=False, center=False)[-1].image
    rows, columns = rows_and_columns_with_ink(resized, 1)
    assert max(rows, columns) <= 13  # 112 of 280 pixels: a digit about 11 pixels high


# Reading files ----------------------------------------------------------------------------------


def test_read_image_accepts_bytes_files_and_paths(digits, tmp_path):
    raw = canvas_png(digits[0][0], "black-on-transparent")
    path = tmp_path / "digit.png"
    path.write_bytes(raw)
    expected = to_mnist(read_image(raw))
    for source in (path, str(path), io.BytesIO(raw)):
        assert np.array_equal(to_mnist(read_image(source)), expected)


def test_not_a_picture():
    with pytest.raises(ImageError) as caught:
        read_image(b"%PDF-1.4 this is not a picture")
    assert str(caught.value).startswith("The file is not a picture that can be read")


def test_a_missing_file(tmp_path):
    with pytest.raises(ImageError, match="There is no picture at"):
        read_image(tmp_path / "none.png")


def test_a_truncated_picture(digits):
    raw = png(Image.fromarray(digits[0][0]).resize((280, 280)), compress_level=0)
    with pytest.raises(ImageError) as caught:
        read_image(raw[: len(raw) // 2])
    assert str(caught.value) == "The picture file is damaged or cut short, so it cannot be decoded."


def with_declared_size(raw_png: bytes, width: int, height: int) -> bytes:
    """The PNG with its header claiming another size (and a correct checksum)."""
    header = b"IHDR" + struct.pack(">II", width, height) + raw_png[24:29]
    return raw_png[:12] + header + struct.pack(">I", zlib.crc32(header)) + raw_png[33:]


@pytest.mark.parametrize("size", [(6_000, 5_000), (20_000, 20_000)], ids=["30 Mpx", "400 Mpx"])
def test_a_huge_picture_is_refused_before_decoding(size):
    raw = with_declared_size(png(Image.new("L", (10, 10))), *size)
    with pytest.raises(ImageTooLargeError) as caught:  # not "damaged": it was never decoded
        read_image(raw)
    assert "too" in str(caught.value) and str(caught.value).endswith(".")


def test_a_huge_array_is_refused():
    huge = np.broadcast_to(np.uint8(0), (6_000, 5_000))  # no memory behind it
    with pytest.raises(ImageTooLargeError, match="5,000 x 6,000 pixels"):
        to_mnist(huge)


def transparent_paper(paper: np.ndarray) -> Image.Image:
    """A palette picture whose white (the paper) is its transparent colour, as GIFs do it."""
    picture = Image.fromarray(paper).convert("P")
    white = picture.getpixel((0, 0))
    picture.info["transparency"] = white
    assert paper[0, 0] == 255
    return picture


def test_unusual_picture_modes(digits):
    image = digits[0][2]
    ink = np.asarray(Image.fromarray(image).resize((112, 112), Image.Resampling.BILINEAR))
    expected = to_mnist(ink)
    paper = 255 - ink
    pictures = {
        "16-bit": Image.fromarray(paper.astype(np.uint16) * 257),
        "palette": Image.fromarray(paper).convert("P"),
        "palette with transparency": transparent_paper(paper),
        "CMYK": Image.fromarray(paper).convert("CMYK"),
        "bilevel": Image.fromarray(paper).convert("1"),
        "grey with alpha": Image.fromarray(np.dstack([paper * 0, ink])).convert("LA"),
        "32-bit float": Image.fromarray(paper.astype(np.float32)),
    }
    for name, picture in pictures.items():
        file_format = "PNG" if picture.mode == "P" else "TIFF"
        for candidate in (picture, read_image(png(picture, format=file_format))):
            result = to_mnist(candidate)
            tolerance = 40 if name == "bilevel" else 12
            assert np.abs(result.astype(int) - expected).mean() < tolerance, name


def test_an_animated_gif_gives_its_first_frame(digits):
    ink = np.asarray(Image.fromarray(digits[0][1]).resize((112, 112)))
    frames = [Image.fromarray(255 - ink), Image.new("L", (112, 112), 255)]
    raw = png(frames[0], format="GIF", save_all=True, append_images=frames[1:], duration=100)
    assert np.abs(to_mnist(read_image(raw)).astype(int) - to_mnist(ink)).mean() < 10


def test_exif_orientation_is_applied(digits):
    upright = Image.fromarray(255 - np.asarray(Image.fromarray(digits[0][0]).resize((112, 112))))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a phone held sideways saves it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to show"
    raw = png(stored, format="JPEG", exif=exif, quality=95)
    picture = read_image(raw)
    assert picture.size == upright.size
    assert np.abs(to_mnist(picture).astype(int) - to_mnist(upright)).mean() < 10


@pytest.mark.parametrize(
    "array",
    [np.zeros((28, 28, 2)), np.zeros((2, 28, 28, 3)), np.zeros(784), np.array([["a"]])],
    ids=["two channels", "a batch", "flat", "text"],
)
def test_arrays_that_are_not_pictures(array):
    with pytest.raises(ImageError):
        to_mnist(array)


def test_arrays_of_any_usual_type(digits):
    image = digits[0][4]
    expected = to_mnist(image)
    for variant in (image / 255, image.astype(np.uint16) * 257, image[..., None], image > 127):
        result = to_mnist(variant)
        tolerance = 30 if variant.dtype == bool else 2
        assert np.abs(result.astype(int) - expected).mean() < tolerance


# Model inputs -----------------------------------------------------------------------------------


def test_flatten_and_scale():
    images = np.arange(2 * 784, dtype=np.uint16).reshape(2, 28, 28) % 256
    flat = flatten(images)
    assert flat.shape == (2, 784) and np.array_equal(flat[1], images[1].ravel())
    assert flatten(images[0]).shape == (1, 784)
    assert flatten(flat) is flat
    scaled = scale(images.astype(np.uint8))
    assert scaled.dtype == np.float32 and scaled.max() == 1.0 and scaled.min() == 0.0
    with pytest.raises(ValueError, match="28x28"):
        flatten(np.zeros((2, 27, 27)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_pixels_that_are_not_numbers_are_refused(bad):
    picture = np.zeros((28, 28), dtype=np.float32)
    picture[10:18, 12:16] = 1.0
    picture[0, 0] = bad
    with pytest.raises(ImageError, match="not numbers"):
        to_mnist(picture)


@pytest.mark.parametrize("style", STYLES)
def test_to_mnist_is_the_last_step_the_inspector_shows(digits, style):
    """The fast path a model reads from and the step-by-step inspector never disagree."""
    images, _ = digits
    for index, (enlarged, offset) in enumerate([(2, (0, 0)), (5, (100, 20)), (9, (10, 20))]):
        png_bytes = canvas_png(images[index], style, scale=enlarged, offset=offset)
        for picture in (read_image(png_bytes), np.asarray(Image.open(io.BytesIO(png_bytes)))):
            assert np.array_equal(to_mnist(picture), preprocessing_steps(picture)[-1].image)
    thin = drawn([("line", [60, 40, 200, 250])], width=2)  # widened before scaling
    assert np.array_equal(to_mnist(thin), preprocessing_steps(thin)[-1].image)
