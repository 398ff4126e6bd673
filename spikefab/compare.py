"""``spikefab compare``: every learning rule on each dataset, in one table.

For each (dataset, rule) it trains the rule with its default engine (the first of
:data:`spikefab.train.ALGO_ENGINES`: golden for the integer rules, float for ``es`` and
``bptt``) through the functions ``spikefab train`` calls (:func:`~spikefab.train.
make_model`, :func:`~spikefab.train.train_epochs`) and records:

* ``test_accuracy`` — after the last epoch, on the test split;
* ``weight_writes_per_sample`` — the engine's: integer weights written (a zero change and
  a held rail are no write) for the integer rules; for the float rules the weights the
  model changed (``es``: every weight with a non-zero step; ``bptt``: every weight, each
  Adam step);
* ``host_bytes_per_train_sample`` — the frames both ways a chip run of the rule sends per
  training sample, counted from the protocol (:mod:`spikefab.host_bytes`); n/a for rules
  with no chip protocol;
* ``rtl_cycles_per_train_sample`` — measured in Verilator by the function ``spikefab
  train --engine rtl`` runs (:func:`spikefab.sim.simulate.simulate`) on the first
  ``--rtl-samples`` training samples (one epoch, one test sample), for the rules whose
  engines include ``rtl``; cached per (rule, config hash, dataset) under ``DIR/rtl/``;
* ``wall_s`` — the training run's wall time (evaluations included, as ``train``
  reports it; the RTL measurement is ``rtl_wall_s``).

``DIR/compare.json`` (the table), ``compare.md`` and ``compare.png`` are written
atomically after every finished row; a rerun with the same options skips the rows the
table holds (``--fresh`` starts the table afresh; the RTL cache is kept), and Ctrl-C
keeps the finished rows.
"""

import importlib.util
import json
import math
import sys
import time
from pathlib import Path

from spikefab.config import load_config
from spikefab.files import write_atomically, write_json, write_text
from spikefab.golden.datasets import load_dataset
from spikefab.host_bytes import (NO_CHIP_REASONS, NotOnChip, host_bytes_breakdown,
                                 sample_payload_sizes)
from spikefab.train import (ALGO_ENGINES, ALGOS, TrainingInterrupted, algo_config,
                            check_engine, make_model, train_epochs)


__all__ = ["add_parser", "command_compare", "run_compare", "CompareError",
           "DATASET_CONFIGS", "ES_DATASET_CONFIGS", "row_config", "TABLE_JSON", "TABLE_MD",
           "PLOT", "COLUMNS", "markdown",
           "plot_table", "read_table", "rtl_cycles"]

FORMAT = "spikefab-compare-1"
TABLE_JSON = "compare.json"
TABLE_MD = "compare.md"
PLOT = "compare.png"
RTL_FOLDER = "rtl"
#: Where the Verilator builds go: the folder `train --engine rtl` and `make sim` build
#: in (relative to the working folder), so a chip built once is not built again.
RTL_BUILD = "build/sim"
#: The datasets compared and the preset each is trained with.
DATASET_CONFIGS = {"digits": "digits", "fashion-mnist": "mnist",
                   "saccade:digits": "saccade"}
#: Where the evolution strategies (``ES_ALGOS``) train with a preset of their own: the
#: DFA preset's threshold keeps the 784-input network's outputs silent under every
#: member, and a fitness that never moves gives no signal (``mnist-es``'s comment).
ES_ALGOS = ("eggroll", "es")
ES_DATASET_CONFIGS = {"fashion-mnist": "mnist-es"}
DEFAULT_DATASETS = ("digits", "fashion-mnist")
DEFAULT_EPOCHS = 3
DEFAULT_RTL_SAMPLES = 20
#: The table's figures and what each means (also written into compare.json).
COLUMNS = {
    "engine": "the engine that trained the row (the rule's default)",
    "test_accuracy": "test-split accuracy after the last epoch",
    "weight_writes_per_sample": "weight writes per training sample: integer weights "
                                "written (golden), or float weights changed (es, bptt)",
    "host_bytes_per_train_sample": "frame bytes host↔chip per training sample, both "
                                   "ways, SOF/LEN/CRC included (spikefab.host_bytes)",
    "rtl_cycles_per_train_sample": "chip cycles per training sample, measured in "
                                   "Verilator on the first --rtl-samples samples",
    "wall_s": "wall time of the training run (evaluations included), seconds",
}
FLOAT_WRITES = "float rule: weights changed per sample, as the float model counts them"


