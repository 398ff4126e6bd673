"""Pareto fronts of a sweep's table, and their plot.

A row *dominates* another when it is at least as good in every objective and better in
one; the front is the rows no other row dominates (rows equal in every objective are
all on it). The sweep's two fronts: test accuracy against LUTs (fewer is better) and
against training samples per second (more is better). matplotlib is imported only to
plot (``pip install 'spikefab[sweep]'``).
"""

import io

from spikefab.files import write_atomically


__all__ = ["pareto_front", "sweep_fronts", "plot_fronts", "ACCURACY"]

ACCURACY = "test_accuracy"
#: Each front's x-axis: the columns it uses, the first every row has wins, and whether
#: more or less is better.
FRONT_AXES = {
    "luts": (("pnr_luts", "synth_luts"), "min", "LUTs"),
    "speed": (("train_samples_per_s_fmax", "train_samples_per_s"), "max",
              "training samples/s"),
}


def _dominates(a, b, signs):
    at_least = all(sign * x >= sign * y for x, y, sign in zip(a, b, signs))
    return at_least and any(sign * x > sign * y for x, y, sign in zip(a, b, signs))


def pareto_front(rows, objectives):
    """Indices (ascending) of the rows on the front of ``objectives``, a dict
    ``column → "max" | "min"``; rows lacking a column are left out."""
    signs = [1 if goal == "max" else -1 for goal in objectives.values()]
    for goal in objectives.values():
        if goal not in ("max", "min"):
            raise ValueError(f"an objective is 'max' or 'min', not {goal!r}")
    scored = [(i, [row[c] for c in objectives]) for i, row in enumerate(rows)
              if all(row.get(c) is not None for c in objectives)]
    return [i for i, score in scored
            if not any(_dominates(other, score, signs) for _, other in scored)]


def sweep_fronts(rows):
    """``{name: {"x": column, "goal": …, "front": [row indices]}}`` for each front whose
    x column every row holds (no ``luts`` front without ``--synth`` or ``--pnr``)."""
    fronts = {}
    for name, (columns, goal, _) in FRONT_AXES.items():
        column = next((c for c in columns if rows and all(c in row for row in rows)), None)
        if column is not None:
            fronts[name] = {"x": column, "goal": goal,
                            "front": pareto_front(rows, {ACCURACY: "max", column: goal})}
    return fronts


def plot_fronts(rows, fronts, labels, path):
    """One panel per front: every row, its front joined and named; PNG at ``path``,
    written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, max(len(fronts), 1), figsize=(6.5 * max(len(fronts), 1), 5),
                                squeeze=False)
    for ax, (name, front) in zip(axes[0], fronts.items()):
        x = [row[front["x"]] for row in rows]
        y = [100 * row[ACCURACY] for row in rows]
        ax.scatter(x, y, color="tab:gray", label="points")
        best = sorted(front["front"], key=lambda i: x[i])
        ax.plot([x[i] for i in best], [y[i] for i in best], "o-", color="tab:red",
                label="Pareto front")
        for i in best:
            ax.annotate(labels[i], (x[i], y[i]), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
        ax.set_xlabel(f"{FRONT_AXES[name][2]} ({front['x']})")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
        ax.margins(x=0.2, y=0.1)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    write_atomically(str(path), lambda file: file.write(buffer.getvalue()))
