"""``spikefab import``: a feed-forward LIF graph from another tool, quantised to a config.

**What maps.** A chain ``Input → (Linear | Affine) → LIF → … → Output`` whose layer sizes
are the config's ``n_in → hidden… → n_out``. Anything else is refused with a
:class:`~spikefab.nir_io.NIRError` naming the node and the reason: a convolution or any
other node type, a subgraph (snnTorch's recurrent ``RLeaky``/``RSynaptic``), a recurrent
or branching edge, ``CubaLIF`` (its synaptic filter has no counterpart here), ``IF`` (no
leak), a non-zero leak voltage or reset potential, a bias that does not round to zero, a
leak that is not the config's shift, shapes that differ from the config's.

**The rule** (the inverse of :mod:`spikefab.nir_io`'s, for one LIF neuron ``j`` fed by
weights ``W[j, :]``; ``dt`` from the graph's ``spikefab.dt`` metadata, else the
caller's, by default 1e-4 s as snnTorch assumes):

* **Leak** ``log2(tau / dt)`` must round to the config's ``leak_shift`` (Euler's
  ``1 - dt/tau`` is ``1 - 2**-s`` then); the deviation is reported, not corrected.
* **Weights** NIR's input gain ``g = r · dt / tau`` (one weight unit adds ``g`` to the
  membrane) is folded into the weights, and each neuron is scaled so that its float
  threshold lands on the config's integer threshold:
  ``w = clip(round(W · g · threshold / v_threshold[j]), w_min, w_max)``, rounding half
  away from zero. Scaling a neuron's inputs and threshold together does not change when
  it fires, and its spikes are binary, so the next layer is unaffected. Weights beyond
  ``w_bits`` saturate; how many did is reported.
* **Threshold, reset** are the config's (they are the chip's): NIR's LIF resets to 0, and
  a config that resets by subtraction behaves differently after a spike. A note says so.
"""

import math

import numpy as np

from spikefab.nir_io import DEFAULT_DT, META_PREFIX, NIRError, node_array, require_nir


__all__ = ["Quantised", "quantise_graph", "feed_forward_chain", "graph_reset"]

LEAK_TOLERANCE = 0.25   # |log2(tau/dt) - shift| beyond this is not the config's leak


class Quantised:
    """A graph quantised to a config: ``weights`` as a checkpoint holds them, the
    ``notes`` a user should read, and figures of the rounding."""

    def __init__(self, weights, notes, clipped, leak_error):
        self.weights = weights
        self.notes = notes
        self.clipped = clipped            # weights saturated at w_bits, all layers
        self.leak_error = leak_error      # largest |log2(tau/dt) - leak_shift|

    @property
    def n_weights(self):
        return sum(w.size for w in self.weights)


def feed_forward_chain(graph):
    """The node names from the ``Input`` to the ``Output``, in order; refuses any graph
    that is not one unbranched, acyclic path through every node."""
    nir = require_nir()
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise NIRError(f"node {name} is a subgraph (a recurrent layer, as snnTorch "
                           f"writes RLeaky): spikefab's network is feed-forward")
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRError(f"the graph has {len(inputs)} Input and {len(outputs)} Output "
                       f"nodes; spikefab maps one of each")
    successors = {}
    for source, target in graph.edges:
        successors.setdefault(source, []).append(target)
    chain = [inputs[0]]
    while chain[-1] != outputs[0]:
        after = successors.get(chain[-1], [])
        back = [name for name in after if name in chain]
        if back:
            raise NIRError(f"edge {chain[-1]} → {back[0]} is recurrent: spikefab's "
                           f"network is feed-forward")
        if len(after) != 1:
            raise NIRError(f"node {chain[-1]} feeds {len(after)} nodes "
                           f"({', '.join(after) or 'none'}); spikefab maps one chain")
        chain.append(after[0])
    stray = sorted(set(graph.nodes) - set(chain))
    if stray or len(graph.edges) != len(chain) - 1:
        extra = [f"{a} → {b}" for a, b in graph.edges
                 if (a, b) not in zip(chain, chain[1:])]
        raise NIRError(f"node {stray[0]} is off the input-output path" if stray else
                       f"edge {extra[0]} is recurrent or a skip: spikefab's network is "
                       f"one feed-forward chain")
    return chain


def _layers(graph, chain):
    """``[(linear name, node, lif name, node)]``: the chain as weight/neuron pairs."""
    nir = require_nir()
    body = chain[1:-1]
    layers = []
    for index in range(0, len(body), 2):
        pair = body[index:index + 2]
        weight = graph.nodes[pair[0]]
        neuron = graph.nodes[pair[1]] if len(pair) == 2 else None
        if not isinstance(weight, (nir.Linear, nir.Affine)):
            raise NIRError(f"node {pair[0]} is a {type(weight).__name__}; spikefab maps "
                           f"Linear or Affine nodes each followed by a LIF node")
        if len(pair) < 2 or not isinstance(neuron, nir.LIF):
            name = pair[-1] if len(pair) == 2 else chain[-1]
            kind = type(graph.nodes[name]).__name__
            raise NIRError(f"node {name} is a {kind} where a LIF neuron must follow "
                           f"{pair[0]}{_neuron_reason(kind)}")
        layers.append((pair[0], weight, pair[1], neuron))
    return layers


def _neuron_reason(kind):
    return {"CubaLIF": ": its synaptic current filter (tau_syn) has no counterpart in "
                       "spikefab's neuron",
            "IF": ": it does not leak, and spikefab's neuron leaks by a shift",
            "CubaLI": ": it does not fire"}.get(kind, "")