class CompareError(ValueError):
    """A bad option or a table in --out that cannot be continued or written."""


# -- the command line -------------------------------------------------------------------

def add_parser(commands):
    compare = commands.add_parser(
        "compare", help="train every learning rule on each dataset; a table of accuracy, "
                        "weight writes, host bytes and RTL cycles per sample, wall time")
    compare.add_argument("--datasets", default=",".join(DEFAULT_DATASETS),
                         help=f"comma-separated, of: {', '.join(DATASET_CONFIGS)} "
                              f"(default: {','.join(DEFAULT_DATASETS)}); each is trained "
                              f"with its preset: "
                              + ", ".join(f"{d} → {c}" for d, c in DATASET_CONFIGS.items())
                              + "; the evolution strategies: "
                              + ", ".join(f"{d} → {c}" for d, c in ES_DATASET_CONFIGS.items()))
    compare.add_argument("--algos", default=",".join(ALGOS),
                         help=f"comma-separated, of: {', '.join(ALGOS)} (default: all)")
    compare.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                         help=f"training epochs of every rule (default: {DEFAULT_EPOCHS})")
    compare.add_argument("--seed", type=int, default=1,
                         help="weight initialisation and training order (default: 1)")
    compare.add_argument("--limit-train", type=int, metavar="N")
    compare.add_argument("--limit-test", type=int, metavar="N")
    compare.add_argument("--rtl-samples", type=int, default=DEFAULT_RTL_SAMPLES,
                         metavar="N",
                         help=f"training samples of the Verilator run that measures the "
                              f"cycles (default: {DEFAULT_RTL_SAMPLES}; 0: no RTL run)")
    compare.add_argument("--out", default="build/compare",
                         help="folder of compare.json, compare.md, compare.png and the "
                              "RTL cache; a table there is continued (default: "
                              "build/compare)")
    compare.add_argument("--fresh", action="store_true",
                         help="discard the table in --out and run every row (the RTL "
                              "cache is kept)")
    compare.add_argument("--jobs", type=int, default=1, metavar="N",
                         help="rows trained at once, each in its own process (default: 1; "
                              "the RTL runs stay one at a time)")
    compare.add_argument("--json", action="store_true",
                         help="print the table as JSON, no progress")


def _names(text, valid, option):
    names = [name.strip() for name in text.split(",")]
    if not text.strip() or any(not name for name in names):
        raise CompareError(f"{option} takes comma-separated names, not {text!r}")
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise CompareError(f"{option}: unknown {unknown[0]!r}; valid: {', '.join(valid)}")
    return tuple(dict.fromkeys(names))


def options_of(args):
    """The options a table is made with: a continued table must repeat them."""
    return {"epochs": args.epochs, "seed": args.seed, "limit_train": args.limit_train,
            "limit_test": args.limit_test, "rtl_samples": args.rtl_samples}


def _check(args):
    """Everything the user gave, before any work: the names, the numbers, each rule's
    engine, the datasets (read and limited), the output folder and its table."""
    datasets = _names(args.datasets, tuple(DATASET_CONFIGS), "--datasets")
    algos = _names(args.algos, ALGOS, "--algos")
    if args.epochs < 1:
        raise CompareError(f"--epochs must be at least 1, not {args.epochs}")
    if args.rtl_samples < 0:
        raise CompareError(f"--rtl-samples must be at least 0, not {args.rtl_samples}")
    if args.jobs < 1:
        raise CompareError(f"--jobs must be at least 1, not {args.jobs}")
    for option, value in (("--limit-train", args.limit_train),
                          ("--limit-test", args.limit_test)):
        if value is not None and value < 1:
            raise CompareError(f"{option} must be a positive integer, not {value}")
    for algo in algos:
        check_engine(algo, ALGO_ENGINES[algo][0])
    loaded = {}
    for name in datasets:
        config = load_config(DATASET_CONFIGS[name])
        loaded[name] = load_dataset(name, config).limit(args.limit_train, args.limit_test)
    check_out_dir(args.out)
    table = None if args.fresh else read_table(args.out)
    if table is not None and table["options"] != options_of(args):
        differ = next(k for k in options_of(args)
                      if table["options"].get(k) != options_of(args)[k])
        raise CompareError(
            f"{Path(args.out) / TABLE_JSON} was made with {differ.replace('_', '-')} "
            f"{table['options'].get(differ)}, not {options_of(args)[differ]}: continue it "
            f"with the same options, add --fresh to start it afresh, or use another --out")
    return datasets, algos, loaded, table


