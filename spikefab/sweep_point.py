"""One task of a sweep: train one config on golden and price it on its boards.

:func:`run_task` runs in a worker process (the local pool or a Ray worker) and depends
only on its :class:`Task`, so any executor gets the same figures. It trains the config
with sparse DFA on the golden model (:func:`spikefab.train.run_training`, the test split
evaluated once, after the last epoch), then for each board: the cycles per training and
inference sample from the cost model (:func:`spikefab.cost.modelled_samples` of the
first :data:`~spikefab.bitstream.ESTIMATE_SAMPLES` training samples, at the board's
weight latency) and the samples per second at the board's clock; with ``synth`` Yosys's
LUTs and flip-flops (:func:`spikefab.bitstream.synthesize`); with ``pnr`` nextpnr's
LUTs, block RAMs, DSPs and fmax (:func:`spikefab.bitstream.build_bitstream`) and the
samples per second at that fmax. Builds go to ``<build_dir>/<config hash>/``, so
parallel tasks never share a folder. The dataset (its splits already limited) comes
from the sweep's process, once per worker (:func:`set_worker_dataset`) or through Ray's
object store: a worker neither reads data files nor imports scikit-learn.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from spikefab.bitstream import ESTIMATE_SAMPLES
from spikefab.config import Config
from spikefab.cost import modelled_samples, samples_per_second
from spikefab.golden.datasets import check_dataset
from spikefab.golden.encoders import encode
from spikefab.hw.families import board as get_board
from spikefab.train import make_model, run_training


__all__ = ["Task", "run_task", "run_worker_task", "set_worker_dataset", "yosys_luts"]

# The dataset of a pool worker's tasks, given once when the worker starts.
_worker_dataset = None


@dataclass(frozen=True)
class Task:
    """What a worker needs besides the dataset: the config (canonical JSON), the boards
    to price it on, the dataset's name, epochs and seed, the stages, and the folder for
    builds (absolute)."""
    config_json: str
    boards: tuple
    dataset: str
    epochs: int
    seed: int
    synth: bool = False
    pnr: bool = False
    build_dir: str = ""


def set_worker_dataset(dataset):
    """A pool worker's initializer: the dataset its tasks train on."""
    global _worker_dataset
    _worker_dataset = dataset


def run_worker_task(task):
    """:func:`run_task` on the dataset the worker was given."""
    return run_task(task, _worker_dataset)


def yosys_luts(cells):
    """LUTs in Yosys's cell counts: its 4-input LUT cells (``SB_LUT4`` on the iCE40,
    ``LUT4`` on the ECP5)."""
    return sum(count for cell, count in cells.items() if cell.endswith("LUT4"))


def _train(config, dataset, task):
    model = make_model("golden", config)
    start = time.perf_counter()
    figures = run_training(model, dataset, epochs=task.epochs, seed=task.seed,
                           progress=False, eval_each_epoch=False)
    keys = ("train_accuracy", "test_accuracy", "weight_writes_per_sample",
            "skipped_fraction", "sops_per_train_sample")
    return {**{key: figures[key] for key in keys},
            "golden_samples_per_s": figures["train_samples_per_s"],
            "wall_s": time.perf_counter() - start}


def _cycles(config, dataset, latency):
    """Mean modelled cycles of a training and an inference sample (upper estimates)."""
    x, y = dataset.x_train[:ESTIMATE_SAMPLES], dataset.y_train[:ESTIMATE_SAMPLES]
    rasters = encode(x, config) if dataset.kind == "pixels" else x
    model = modelled_samples(config, latency, rasters, y)
    return model["train_total"], model["infer_total"]


def _board_figures(config, board, cycles, task):
    train_cycles, infer_cycles = cycles
    row = {"clock_mhz": board.target_hz / 1e6, "cycles_per_train_sample": train_cycles,
           "cycles_per_infer_sample": infer_cycles,
           **samples_per_second(train_cycles, infer_cycles, board.target_hz)}
    build_dir = str(Path(task.build_dir) / config.hash())
    if task.synth:
        from spikefab.bitstream import synthesize
        start = time.perf_counter()
        result = synthesize(board.name, config, out_dir=build_dir)
        row.update(synth_luts=yosys_luts(result["cells"]), synth_ffs=result["ffs"],
                   synth_s=time.perf_counter() - start)
    if task.pnr:
        from spikefab.bitstream import build_bitstream
        start = time.perf_counter()
        report = build_bitstream(board.name, config, out_dir=build_dir)
        row.update(pnr_luts=report["luts"], pnr_luts_total=report["luts_total"],
                   pnr_ffs=report["ffs"], bram=report["bram"], dsp=report["dsp"],
                   fmax_mhz=report["fmax_mhz"], timing_met=report["timing_met"],
                   train_samples_per_s_fmax=report["fmax_mhz"] * 1e6 / train_cycles,
                   pnr_s=time.perf_counter() - start)
    return row


def run_task(task, dataset):
    """Train ``task``'s config on ``dataset`` and price it; ``{board: figures}`` for each
    of its boards (the training figures repeated in each, with ``config_hash``)."""
    config = Config.from_json(task.config_json)
    check_dataset(dataset, task.dataset, config)
    trained = {"config_hash": config.hash(), **_train(config, dataset, task)}
    cycles_by_latency = {}
    rows = {}
    for name in task.boards:
        board = get_board(name)
        latency = board.weight_latency(config)
        if latency not in cycles_by_latency:
            cycles_by_latency[latency] = _cycles(config, dataset, latency)
        rows[name] = {**trained, **_board_figures(config, board, cycles_by_latency[latency],
                                                  task)}
    return rows