def quantise_graph(graph, config, dt=DEFAULT_DT):
    """Map ``graph`` onto ``config``'s integer network (the rule: module docstring)."""
    chain = feed_forward_chain(graph)
    layers = _layers(graph, chain)
    _check_sizes(graph, chain, layers, config)
    dt = float((graph.metadata or {}).get(META_PREFIX + "dt", dt))
    if not math.isfinite(dt) or dt <= 0:
        raise NIRError(f"the graph's time step dt = {dt} is not a positive number of seconds")
    weights, clipped, leak_error = [], 0, 0.0
    for weight_name, weight, neuron_name, neuron in layers:
        w, layer_clipped, error = _quantise_layer(weight_name, weight, neuron_name,
                                                  neuron, config, dt)
        weights.append(w)
        clipped += layer_clipped
        leak_error = max(leak_error, error)
    notes = _reset_notes(graph, config, [layer[2] for layer in layers])
    return Quantised(weights, notes, clipped, leak_error)


def _check_sizes(graph, chain, layers, config):
    sizes = config.layer_sizes
    if len(layers) != len(sizes) - 1:
        raise NIRError(f"the graph has {len(layers)} LIF layers; config {config.name} "
                       f"has {len(sizes) - 1} ({' → '.join(map(str, sizes))})")
    n_in = int(np.prod(next(iter(graph.nodes[chain[0]].input_type.values()))))
    if n_in != config.n_in:
        raise NIRError(f"node {chain[0]} takes {n_in} inputs; config {config.name} has "
                       f"n_in = {config.n_in}")
    for layer, (name, weight, _, _) in enumerate(layers):
        shape = np.shape(weight.weight)
        need = (sizes[layer + 1], sizes[layer])
        if tuple(shape) != need:
            raise NIRError(f"node {name} has weights of shape {tuple(shape)}; config "
                           f"{config.name} needs {need} (out, in) there")


def _quantise_layer(weight_name, weight, neuron_name, neuron, config, dt):
    """One layer's integer weights ``(fan_in, fan_out)``, how many saturated, and the
    leak's deviation from the config's shift."""
    size = np.shape(weight.weight)[0]
    where = f"node {neuron_name}"
    try:
        tau, r, v_leak, threshold, v_reset = (
            node_array(neuron, name, size)
            for name in ("tau", "r", "v_leak", "v_threshold", "v_reset"))
    except NIRError as error:
        raise NIRError(f"{where}: {error}") from None
    if np.any(v_leak != 0):
        raise NIRError(f"{where} has a leak voltage v_leak ≠ 0; spikefab's membrane "
                       f"leaks toward 0")
    if np.any(v_reset != 0):
        raise NIRError(f"{where} resets to v_reset ≠ 0; spikefab resets to 0 or by "
                       f"subtraction")
    if np.any(threshold <= 0) or np.any(tau <= 0) or not np.all(np.isfinite(r)):
        raise NIRError(f"{where} has a threshold or tau that is not positive")
    shifts = np.log2(tau / dt)
    error = float(np.max(np.abs(shifts - config.leak_shift)))
    if not error <= LEAK_TOLERANCE:        # NaN too
        worst = float(shifts[np.argmax(np.abs(shifts - config.leak_shift))])
        raise NIRError(f"{where}: tau = {tau.max():.3g} s at dt = {dt:g} s is a leak "
                       f"shift of {worst:.2f}; config {config.name} has leak_shift "
                       f"{config.leak_shift} (tau = {dt * 2 ** config.leak_shift:.3g} s)")
    scale = (r * dt / tau) * config.threshold / threshold          # per neuron
    _check_bias(weight_name, weight, scale)
    exact = np.asarray(weight.weight, dtype=np.float64) * scale[:, None]
    rounded = np.sign(exact) * np.floor(np.abs(exact) + 0.5)
    integer = np.clip(rounded, config.w_min, config.w_max)
    clipped = int(np.count_nonzero(integer != rounded))
    return integer.T.astype(np.int64), clipped, error


def _check_bias(name, weight, scale):
    """An Affine node's bias must round to zero weight steps: the chip has no bias."""
    bias = getattr(weight, "bias", None)
    if bias is None:
        return
    steps = np.abs(node_array(weight, "bias", scale.size) * scale)
    if steps.size and float(steps.max()) >= 0.5:
        raise NIRError(f"node {name} has a bias of up to {steps.max():.1f} weight steps; "
                       f"spikefab's neuron has no bias (train with bias=False)")


def _reset_notes(graph, config, neuron_names):
    """What the user should know about resets: NIR's LIF resets to 0 unless the graph
    is spikefab's own and says otherwise."""
    reset = graph_reset(graph)
    if reset == config.reset:
        return []
    how = {"zero": "to 0", "subtract": "by subtraction"}
    return [f"the graph's neurons ({', '.join(neuron_names)}) reset {how[reset]}; "
            f"config {config.name} resets {how[config.reset]}: the golden accuracy "
            f"includes that difference"]


def graph_reset(graph):
    """``"subtract"`` or ``"zero"``: what a spikefab graph's metadata says, else NIR's
    LIF reset (to ``v_reset``, which the import requires to be 0)."""
    said = (graph.metadata or {}).get(META_PREFIX + "reset")
    return said if said in ("subtract", "zero") else "zero"