def command_compare(args):
    datasets, algos, loaded, table = _check(args)
    log = (lambda line: None) if args.json else _stderr
    plot = importlib.util.find_spec("matplotlib") is not None
    if not plot:
        log("compare: matplotlib is not installed, so no compare.png "
            "(pip install 'spikefab[plots]')")
    pairs = [(dataset, algo) for dataset in datasets for algo in algos]
    try:
        result = run_compare(pairs, loaded, options_of(args), args.out, table=table,
                             log=log, plot=plot, jobs=args.jobs)
    except (KeyboardInterrupt, TrainingInterrupted):
        done = read_table(args.out)
        have = {(row["dataset"], row["algo"]) for row in (done or {}).get("rows", [])}
        finished = sum(pair in have for pair in pairs)
        _stderr(f"spikefab: interrupted; {finished} of {len(pairs)} rows are in "
                f"{Path(args.out) / TABLE_JSON} (the same command continues)")
        return 130
    if args.json:
        print(json.dumps(result))
        return 0
    print(markdown(result), end="")
    out = Path(args.out)
    print(f"table: {out / TABLE_MD}, {out / TABLE_JSON}"
          + (f"; plot: {out / PLOT}" if plot else ""))
    return 0


def _stderr(line):
    print(line, file=sys.stderr, flush=True)


# -- the table --------------------------------------------------------------------------

def check_out_dir(out_dir):
    """Create ``out_dir`` and make sure a file can be written there."""
    out_dir = Path(out_dir)
    if not str(out_dir):
        raise CompareError("--out needs a folder name")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".compare-write-test"
        write_atomically(str(probe), lambda file: file.write(b""))
        probe.unlink()
    except OSError as error:
        raise CompareError(f"cannot write to --out {out_dir}: "
                           f"{error.strerror or error}") from None


def read_table(out_dir):
    """The table in ``out_dir``, or None when there is none."""
    path = Path(out_dir) / TABLE_JSON
    try:
        table = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CompareError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}"
                           f"; move it away or add --fresh") from None
    if not (isinstance(table, dict) and table.get("format") == FORMAT
            and isinstance(table.get("options"), dict) and isinstance(table.get("rows"), list)
            and all(isinstance(row, dict) and isinstance(row.get("dataset"), str)
                    and isinstance(row.get("algo"), str)
                    and isinstance(row.get("config_hash"), str) for row in table["rows"])):
        raise CompareError(f"{path} is not a spikefab compare table ({FORMAT}); move it "
                           f"away or add --fresh")
    return table


def _order(row):
    datasets = list(DATASET_CONFIGS)
    return (datasets.index(row["dataset"]) if row["dataset"] in datasets else len(datasets),
            ALGOS.index(row["algo"]) if row["algo"] in ALGOS else len(ALGOS))


def _table(options, rows):
    return {"format": FORMAT, "options": options, "columns": COLUMNS,
            "rows": sorted(rows.values(), key=_order)}


def _write(out_dir, table, plot):
    out_dir = Path(out_dir)
    write_json(str(out_dir / TABLE_JSON), table)
    write_text(str(out_dir / TABLE_MD), markdown(table))
    if plot and table["rows"]:
        plot_table(table, out_dir / PLOT)


def row_config(dataset, algo, seed):
    """The config a row trains: its dataset's preset (the evolution strategies': its
    ES preset where it has one), as ``algo`` runs it, with the run's initialisation seed
    (as ``spikefab train`` makes it)."""
    name = DATASET_CONFIGS[dataset]
    if algo in ES_ALGOS:
        name = ES_DATASET_CONFIGS.get(dataset, name)
    config = algo_config(load_config(name), algo)
    return config.replace(init_seed=seed & 0xFFFFFFFF)


