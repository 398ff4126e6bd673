"""Training and evaluation loops shared by the CLI, ``make sim`` and the benchmarks.

Training is online, one sample at a time, as on the chip. Epoch ``e`` visits the training
set in the order of the ``e``-th successive permutation drawn from
``XorShift32(seed + 0x5EED)``, with the learning-rate shifts that the config's annealing
schedule gives that epoch (:meth:`Config.lr_shifts_at`). Reported ``train_accuracy`` is
the accuracy of the predictions made during the last epoch (each before its own update);
``test_accuracy`` is measured after training.

**Mini-batch learners** (``--algo eggroll``, ``es``, ``bptt``) draw the same epoch
permutation from the same generator and take it ``batch`` samples at a time
(:func:`golden.es.generation_plan`; ES draws its pair seeds from that generator too):
an *epoch* is ``ceil(n_train / batch)`` generations (ES, ``batch = es_batch``) or
optimiser steps (BPTT). Their ``train_accuracy`` is that of every member's decisions on
its generation's samples during the last epoch (BPTT: the network's before each step);
their figures add ``generations`` (steps for BPTT), ``batch``, ``population``, ``rank``
(None for full rank and BPTT) and ``generation_s``; ``weight_writes_per_sample`` counts
a generation's writes over its samples.

**Resuming.** After every epoch the loop keeps a :class:`TrainState`: the weights, the
epochs finished, the training order's generator state, the chip's rounding generator
state (golden engine, stochastic rounding), its run-time registers and the running
figures. A run continued from that state (:func:`train_epochs` with ``resume=``) makes
exactly the updates the uninterrupted run makes: it ends with the same weights, bit for
bit, and the same figures. Ctrl-C raises :class:`TrainingInterrupted`, which carries the
state of the last finished epoch. The ``golden`` and ``float`` engines resume; ``rtl``
(the chip in simulation, rebuilt for every run) does not, nor do float ES and BPTT
(Adam's moments are not kept); golden EGGROLL does (:func:`resumable`).
"""

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from spikefab.checkpoint import CheckpointError
from spikefab.config import ConfigError
from spikefab.golden.encoders import encode
from spikefab.golden.es import GoldenES, generation_plan
from spikefab.golden.es_float import FloatES
from spikefab.golden.float_model import FloatNet
from spikefab.golden.network import GoldenNet
from spikefab.golden.rng import ORDER_SEED_OFFSET, XorShift32
from spikefab.metrics import NeuroBenchMeter
from spikefab.progress import Progress


__all__ = ["ALGOS", "ENGINES", "RESUMABLE_ENGINES", "TRAIN_DEFAULTS", "ALGO_ENGINES",
           "BATCH_ALGOS", "algo_config", "check_engine", "resumable", "make_model",
           "run_training", "train_epochs", "evaluate", "TrainState",
           "TrainingInterrupted", "resolve_options", "resume_state", "dataset_digest",
           "run_meta"]

ALGOS = ("sparse-dfa", "dfa", "eggroll", "es", "bptt")
ENGINES = ("golden", "float", "rtl")
RESUMABLE_ENGINES = ("golden", "float")
#: The engines each algorithm runs on (the first is its default).
ALGO_ENGINES = {"sparse-dfa": ("golden", "float", "rtl"), "dfa": ("golden", "float", "rtl"),
                "eggroll": ("golden", "float", "rtl"), "es": ("float",), "bptt": ("float",)}
#: Algorithms that learn a mini-batch at a time (generations), not a sample at a time.
BATCH_ALGOS = ("eggroll", "es", "bptt")
CHUNK = 512
# The options of `spikefab train` that define a run, and their defaults for a new one.
TRAIN_DEFAULTS = {"dataset": "digits", "algo": "sparse-dfa", "engine": "golden",
                  "config": "digits", "seed": 1, "epochs": 20, "limit_train": None,
                  "limit_test": None}
# Those a resumed run takes from its checkpoint and may not change.
RUN_KEYS = ("dataset", "algo", "engine", "seed", "limit_train", "limit_test")


class EngineError(Exception):
    """An engine that cannot run here."""


