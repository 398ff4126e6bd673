"""``spikefab`` command line: thin glue over :mod:`spikefab.train` and the checkpoints.

Errors a user can cause (bad config, missing or corrupt dataset, mismatched checkpoint)
print one line, ``spikefab: error: …``, on stderr and exit with status 2. Ctrl-C prints
one line and exits with 130; during training it first saves the last finished epoch when
``--save`` was given (``train --resume`` continues from there).
"""

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from spikefab.checkpoint import (CheckpointError, check_config, check_save_path,
                                 load_checkpoint, read_checkpoint, save_checkpoint)
from spikefab.config import ConfigError, PRESETS, load_config
from spikefab.golden.datasets import DATASET_NAMES, DatasetError, load_dataset
from spikefab.bitstream import BuildError
from spikefab.hw.families import BOARDS, DEFAULT_BOARD
from spikefab.diagnostics import confusion_matrix, sample_raster, save_report
from spikefab.plots import PlotsUnavailable, check_plot_folder, require_matplotlib
from spikefab.nir_cli import NIR_COMMANDS, add_nir_commands
from spikefab.sweep_cli import add_parser as add_sweep_parser, command_sweep
from spikefab.compare import add_parser as add_compare_parser, command_compare
# The command line fronts the whole kit: its `sim` command and `train --engine rtl` run
# the simulation (spikefab.sim). No other host module imports it.
from spikefab.sim.runner import SIMULATORS, SimulatorError
from spikefab.train import (ALGOS, ENGINES, EngineError, TrainingInterrupted, algo_config,
                            check_engine, evaluate, make_model, resolve_options, resumable,
                            resume_state, run_meta, train_epochs)