def run_compare(pairs, datasets, options, out_dir, *, table=None, log=lambda line: None,
                plot=True, rtl_build=RTL_BUILD, jobs=1):
    """Train and measure every ``(dataset, algo)`` of ``pairs`` that ``table`` (made
    with ``options``) does not already hold with the same config; ``datasets`` maps each
    name to its loaded, limited dataset. With ``jobs`` > 1 the rows train in that many
    processes at once (each loads its dataset again) and are measured on the RTL one at
    a time as they finish. Returns the table written to ``out_dir``."""
    rows = {(row["dataset"], row["algo"]): row for row in (table or {}).get("rows", [])}
    todo = [pair for pair in pairs if not _reusable(
        rows.get(pair), row_config(*pair, options["seed"]))]
    log(f"compare: {len(pairs)} rows, {len(pairs) - len(todo)} already in "
        f"{Path(out_dir) / TABLE_JSON}, {len(todo)} to run")
    start = time.perf_counter()
    for number, (dataset, algo), row in _trained_rows(todo, datasets, options, jobs, log):
        config = row_config(dataset, algo, options["seed"])
        where = f"compare: [{number}/{len(todo)}] {algo} on {dataset}"
        measured = rtl_cycles(algo, config, dataset, options, out_dir, log=log,
                              build_root=rtl_build)
        row["n/a"].update(measured.pop("n/a"))
        row.update(measured)
        rows[(dataset, algo)] = row
        _write(out_dir, _table(options, rows), plot)
        log(f"{where}: done: {_summary(row)}")
    # The wall time of this invocation: the rows it ran (0 when all were in the table).
    result = {**_table(options, rows), "run_wall_s": time.perf_counter() - start}
    _write(out_dir, result, plot)
    log(f"compare: {len(todo)} row{'s' * (len(todo) != 1)} run in "
        f"{result['run_wall_s']:.1f} s")
    return result


def _trained_rows(todo, datasets, options, jobs, log):
    """``(number, pair, row)`` of each pair of ``todo`` as its training finishes: in
    order, or with ``jobs`` > 1 from a process pool in the order they finish."""
    def started(number, dataset, algo):
        config = row_config(dataset, algo, options["seed"])
        log(f"compare: [{number}/{len(todo)}] {algo} on {dataset}: training "
            f"{options['epochs']} epoch{'s' * (options['epochs'] != 1)} "
            f"({ALGO_ENGINES[algo][0]}, config {config.name})")
        return config

    if jobs <= 1 or len(todo) <= 1:
        for number, (dataset, algo) in enumerate(todo, 1):
            config = started(number, dataset, algo)
            yield number, (dataset, algo), train_row(dataset, algo, config,
                                                     datasets[dataset], options)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)))
    try:
        futures = {}
        for number, (dataset, algo) in enumerate(todo, 1):
            started(number, dataset, algo)
            futures[pool.submit(_train_row_by_name, dataset, algo, options)] = \
                (number, (dataset, algo))
        for future in as_completed(futures):
            number, pair = futures[future]
            yield number, pair, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _train_row_by_name(dataset, algo, options):
    """:func:`train_row` in a worker process, from names and options alone."""
    config = row_config(dataset, algo, options["seed"])
    loaded = load_dataset(dataset, load_config(DATASET_CONFIGS[dataset])).limit(
        options["limit_train"], options["limit_test"])
    return train_row(dataset, algo, config, loaded, options)


def _reusable(row, config):
    return row is not None and row.get("config_hash") == config.hash() \
        and "test_accuracy" in row


def _summary(row):
    return (f"test {row['test_accuracy']:.2%}, "
            f"{_cell(row, 'weight_writes_per_sample', '{:,.1f}')} writes/sample, "
            f"{_cell(row, 'host_bytes_per_train_sample', '{:,.1f}')} host bytes/sample, "
            f"{_cell(row, 'rtl_cycles_per_train_sample', '{:,.0f}')} RTL cycles/sample, "
            f"{row['wall_s']:.1f} s")


# -- one row ----------------------------------------------------------------------------

