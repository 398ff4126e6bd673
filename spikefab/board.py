"""``spikefab board``: train and evaluate on a real chip over a serial port.

The host writes the initial weights (the UP5K's SPRAM starts undefined), then runs
:func:`spikefab.onchip.train_on_chip` with a golden twin
(:class:`~spikefab.twin.GoldenTwin`): every reply is compared, and the
weights are read back and compared at the end.
"""

import asyncio
import time

from spikefab.driver import Chip, SerialTransport
from spikefab.golden.datasets import load_dataset
from spikefab.onchip import Figures, train_on_chip
from spikefab.protocol import check_samples_fit
from spikefab.twin import GoldenTwin


__all__ = ["run_board"]


async def _run(chip, dataset, *, epochs, seed, log):
    board = GoldenTwin(chip.config)
    status = await chip.check()
    check_samples_fit(dataset, status["buffer_bytes"])
    await chip.write_weights(board.golden.weights)
    await chip.set_margin(board.golden.margin)
    start = time.perf_counter()
    figures = await train_on_chip(chip, board, dataset, epochs=epochs, seed=seed,
                                  figures=Figures(), log=log)
    board.compare_weights("after training", await chip.read_weights())
    wall = time.perf_counter() - start
    train, test = figures.train, figures.test
    return {
        "epochs": epochs, "train_samples": len(dataset.y_train),
        "test_samples": len(dataset.y_test),
        "train_accuracy": figures.history[-1]["train_accuracy"] if figures.history else 0.0,
        "test_accuracy": test.per_sample(test.correct),
        "equal_to_golden": True,
        "weight_writes_per_sample": train.per_sample(train.writes),
        "cycles_per_train_sample": train.per_sample(train.cycles),
        "train_samples_per_s": train.samples / wall if wall > 0 else 0.0,
        "wall_s": wall,
    }


def run_board(port, config, dataset_spec, *, epochs, seed, baud=115200, timeout=10.0,
              limit_train=None, limit_test=None, log=print):
    dataset = load_dataset(dataset_spec, config).limit(limit_train, limit_test)
    transport = SerialTransport(port, baudrate=baud, timeout=timeout)
    try:
        chip = Chip(transport, config)
        return asyncio.run(_run(chip, dataset, epochs=epochs, seed=seed, log=log))
    finally:
        transport.close()
