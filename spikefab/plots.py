"""PNG plots of a run's report: training curves, the test confusion matrix, a spike raster.

:func:`write_plots` draws what a report holds, each as its own PNG in a folder:

* ``training.png`` — accuracy (train dashed, test solid) and weight writes per sample
  against the epoch, one colour per run: the ``history`` of a ``spikefab train`` report,
  the chip's and the float model's (``float_history``) of a ``spikefab sim`` report with
  the final hardware, golden and float test accuracies marked, or every run of
  ``make bench``'s ``accuracy.json`` (``runs``);
* ``confusion.png`` — the ``confusion`` counts (rows the true label, columns the
  prediction), annotated;
* ``raster.png`` — the ``raster`` of one test sample: its spikes in every layer.

matplotlib is an optional dependency (``pip install 'spikefab[plots]'``), imported when
first needed with the Agg backend (no display); without it :func:`require_matplotlib`
raises :class:`PlotsUnavailable` with one line saying how to install it.
"""

import importlib.util
import os
from pathlib import Path

from spikefab.files import write_atomically


__all__ = ["PlotsUnavailable", "ReportError", "check_report", "require_matplotlib", "check_plot_folder", "write_plots",
           "plot_names", "training_runs", "PLOT_FILES"]

#: The file each plot is written to, in the order they are drawn.
PLOT_FILES = {"training": "training.png", "confusion": "confusion.png",
              "raster": "raster.png"}
INSTALL_HINT = "pip install 'spikefab[plots]' (or matplotlib)"
DPI = 110


class PlotsUnavailable(Exception):
    """matplotlib is not installed, or a report holds nothing to plot."""


class ReportError(ValueError):
    """A report whose plot data is malformed (names the part)."""


def require_matplotlib():
    """Raise :class:`PlotsUnavailable` unless matplotlib can be imported (checked
    without importing it, so a run can refuse before it starts)."""
    if importlib.util.find_spec("matplotlib") is None:
        raise PlotsUnavailable(f"plots need matplotlib, which is not installed; "
                               f"install it with: {INSTALL_HINT}")


def check_plot_folder(path):
    """Refuse, with one line, before any work: no matplotlib, or a ``path`` that cannot
    be a folder of plots (a file, or under one)."""
    require_matplotlib()
    if not str(path):
        raise PlotsUnavailable("--plots needs a folder name")
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                raise PlotsUnavailable(f"cannot write plots to {path}: {folder} is not "
                                       f"a folder")
            if not os.access(folder, os.W_OK):
                raise PlotsUnavailable(f"cannot write plots to {path}: {folder} is not "
                                       f"writable")
            return


def _pyplot():
    require_matplotlib()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


# -- what a report holds -------------------------------------------------------------------

def training_runs(report):
    """``[(label, history)]``: the per-epoch histories a report holds, each a list of
    ``{"epoch", "train_accuracy", "test_accuracy"?, "weight_writes_per_sample"?}``."""
    if "runs" in report:                                   # make bench's accuracy.json
        return [(f"{run['algo']} {run['engine']} seed {run['seed']}", run["history"])
                for run in report["runs"] if run.get("history")]
    runs = []
    if report.get("history"):
        label = "hardware (RTL)" if "simulator" in report else report.get("engine", "run")
        runs.append((label, report["history"]))
    if report.get("float_history"):
        runs.append(("float", report["float_history"]))
    return runs


def _final_marks(report):
    """The sim report's test accuracies after training, not already on a curve:
    ``[(label, value, marker, run number whose colour it takes)]``."""
    if "simulator" not in report:
        return []
    marks = [("hardware test", report.get("hw_test_accuracy"), "o", 0),
             ("golden test", report.get("golden_test_accuracy"), "x", None)]
    if not report.get("float_history"):
        marks.append(("float test", report.get("float_test_accuracy"), "^", 1))
    return [mark for mark in marks if mark[1] is not None]


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_fraction(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and 0 <= value <= 1


def _check_history(name, history):
    if not isinstance(history, list):
        raise ReportError(f"{name} must be a list of epochs")
    for entry in history:
        if not (isinstance(entry, dict) and _is_count(entry.get("epoch"))
                and _is_fraction(entry.get("train_accuracy"))
                and _is_fraction(entry.get("test_accuracy", 0))
                and isinstance(entry.get("weight_writes_per_sample", 0), (int, float))):
            raise ReportError(f"{name} holds a malformed epoch: {entry!r:.80}")


def _check_confusion(matrix):
    if not (isinstance(matrix, list) and matrix
            and all(isinstance(row, list) and len(row) == len(matrix)
                    and all(_is_count(count) for count in row) for row in matrix)):
        raise ReportError("confusion must be a square matrix of counts")


def _check_raster(raster):
    if not isinstance(raster, dict) or not all(
            _is_count(raster.get(key)) for key in ("test_index", "label", "prediction")):
        raise ReportError("raster needs test_index, label and prediction")
    sizes, layers = raster.get("sizes"), raster.get("layers")
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(map(_is_count, sizes))
            and isinstance(layers, list) and len(layers) == len(sizes) and layers):
        raise ReportError("raster needs its layer sizes and one spike list per layer")
    steps = len(layers[0]) if isinstance(layers[0], list) else 0
    for layer, size in zip(layers, sizes):
        if not (isinstance(layer, list) and len(layer) == steps > 0
                and all(isinstance(step, list) and all(_is_count(n) and n < size
                                                       for n in step) for step in layer)):
            raise ReportError("raster: every layer lists, per timestep, neurons below "
                              "its size")
    if raster["label"] >= sizes[-1] or raster["prediction"] >= sizes[-1]:
        raise ReportError("raster: label or prediction outside the output layer")


