"""The Compare page's views: the article step by step, learning curves, where the models disagree.

Every finished run is stored in ``st.session_state`` the moment it is done, so a click on Stop (or
anywhere else), which interrupts the script, loses only the run that was under way.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from mnistkit import experiments, plots
from mnistkit.models import REGISTRY
from mnistkit.training import RunConfig
from mnistkit.ui import jobs, state
from mnistkit.ui.widgets import digit_gallery

WALK_KEY = "mnistkit_walkthrough"  # {data set source: [Result, ...]} in step order
CURVE_KEY = "mnistkit_curves"  # {(settings, data set source): {training images: Result}}


def _buttons(start_label: str, finished: bool, key: str, tag, clear) -> None:
    """Start and Start over, as callbacks (run once, before the page): start or clear the series.

    Stop is the queued run's own button, under its progress bar.
    """

    def start_over() -> None:
        clear()
        jobs.end_series(tag)

    start, again = st.columns([3, 2])
    label = "All done: Start over to run again" if finished else start_label
    start.button(
        label,
        type="primary",
        disabled=finished,
        key=f"{key}_start",
        on_click=jobs.start_series,
        args=(tag,),
    )
    again.button(
        "Start over", icon=":material/restart_alt:", key=f"{key}_reset", on_click=start_over
    )


def _run_series(tag, parts: list[dict], configs: list[RunConfig], unit: str, file) -> None:
    """Queue the series' next run when none of the visitor's runs is under way; show its progress.

    ``parts`` and ``configs`` describe the runs still to do, in order. Each run is a job like
    Train's, trained in a worker; its result comes back to ``jobs.finished_parts(tag)``, and
    ``file`` keeps it where the section shows it.
    """
    if not jobs.series_running(tag):
        return
    while True:
        if not parts:
            jobs.end_series(tag)
            return
        if jobs.active():
            break
        if not jobs.submit(configs[0], part={**parts[0], "tag": tag}):
            jobs.end_series(tag)  # refused: the sentence is shown, the series stops
            return
        if jobs.active():
            break
        file(jobs.finished_parts(tag))  # an identical run was trained already: ready at once
        parts, configs = parts[1:], configs[1:]
    if jobs.part_active(tag):
        st.caption(f"Now training {parts[0]['label']}; {len(parts) - 1} more {unit} after it.")
    else:
        st.caption("Waiting for your run on the Train page to finish before starting.")
    jobs.progress()


def article_walkthrough(dataset) -> None:
    """Reproduce the first article's run, then change one thing at a time."""
    scores = experiments.article_first_image(dataset)
    st.write(
        "The article first trains its net for 5 epochs on the first training image alone (a "
        f"{dataset.y_train[0]}) and prints the ten scores it then gives that image. Computed "
        "here, now:"
    )
    vector = "[" + ", ".join(repr(float(score)) for score in scores) + "]"
    st.code(vector, language=None, wrap_lines=True)
    st.markdown("\n".join(f"- **{step.title}**: {step.why}" for step in experiments.WALKTHROUGH))
    results = st.session_state.setdefault(WALK_KEY, {}).setdefault(dataset.source, [])
    steps = experiments.WALKTHROUGH
    tag = ("walk", dataset.source)

    def file(finished: list) -> None:
        for part, trained in finished:
            if part["index"] == len(results):  # in step order; a leftover after Start over
                results.append(experiments.Result(part["label"], part["size"], trained))

    jobs.collect()  # a run that has just finished is filed before anything is shown
    file(jobs.finished_parts(tag))
    label = "Run the remaining steps" if results else "Run the walkthrough"
    _buttons(label, len(results) == len(steps), "walk", tag, results.clear)
    jobs.notice()
    available = len(dataset.y_train)
    configs = [step.config(available) for step in steps[len(results) :]]
    parts = [
        {"index": len(results) + i, "label": step.title, "size": c.train_size or available}
        for i, (step, c) in enumerate(zip(steps[len(results) :], configs, strict=True))
    ]
    _run_series(tag, parts, configs, "steps", file)
    _walk_table(st.empty(), results)
    if not results:
        st.caption(
            f"{len(steps)} steps, each trained in turn by the server's workers; the whole "
            "walkthrough takes a few minutes, most of them for the last one, the CNN."
        )
        return
    figure = plots.step_figure([r.label for r in results], [r.test_accuracy for r in results])
    st.plotly_chart(figure, width="stretch")
    if len(results) < len(steps):
        st.caption(f"{len(steps) - len(results)} steps still to run.")