def algo_config(config, algo):
    """The config an algorithm runs with: ``dfa`` is the same unit with ``k_fb = n_out``;
    the others use the config as it is."""
    if algo == "dfa":
        return config.replace(k_fb=config.n_out)
    if algo in ALGOS:
        return config
    raise ConfigError(f"unknown algorithm {algo!r}; valid algorithms: {', '.join(ALGOS)}")


def check_engine(algo, engine):
    """Refuse, with one line, an engine the algorithm does not run on (and ``bptt``
    without PyTorch)."""
    if algo not in ALGOS:
        raise ConfigError(f"unknown algorithm {algo!r}; valid algorithms: {', '.join(ALGOS)}")
    engines = ALGO_ENGINES[algo]
    if engine not in engines:
        hint = {("es", "golden"): "; the integer ES is --algo eggroll",
                ("es", "rtl"): "; the chip's ES is the low-rank one: --algo eggroll",
                ("bptt", "golden"): " (backpropagation is no integer rule)",
                ("bptt", "rtl"): " (backpropagation is no on-chip rule)"}.get((algo, engine), "")
        raise EngineError(f"--algo {algo} runs on --engine {' or '.join(engines)}, "
                          f"not {engine}{hint}")
    if algo == "bptt":
        from spikefab.bptt import TorchMissing, require_torch
        try:
            require_torch()
        except TorchMissing as error:
            raise EngineError(str(error)) from None


def make_model(engine, config, weights=None, algo="sparse-dfa"):
    """The model that trains ``config`` with ``algo`` on ``engine`` (evaluation needs
    only the engine: every algorithm's network is the engine's)."""
    if engine in ("golden", "float") and algo in BATCH_ALGOS:
        check_engine(algo, engine)
        if algo == "eggroll":
            return GoldenES(config, weights) if engine == "golden" else FloatES(config, weights)
        if algo == "es":
            return FloatES(config, weights, rank=None)
        from spikefab.bptt import BPTTNet
        return BPTTNet(config, weights)
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


def evaluate(model, dataset, split="test", *, progress=True, metrics=False):
    """Accuracy and per-sample averages of inference on one split; with ``metrics``
    also NeuroBench's metrics of that pass (``neurobench``: :mod:`spikefab.metrics`)."""
    x, y = (dataset.x_test, dataset.y_test) if split == "test" else \
        (dataset.x_train, dataset.y_train)
    correct = sops = 0
    meter = NeuroBenchMeter(model) if metrics else None
    start = time.perf_counter()
    with Progress(len(y), f"eval {split}", enabled=progress) as bar:
        for raster, label in iter_samples(x, y, dataset.kind, model.config, np.arange(len(y))):
            result = model.forward(raster)
            correct += result.prediction == label
            sops += result.sops
            if meter is not None:
                meter.add(raster, result.counts, result.sops)
            bar.advance()
    wall = time.perf_counter() - start
    n = max(len(y), 1)
    figures = {"accuracy": correct / n, "sops_per_sample": sops / n,
               "samples_per_s": len(y) / wall if wall > 0 else float("inf")}
    if meter is not None:
        figures["neurobench"] = meter.summary()
    return figures


# -- the state of a run --------------------------------------------------------------------