def check_report(report):
    """Raise :class:`ReportError`, naming the part, unless the plot data ``report``
    holds (history, float_history, runs, confusion, raster) is well formed."""
    if not isinstance(report, dict):
        raise ReportError("a report is a JSON object")
    for name in ("history", "float_history"):
        if name in report:
            _check_history(name, report[name])
    if "runs" in report:
        if not isinstance(report["runs"], list):
            raise ReportError("runs must be a list")
        for run in report["runs"]:
            if not (isinstance(run, dict) and all(k in run for k in ("algo", "engine", "seed"))):
                raise ReportError(f"a run needs algo, engine and seed: {run!r:.80}")
            _check_history("a run's history", run.get("history", []))
    if report.get("confusion") is not None:
        _check_confusion(report["confusion"])
    if report.get("raster") is not None:
        _check_raster(report["raster"])


def plot_names(report):
    """The plots ``report`` holds data for (keys of :data:`PLOT_FILES`)."""
    names = []
    if training_runs(report):
        names.append("training")
    if report.get("confusion"):
        names.append("confusion")
    if report.get("raster"):
        names.append("raster")
    return names


def _subject(report):
    """A short title suffix naming the run: dataset and config."""
    parts = [str(report[key]) for key in ("dataset", "config") if report.get(key)]
    return f" — {' / '.join(parts)}" if parts else ""


# -- the plots -----------------------------------------------------------------------------

