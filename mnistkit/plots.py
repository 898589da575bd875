"""Plotly figures and display images built from data; nothing here knows about a screen.

Digits are drawn as dark ink on a light page (pixel value 255 dark, 0 white), the way a learner
writes them, while the numbers stay MNIST's own: 0 is background, 255 is full ink.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

DIGITS = list(range(10))
INK = "#2f4b6e"  # the calm blue of the theme
MISTAKE = "#b5533c"
LOSS = "#8a6d1f"  # an ochre, so that no two lines of a legend share a colour
FONT = {"family": "sans-serif", "size": 13}
CHANCE_PERCENT = 10  # what guessing one of ten digits scores


def display_image(image: np.ndarray, size: int = 112) -> np.ndarray:
    """A 28x28 digit enlarged with sharp pixels, dark ink on white, ready for ``st.image``."""
    pixels = np.asarray(image, dtype=np.uint8)
    factor = max(1, size // pixels.shape[0])
    return 255 - np.kron(pixels, np.ones((factor, factor), dtype=np.uint8))


def class_averages(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The mean image of each digit 0-9, shape ``(10, 28, 28)`` as uint8 (blank if absent)."""
    averages = np.zeros((10, 28, 28), dtype=np.uint8)
    for digit in DIGITS:
        members = images[labels == digit]
        if len(members):
            averages[digit] = np.rint(members.mean(axis=0, dtype=np.float64)).astype(np.uint8)
    return averages


def pixel_matrix_text(image: np.ndarray) -> str:
    """The 28x28 pixel values as aligned rows of numbers, like NumPy prints an image."""
    return "\n".join(" ".join(f"{int(value):3d}" for value in row) for row in np.asarray(image))


def _layout(figure: go.Figure, height: int, **extra) -> go.Figure:
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        font=FONT,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        **extra,
    )
    return figure


def _digit_bars(values, colors, texts: Sequence[str], hover: str) -> go.Figure:
    """A bar per digit 0-9 with its value written above it; ``hover`` is Plotly's template."""
    figure = go.Figure(
        go.Bar(
            x=DIGITS,
            y=values,
            marker_color=colors,
            text=texts,
            textposition="outside",
            hovertemplate=f"{hover}<extra></extra>",
        )
    )
    return figure.update_xaxes(title="Digit", tickmode="array", tickvals=DIGITS)


def _mark_chance(figure: go.Figure, **where) -> None:
    """A dashed line at chance level (10%), labelled, so a failed run looks like one."""
    figure.add_hline(
        y=CHANCE_PERCENT,
        line={"color": "#888", "dash": "dash", "width": 1},
        annotation={
            "text": "chance (10%)",
            "font": {"color": "#444", "size": 12},
            "bgcolor": "rgba(255,255,255,0.85)",  # readable over bars
        },
        annotation_position="top left",
        **where,
    )


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``top`` in 1-2-5 steps: 0, 0.2, 0.4… or 0, 5, 10…"""
    if not top > 0:
        return [0.0, 1.0]
    rough = top / count
    power = 10 ** np.floor(np.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return [round(step * index, 10) for index in range(int(np.ceil(top / step)) + 1)]


def pixel_figure(image: np.ndarray, title: str = "", show_values: bool = True) -> go.Figure:
    """One digit as a 28x28 grid of pixels, each with its value written on it."""
    values = np.asarray(image, dtype=np.int64)
    text = np.where(values > 0, values.astype(str), "")  # blank paper stays quiet
    figure = go.Figure(
        go.Heatmap(
            z=values,
            text=text if show_values else None,
            texttemplate="%{text}" if show_values else None,
            textfont={"size": 13},  # readable on a projector
            colorscale=[[0, "#ffffff"], [1, "#1f2a36"]],
            zmin=0,
            zmax=255,
            showscale=False,
            xgap=1,
            ygap=1,
            hovertemplate="row %{y}, column %{x}: %{z}<extra></extra>",
        )
    )
    figure.update_xaxes(title="Pixel column", side="top", constrain="domain", showgrid=False)
    figure.update_yaxes(
        title="Pixel row", autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False
    )
    _layout(figure, 860 if show_values else 380, title=title)
    return figure.update_layout(plot_bgcolor="#e8e6df")  # the gaps between pixels


def count_figure(labels: np.ndarray) -> go.Figure:
    """How many images of each digit: a bar per digit."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=10)[:10]
    figure = _digit_bars(
        counts, INK, [f"{count:,}" for count in counts], "digit %{x}: %{y:,} images"
    )
    figure.update_yaxes(title="Training images (count)", range=[0, counts.max() * 1.15 + 1])
    return _layout(figure, 320)