# ValueError covers bad shapes or values that reach the models (ConfigError is one too).
USER_ERRORS = (ValueError, DatasetError, CheckpointError, EngineError, SimulatorError,
               BuildError, PlotsUnavailable)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="spikefab",
        description="Train and evaluate spiking networks that learn on the chip.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a network online, one sample at a time")
    # No defaults here: a resumed run takes the options it is not given from its
    # checkpoint, a new run from TRAIN_DEFAULTS (train.resolve_options).
    train.add_argument("--dataset",
                       help=f"one of: {', '.join(DATASET_NAMES)} (default: digits)")
    train.add_argument("--algo", choices=ALGOS,
                       help="sparse-dfa, dfa (on-chip rules); eggroll (low-rank ES: golden "
                            "integer or float Gaussian), es (full-rank ES, float), bptt "
                            "(surrogate-gradient BPTT, float, needs torch) (default: "
                            "sparse-dfa)")
    train.add_argument("--engine", choices=ENGINES,
                       help="(default: golden; float for es and bptt)")
    train.add_argument("--config",
                       help=f"preset ({', '.join(PRESETS)}) or a JSON file (default: digits)")
    train.add_argument("--epochs", type=int,
                       help="epochs in all, those of a resumed checkpoint included "
                            "(default: 20, or the resumed run's); an ES or BPTT epoch is "
                            "ceil(train samples / batch) generations or steps")
    train.add_argument("--seed", type=int,
                       help="weight initialisation and training order (default: 1)")
    train.add_argument("--limit-train", type=int, metavar="N",
                       help="use only the first N training samples")
    train.add_argument("--limit-test", type=int, metavar="N",
                       help="use only the first N test samples")
    train.add_argument("--save", metavar="PATH",
                       help="write a checkpoint to PATH, exactly (also on Ctrl-C: the last "
                            "finished epoch)")
    train.add_argument("--resume", metavar="CKPT",
                       help="continue the run saved in CKPT (golden and float engines)")
    train.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    train.add_argument("--plots", metavar="DIR",
                       help="write DIR/report.json (the figures, the test confusion "
                            "counts, one test sample's spike raster) and its PNG plots: "
                            "training.png, confusion.png, raster.png (golden engine)")

    evaluate_ = commands.add_parser("eval", help="evaluate a checkpoint")
    evaluate_.add_argument("--checkpoint", required=True, metavar="PATH")
    evaluate_.add_argument("--dataset", default="digits")
    evaluate_.add_argument("--engine", choices=ENGINES,
                           help="default: the engine the checkpoint was trained with")
    evaluate_.add_argument("--config", help="refuse the checkpoint unless it has this config")
    evaluate_.add_argument("--limit-test", type=int, metavar="N")
    evaluate_.add_argument("--json", action="store_true")

    sim = commands.add_parser(
        "sim", help="train on the chip in RTL simulation and compare with golden and float")
    sim.add_argument("--dataset", default="digits")
    sim.add_argument("--config", default="digits")
    sim.add_argument("--algo", default="sparse-dfa", choices=("sparse-dfa", "dfa", "eggroll"),
                     help="the chip's rule: DFA (the config's k_fb, or dense), or EGGROLL "
                          "on a chip built with its ES units (es_on_chip)")
    sim.add_argument("--simulator", default="verilator", choices=SIMULATORS)
    sim.add_argument("--epochs", type=int, default=3)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--limit-train", type=int, metavar="N")
    sim.add_argument("--limit-test", type=int, metavar="N")
    sim.add_argument("--waves", action="store_true", help="dump waveforms under --out")
    sim.add_argument("--out", default="build/sim", help="report and build folder")
    sim.add_argument("--json", action="store_true", help="print the report as JSON")

    board = commands.add_parser(
        "board", help="train and evaluate on a chip over a serial port, checked against golden")
    board.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB1")
    board.add_argument("--baud", type=int, default=115200)
    board.add_argument("--timeout", type=float, default=10.0,
                       help="seconds to wait for a reply byte (default: 10)")
    board.add_argument("--dataset", default="digits")
    board.add_argument("--config", default="digits", help="the config the chip was built for")
    board.add_argument("--algo", default="sparse-dfa", choices=("sparse-dfa", "dfa", "eggroll"),
                       help="the chip's DFA rule (dfa: dense, k_fb = n_out, as `sim --algo "
                            "dfa` builds it), or EGGROLL on a chip built with its ES units "
                            "(es_on_chip, e.g. --config digits-es)")
    board.add_argument("--epochs", type=int, default=3)
    board.add_argument("--seed", type=int, default=1, help="training order")
    board.add_argument("--limit-train", type=int, metavar="N")
    board.add_argument("--limit-test", type=int, metavar="N")
    board.add_argument("--json", action="store_true")

    boards = ", ".join(f"{name} ({b.family.name})" for name, b in BOARDS.items())
    plot = commands.add_parser(
        "plot", help="draw the PNG plots of a report (train --plots, sim, make bench)")
    plot.add_argument("report", metavar="REPORT.json")
    plot.add_argument("--out", metavar="DIR",
                      help="folder for the PNGs (default: the report's folder)")

    bits = commands.add_parser("bitstream", help="build an FPGA bitstream and report on it")
    bits.add_argument("--board", default=DEFAULT_BOARD,
                      help=f"one of: {boards} (default: {DEFAULT_BOARD})")
    bits.add_argument("--config", default="mnist")
    bits.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    bits.add_argument("--synth-only", action="store_true",
                      help="run Yosys only (a quick check that the design maps)")
    bits.add_argument("--out", default="build", help="build folder (default: build)")
    bits.add_argument("--json", action="store_true")

    program = commands.add_parser(
        "program", help="load a built bitstream onto the attached board (the programmer "
                        "of its FPGA family: iceprog, openFPGALoader; not from PyPI)")
    program.add_argument("--board", default=DEFAULT_BOARD,
                         help=f"one of: {boards} (default: {DEFAULT_BOARD})")
    program.add_argument("--config", default="mnist", help="the config it was built for")
    program.add_argument("--out", default="build", help="build folder (default: build)")
    program.add_argument("--dry-run", action="store_true",
                         help="print the programmer's command line instead of running it")
    add_nir_commands(commands)
    add_sweep_parser(commands)
    add_compare_parser(commands)
    return parser


