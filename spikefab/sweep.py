"""``spikefab sweep``: train and price every point of a grid, resumably, on any executor.

:func:`run_sweep` turns a :class:`~spikefab.sweep_grid.Grid` into tasks (one per distinct
config, priced on each board it is swept with: :mod:`spikefab.sweep_point`), runs those
whose rows the output table does not already hold (:func:`~spikefab.sweep_table.
reusable_rows`) on the local pool or on Ray (:mod:`spikefab.sweep_exec`), writes the
table after every finished task, in grid order whatever the order of completion, and
finally the Pareto fronts (:mod:`spikefab.pareto`) into the table and, when matplotlib
is installed, ``pareto.png``. Progress (points done/total, ETA) goes to ``log``.
"""

import time
from pathlib import Path

from spikefab.pareto import plot_fronts, sweep_fronts
from spikefab.sweep_exec import LOCAL_RAY, pool_results, ray_results
from spikefab.sweep_point import Task
from spikefab.sweep_table import read_table, reusable_rows, write_table


__all__ = ["run_sweep", "PLOT", "run_options"]

PLOT = "pareto.png"


def run_options(dataset, epochs, seed, limit_train, limit_test):
    """The options a table is made with, which a continued sweep must repeat."""
    return {"dataset": dataset, "epochs": epochs, "seed": seed,
            "limit_train": limit_train, "limit_test": limit_test}


def _point_columns(point):
    return {"board": point.board,
            **{f: list(v) if isinstance(v, tuple) else v for f, v in point.values}}


def _tasks(grid, options, done, *, synth, pnr, build_dir):
    """One task per config that has a board still to do, with those boards."""
    tasks = []
    for points in grid.configs():
        boards = tuple(p.board for p in points if p.key not in done)
        if boards:
            tasks.append(Task(points[0].config.to_json(), boards, options["dataset"],
                              options["epochs"], options["seed"], synth=synth, pnr=pnr,
                              build_dir=str(Path(build_dir).resolve())))
    return tasks


class _Progress:
    """``sweep: 5/12 points done (3 from the table), ETA 0:42`` after every task."""

    def __init__(self, total, reused, log):
        self.total, self.reused, self.done, self.log = total, reused, reused, log
        self.start = time.monotonic()

    def advance(self, points):
        self.done += points
        elapsed = time.monotonic() - self.start
        ran = self.done - self.reused
        eta = elapsed / ran * (self.total - self.done) if ran else 0.0
        self.log(f"sweep: {self.done}/{self.total} points done ({self.reused} from the "
                 f"table), ETA {int(eta) // 60}:{int(eta) % 60:02d}")


def run_sweep(grid, dataset, options, out_dir, *, synth=False, pnr=False, jobs=1, ray=None,
              log=lambda line: None, plot=True):
    """Run ``grid`` on ``dataset`` (loaded and limited as ``options`` say: see
    :func:`run_options`) into ``out_dir``; return ``{"rows", "fronts", "labels", "ran",
    "reused", "wall_s", "executor", "plot"}``."""
    stages = ["train"] + ["synth"] * synth + ["pnr"] * pnr
    table = read_table(out_dir)
    done = reusable_rows(table, options, grid, stages)
    # Rows that lack a stage asked for now stay in the table until they are run again.
    rows = {(row["board"], row["config_hash"]): row for row in (table or {}).get("rows", [])}
    tasks = _tasks(grid, options, done, synth=synth, pnr=pnr,
                   build_dir=Path(out_dir) / "build")
    executor = _executor_name(ray, jobs)
    progress = _Progress(len(grid.points), len(done), log)
    log(f"sweep: {len(grid.points)} points, {len(done)} already in the table, "
        f"{sum(len(t.boards) for t in tasks)} to run ({executor})")
    start = time.perf_counter()
    results = (ray_results(tasks, dataset, ray, jobs) if ray
               else pool_results(tasks, dataset, jobs))
    by_key = {p.key: p for p in grid.points}
    for index, figures in results:
        task = tasks[index]
        for board, row in figures.items():
            key = (board, row["config_hash"])
            rows[key] = {**_point_columns(by_key[key]), **row}
        _write(out_dir, grid, options, rows)
        progress.advance(len(task.boards))
    wall = time.perf_counter() - start
    ordered = [rows[p.key] for p in grid.points]
    labels = [p.label() for p in grid.points]
    fronts = sweep_fronts(ordered)
    summary = {"executor": executor, "wall_s": wall, "ran": len(grid.points) - len(done),
               "pareto": {name: {**front, "labels": [labels[i] for i in front["front"]]}
                          for name, front in fronts.items()}}
    write_table(out_dir, options=options, fields=grid.fields, rows=ordered, extra=summary)
    plot_path = Path(out_dir) / PLOT if plot and fronts else None
    if plot_path:
        plot_fronts(ordered, fronts, labels, plot_path)
    return {**summary, "rows": ordered, "fronts": fronts, "labels": labels,
            "reused": len(done), "plot": str(plot_path) if plot_path else None}


def _executor_name(ray, jobs):
    if ray == LOCAL_RAY:
        return f"local Ray, {jobs} CPUs"
    return f"Ray at {ray}" if ray else f"pool of {jobs} worker{'s' * (jobs != 1)}"


def _write(out_dir, grid, options, rows):
    """The table so far, in grid order (points not done yet left out)."""
    ordered = [rows[p.key] for p in grid.points if p.key in rows]
    write_table(out_dir, options=options, fields=grid.fields, rows=ordered)