def _draw_training(plt, report):
    from matplotlib.lines import Line2D

    runs = training_runs(report)
    figure, (accuracy, writes) = plt.subplots(1, 2, figsize=(11, 4.6 + 0.25 * len(runs)),
                                              layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    legend = []
    last_epoch = 1
    for number, (label, history) in enumerate(runs):
        colour = colours[number % len(colours)]
        epochs = [entry["epoch"] for entry in history]
        last_epoch = max(last_epoch, epochs[-1])
        accuracy.plot(epochs, [100 * e["train_accuracy"] for e in history], "--",
                      marker=".", color=colour)
        tested = [e for e in history if "test_accuracy" in e]
        if tested:
            accuracy.plot([e["epoch"] for e in tested],
                          [100 * e["test_accuracy"] for e in tested], "-", marker="o",
                          color=colour)
        counted = [e for e in history if "weight_writes_per_sample" in e]
        if counted:
            writes.plot([e["epoch"] for e in counted],
                        [e["weight_writes_per_sample"] for e in counted], "-", marker="o",
                        color=colour)
        legend.append(Line2D([], [], color=colour, linewidth=4, label=label))
    legend += [Line2D([], [], color="grey", linestyle="--", marker=".",
                      label="train accuracy (online)"),
               Line2D([], [], color="grey", linestyle="-", marker="o", label="test accuracy")]
    for label, value, marker, run in _final_marks(report):
        colour = "black" if run is None else colours[run % len(colours)]
        fill = "none" if marker == "o" else "full"
        accuracy.plot([last_epoch], [100 * value], marker, markersize=11, linestyle="none",
                      color=colour, fillstyle=fill)
        legend.append(Line2D([], [], marker=marker, markersize=11, linestyle="none",
                             color=colour, fillstyle=fill, label=f"{label} ({value:.2%})"))
    accuracy.set(title="Accuracy per epoch", xlabel="epoch", ylabel="accuracy (%)")
    writes.set(title="Weight writes per training sample", xlabel="epoch",
               ylabel="weight writes / sample")
    for axes in (accuracy, writes):
        axes.grid(alpha=0.3)
        axes.xaxis.get_major_locator().set_params(integer=True)
    if not writes.lines:
        writes.text(0.5, 0.5, "not recorded", ha="center", va="center",
                    transform=writes.transAxes, color="grey")
    figure.legend(handles=legend, loc="outside lower center", ncol=min(len(legend), 3),
                  fontsize="small")
    figure.suptitle(f"Training{_subject(report)}")
    return figure


def _draw_confusion(plt, report):
    import numpy as np

    matrix = np.asarray(report["confusion"])
    total = int(matrix.sum())
    accuracy = np.trace(matrix) / max(total, 1)
    size = max(4.5, 0.45 * len(matrix) + 2.5)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(matrix, cmap="Blues")
    from matplotlib.ticker import MaxNLocator
    figure.colorbar(image, ax=axes, label="test samples", ticks=MaxNLocator(integer=True))
    ticks = range(len(matrix))
    axes.set_xticks(ticks)
    axes.set_yticks(ticks)
    threshold = matrix.max() / 2
    for true in ticks:
        for predicted in ticks:
            count = matrix[true, predicted]
            if count:
                axes.text(predicted, true, str(count), ha="center", va="center",
                          fontsize="small", color="white" if count > threshold else "black")
    who = report.get("confusion_of") or (f"the chip on {report['simulator']}"
                                         if "simulator" in report else report.get("engine"))
    axes.set(xlabel="predicted label", ylabel="true label",
             title=f"Test confusion{' (' + who + ')' if who else ''}\n"
                   f"{total} samples, accuracy {accuracy:.2%}{_subject(report)}")
    return figure


def _layer_names(count):
    hidden = count - 2
    middle = ["hidden"] if hidden == 1 else [f"hidden {n + 1}" for n in range(hidden)]
    return ["input", *middle, "output"]


def _draw_raster(plt, report):
    import numpy as np

    raster = report["raster"]
    layers, sizes = raster["layers"], raster["sizes"]
    ratios = [max(1.0, min(4.0, size / 40)) for size in sizes]
    figure, rows = plt.subplots(len(layers), 1, sharex=True, figsize=(9, 2 + 1.3 * sum(ratios)),
                                gridspec_kw={"height_ratios": ratios})
    timesteps = len(layers[0])
    for axes, layer, size, name in zip(rows, layers, sizes, _layer_names(len(layers))):
        grid = np.zeros((size, timesteps))          # a cell per neuron and timestep
        for t, step in enumerate(layer):
            grid[step, t] = 1
        axes.imshow(grid, aspect="auto", origin="lower", cmap="Greys", vmin=0, vmax=1,
                    extent=(-0.5, timesteps - 0.5, -0.5, size - 0.5))
        axes.set_ylabel(f"{name}\nneuron")
        if size <= 20:
            axes.set_yticks(range(size))
        else:
            axes.yaxis.get_major_locator().set_params(integer=True)
        # White lines between timesteps keep neighbouring spikes apart.
        axes.set_xticks(np.arange(-0.5, timesteps), minor=True)
        axes.grid(which="minor", axis="x", color="white", linewidth=1)
        axes.tick_params(which="minor", length=0)
        axes.set_title(f"{name} layer: {size} neurons, {int(grid.sum())} spikes",
                       fontsize="small", loc="left")
    output = rows[-1]
    output.axhspan(raster["label"] - 0.5, raster["label"] + 0.5, color="tab:green", alpha=0.3)
    output.set_title(f"{output.get_title(loc='left')}; green: the true label's neuron "
                     f"({raster['label']})", fontsize="small", loc="left")
    output.set_xlabel("timestep")
    output.xaxis.get_major_locator().set_params(integer=True)
    figure.suptitle(f"Spike raster of test sample {raster['test_index']} (label "
                    f"{raster['label']}, predicted {raster['prediction']}){_subject(report)}")
    return figure


_DRAW = {"training": _draw_training, "confusion": _draw_confusion, "raster": _draw_raster}


def _save(plt, figure, path):
    """Write ``figure`` to ``path`` atomically (a temporary file beside it, then
    ``os.replace``), so a reader never sees half a PNG."""
    if figure.get_layout_engine() is None:
        figure.tight_layout()
    try:
        write_atomically(path, lambda file: figure.savefig(file, format="png", dpi=DPI))
    finally:
        plt.close(figure)


def write_plots(report, out_dir, prefix=""):
    """Draw every plot ``report`` holds data for into ``out_dir`` (created), each file
    named :data:`PLOT_FILES` after ``prefix``; return the paths written. Raises
    :class:`PlotsUnavailable` without matplotlib or when the report holds nothing to
    plot."""
    check_report(report)
    names = plot_names(report)
    if not names:
        raise PlotsUnavailable("the report holds nothing to plot (no per-epoch history, "
                               "confusion counts or raster)")
    plt = _pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        path = out_dir / f"{prefix}{PLOT_FILES[name]}"
        _save(plt, _DRAW[name](plt, report), path)
        written.append(path)
    return written