@dataclass
class TrainState:
    """Where a training run stands after its last finished epoch (see the module
    docstring); everything but ``weights`` goes into a checkpoint's ``state`` member."""
    epoch: int                      # epochs finished
    order_state: int                # the training order's XorShift32 state
    rounding_state: int | None      # the chip's rounding generator; None without one
    lr_shifts: list                 # the chip's shift registers during the last epoch
    margin: int | None              # its margin register (golden); None for float
    samples: int = 0                # samples trained, all epochs together
    weight_writes: int = 0
    skipped: int = 0
    sops: int = 0
    train_wall: float = 0.0         # seconds spent training (not evaluating)
    history: list = field(default_factory=list)
    weights: list = field(default_factory=list, repr=False)

    def to_dict(self):
        """The JSON-ready state, weights left out (a checkpoint stores them as arrays)."""
        data = asdict(self)
        del data["weights"]
        return data

    @classmethod
    def from_dict(cls, data, weights):
        return cls(**{k: v for k, v in data.items()}, weights=list(weights))

    @classmethod
    def check_dict(cls, data, config):
        """Raise ValueError, naming the field, unless ``data`` is a state for ``config``."""
        names = [f.name for f in fields(cls) if f.name != "weights"]
        missing = [name for name in names if name not in data]
        unknown = sorted(set(data) - set(names))
        if missing or unknown:
            raise ValueError(f"missing fields {missing}" if missing
                             else f"unknown fields {unknown}")
        _need_int(data, "epoch", 0, 1 << 31)
        _need_int(data, "order_state", 1, (1 << 32) - 1)
        if data["rounding_state"] is not None:
            _need_int(data, "rounding_state", 1, (1 << 32) - 1)
        if data["margin"] is not None:
            _need_int(data, "margin", 0, config.timesteps)
        shifts = data["lr_shifts"]
        if not (isinstance(shifts, list) and len(shifts) == len(config.weight_shapes)
                and all(_is_int(s) and 0 <= s <= 32 for s in shifts)):
            raise ValueError(f"lr_shifts must list {len(config.weight_shapes)} shifts "
                             f"from 0 to 32, not {shifts!r}")
        for name in ("samples", "weight_writes", "skipped", "sops"):
            _need_int(data, name, 0, 1 << 62)
        wall = data["train_wall"]
        if not (_is_number(wall) and math.isfinite(wall) and wall >= 0):
            raise ValueError(f"train_wall must be a number of seconds, not {wall!r}")
        _check_history(data["history"], data["epoch"])


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _need_int(data, name, lo, hi):
    value = data[name]
    if not (_is_int(value) and lo <= value <= hi):
        raise ValueError(f"{name} must be an integer from {lo} to {hi}, not {value!r}")


def _check_history(history, epochs):
    """One entry per finished epoch, numbered, with its figures."""
    if not isinstance(history, list) or len(history) != epochs:
        raise ValueError(f"history must list the {epochs} finished epochs")
    for number, entry in enumerate(history, 1):
        if not (isinstance(entry, dict) and entry.get("epoch") == number
                and all(_is_number(entry.get(key))
                        for key in ("train_accuracy", "weight_writes_per_sample"))
                and _is_number(entry.get("test_accuracy", 0.0))):
            raise ValueError(f"history entry {number} is malformed: {entry!r}")


class TrainingInterrupted(Exception):
    """Ctrl-C during training: ``state`` is the run after its last finished epoch,
    ``epoch`` the (1-based) epoch that was running."""

    def __init__(self, state, epoch):
        super().__init__(f"interrupted during epoch {epoch}")
        self.state = state
        self.epoch = epoch


def _snapshot(model, order, epoch, totals, history):
    """The run's state now, with copies of everything that training changes in place."""
    rounding = getattr(model, "rounding", None)
    return TrainState(
        epoch=epoch, order_state=order.state,
        rounding_state=None if rounding is None else int(rounding.state[0]),
        lr_shifts=[int(s) for s in model.lr_shifts],
        margin=getattr(model, "margin", None), **totals,
        history=[dict(entry) for entry in history],
        weights=[w.copy() for w in model.weights])


def _restore(model, order, state):
    """Put ``model`` and the order generator where ``state`` left them."""
    rounding = getattr(model, "rounding", None)
    if (rounding is None) != (state.rounding_state is None):
        raise CheckpointError("the checkpoint's rounding generator does not fit this "
                              "engine and config")
    model.weights = [np.array(w, dtype=current.dtype)
                     for w, current in zip(state.weights, model.weights)]
    if rounding is not None:
        rounding.state[0] = state.rounding_state
    if state.margin is not None:
        model.margin = state.margin
    model.lr_shifts = tuple(state.lr_shifts)
    order.state = state.order_state


# -- the training loop ---------------------------------------------------------------------

