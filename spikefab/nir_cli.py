"""The ``export`` and ``import`` commands of ``spikefab`` (NIR out and in).

``spikefab export --checkpoint CKPT --out net.nir [--check DATASET]`` writes the
checkpoint's network as a NIR graph (:mod:`spikefab.nir_export`), reads it back with
``nir.read(type_check=True)`` and, with ``--check``, runs it in snnTorch against golden
on the dataset's test split (:func:`spikefab.nir_snntorch.agreement`).

``spikefab import net.nir --config C --save CKPT`` quantises another tool's graph to the
config (:mod:`spikefab.nir_import`), prints the accuracy in snnTorch (float) and on
golden (integer), and saves a checkpoint that ``train --resume`` and ``eval`` take.
Every user error is found before any work is done and is one line.
"""

import json
import math
import sys

from spikefab.checkpoint import check_save_path, read_checkpoint, save_checkpoint
from spikefab.config import load_config
from spikefab.golden.datasets import load_dataset
from spikefab.golden.encoders import encode
from spikefab.nir_io import (DEFAULT_DT, NIRError, check_out_path, read_foreign_graph,
                             read_graph, write_graph)


__all__ = ["add_nir_commands", "NIR_COMMANDS"]


def add_nir_commands(commands):
    """Add ``export`` and ``import`` to the ``spikefab`` subcommand parsers."""
    export = commands.add_parser("export", help="write a checkpoint as a NIR graph")
    export.add_argument("--checkpoint", required=True, metavar="CKPT")
    export.add_argument("--out", required=True, metavar="PATH", help="the .nir file")
    export.add_argument("--check", metavar="DATASET",
                        help="run the written graph in snnTorch and report how often it "
                             "decides as golden does on DATASET's test split")
    export.add_argument("--limit-test", type=int, metavar="N")
    export.add_argument("--json", action="store_true")

    import_ = commands.add_parser(
        "import", help="quantise a feed-forward LIF NIR graph to a config; save a checkpoint")
    import_.add_argument("graph", metavar="NIR", help="the .nir file")
    import_.add_argument("--config", required=True,
                         help="preset or JSON file: the widths, threshold and leak to map to")
    import_.add_argument("--save", required=True, metavar="CKPT")
    import_.add_argument("--dataset", default="digits",
                         help="evaluated on, and what `train --resume` continues on "
                              "(default: digits)")
    import_.add_argument("--seed", type=int, default=1,
                         help="the training order of a resumed run (default: 1)")
    import_.add_argument("--dt", type=float, default=DEFAULT_DT,
                         help=f"seconds per timestep when the graph does not say "
                              f"(default: {DEFAULT_DT:g}, snnTorch's)")
    import_.add_argument("--limit-test", type=int, metavar="N")
    import_.add_argument("--json", action="store_true")


def command_export(args):
    from spikefab.nir_export import checkpoint_graph
    from spikefab.nir_import import feed_forward_chain

    checkpoint = read_checkpoint(args.checkpoint)
    if any(w.dtype.kind == "f" for w in checkpoint.weights):
        raise NIRError(f"checkpoint {args.checkpoint} holds float weights; export maps "
                       f"the integer network (golden or rtl checkpoints)")
    check_out_path(args.out)
    config = checkpoint.config
    dataset = _dataset(args.check, config, args.limit_test) if args.check else None
    write_graph(args.out, checkpoint_graph(config, checkpoint.weights))
    graph = read_graph(args.out)          # what a reader gets, type-checked
    result = {"out": args.out, "config": config.name, "nodes": feed_forward_chain(graph),
              "dt": DEFAULT_DT}
    if dataset is not None:
        from spikefab.nir_snntorch import agreement
        result.update(dataset=args.check,
                      **agreement(graph, config, checkpoint.weights, dataset))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.out}: {' → '.join(result['nodes'])} (config {config.name}), "
          f"read back with type checking")
    if dataset is not None:
        print(f"snnTorch vs golden on {args.check} ({result['test_samples']} test samples):"
              f" the same decision on {result['agreement']:.2%} (golden "
              f"{result['golden_accuracy']:.2%}, snnTorch {result['snntorch_accuracy']:.2%}"
              f"); with subtractive reset {result['agreement_subtract']:.2%}")
    return 0


def command_import(args):
    from spikefab.nir_import import quantise_graph
    from spikefab.train import make_model, run_meta, train_epochs

    if not math.isfinite(args.dt) or args.dt <= 0:
        raise NIRError(f"--dt must be a positive number of seconds, not {args.dt}")
    check_save_path(args.save)
    config = load_config(args.config).replace(init_seed=args.seed & 0xFFFFFFFF)
    graph, type_note = read_foreign_graph(args.graph)
    quantised = quantise_graph(graph, config, args.dt)
    dataset = _dataset(args.dataset, config, args.limit_test)
    for note in ([type_note] if type_note else []) + quantised.notes:
        print(f"spikefab: note: {note}", file=sys.stderr)
    float_accuracy = _snntorch_accuracy(graph, config, dataset)
    # No epoch: golden's test accuracy, and the state of a fresh run before its first
    # epoch, from which `train --resume` goes on.
    figures, state = train_epochs(make_model("golden", config, quantised.weights), dataset,
                                  epochs=0, seed=args.seed, progress=False)
    golden_accuracy = figures["test_accuracy"]
    options = {"dataset": args.dataset, "algo": "sparse-dfa", "engine": "golden",
               "seed": args.seed, "epochs": 0, "limit_train": None,
               "limit_test": args.limit_test}
    meta = {**run_meta(options, dataset, state), "test_accuracy": golden_accuracy,
            "imported_from": args.graph, "float_test_accuracy": float_accuracy}
    save_checkpoint(args.save, config, quantised.weights, engine="golden", meta=meta,
                    state=state.to_dict())
    result = {"graph": args.graph, "save": args.save, "config": config.name,
              "dataset": args.dataset, "test_samples": int(len(dataset.y_test)),
              "float_accuracy": float_accuracy, "golden_accuracy": golden_accuracy,
              "weights_clipped": quantised.clipped, "weights": quantised.n_weights,
              "leak_shift_error": quantised.leak_error, "notes": quantised.notes}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.graph} → {args.save} (config {config.name}): test accuracy on "
              f"{args.dataset} {_percent(float_accuracy)} in snnTorch (float), "
              f"{golden_accuracy:.2%} on golden after quantisation; "
              f"{quantised.clipped} of {quantised.n_weights} weights saturated")
    return 0


def _snntorch_accuracy(graph, config, dataset):
    """The graph's test accuracy in snnTorch (float), or None, with a note, where
    snnTorch cannot build it (e.g. thresholds that differ between neurons)."""
    from spikefab.nir_import import graph_reset
    from spikefab.nir_snntorch import predictions, snntorch_counts

    rasters = encode(dataset.x_test, config) if dataset.kind == "pixels" else dataset.x_test
    # A graph spikefab wrote asks for its reset in the metadata; NIR's own is to zero.
    reset = "subtract" if graph_reset(graph) == "subtract" else "zero"
    try:
        counts = snntorch_counts(graph, rasters, reset)
    except NIRError as error:
        print(f"spikefab: note: {error}; no float accuracy", file=sys.stderr)
        return None
    return float((predictions(counts) == dataset.y_test).mean())


def _percent(value):
    return "n/a" if value is None else f"{value:.2%}"


def _dataset(name, config, limit_test):
    """The dataset to evaluate on, test split limited (all checks before any work)."""
    return load_dataset(name, config).limit(None, limit_test)


NIR_COMMANDS = {"export": command_export, "import": command_import}