def command_train(args):
    resumed = read_checkpoint(args.resume) if args.resume is not None else None
    vars(args).update(resolve_options(vars(args), resumed, args.resume))
    if args.epochs < 0:
        raise ConfigError(f"--epochs must be at least 0, not {args.epochs}")
    if args.save is not None:
        check_save_path(args.save)  # before training, not after it
    if args.plots is not None:
        check_plot_folder(args.plots)
    check_engine(args.algo, args.engine)
    config = _train_config(args, resumed)
    if args.engine == "rtl":
        return command_train_rtl(args, config)
    dataset = load_dataset(args.dataset, config).limit(args.limit_train, args.limit_test)
    state = resume_state(resumed, args.resume, dataset) if resumed else None
    model = make_model(args.engine, config, state.weights if state else None, args.algo)
    start = time.perf_counter()
    try:
        figures, state = train_epochs(model, dataset, epochs=args.epochs, seed=args.seed,
                                      progress=not args.json, resume=state)
    except TrainingInterrupted as stop:
        return _interrupted(args, config, dataset, stop)
    result = {"dataset": args.dataset, "algo": args.algo, "engine": args.engine,
              "config": config.name, "config_hash": config.hash(), "seed": args.seed,
              **figures, "wall_s": time.perf_counter() - start}
    if args.save:
        _save(args.save, config, state.weights, args.engine,
              run_meta(vars(args), dataset, state), state)
    if args.plots is not None:
        _write_train_plots(args, {**result, "confusion": confusion_matrix(model, dataset),
                                  "raster": sample_raster(model, dataset)})
    if args.json:
        print(json.dumps(result))
    elif "generations" in result:
        print(f"{args.algo} on {args.dataset} ({args.engine}, config {config.name}): "
              f"train {result['train_accuracy']:.2%}, test {result['test_accuracy']:.2%}, "
              f"{result['generations']} {'steps' if args.algo == 'bptt' else 'generations'} "
              f"of {result['batch']} samples"
              f"{_population_text(result)}, {result['generation_s'] * 1e3:,.0f} ms each, "
              f"{result['weight_writes_per_sample']:.1f} weight writes/sample, "
              f"{result['wall_s']:.1f} s")
    else:
        print(f"{args.algo} on {args.dataset} ({args.engine}, config {config.name}): "
              f"train {result['train_accuracy']:.2%}, test {result['test_accuracy']:.2%}, "
              f"{result['weight_writes_per_sample']:.1f} weight writes/sample, "
              f"{result['train_samples_per_s']:,.0f} samples/s, {result['wall_s']:.1f} s")
    return 0


def _write_train_plots(args, report):
    """``train --plots DIR``: DIR/report.json and the PNGs drawn from it."""
    from spikefab.plots import write_plots

    report = {key: value for key, value in report.items() if value is not None}
    save_report(report, Path(args.plots) / "report.json")
    for path in write_plots(report, args.plots):
        _progress(args)(f"plot: {path}")


def command_plot(args):
    from spikefab.plots import ReportError, check_report, write_plots

    require_matplotlib()
    try:
        report = json.loads(Path(args.report).read_text())
    except OSError as error:
        raise PlotsUnavailable(f"cannot read report {args.report}: "
                               f"{error.strerror or error}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise PlotsUnavailable(f"report {args.report} is not JSON: {error}") from None
    try:
        check_report(report)
    except ReportError as error:
        raise ReportError(f"report {args.report} is malformed: {error}") from None
    out = args.out if args.out is not None else Path(args.report).parent
    check_plot_folder(out)
    try:
        paths = write_plots(report, out)
    except PlotsUnavailable as error:
        raise PlotsUnavailable(f"report {args.report}: {error}") from None
    for path in paths:
        print(path)
    return 0


def _population_text(result):
    if result["population"] is None:
        return ""
    rank = "full rank" if result["rank"] is None else f"rank {result['rank']}"
    return f" × {result['population']} members ({rank})"


def _train_config(args, resumed):
    """A new run's config from --config, --algo and --seed; a resumed run's from its
    checkpoint, which a --config given must match."""
    if resumed is None:
        config = algo_config(load_config(args.config), args.algo)
        return config.replace(init_seed=args.seed & 0xFFFFFFFF)
    if args.config is not None:
        check_config(args.resume, resumed.config,
                     algo_config(load_config(args.config), args.algo))
    return resumed.config


def _interrupted(args, config, dataset, stop):
    """Ctrl-C during training: keep the last finished epoch if --save was given; 130."""
    where = f"spikefab: interrupted during epoch {stop.epoch}/{args.epochs}"
    if not args.save:
        _stderr(f"{where}; nothing saved (no --save)")
        return 130
    _save(args.save, config, stop.state.weights, args.engine,
          run_meta(vars(args), dataset, stop.state), stop.state)
    hint = (f" (continue it with: spikefab train --resume {args.save})"
            if resumable(args.algo, args.engine) else "")
    _stderr(f"{where}; saved the run after epoch {stop.state.epoch} to {args.save}{hint}")
    return 130


def command_train_rtl(args, config):
    """``train --engine rtl``: the same run as ``make sim`` (Verilator), reported like
    the other engines; it fails unless the chip equals golden throughout."""
    from spikefab.sim.simulate import simulate

    start = time.perf_counter()
    report = simulate(config, args.dataset, epochs=args.epochs, seed=args.seed,
                      limit_train=args.limit_train, limit_test=args.limit_test,
                      float_model=False, return_weights=bool(args.save),
                      log=_progress(args), progress=_live_bar(args), algo=args.algo)
    if not report["bit_exact"]:
        raise SimulatorError(f"the chip differs from golden: {report.get('failure')}")
    wall = time.perf_counter() - start
    result = {"dataset": args.dataset, "algo": args.algo, "engine": "rtl",
              "config": config.name, "config_hash": config.hash(), "seed": args.seed,
              "epochs": args.epochs, "train_samples": report["train_samples"],
              "test_samples": report["test_samples"],
              "train_accuracy": report["history"][-1]["train_accuracy"]
              if report["history"] else 0.0,
              "test_accuracy": report["hw_test_accuracy"],
              "train_samples_per_s": args.epochs * report["train_samples"]
              / max(report["sim_wall_s"], 1e-9),
              "weight_writes_per_sample": report["weight_writes_per_train_sample"],
              "cycles_per_train_sample": report["cycles_per_train_sample"],
              "sim_cycles_per_s": report["sim_cycles_per_s"], "wall_s": wall,
              "neurobench": report.get("neurobench"),
              "neurobench_chip": report.get("neurobench_chip")}
    if args.save:
        _save(args.save, config, [np.asarray(w, dtype=np.int64) for w in report["weights"]],
              "rtl", {k: result[k] for k in ("dataset", "algo", "epochs", "seed",
                                             "test_accuracy")})
    if args.plots is not None:
        _write_train_plots(args, {**result, "history": report["history"],
                                  "confusion": report.get("confusion"),
                                  "raster": report.get("raster")})
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.algo} on {args.dataset} (rtl, config {config.name}): "
              f"train {result['train_accuracy']:.2%}, test {result['test_accuracy']:.2%}, "
              f"equal to golden, {result['wall_s']:.1f} s")
    return 0