def run_training(model, dataset, *, epochs, seed, progress=True, eval_each_epoch=True):
    """Train ``model`` online for ``epochs`` passes; return the run's figures (accuracies,
    samples per second, weight writes per sample: :func:`_figures`)."""
    figures, _ = train_epochs(model, dataset, epochs=epochs, seed=seed, progress=progress,
                              eval_each_epoch=eval_each_epoch)
    return figures


def train_epochs(model, dataset, *, epochs, seed, progress=True, eval_each_epoch=True,
                 resume=None):
    """Train up to ``epochs`` epochs in all, from the start or from ``resume`` (a
    :class:`TrainState`); return ``(figures, final state)``.

    Ctrl-C raises :class:`TrainingInterrupted` with the state of the last finished epoch.
    """
    order = XorShift32(seed + ORDER_SEED_OFFSET)
    if resume is not None:
        _restore(model, order, resume)
    state = resume or _snapshot(model, order, 0, _ZERO_TOTALS, [])
    epoch = state.epoch
    try:
        _complete_last_evaluation(model, dataset, state, eval_each_epoch, progress)
        for epoch in range(state.epoch, epochs):
            state = _train_epoch(model, dataset, order, state, epochs, progress)
            if eval_each_epoch or epoch == epochs - 1:
                state.history[-1]["test_accuracy"] = \
                    evaluate(model, dataset, progress=progress)["accuracy"]
    except KeyboardInterrupt:
        raise TrainingInterrupted(state, epoch + 1) from None
    return _figures(model, dataset, state, epochs, progress), state


_ZERO_TOTALS = {"samples": 0, "weight_writes": 0, "skipped": 0, "sops": 0, "train_wall": 0.0}


def _complete_last_evaluation(model, dataset, state, eval_each_epoch, progress):
    """A run interrupted while evaluating its last epoch: evaluate it now."""
    if eval_each_epoch and state.history and "test_accuracy" not in state.history[-1]:
        state.history[-1]["test_accuracy"] = \
            evaluate(model, dataset, progress=progress)["accuracy"]


def _train_epoch(model, dataset, order, state, epochs, progress):
    """Train one epoch after ``state``; return the state after it."""
    if hasattr(model, "generation"):
        return _train_epoch_batches(model, dataset, order, state, epochs, progress)
    epoch = state.epoch
    permutation = order.permutation(len(dataset.y_train))
    model.lr_shifts = model.config.lr_shifts_at(epoch)
    correct = writes = skipped = sops = 0
    start = time.perf_counter()
    with Progress(len(permutation), f"epoch {epoch + 1}/{epochs}", enabled=progress) as bar:
        for raster, label in iter_samples(dataset.x_train, dataset.y_train, dataset.kind,
                                          model.config, permutation):
            result = model.train(raster, label)
            correct += result.prediction == label
            writes += result.weight_writes
            skipped += result.skipped
            sops += result.sops
            bar.advance()
    n = len(permutation)
    totals = {"samples": state.samples + n, "weight_writes": state.weight_writes + writes,
              "skipped": state.skipped + skipped, "sops": state.sops + sops,
              "train_wall": state.train_wall + time.perf_counter() - start}
    entry = {"epoch": epoch + 1, "train_accuracy": correct / max(n, 1),
             "weight_writes_per_sample": writes / max(n, 1)}
    return _snapshot(model, order, epoch + 1, totals, state.history + [entry])


def _batch_size(model):
    """Samples per generation (ES) or per optimiser step (BPTT)."""
    return model.config.es_batch if isinstance(model, (GoldenES, FloatES)) else model.batch


def _population(model):
    return getattr(model, "population", None) or model.config.es_population