def training_figure(history: Sequence[dict]) -> go.Figure:
    """Loss and accuracy after each epoch, side by side."""
    epochs = list(range(1, len(history) + 1))
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Training loss", "Accuracy"))
    figure.add_trace(
        go.Scatter(x=epochs, y=[row["loss"] for row in history], name="loss", line_color=LOSS),
        row=1,
        col=1,
    )
    for key, name, color in (
        ("train_accuracy", "training digits", INK),
        ("validation_accuracy", "held-out digits", MISTAKE),
    ):
        values = [row.get(key) for row in history]
        if any(value is not None for value in values):
            percents = [None if value is None else 100 * value for value in values]
            figure.add_trace(
                go.Scatter(x=epochs, y=percents, name=name, line_color=color), row=1, col=2
            )
    figure.update_xaxes(title="Epoch", tickmode="linear", dtick=max(1, len(epochs) // 10))
    figure.update_yaxes(title="Mean loss", row=1, col=1)
    figure.update_yaxes(title="Accuracy (%)", range=[0, 102], row=1, col=2)  # from 0: honest
    _mark_chance(figure, row=1, col=2)
    return _layout(figure, 320, legend={"orientation": "h", "y": -0.25})


def update_training_figure(figure: go.Figure, history: Sequence[dict]) -> bool:
    """Bring a ``training_figure`` of an earlier part of ``history`` up to date, in place.

    The same figure as ``training_figure(history)`` in about 1 ms instead of 18: a run's
    curves grow one epoch at a time while its page follows it. False when the curves shown
    differ (a validation share appeared), and the figure must be built again.
    """
    accuracies = [
        key
        for key in ("train_accuracy", "validation_accuracy")
        if any(row.get(key) is not None for row in history)
    ]
    if len(figure.data) != 1 + len(accuracies):
        return False
    epochs = list(range(1, len(history) + 1))
    if list(figure.data[0].x or ()) == epochs:
        return True
    with figure.batch_update():
        figure.data[0].x, figure.data[0].y = epochs, [row["loss"] for row in history]
        for trace, key in zip(figure.data[1:], accuracies, strict=True):
            values = [row.get(key) for row in history]
            trace.x, trace.y = epochs, [None if value is None else 100 * value for value in values]
        figure.update_xaxes(dtick=max(1, len(epochs) // 10))
    return True


def confusion_figure(confusion: np.ndarray, selected: tuple[int, int] | None = None) -> go.Figure:
    """The confusion matrix as a labelled heatmap whose cells can be clicked.

    ``selected`` (true digit, predicted digit) gets a frame around its cell.
    """
    counts = np.asarray(confusion, dtype=np.int64)
    true_digits, predicted_digits = np.meshgrid(DIGITS, DIGITS, indexing="ij")
    figure = go.Figure(
        go.Heatmap(
            z=np.log10(1 + counts),
            x=DIGITS,
            y=DIGITS,
            text=counts.tolist(),
            texttemplate="%{text}",
            colorscale=[[0, "#ffffff"], [0.35, "#c9d6e6"], [1, INK]],
            showscale=False,
            hoverinfo="skip",
        )
    )
    # Plotly heatmaps send no selection events, so an invisible marker sits on each cell.
    figure.add_trace(
        go.Scatter(
            x=predicted_digits.ravel(),
            y=true_digits.ravel(),
            mode="markers",
            marker={"symbol": "square", "size": 30, "color": "rgba(0,0,0,0)"},
            customdata=counts.ravel().tolist(),
            hovertemplate="true %{y}, predicted %{x}: %{customdata} digits<extra></extra>",
            selected={"marker": {"opacity": 1}},
            unselected={"marker": {"opacity": 1}},
            showlegend=False,
        )
    )
    ticks = {"tickmode": "array", "tickvals": DIGITS, "showgrid": False, "zeroline": False}
    figure.update_xaxes(title="Predicted digit", side="top", **ticks)
    figure.update_yaxes(title="True digit", autorange="reversed", scaleanchor="x", **ticks)
    if selected is not None:
        true, predicted = selected
        figure.add_shape(
            type="rect",
            x0=predicted - 0.5,
            x1=predicted + 0.5,
            y0=true - 0.5,
            y1=true + 0.5,
            line={"color": MISTAKE, "width": 3},
        )
    return _layout(figure, 460, clickmode="event+select", dragmode=False)


def per_class_figure(precision, recall, f1) -> go.Figure:
    """Precision, recall and F1 of each digit as grouped bars."""
    figure = go.Figure()
    for name, values, color in (
        ("precision", precision, INK),
        ("recall", recall, "#7f9cc0"),
        ("F1", f1, MISTAKE),
    ):
        percents = 100 * np.asarray(values, dtype=np.float64)
        figure.add_trace(go.Bar(x=DIGITS, y=percents, name=name, marker_color=color))
    figure.update_xaxes(title="Digit", tickmode="array", tickvals=DIGITS)
    figure.update_yaxes(title="Score (%)", range=[0, 102])  # from 0, so small gaps look small
    _mark_chance(figure)
    return _layout(figure, 320, barmode="group", legend={"orientation": "h", "y": -0.25})


def signed_digits_figure(
    images: np.ndarray, titles: Sequence[str], value_name: str, height: int = 330
) -> go.Figure:
    """Ten 28x28 images of signed values side by side: red where positive, blue where negative.

    One colour scale, symmetric around zero, is shared by all ten, so they can be compared.
    """
    values = np.asarray(images, dtype=np.float64)
    limit = float(np.abs(values).max()) or 1.0
    figure = make_subplots(
        rows=2, cols=5, subplot_titles=list(titles), horizontal_spacing=0.02, vertical_spacing=0.1
    )
    for digit, image in enumerate(values):
        figure.add_trace(
            go.Heatmap(
                z=image,
                zmin=-limit,
                zmax=limit,
                colorscale=[[0, "#2f6db5"], [0.5, "#ffffff"], [1, MISTAKE]],
                showscale=digit == 0,
                colorbar={"title": {"text": value_name, "side": "right"}, "thickness": 12},
                hovertemplate=(
                    f"digit {digit}, row %{{y}}, column %{{x}}: %{{z:.3g}}<extra></extra>"
                ),
            ),
            row=digit // 5 + 1,
            col=digit % 5 + 1,
        )
    figure.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    figure.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed")
    for index in range(1, 11):
        figure.update_yaxes(
            scaleanchor=f"x{'' if index == 1 else index}",
            row=(index - 1) // 5 + 1,
            col=(index - 1) % 5 + 1,
        )
    figure.update_annotations(font={"size": 12})
    return _layout(figure, height)


def readings_figure(names: Sequence[str], probabilities: np.ndarray) -> go.Figure:
    """Each model's probability for each digit as a heatmap: one row per model.

    Names are wrapped and cells under 1% left blank, so it stays readable on a phone.
    """
    percents = 100 * np.asarray(probabilities, dtype=np.float64)
    rows = [f"{index + 1}. {name}" for index, name in enumerate(names)]  # unique, in list order
    figure = go.Figure(
        go.Heatmap(
            z=percents,
            x=DIGITS,
            y=[_wrapped(row) for row in rows],
            text=np.vectorize(lambda value: f"{value:.0f}" if value >= 1 else "")(percents),
            texttemplate="%{text}",
            colorscale=[[0, "#ffffff"], [1, INK]],
            zmin=0,
            zmax=100,
            showscale=False,
            customdata=np.array([[row] * len(DIGITS) for row in rows]),
            hovertemplate="%{customdata}: digit %{x}, %{z:.1f}%<extra></extra>",
        )
    )
    figure.update_xaxes(
        title="Digit (numbers: probability in %)", tickmode="array", tickvals=DIGITS, side="top"
    )
    figure.update_yaxes(title=None, autorange="reversed", automargin=True, tickfont={"size": 11})
    return _layout(figure, 110 + 48 * len(names))


def _wrapped(text: str, width: int = 22) -> str:
    """``text`` broken into lines of about ``width`` characters, for Plotly (``<br>``)."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "<br>".join([*lines, line])


def learning_curve_figure(
    sizes: Sequence[int], accuracies: Sequence[float], seconds: Sequence[float], marked: int = 1000
) -> go.Figure:
    """Test accuracy and training time against training-set size, the article's size marked."""
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(
        go.Scatter(
            x=list(sizes),
            y=[100 * accuracy for accuracy in accuracies],
            mode="lines+markers+text",
            text=[f"{100 * accuracy:.1f}%" for accuracy in accuracies],
            textposition="top center",
            name="test accuracy (%)",
            line={"color": INK, "width": 3},
        )
    )
    figure.add_trace(
        go.Scatter(
            x=list(sizes),
            y=list(seconds),
            mode="lines+markers",
            name="training time (s)",
            line={"color": MISTAKE, "dash": "dot"},
        ),
        secondary_y=True,
    )
    figure.add_vline(x=marked, line={"color": "#888", "dash": "dash"})
    figure.add_annotation(
        x=np.log10(marked),
        y=1.0,
        yref="paper",
        text=f"the article's {marked:,} images",
        showarrow=False,
        xanchor="left",
        yanchor="bottom",
        font={"color": "#666"},
    )
    ends = np.log10([min(min(sizes), marked), max(max(sizes), marked)])
    ticks = sorted({*map(int, sizes), int(marked)})
    figure.update_xaxes(
        title="Training images (log scale)",
        type="log",
        range=[ends[0] - 0.2, ends[1] + 0.2],
        tickmode="array",
        tickvals=ticks,
        ticktext=[f"{size:,}" for size in ticks],  # the real sizes: 500, 5,000, 60,000
    )
    figure.update_yaxes(title="Test accuracy (%)", secondary_y=False, range=[0, 102])
    _mark_chance(figure, secondary_y=False)
    times = nice_ticks(max(seconds, default=0))
    figure.update_yaxes(
        title="Training time (s)",
        secondary_y=True,
        showgrid=False,
        range=[0, times[-1] * 1.02],
        tickmode="array",
        tickvals=times,
        ticktext=[f"{value:g}" for value in times],
    )
    figure = _layout(figure, 400, legend={"orientation": "h", "y": -0.25})
    return figure.update_layout(margin={"t": 60})


def step_figure(titles: Sequence[str], accuracies: Sequence[float]) -> go.Figure:
    """Test accuracy after each step of a walkthrough, as labelled horizontal bars."""
    figure = go.Figure(
        go.Bar(
            x=[100 * accuracy for accuracy in accuracies],
            y=list(titles),
            orientation="h",
            text=[f"{100 * accuracy:.1f}%" for accuracy in accuracies],
            textposition="outside",
            marker_color=INK,
        )
    )
    figure.update_xaxes(title="Test accuracy (%)", range=[0, 105])
    figure.update_yaxes(autorange="reversed")
    return _layout(figure, 60 + 42 * len(titles))


def feature_maps_figure(kernels: np.ndarray, maps: np.ndarray, columns: int = 8) -> go.Figure:
    """A CNN's first filters and what each finds in one digit: a row of filters, then their maps.

    Filters are drawn signed (red where a pixel's ink adds to the filter's output, blue where it
    takes away), each on its own scale; the maps share one scale from 0 (nothing found, white)
    to the strongest response (dark).
    """
    kernels = np.asarray(kernels, dtype=np.float64)
    maps = np.asarray(maps, dtype=np.float64)
    count = len(maps)
    columns = max(1, min(columns, count))
    bands = -(-count // columns)  # each band: a row of filters above a row of their maps
    titles = []
    for band in range(bands):
        members = range(band * columns, min(count, (band + 1) * columns))
        titles += [f"Filter {index + 1}" for index in members]
        titles += [""] * (columns - len(members))
        titles += [""] * columns
    figure = make_subplots(
        rows=2 * bands,
        cols=columns,
        subplot_titles=titles,
        row_heights=[0.35, 1.0] * bands,
        horizontal_spacing=0.015,
        vertical_spacing=0.04 / bands,
    )
    strongest = float(maps.max()) or 1.0
    for index in range(count):
        band, column = divmod(index, columns)
        limit = float(np.abs(kernels[index]).max()) or 1.0
        figure.add_trace(
            go.Heatmap(
                z=kernels[index],
                zmin=-limit,
                zmax=limit,
                colorscale=[[0, "#2f6db5"], [0.5, "#ffffff"], [1, MISTAKE]],
                showscale=False,
                hovertemplate=(
                    f"filter {index + 1}, row %{{y}}, column %{{x}}: "
                    "weight %{z:.3g}<extra></extra>"
                ),
            ),
            row=2 * band + 1,
            col=column + 1,
        )
        figure.add_trace(
            go.Heatmap(
                z=maps[index],
                zmin=0,
                zmax=strongest,
                colorscale=[[0, "#ffffff"], [1, INK]],
                showscale=index == 0,
                colorbar={"title": {"text": "Response", "side": "right"}, "thickness": 12},
                hovertemplate=(
                    f"filter {index + 1}, row %{{y}}, column %{{x}}: %{{z:.3g}}<extra></extra>"
                ),
            ),
            row=2 * band + 2,
            col=column + 1,
        )
    figure.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    figure.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed")
    for row in range(1, 2 * bands + 1):
        for column in range(1, columns + 1):
            index = (row - 1) * columns + column
            figure.update_yaxes(scaleanchor=f"x{'' if index == 1 else index}", row=row, col=column)
    figure.update_annotations(font={"size": 11})
    return _layout(figure, 150 + 170 * bands)