def command_sim(args):
    if args.epochs < 0:
        raise ConfigError(f"--epochs must be at least 0, not {args.epochs}")
    from spikefab.sim.simulate import format_table, simulate

    config = algo_config(load_config(args.config), args.algo)
    config = config.replace(init_seed=args.seed & 0xFFFFFFFF)
    report = simulate(config, args.dataset, simulator=args.simulator, epochs=args.epochs,
                      seed=args.seed, out_dir=args.out, waves=args.waves,
                      limit_train=args.limit_train, limit_test=args.limit_test,
                      log=_progress(args), progress=_live_bar(args), algo=args.algo)
    plots = _sim_plots(args, report)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "weights"}))
    else:
        print(format_table(report))
        print(f"report: {Path(args.out) / 'report.json'}")
        for path in plots:
            print(f"plot: {path}")
    return 0 if report["bit_exact"] else 1


def _live_bar(args):
    """Where the simulation's live bar goes: stderr when it is a terminal, not --json."""
    return sys.stderr if not args.json and sys.stderr.isatty() else None


def _sim_plots(args, report):
    """The PNGs of a sim report, next to report.json; without matplotlib a note, not an
    error (the report is what the run is for)."""
    from spikefab.plots import write_plots

    try:
        return write_plots({k: v for k, v in report.items() if k != "weights"}, args.out)
    except PlotsUnavailable as reason:
        _progress(args)(f"spikefab: no plots: {reason}")
        return []


def command_board(args):
    import serial

    from spikefab.board import run_board
    from spikefab.driver import ChipError
    from spikefab.twin import Mismatch

    config = algo_config(load_config(args.config), args.algo)
    if args.algo == "eggroll" and not config.es_on_chip:
        raise ConfigError(f"--algo eggroll needs a chip built with its ES units; config "
                          f"{config.name} has none (es_on_chip is off): build and pass one "
                          f"that has, e.g. --config digits-es")
    try:
        result = run_board(args.port, config, args.dataset, epochs=args.epochs,
                           seed=args.seed, baud=args.baud, timeout=args.timeout,
                           limit_train=args.limit_train, limit_test=args.limit_test,
                           log=_progress(args), algo=args.algo)
    except serial.SerialException as error:
        raise ChipUnreachable(f"cannot use serial port {args.port}: {error}") from None
    except ChipError as error:
        raise ChipUnreachable(str(error)) from None
    except Mismatch as mismatch:
        print(f"spikefab: the chip differs from golden: {mismatch}", file=sys.stderr)
        return 1
    result = {"port": args.port, "dataset": args.dataset, "algo": args.algo,
              "config": config.name, **result}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{config.name} on {args.dataset} over {args.port}: train "
              f"{result['train_accuracy']:.2%}, test {result['test_accuracy']:.2%}, every "
              f"reply and the final weights equal to golden, {result['wall_s']:.1f} s")
    return 0