def train_row(dataset_name, algo, config, dataset, options):
    """Train ``algo`` on its default engine as ``spikefab train`` does; its figures."""
    engine = ALGO_ENGINES[algo][0]
    check_engine(algo, engine)
    model = make_model(engine, config, None, algo)
    start = time.perf_counter()
    figures, _ = train_epochs(model, dataset, epochs=options["epochs"],
                              seed=options["seed"], progress=False)
    wall = time.perf_counter() - start
    row = {"dataset": dataset_name, "algo": algo, "engine": engine, "config": config.name,
           "config_hash": config.hash(), "epochs": options["epochs"],
           "train_samples": figures["train_samples"], "test_samples": figures["test_samples"],
           "train_accuracy": figures["train_accuracy"],
           "test_accuracy": figures["test_accuracy"],
           "weight_writes_per_sample": figures["weight_writes_per_sample"],
           "wall_s": wall, "n/a": {}}
    if engine == "float":
        row["notes"] = {"weight_writes_per_sample": FLOAT_WRITES}
    try:
        counted = host_bytes_breakdown(algo, config, sample_payload_sizes(dataset))
    except NotOnChip as reason:
        row["host_bytes_per_train_sample"] = None
        row["n/a"]["host_bytes_per_train_sample"] = str(reason)
    else:
        row.update(host_bytes_per_train_sample=counted["total"],
                   host_bytes_to_chip=counted["to_chip"],
                   host_bytes_from_chip=counted["from_chip"],
                   host_bytes_layouts=counted["layouts"],
                   host_bytes_counted=counted["counted"])
    return row


def _rtl_key(algo, config, dataset):
    return f"{dataset.replace(':', '_').replace('/', '_')}-{algo}-{config.hash()}"


def rtl_cycles(algo, config, dataset, options, out_dir, *, log=lambda line: None,
               build_root=RTL_BUILD):
    """``{"rtl_cycles_per_train_sample", …}`` of ``algo`` on the first
    ``options["rtl_samples"]`` training samples of ``dataset`` in Verilator; None with
    the reason (in ``"n/a"``) where the rule has no rtl engine or no run was asked for.
    Taken from ``out_dir/rtl/<dataset>-<algo>-<config hash>.json`` when that holds a
    run of the same samples and seed."""
    samples, seed = options["rtl_samples"], options["seed"]
    column = "rtl_cycles_per_train_sample"
    if "rtl" not in ALGO_ENGINES[algo]:
        reason = NO_CHIP_REASONS.get(algo, f"--algo {algo} has no rtl engine yet")
        return {column: None, "n/a": {column: reason}}
    if not samples:
        return {column: None, "n/a": {column: "not measured (--rtl-samples 0)"}}
    key = _rtl_key(algo, config, dataset)
    cache = Path(out_dir) / RTL_FOLDER / f"{key}.json"
    try:
        cached = json.loads(cache.read_text())
    except (OSError, ValueError):
        cached = None
    if isinstance(cached, dict) and cached.get("rtl_samples") == samples \
            and cached.get("seed") == seed and cached.get("config_hash") == config.hash() \
            and isinstance(cached.get(column), (int, float)):
        log(f"compare: {algo} on {dataset}: RTL cycles from {cache}")
        return {column: cached[column], "rtl_samples": samples,
                "rtl_wall_s": cached.get("rtl_wall_s"), "n/a": {}}
    log(f"compare: {algo} on {dataset}: measuring cycles on {samples} training samples "
        f"in Verilator")
    from spikefab.sim.simulate import simulate
    start = time.perf_counter()
    report = simulate(config, dataset, epochs=1, seed=seed, limit_train=samples,
                      limit_test=1, float_model=False, out_dir=Path(out_dir) / RTL_FOLDER / key,
                      build_dir=build_root, log=lambda line: log(f"compare:   {line.strip()}"),
                      algo=algo)
    wall = time.perf_counter() - start
    if not report["bit_exact"]:
        reason = f"the chip differed from golden: {report.get('failure')}"
        log(f"compare: {algo} on {dataset}: {reason}")
        return {column: None, "rtl_samples": samples, "n/a": {column: reason}}
    measured = {column: report["cycles_per_train_sample"], "rtl_samples": samples,
                "rtl_wall_s": wall}
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_json(str(cache), {"algo": algo, "dataset": dataset, "config_hash": config.hash(),
                            "seed": seed, **measured,
                            "rtl_train_samples": report["train_samples"],
                            "sim_cycles_per_s": report.get("sim_cycles_per_s")})
    return {**measured, "n/a": {}}


