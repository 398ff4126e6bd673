"""``spikefab`` command line: thin glue over :mod:`spikefab.train` and the checkpoints.

Errors a user can cause (bad config, missing or corrupt dataset, mismatched checkpoint)
print one line, ``spikefab: error: …``, on stderr and exit with status 2.
"""

import argparse
import json
import sys
import time

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import ConfigError, PRESETS, load_config
from .golden.datasets import DATASET_NAMES, DatasetError, load_dataset
from .train import ALGOS, ENGINES, EngineError, algo_config, evaluate, make_model, run_training


# ValueError covers bad shapes or values that reach the models (ConfigError is one too).
USER_ERRORS = (ValueError, DatasetError, CheckpointError, EngineError)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="spikefab",
        description="Train and evaluate spiking networks that learn on the chip.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a network online, one sample at a time")
    train.add_argument("--dataset", default="digits",
                       help=f"one of: {', '.join(DATASET_NAMES)} (default: digits)")
    train.add_argument("--algo", default="sparse-dfa", choices=ALGOS)
    train.add_argument("--engine", default="golden", choices=ENGINES)
    train.add_argument("--config", default="digits",
                       help=f"preset ({', '.join(PRESETS)}) or a JSON file (default: digits)")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--seed", type=int, default=1,
                       help="weight initialisation and training order (default: 1)")
    train.add_argument("--limit-train", type=int, metavar="N",
                       help="use only the first N training samples")
    train.add_argument("--limit-test", type=int, metavar="N",
                       help="use only the first N test samples")
    train.add_argument("--save", metavar="PATH", help="write a checkpoint (.npz)")
    train.add_argument("--json", action="store_true", help="print one JSON object, no progress")

    evaluate_ = commands.add_parser("eval", help="evaluate a checkpoint")
    evaluate_.add_argument("--checkpoint", required=True, metavar="PATH")
    evaluate_.add_argument("--dataset", default="digits")
    evaluate_.add_argument("--engine", choices=ENGINES,
                           help="default: the engine the checkpoint was trained with")
    evaluate_.add_argument("--config", help="refuse the checkpoint unless it has this config")
    evaluate_.add_argument("--limit-test", type=int, metavar="N")
    evaluate_.add_argument("--json", action="store_true")
    return parser


def command_train(args):
    if args.epochs < 0:
        raise ConfigError(f"--epochs must be at least 0, not {args.epochs}")
    config = algo_config(load_config(args.config), args.algo)
    config = config.replace(init_seed=args.seed & 0xFFFFFFFF)
    dataset = load_dataset(args.dataset, config).limit(args.limit_train, args.limit_test)
    model = make_model(args.engine, config)
    start = time.perf_counter()
    figures = run_training(model, dataset, epochs=args.epochs, seed=args.seed,
                           progress=not args.json)
    result = {"dataset": args.dataset, "algo": args.algo, "engine": args.engine,
              "config": config.name, "config_hash": config.hash(), "seed": args.seed,
              **figures, "wall_s": time.perf_counter() - start}
    if args.save:
        save_checkpoint(args.save, config, model.weights, engine=args.engine,
                        meta={k: result[k] for k in ("dataset", "algo", "epochs", "seed",
                                                      "test_accuracy")})
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.algo} on {args.dataset} ({args.engine}, config {config.name}): "
              f"train {result['train_accuracy']:.2%}, test {result['test_accuracy']:.2%}, "
              f"{result['weight_writes_per_sample']:.1f} weight writes/sample, "
              f"{result['train_samples_per_s']:,.0f} samples/s, {result['wall_s']:.1f} s")


def command_eval(args):
    expect = load_config(args.config) if args.config else None
    config, weights, trained_engine, meta = load_checkpoint(args.checkpoint, expect)
    engine = args.engine or trained_engine or "golden"
    if engine != "float" and any(w.dtype.kind == "f" for w in weights):
        raise CheckpointError(f"checkpoint {args.checkpoint} holds float weights; "
                              f"evaluate it with --engine float")
    model = make_model(engine, config, weights)
    dataset = load_dataset(args.dataset, config).limit(0, args.limit_test)
    figures = evaluate(model, dataset, progress=not args.json)
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
            command_train(args)
        else:
            command_eval(args)
    except USER_ERRORS as error:
        print(f"spikefab: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
