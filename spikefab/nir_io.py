"""NIR files: the mapping between spikefab's integer LIF network and NIR 1.0's graph.

`NIR <https://neuroir.org>`_ describes a network by continuous-time nodes. spikefab's
network (:mod:`golden.lif`, :mod:`golden.network`) is an integer, discrete-time one; this
module states the rule that maps one to the other, and reads and writes the files.

**The rule** (one timestep of the chip is ``dt`` seconds; :data:`DEFAULT_DT` = 1e-4 s,
the step snnTorch's NIR import and export assume; the file's metadata records it):

=================== ===================================================================
spikefab            NIR
=================== ===================================================================
weights ``W[i, j]`` ``Linear(weight = Wᵀ)`` in weight steps: one weight step adds 1.0 to
                    the membrane (``spikefab.weight_scale`` = 1.0)
leak shift ``s``    ``LIF.tau = dt · 2**s``: Euler's step of ``τ·dv/dt = -v + R·I`` is
                    ``v ← (1 - dt/τ)·v + (dt·R/τ)·I``, and ``1 - 2**-s`` is the factor
                    the shift ``v - (v >> s)`` approximates
input gain          ``LIF.r = τ / dt = 2**s``, so that ``dt·R/τ = 1``
threshold           ``LIF.v_threshold = threshold`` (membrane units = weight steps)
reset               ``LIF.v_reset = 0``. NIR's LIF resets *to* a value; reset by
                    subtraction (``u - threshold``, the presets' mode) cannot be
                    written as a node parameter and is recorded in the metadata
                    (``spikefab.reset``); a simulator that ignores it resets to 0
leak voltage        ``LIF.v_leak = 0``
input               ``Input`` of ``n_in``: the spike raster the chip's encoder makes
                    (``spikefab.input``), not pixels
output              ``Output`` of ``n_out`` spikes; the decision is the argmax of the
                    spike counts over ``spikefab.timesteps`` steps, lowest index first
=================== ===================================================================

What the float semantics of NIR leave out, and a NIR simulator therefore does
differently: the leak's arithmetic shift rounds toward −∞ (a positive membrane below
``2**s`` does not leak), the membrane saturates at ``v_bits``, and the integer neuron
fires at ``u ≥ threshold`` where NIR's fires at ``v > v_threshold``.

:func:`read_graph` and :func:`write_graph` wrap ``nir.read`` (with ``type_check=True``)
and ``nir.write``; every problem with a file is a :class:`NIRError`, one line.
"""

import contextlib
import os
import tempfile

import numpy as np

from spikefab.files import check_writable


__all__ = ["NIRError", "read_graph", "read_foreign_graph", "write_graph", "check_out_path",
           "require_nir", "node_array", "DEFAULT_DT", "META_PREFIX"]

#: Seconds per chip timestep unless a graph says otherwise (snnTorch's fixed step).
DEFAULT_DT = 1e-4
#: Metadata keys spikefab writes start with this.
META_PREFIX = "spikefab."


class NIRError(ValueError):
    """A NIR file or graph that cannot be read, written or mapped (one line)."""


def require_nir():
    """The ``nir`` module, or a one-line error saying how to install it."""
    try:
        import nir
    except ImportError:
        raise NIRError("NIR support needs the nir package: pip install 'spikefab[dev]'") \
            from None
    return nir


def read_graph(path, type_check=True):
    """The :class:`nir.NIRGraph` in ``path``, type-checked by ``nir.read`` unless
    ``type_check`` is false."""
    nir = require_nir()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise NIRError(f"NIR file {path} does not exist")
    if os.path.isdir(path):
        raise NIRError(f"NIR file {path} is a folder, not a file")
    try:
        return nir.read(path, type_check=type_check)
    # h5py, the NIR node constructors and the type check raise many kinds: all refused.
    except Exception as error:  # noqa: BLE001
        raise NIRError(f"{path} is not a readable NIR graph: {_first_line(error)}") \
            from None


def read_foreign_graph(path):
    """``(graph, note)``: the graph in ``path``, type-checked where NIR's type inference
    accepts it; otherwise read without it (``note`` says why), for the import's own
    checks of every node and shape to judge."""
    try:
        return read_graph(path), None
    except NIRError as typed:
        graph = read_graph(path, type_check=False)
        return graph, f"{path} fails NIR's type check ({str(typed).split(': ', 1)[-1]})"


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_out_path(path):
    """Refuse, before any work, a path that a file cannot be written to
    (:func:`spikefab.files.check_writable`)."""
    check_writable(path, option="--out", what="a NIR graph", error=NIRError)


def write_graph(path, graph):
    """Write ``graph`` to ``path`` atomically: a temporary file in the same folder, then
    :func:`os.replace` (an interrupted write leaves the old file as it was)."""
    nir = require_nir()
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                     suffix=".tmp")
    os.close(fd)
    try:
        nir.write(temporary, graph)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def node_array(node, name, size):
    """Parameter ``name`` of ``node`` as a float64 array of ``size`` (a scalar, as
    snnTorch writes for a layer-wide parameter, is broadcast)."""
    value = np.asarray(getattr(node, name), dtype=np.float64)
    if value.size == 1:
        return np.full(size, float(value.reshape(-1)[0]))
    if value.size != size:
        raise NIRError(f"its {name} has {value.size} entries for {size} neurons")
    return value.reshape(-1)
