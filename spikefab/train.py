"""Training and evaluation loops shared by the CLI, ``make sim`` and the benchmarks.

Training is online, one sample at a time, as on the chip. Epoch ``e`` visits the training
set in the order of the ``e``-th successive permutation drawn from
``XorShift32(seed + 0x5EED)``, with the learning-rate shifts that the config's annealing
schedule gives that epoch (:meth:`Config.lr_shifts_at`). Reported ``train_accuracy`` is
the accuracy of the predictions made during the last epoch (each before its own update);
``test_accuracy`` is measured after training.
"""

import time

import numpy as np

from .config import ConfigError
from .golden.encoders import encode
from .golden.float_model import FloatNet
from .golden.network import GoldenNet
from .golden.rng import XorShift32
from .progress import Progress


__all__ = ["ALGOS", "ENGINES", "algo_config", "make_model", "run_training", "evaluate"]

ALGOS = ("sparse-dfa", "dfa")
ENGINES = ("golden", "float", "rtl")
CHUNK = 512


class EngineError(Exception):
    """An engine that cannot run here."""


def algo_config(config, algo):
    """The config an algorithm runs with: ``dfa`` is the same unit with ``k_fb = n_out``."""
    if algo == "sparse-dfa":
        return config
    if algo == "dfa":
        return config.replace(k_fb=config.n_out)
    raise ConfigError(f"unknown algorithm {algo!r}; valid algorithms: {', '.join(ALGOS)}")


def make_model(engine, config, weights=None):
    if engine == "golden":
        return GoldenNet(config, weights)
    if engine == "float":
        return FloatNet(config, weights)
    if engine == "rtl":
        raise EngineError("the rtl engine is the chip in RTL simulation, not a model "
                          "object; run it with `spikefab train --engine rtl` or `make sim`")
    raise ConfigError(f"unknown engine {engine!r}; valid engines: {', '.join(ENGINES)}")


def iter_samples(x, y, kind, config, order):
    """Yield ``(raster, label)`` in ``order``, encoding pixel samples chunk by chunk."""
    for start in range(0, len(order), CHUNK):
        index = order[start:start + CHUNK]
        rasters = encode(x[index], config) if kind == "pixels" else x[index]
        for raster, label in zip(rasters, y[index]):
            yield raster, int(label)


def evaluate(model, dataset, split="test", *, progress=True):
    """Accuracy and per-sample averages of inference on one split."""
    x, y = (dataset.x_test, dataset.y_test) if split == "test" else \
        (dataset.x_train, dataset.y_train)
    correct = sops = 0
    start = time.perf_counter()
    with Progress(len(y), f"eval {split}", enabled=progress) as bar:
        for raster, label in iter_samples(x, y, dataset.kind, model.config, np.arange(len(y))):
            result = model.forward(raster)
            correct += result.prediction == label
            sops += result.sops
            bar.advance()
    wall = time.perf_counter() - start
    n = max(len(y), 1)
    return {"accuracy": correct / n, "sops_per_sample": sops / n,
            "samples_per_s": len(y) / wall if wall > 0 else float("inf")}


def run_training(model, dataset, *, epochs, seed, progress=True, eval_each_epoch=True):
    """Train ``model`` online for ``epochs`` passes; return the figures of SPEC §6."""
    rng = XorShift32(seed + 0x5EED)
    history = []
    train_wall = 0.0
    total = writes = skipped = sops = 0
    for epoch in range(epochs):
        order = rng.permutation(len(dataset.y_train))
        model.lr_shifts = model.config.lr_shifts_at(epoch)
        correct = epoch_writes = 0
        start = time.perf_counter()
        with Progress(len(order), f"epoch {epoch + 1}/{epochs}", enabled=progress) as bar:
            for raster, label in iter_samples(dataset.x_train, dataset.y_train,
                                              dataset.kind, model.config, order):
                result = model.train(raster, label)
                correct += result.prediction == label
                epoch_writes += result.weight_writes
                skipped += result.skipped
                sops += result.sops
                bar.advance()
        train_wall += time.perf_counter() - start
        total += len(order)
        writes += epoch_writes
        entry = {"epoch": epoch + 1, "train_accuracy": correct / max(len(order), 1),
                 "weight_writes_per_sample": epoch_writes / max(len(order), 1)}
        if eval_each_epoch or epoch == epochs - 1:
            entry["test_accuracy"] = evaluate(model, dataset, progress=progress)["accuracy"]
        history.append(entry)
    final = history[-1] if history else {}
    if not history:
        final = {"train_accuracy": 0.0,
                 "test_accuracy": evaluate(model, dataset, progress=progress)["accuracy"]}
    return {
        "epochs": epochs,
        "train_samples": len(dataset.y_train),
        "test_samples": len(dataset.y_test),
        "train_accuracy": final["train_accuracy"],
        "test_accuracy": final["test_accuracy"],
        "train_samples_per_s": total / train_wall if train_wall > 0 else 0.0,
        "weight_writes_per_sample": writes / max(total, 1),
        "skipped_fraction": skipped / max(total, 1),
        "sops_per_train_sample": sops / max(total, 1),
        "history": history,
    }
