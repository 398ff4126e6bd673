"""Running a NIR graph in snnTorch, and how often it agrees with golden.

snnTorch (``snntorch.import_nir.import_from_nir``, on nirtorch) is the second simulator:
it installs from PyPI as pure Python on top of ``torch==2.13.0`` and maps NIR's ``LIF``
to its ``Leaky`` neuron (``beta = 1 - dt/tau`` at ``dt`` = 1e-4 s, input gain
``r·dt/tau`` folded into the threshold, fire at ``v > threshold``, **reset to zero**, no
reset delay), stepping every layer once per timestep, as golden does. snnTorch 1.0 is a
pure-Python wheel whose only heavy dependency, torch 2.13, is already the kit's (``bptt``);
Norse 1.1.0, the other candidate, ships as a source archive only and pulls torchvision
in as well.

:func:`snntorch_counts` feeds the graph the same input spike rasters golden gets and
returns the output spike counts; :func:`agreement` compares the decisions on a dataset's
test split. ``reset="subtract"`` swaps each imported ``Leaky`` for one that resets by
subtraction (what a spikefab graph's metadata asks for): the gap between the two runs
is what NIR's reset semantics cost, the rest is rounding and saturation.
"""

import contextlib
import io
import time

import numpy as np

from spikefab.golden.encoders import encode
from spikefab.golden.network import GoldenNet, decide
from spikefab.nir_io import NIRError


__all__ = ["snntorch_counts", "agreement", "require_snntorch"]

BATCH = 512   # samples a forward pass of the imported module takes at once


def require_snntorch():
    """``(torch, snntorch, import_from_nir)``, or a one-line error."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import snntorch
            import torch
            from snntorch.import_nir import import_from_nir
    except ImportError as error:
        raise NIRError(f"running a NIR graph needs snnTorch and torch ({error.name} is "
                       f"missing): pip install 'spikefab[dev]'") from None
    return torch, snntorch, import_from_nir


def imported_module(graph, reset="zero"):
    """The graph as snnTorch builds it; ``reset="subtract"`` swaps its neurons for ones
    that reset by subtraction. snnTorch prints warnings on stdout: they are swallowed."""
    torch, snntorch, import_from_nir = require_snntorch()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            module = import_from_nir(graph)
    except Exception as error:  # noqa: BLE001  (any failure of the foreign importer)
        raise NIRError(f"snnTorch cannot import the graph: {error}") from None
    leaky = [(name, child) for name, child in module.named_children()
             if isinstance(child, snntorch.Leaky)]
    if reset == "subtract":
        for name, child in leaky:
            setattr(module, name, snntorch.Leaky(
                beta=child.beta.clone(), threshold=child.threshold.clone(),
                reset_mechanism="subtract", init_hidden=True, reset_delay=False))
    return module, [name for name, _ in leaky]


def snntorch_counts(graph, rasters, reset="zero"):
    """Output spike counts ``(N, n_out)`` of ``graph`` in snnTorch on ``(N, T, n_in)``
    binary rasters; membranes start at 0 for every batch."""
    torch, snntorch, _ = require_snntorch()
    module, neurons = imported_module(graph, reset)
    counts = []
    with torch.no_grad():
        for start in range(0, len(rasters), BATCH):
            x = torch.from_numpy(np.asarray(rasters[start:start + BATCH], np.float32))
            for name in neurons:   # a fresh membrane, shaped by the first step
                getattr(module, name).mem = torch.zeros(0)
            total = torch.zeros(0)
            for t in range(x.shape[1]):
                out, _ = module(x[:, t])
                total = out if t == 0 else total + out
            counts.append(total.numpy().astype(np.int64))
    return np.concatenate(counts)


def predictions(counts):
    """Decisions from output counts: golden's argmax, lowest index first."""
    return np.array([decide(row) for row in counts], dtype=np.int64)


def agreement(graph, config, weights, dataset):
    """How often snnTorch running ``graph`` decides as golden does with ``weights`` on
    ``dataset``'s test split; both accuracies; the same with subtractive reset."""
    start = time.perf_counter()
    x, y = dataset.x_test, dataset.y_test
    rasters = encode(x, config) if dataset.kind == "pixels" else x
    golden = GoldenNet(config, weights)
    golden_pred = np.array([golden.predict(raster) for raster in rasters])
    result = {"test_samples": int(len(y)),
              "golden_accuracy": float(np.mean(golden_pred == y))}
    for reset in ("zero", "subtract"):
        pred = predictions(snntorch_counts(graph, rasters, reset))
        suffix = "" if reset == "zero" else "_subtract"
        result[f"agreement{suffix}"] = float(np.mean(pred == golden_pred))
        result[f"snntorch_accuracy{suffix}"] = float(np.mean(pred == y))
    result["wall_s"] = time.perf_counter() - start
    return result