def _train_epoch_batches(model, dataset, order, state, epochs, progress):
    """One epoch of a mini-batch learner (ES generations, BPTT steps): the schedule of
    :func:`golden.es.generation_plan`, ``ceil(n_train / batch)`` generations."""
    epoch = state.epoch
    n = len(dataset.y_train)
    batch = _batch_size(model)
    population = _population(model)
    seeds = 0 if not isinstance(model, (GoldenES, FloatES)) else population // 2
    generations = -(-n // batch)
    correct = writes = sops = 0
    fitness_sum = 0.0
    done = sum(entry.get("generations", 0) for entry in state.history)
    start = time.perf_counter()
    with Progress(generations, f"epoch {epoch + 1}/{epochs}", enabled=progress,
                  unit="gen" if seeds else "step") as bar:
        for index, pair_seeds in generation_plan(order, n, batch, seeds):
            if seeds:                       # ES: the host's schedule of shift registers
                model.lr_shifts = model.config.es_lr_shift_at(done)
            x, y = dataset.x_train[index], dataset.y_train[index]
            rasters = encode(x, model.config) if dataset.kind == "pixels" else x
            result = model.generation(rasters, y, pair_seeds)
            correct += result.correct
            writes += result.weight_writes
            sops += result.sops
            mean_fitness = float(np.mean(result.fitness)) / len(index)
            fitness_sum += mean_fitness
            done += 1
            bar.advance(note=f"{'step' if seeds == 0 else 'generation'} {done}, "
                             f"fitness {mean_fitness:.2f}/sample")
    totals = {"samples": state.samples + n, "weight_writes": state.weight_writes + writes,
              "skipped": state.skipped, "sops": state.sops + sops,
              "train_wall": state.train_wall + time.perf_counter() - start}
    entry = {"epoch": epoch + 1, "train_accuracy": correct / max(n * population, 1),
             "weight_writes_per_sample": writes / max(n, 1), "generations": generations,
             "fitness_per_sample": fitness_sum / max(generations, 1)}
    return _snapshot(model, order, epoch + 1, totals, state.history + [entry])


def _figures(model, dataset, state, epochs, progress):
    """The figures of the run that ``state`` ends: sample counts, train and test
    accuracy, training speed, weight writes, skips and synaptic operations per sample,
    the per-epoch history and NeuroBench's metrics of the test split (``neurobench``)
    (what ``spikefab train --json`` prints)."""
    final = dict(state.history[-1]) if state.history else {"train_accuracy": 0.0}
    # One more pass over the test split, for the final network's metrics.
    tested = evaluate(model, dataset, progress=progress, metrics=True)
    if "test_accuracy" not in final:
        final["test_accuracy"] = tested["accuracy"]
    total = state.samples
    return {
        "epochs": epochs,
        "train_samples": len(dataset.y_train),
        "test_samples": len(dataset.y_test),
        "train_accuracy": final["train_accuracy"],
        "test_accuracy": final["test_accuracy"],
        "train_samples_per_s": total / state.train_wall if state.train_wall > 0 else 0.0,
        "weight_writes_per_sample": state.weight_writes / max(total, 1),
        "skipped_fraction": state.skipped / max(total, 1),
        "sops_per_train_sample": state.sops / max(total, 1),
        "history": [dict(entry) for entry in state.history],
        **(_batch_figures(model, state) if hasattr(model, "generation") else {}),
        "neurobench": tested["neurobench"],
    }


def _batch_figures(model, state):
    """The figures of a mini-batch learner: generations (ES) or steps (BPTT) in all,
    seconds per generation, population and rank (None where they mean nothing)."""
    generations = sum(entry.get("generations", 0) for entry in state.history)
    es = isinstance(model, (GoldenES, FloatES))
    return {"generations": generations, "batch": _batch_size(model),
            "population": model.config.es_population if es else None,
            "rank": getattr(model, "rank", model.config.es_rank) if es else None,
            "generation_s": state.train_wall / generations if generations else 0.0}


# -- what a resumed run takes from its checkpoint ------------------------------------------

def resolve_options(given, checkpoint=None, path=None):
    """The options of a run: those ``given`` (None where the user gave none), filled in
    with the defaults, or for a resumed run with ``checkpoint``'s, which the given ones
    may repeat but not change. ``--epochs`` of a resumed run counts all its epochs."""
    given = {key: given.get(key) for key in TRAIN_DEFAULTS}
    if checkpoint is None:
        options = {key: TRAIN_DEFAULTS[key] if value is None else value
                   for key, value in given.items()}
        if given["engine"] is None and options["algo"] in ALGO_ENGINES:
            options["engine"] = ALGO_ENGINES[options["algo"]][0]   # es, bptt: float
        return options
    if "rtl" in (given["engine"], checkpoint.engine):
        raise EngineError("--resume is not supported by the rtl engine (the chip in "
                          "simulation is built afresh for every run); resume with golden "
                          "or float")
    if checkpoint.state is None:
        raise CheckpointError(f"checkpoint {path} holds no training state to resume "
                              f"(it was saved by an rtl run or an older spikefab)")
    stored = _stored_run(checkpoint, path)
    if not resumable(stored["algo"], stored["engine"]):
        raise CheckpointError(f"checkpoint {path} cannot be resumed: --algo "
                              f"{stored['algo']} on {stored['engine']} keeps optimiser "
                              f"state that a checkpoint does not hold (golden eggroll and "
                              f"DFA runs resume)")
    for key in RUN_KEYS:
        if given[key] is not None and given[key] != stored[key]:
            option = "--" + key.replace("_", "-")
            raise CheckpointError(f"{option} {given[key]} differs from the checkpoint's "
                                  f"{stored[key]}: --resume continues the run of {path}")
    options = {**stored, "config": given["config"],
               "epochs": stored["epochs"] if given["epochs"] is None else given["epochs"]}
    done = checkpoint.state["epoch"]
    if options["epochs"] < done:
        raise CheckpointError(f"checkpoint {path} already holds {done} "
                              f"epoch{'s' if done != 1 else ''}; --epochs counts them "
                              f"too, so it must be at least {done}, not {options['epochs']}")
    return options


def resumable(algo, engine):
    """Whether ``--resume`` continues such a run exactly: DFA on golden and float, and
    golden EGGROLL (its state is the weights, the run's generator, the rounding
    generator and the shift registers); float ES and BPTT keep Adam's moments, which
    a checkpoint does not hold."""
    if algo in BATCH_ALGOS:
        return algo == "eggroll" and engine == "golden"
    return engine in RESUMABLE_ENGINES


def _stored_run(checkpoint, path):
    """The run options kept in a checkpoint's meta, checked."""
    meta = {**checkpoint.meta, "engine": checkpoint.engine}
    try:
        stored = {key: meta[key] for key in RUN_KEYS + ("epochs", "train_digest")}
    except KeyError as missing:
        raise CheckpointError(f"checkpoint {path} cannot be resumed: its meta lacks "
                              f"{missing}") from None
    kinds = {"dataset": str, "algo": str, "engine": str, "seed": int, "epochs": int,
             "train_digest": str, "limit_train": (int, type(None)),
             "limit_test": (int, type(None))}
    for key, kind in kinds.items():
        if not isinstance(stored[key], kind) or isinstance(stored[key], bool):
            raise CheckpointError(f"checkpoint {path} cannot be resumed: its meta's "
                                  f"{key} is {stored[key]!r}")
    if stored["algo"] not in ALGOS:
        raise CheckpointError(f"checkpoint {path}: unknown algorithm {stored['algo']!r}")
    return stored


def resume_state(checkpoint, path, dataset):
    """The :class:`TrainState` to continue ``checkpoint``'s run on ``dataset``, which
    must hold the training samples that the run began with."""
    if dataset_digest(dataset) != checkpoint.meta["train_digest"]:
        raise CheckpointError(f"the training samples differ from those the run began with "
                              f"(checkpoint {path}): a resumed run must see the same data")
    return TrainState.from_dict(checkpoint.state, checkpoint.weights)


def dataset_digest(dataset):
    """A short hash of the training split (images and labels, in order)."""
    digest = hashlib.sha256()
    for array in (dataset.x_train, dataset.y_train):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def run_meta(options, dataset, state):
    """A checkpoint's meta: what a resumed run needs to be the same run, and its figures."""
    last = state.history[-1] if state.history else {}
    return {**{key: options[key] for key in RUN_KEYS if key != "engine"},
            "epochs": options["epochs"], "epochs_done": state.epoch,
            "train_samples": len(dataset.y_train), "train_digest": dataset_digest(dataset),
            "test_accuracy": last.get("test_accuracy")}