class ChipUnreachable(Exception):
    """The serial port or the chip behind it cannot be used."""


def _flip_flop_text(report):
    """The flip-flops of a build, with those the ECP5's block RAMs took in."""
    in_rams = report.get("bram_output_registers", 0)
    return f"{report['ffs']} FFs" + (f" (+{in_rams} in block RAM output registers)"
                                     if in_rams else "")


def command_bitstream(args):
    from spikefab.bitstream import build_bitstream, synthesize
    from spikefab.hw.families import board

    family = board(args.board).family  # an unknown board fails before anything is built
    config = load_config(args.config)
    if args.synth_only:
        result = synthesize(args.board, config, out_dir=args.out)
        result.pop("cells")
        print(json.dumps(result) if args.json else
              f"{args.board} / {config.name}: Yosys mapped it, {_flip_flop_text(result)} "
              f"({result['build_dir']})")
        return 0
    _stderr(f"building {config.name} for {args.board} (Yosys, nextpnr: a few minutes)")
    report = build_bitstream(args.board, config, out_dir=args.out, seed=args.seed)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['bitstream']}\n"
              f"  {report['device']}: {report['luts']}/{report['luts_total']} "
              f"{family.logic_unit}, {_flip_flop_text(report)}, "
              f"{report['bram']}/{report['bram_total']} BRAM, "
              f"{report['spram']} SPRAM, {report['dsp']} DSP\n"
              f"  fmax {report['fmax_mhz']:.1f} MHz, target {report['target_mhz']:.0f} MHz: "
              f"timing {'met' if report['timing_met'] else 'NOT met'}\n"
              f"  report: {Path(args.out) / args.board / 'report.json'}")
    return 0 if report["timing_met"] else 1


def command_program(args):
    from spikefab.bitstream import program
    from spikefab.hw.families import board

    board(args.board)  # an unknown board or config is refused before anything else
    config = load_config(args.config)
    command = program(args.board, config.name, out_dir=args.out, dry_run=args.dry_run)
    if args.dry_run:
        print(shlex.join(command))
    return 0


def _save(path, config, weights, engine, meta, state=None):
    save_checkpoint(path, config, weights, engine=engine, meta=meta,
                    state=None if state is None else state.to_dict())


def _progress(args):
    """Where progress lines go: stderr, or nowhere under ``--json``."""
    return (lambda line: None) if args.json else _stderr


def _stderr(line):
    print(line, file=sys.stderr, flush=True)


def command_eval(args):
    expect = load_config(args.config) if args.config else None
    config, weights, trained_engine, meta = load_checkpoint(args.checkpoint, expect)
    engine = args.engine or trained_engine or "golden"
    if engine != "float" and any(w.dtype.kind == "f" for w in weights):
        raise CheckpointError(f"checkpoint {args.checkpoint} holds float weights; "
                              f"evaluate it with --engine float")
    model = make_model(engine, config, weights)
    dataset = load_dataset(args.dataset, config).limit(None, args.limit_test)
    figures = evaluate(model, dataset, progress=not args.json, metrics=True)
    result = {"dataset": args.dataset, "engine": engine, "config": config.name,
              "config_hash": config.hash(), "test_samples": len(dataset.y_test),
              "test_accuracy": figures["accuracy"], **figures}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.checkpoint} on {args.dataset} ({engine}): "
              f"test {result['test_accuracy']:.2%} over {result['test_samples']} samples")


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return command_train(args)
        elif args.command == "sim":
            return command_sim(args)
        elif args.command == "bitstream":
            return command_bitstream(args)
        elif args.command == "board":
            return command_board(args)
        elif args.command == "program":
            return command_program(args)
        elif args.command == "plot":
            return command_plot(args)
        elif args.command in NIR_COMMANDS:
            return NIR_COMMANDS[args.command](args)
        elif args.command == "sweep":
            return command_sweep(args)
        elif args.command == "compare":
            return command_compare(args)
        else:
            command_eval(args)
    except USER_ERRORS + (ChipUnreachable,) as error:
        print(f"spikefab: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spikefab: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
