"""``spikefab board``: train and evaluate on a real chip over a serial port.

The host writes the initial weights (the UP5K's SPRAM starts undefined), then runs the
training loop with a golden twin (:class:`~spikefab.twin.GoldenTwin`): DFA with
:func:`spikefab.onchip.train_on_chip`, EGGROLL (a chip built with ``es_on_chip``) with
:func:`spikefab.onchip_es.train_es_on_chip`, whose twin is golden's ES. Every reply is
compared, and the weights are read back and compared at the end.
"""

import asyncio
import time

from spikefab.driver import Chip, SerialTransport
from spikefab.golden.datasets import load_dataset
from spikefab.golden.es import GoldenES
from spikefab.onchip import Figures, train_on_chip
from spikefab.onchip_es import ESFigures, train_es_on_chip
from spikefab.protocol import check_samples_fit
from spikefab.twin import GoldenTwin


__all__ = ["run_board"]


async def _train(chip, board, dataset, *, algo, epochs, seed, log):
    if algo == "eggroll":
        board.golden = GoldenES(chip.config, board.golden.weights)
        return await train_es_on_chip(chip, board, dataset, epochs=epochs, seed=seed,
                                      figures=ESFigures(), log=log)
    return await train_on_chip(chip, board, dataset, epochs=epochs, seed=seed,
                               figures=Figures(), log=log)


async def _run(chip, dataset, *, algo, epochs, seed, log):
    board = GoldenTwin(chip.config)
    status = await chip.check()
    check_samples_fit(dataset, status["buffer_bytes"])
    await chip.write_weights(board.golden.weights)
    await chip.set_margin(board.golden.margin)
    start = time.perf_counter()
    figures = await _train(chip, board, dataset, algo=algo, epochs=epochs, seed=seed,
                           log=log)
    board.compare_weights("after training", await chip.read_weights())
    wall = time.perf_counter() - start
    summary = figures.summary(chip.config)
    samples = epochs * len(dataset.y_train)
    return {
        "epochs": epochs, "train_samples": len(dataset.y_train),
        "test_samples": len(dataset.y_test),
        "train_accuracy": figures.history[-1]["train_accuracy"] if figures.history else 0.0,
        "test_accuracy": summary["hw_test_accuracy"],
        "equal_to_golden": True,
        "weight_writes_per_sample": summary["weight_writes_per_train_sample"],
        "cycles_per_train_sample": summary["cycles_per_train_sample"],
        "train_samples_per_s": samples / wall if wall > 0 else 0.0,
        "wall_s": wall,
        # An ES run's generations (ESFigures.summary).
        **{key: summary[key] for key in ("generations", "cycles_per_generation")
           if key in summary},
    }


def run_board(port, config, dataset_spec, *, epochs, seed, baud=115200, timeout=10.0,
              limit_train=None, limit_test=None, log=print, algo="sparse-dfa"):
    """Train ``config``'s chip on ``port`` with ``algo`` (the config's DFA rule, or
    ``eggroll`` on a chip with ES units); return the figures. Raises
    :class:`~spikefab.twin.Mismatch` at the first reply that differs from golden's."""
    dataset = load_dataset(dataset_spec, config).limit(limit_train, limit_test)
    transport = SerialTransport(port, baudrate=baud, timeout=timeout)
    try:
        chip = Chip(transport, config)
        return asyncio.run(_run(chip, dataset, algo=algo, epochs=epochs, seed=seed, log=log))
    finally:
        transport.close()