def _walk_table(placeholder, results: list) -> None:
    """The finished steps as a table (nothing while there are none)."""
    if not results:
        return
    rows = [
        {
            "step": result.label,
            "training images": result.train_size,
            "test accuracy (%)": 100 * result.test_accuracy,
            "training time (s)": result.seconds,
        }
        for result in results
    ]
    placeholder.dataframe(
        rows,
        hide_index=True,
        column_config={
            "training images": st.column_config.NumberColumn(format="%d"),
            "test accuracy (%)": st.column_config.NumberColumn(format="%.2f"),
            "training time (s)": st.column_config.NumberColumn(format="%.1f"),
        },
    )


def _curve_settings() -> dict[str, RunConfig]:
    """Each family's defaults and presets, and the settings of each of the visitor's models."""
    options = {}
    for name, model_class in REGISTRY.items():
        options[f"{model_class.display_name}: default settings"] = RunConfig(model=name)
        for preset in model_class.presets:
            options[f"{model_class.display_name}: preset {preset}"] = RunConfig.from_preset(
                name, preset
            )
    for entry in state.all_models():
        options[f"the settings of {entry.name}"] = entry.trained.config
    return options


def learning_curves(dataset) -> None:
    """Test accuracy and training time against training-set size, trained on demand."""
    options = _curve_settings()
    chosen = st.selectbox("Settings", list(options), key="curve_settings")
    config = options[chosen]
    available = len(dataset.y_train)
    sizes = experiments.curve_sizes(available)
    st.caption(
        f"Trains {len(sizes)} models, on the first {', '.join(f'{s:,}' for s in sizes)} "
        f"training images, each for {config.epochs} epochs."
    )
    done = st.session_state.setdefault(CURVE_KEY, {}).setdefault((chosen, dataset.source), {})
    tag = ("curve", chosen, dataset.source)

    def file(finished: list) -> None:
        for part, trained in finished:
            done[part["size"]] = experiments.Result(part["label"], part["size"], trained)

    jobs.collect()  # a run that has just finished is filed before anything is shown
    file(jobs.finished_parts(tag))
    _buttons("Train the curve", len(done) == len(sizes), "curve", tag, done.clear)
    jobs.notice()
    to_do = [size for size in sizes if size not in done]
    _run_series(
        tag,
        [{"label": f"{size:,} images", "size": size} for size in to_do],
        [
            dataclasses.replace(config, train_size=None if size >= available else size)
            for size in to_do
        ],
        "sizes",
        file,
    )
    if not done:
        return
    shown = sorted(done)
    st.plotly_chart(
        plots.learning_curve_figure(
            shown, [done[s].test_accuracy for s in shown], [done[s].seconds for s in shown]
        ),
        width="stretch",
    )


def where_models_disagree(dataset) -> None:
    """Test digits the visitor's models label differently, and the training digits nearest one."""
    entries = state.all_models()
    if len(entries) < 2:
        st.info("Train at least two models to see where they disagree.", icon=":material/info:")
        return
    predictions = {e.name: state.evaluation_of(e, dataset).predictions for e in entries}
    found = experiments.disagreements(predictions, dataset.y_test)
    st.write(
        f"Your {len(entries)} models disagree on **{len(found):,}** of the "
        f"{len(dataset.y_test):,} test digits. Under each digit: its label, then each model's "
        "answer in the order of your list."
    )
    if not found:
        return
    shown = found[:24]
    digit_gallery(
        dataset.x_test[[d.index for d in shown]],
        [f"{d.true}: " + " / ".join(map(str, d.answers.values())) for d in shown],
        size=72,
    )
    chosen = st.selectbox(
        "Look closer at",
        found[:200],
        format_func=lambda d: f"test digit #{d.index} (a {d.true})",
        key="disagreement",
    )
    image, answers = st.columns([1, 3])
    with image:
        digit_gallery(dataset.x_test[[chosen.index]], [f"labelled {chosen.true}"], size=140)
    with answers:
        verdicts = ["right" if a == chosen.true else "wrong" for a in chosen.answers.values()]
        table = zip(chosen.answers.items(), verdicts, strict=True)
        st.dataframe(
            [{"model": n, "answer": a, "verdict": v} for (n, a), v in table], hide_index=True
        )
    nearest = experiments.nearest_training_digits(dataset.x_test[chosen.index], dataset.x_train)
    st.write(
        "The training digits most like it, pixel by pixel, with their labels: a model learns "
        "from examples like these, so when they carry other labels, a mistake is no surprise."
    )
    digit_gallery(
        dataset.x_train[nearest], [f"{dataset.y_train[i]} · #{i}" for i in nearest], size=84
    )