# -- markdown and PNG -------------------------------------------------------------------

def _cell(row, column, spec):
    value = row.get(column)
    return "n/a" if value is None else spec.format(value)


def markdown(table):
    """The table as markdown: one row per (dataset, rule); n/a and float figures carry a
    numbered note that says why."""
    options = table["options"]
    notes = []

    def mark(text):
        if text not in notes:
            notes.append(text)
        return f" [{notes.index(text) + 1}]"

    limits = ", ".join(f"{name.replace('_', ' ')} {options[name]}"
                       for name in ("limit_train", "limit_test") if options[name])
    lines = ["# Learning rules compared", "",
             f"{options['epochs']} epoch{'s' * (options['epochs'] != 1)}, seed "
             f"{options['seed']}{', ' + limits if limits else ''}; "
             + (f"RTL cycles from {options['rtl_samples']} training samples in Verilator."
                if options["rtl_samples"] else "no RTL run (--rtl-samples 0)."), "",
             "| dataset | rule | engine | test accuracy | weight writes / sample "
             "| host↔chip bytes / sample | RTL cycles / sample | wall s |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for row in table["rows"]:
        cells = []
        for column, spec in (("weight_writes_per_sample", "{:,.1f}"),
                             ("host_bytes_per_train_sample", "{:,.1f}"),
                             ("rtl_cycles_per_train_sample", "{:,.0f}")):
            text = _cell(row, column, spec)
            reason = row.get("n/a", {}).get(column) or row.get("notes", {}).get(column)
            cells.append(text + (mark(reason) if reason else ""))
        lines.append(f"| {row['dataset']} | {row['algo']} | {row['engine']} "
                     f"| {row['test_accuracy']:.2%} | {' | '.join(cells)} "
                     f"| {row['wall_s']:,.1f} |")
    lines.append("")
    for number, text in enumerate(notes, 1):
        lines.append(f"[{number}] {text}  ")
    if notes:
        lines.append("")
    lines += [f"- **{column.replace('_', ' ')}**: {meaning}"
              for column, meaning in COLUMNS.items()]
    return "\n".join(lines) + "\n"


def plot_table(table, path):
    """``compare.png``: test accuracy (left) and weight writes per sample (right, log)
    as bars grouped by dataset, a colour per rule."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table["rows"]
    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    algos = [algo for algo in ALGOS if any(row["algo"] == algo for row in rows)]
    width = 0.8 / max(len(algos), 1)
    figure, (accuracy, writes) = plt.subplots(1, 2, figsize=(11, 4))
    colours = plt.get_cmap("tab10")
    for index, algo in enumerate(algos):
        by_dataset = {row["dataset"]: row for row in rows if row["algo"] == algo}
        xs = [d + (index - (len(algos) - 1) / 2) * width for d in range(len(datasets))]
        engine = next(iter(by_dataset.values()))["engine"]
        label = f"{algo} ({engine})"
        values = [100 * by_dataset[d]["test_accuracy"] if d in by_dataset else math.nan
                  for d in datasets]
        bars = accuracy.bar(xs, values, width, label=label, color=colours(index))
        accuracy.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
        values = [by_dataset[d]["weight_writes_per_sample"] if d in by_dataset else math.nan
                  for d in datasets]
        bars = writes.bar(xs, values, width, label=label, color=colours(index),
                          hatch="//" if engine == "float" else None, edgecolor="white")
        writes.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    options = table["options"]
    accuracy.set(ylabel="test accuracy (%)", ylim=(0, 108),
                 title=f"Test accuracy after {options['epochs']} epoch"
                       f"{'s' * (options['epochs'] != 1)}")
    writes.set(ylabel="per training sample (log)", yscale="log",
               title="Weight writes (hatched: float weights changed)")
    for axis in (accuracy, writes):
        axis.set_xticks(range(len(datasets)), datasets)
        axis.grid(True, axis="y", which="both", alpha=0.3)
    handles, labels = accuracy.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(algos), fontsize=8,
                  frameon=False)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    write_atomically(str(path), lambda file: figure.savefig(file, format="png", dpi=100))
    plt.close(figure)
