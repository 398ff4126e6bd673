"""``spikefab sweep``'s options and command: everything the user gave is checked (the
grid, every point's config, the boards, the dataset against every config, the output
folder and its table, Ray when asked for) before the first point runs."""

import importlib.util
import json
import os
import sys
from pathlib import Path

from spikefab.config import load_config
from spikefab.golden.datasets import check_dataset, load_dataset
from spikefab.hw.families import BOARDS, DEFAULT_BOARD
from spikefab.sweep_grid import (GridError, make_grid, parse_boards, parse_grid_options,
                                 read_grid_file)
from spikefab.sweep_table import (TABLE_CSV, TABLE_JSON, SweepError, check_out_dir,
                                  read_table)


__all__ = ["add_parser", "command_sweep"]

DEFAULT_EPOCHS = 3


def add_parser(commands):
    sweep = commands.add_parser(
        "sweep", help="train (and optionally synthesise or build) every point of a grid "
                      "of configs and boards; table, Pareto fronts and plot")
    sweep.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2",
                       help="a config field and its values (repeatable; a tuple field's "
                            "value is written 64x32), e.g. --grid k_fb=1,2,4")
    sweep.add_argument("--grid-file", metavar="FILE",
                       help="a JSON or TOML object of field: [values] (and board: [...])")
    sweep.add_argument("--board", help=f"boards, comma-separated: {', '.join(BOARDS)} "
                                       f"(default: {DEFAULT_BOARD})")
    sweep.add_argument("--config", default="digits",
                       help="the base config the grid varies: a preset or a JSON file "
                            "(default: digits)")
    sweep.add_argument("--dataset", default="digits", help="(default: digits)")
    sweep.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                       help=f"training epochs of every point (default: {DEFAULT_EPOCHS})")
    sweep.add_argument("--seed", type=int, default=1,
                       help="weight initialisation and training order (default: 1)")
    sweep.add_argument("--limit-train", type=int, metavar="N")
    sweep.add_argument("--limit-test", type=int, metavar="N")
    sweep.add_argument("--synth", action="store_true", help="Yosys each point: LUTs, FFs")
    sweep.add_argument("--pnr", action="store_true",
                       help="place and route each point (minutes each): LUTs, BRAM, fmax")
    sweep.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="worker processes, or Ray CPUs with --ray local "
                            "(default: the core count)")
    sweep.add_argument("--ray", metavar="ADDRESS",
                       help="run on the Ray cluster at ADDRESS, or 'local' to start one "
                            "here (pip install 'spikefab[sweep]')")
    sweep.add_argument("--out", default="build/sweep",
                       help="folder of sweep.json, sweep.csv, pareto.png and builds; a "
                            "sweep there is continued (default: build/sweep)")
    sweep.add_argument("--no-plot", action="store_true", help="do not draw pareto.png")
    sweep.add_argument("--json", action="store_true",
                       help="print the table and fronts as JSON, no progress")


def _grid(args, base):
    axes = parse_grid_options(args.grid)
    boards = parse_boards(args.board) if args.board is not None else None
    if args.grid_file:
        file_axes, file_boards = read_grid_file(args.grid_file)
        for field in file_axes:
            if field in axes:
                raise GridError(f"{field} is given by both --grid and {args.grid_file}")
        axes.update(file_axes)
        if file_boards and boards:
            raise GridError(f"the boards are given by both --board and {args.grid_file}")
        boards = boards or file_boards
    return make_grid(base, axes, boards or (DEFAULT_BOARD,))


def _check(args, grid):
    for name, value, least in (("--jobs", args.jobs, 1), ("--epochs", args.epochs, 1)):
        if value < least:
            raise SweepError(f"{name} must be at least {least}, not {value}")
    dataset = load_dataset(args.dataset, grid.points[0].config)
    for points in grid.configs():
        check_dataset(dataset, args.dataset, points[0].config)
    dataset = dataset.limit(args.limit_train, args.limit_test)
    if args.ray:
        from spikefab.sweep_exec import LOCAL_RAY, probe_ray_address, require_ray
        require_ray()
        if args.ray != LOCAL_RAY:
            probe_ray_address(args.ray)
    check_out_dir(args.out)
    return dataset


def command_sweep(args):
    from spikefab.sweep import PLOT, run_options, run_sweep

    base = load_config(args.config).replace(init_seed=args.seed & 0xFFFFFFFF)
    grid = _grid(args, base)
    dataset = _check(args, grid)
    log = (lambda line: None) if args.json else _stderr
    plot = not args.no_plot and importlib.util.find_spec("matplotlib") is not None
    if not args.no_plot and not plot:
        log("sweep: matplotlib is not installed, so no pareto.png "
            "(pip install 'spikefab[sweep]')")
    options = run_options(args.dataset, args.epochs, args.seed, args.limit_train,
                          args.limit_test)
    try:
        result = run_sweep(grid, dataset, options, args.out, synth=args.synth,
                           pnr=args.pnr, jobs=args.jobs, ray=args.ray, log=log, plot=plot)
    except KeyboardInterrupt:
        table = read_table(args.out)
        done = len(table["rows"]) if table else 0
        _stderr(f"spikefab: interrupted; {done} of {len(grid.points)} points are in "
                f"{Path(args.out) / TABLE_JSON} (the same command continues the sweep)")
        return 130
    if args.json:
        print(json.dumps({key: result[key] for key in
                          ("rows", "pareto", "executor", "wall_s", "ran", "reused", "plot")}))
        return 0
    _print_table(result)
    out = Path(args.out)
    print(f"table: {out / TABLE_CSV}, {out / TABLE_JSON}"
          + (f"; plot: {out / PLOT}" if result["plot"] else ""))
    return 0


def _print_table(result):
    """One line per point: accuracy, LUTs, samples/s, and the fronts it is on."""
    fronts = result["fronts"]
    width = max(len(label) for label in result["labels"])
    for index, (label, row) in enumerate(zip(result["labels"], result["rows"])):
        luts = row.get("pnr_luts", row.get("synth_luts"))
        speed = row.get("train_samples_per_s_fmax", row["train_samples_per_s"])
        on = [name for name, front in fronts.items() if index in front["front"]]
        print(f"{label:<{width}}  test {row['test_accuracy']:7.2%}  "
              + (f"{luts:6,} LUTs  " if luts is not None else "")
              + f"{speed:9,.0f} train samples/s"
              + (f"  front: {', '.join(on)}" if on else ""))
    print(f"{len(result['rows'])} points ({result['reused']} from the table) in "
          f"{result['wall_s']:.1f} s ({result['executor']})")


def _stderr(line):
    print(line, file=sys.stderr, flush=True)
