"""``spikefab export``: a checkpoint's network as a NIR graph (the rule: :mod:`spikefab.nir_io`).

The graph is a chain ``input → linear0 → lif0 → linear1 → lif1 → … → output``, one
``Linear`` and one ``LIF`` node per weight layer, with typed input and output shapes, and
metadata (keys ``spikefab.*``) that records what NIR's nodes cannot say: ``dt``, the reset
mode, the membrane width, the encoder that makes the input spikes, the timesteps and
the decision, and the whole config as JSON.
"""

import numpy as np

from spikefab.nir_io import DEFAULT_DT, META_PREFIX, require_nir


__all__ = ["checkpoint_graph", "graph_metadata"]

WEIGHT_SCALE = 1.0  # membrane units per weight step


def checkpoint_graph(config, weights, *, dt=DEFAULT_DT):
    """The :class:`nir.NIRGraph` of ``config``'s network with integer ``weights``
    (``(fan_in, fan_out)`` each, as a checkpoint holds them)."""
    nir = require_nir()
    tau = dt * 2.0 ** config.leak_shift
    nodes = {"input": nir.Input(input_type={"input": np.array([config.n_in])})}
    edges = []
    previous = "input"
    for layer, w in enumerate(weights):
        size = w.shape[1]
        full = lambda value: np.full(size, value, dtype=np.float32)  # noqa: E731
        nodes[f"linear{layer}"] = nir.Linear(
            weight=(np.asarray(w, dtype=np.float32) * WEIGHT_SCALE).T.copy())
        nodes[f"lif{layer}"] = nir.LIF(
            tau=full(tau), r=full(tau / dt), v_leak=full(0.0),
            v_threshold=full(config.threshold), v_reset=full(0.0))
        edges += [(previous, f"linear{layer}"), (f"linear{layer}", f"lif{layer}")]
        previous = f"lif{layer}"
    nodes["output"] = nir.Output(output_type={"output": np.array([config.n_out])})
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph_metadata(config, dt),
                        type_check=True)


def graph_metadata(config, dt):
    """What the nodes cannot express, for a reader that knows to look."""
    meta = {
        "dt": dt,
        "reset": config.reset,
        "reset_note": ("subtract: on a spike the membrane keeps u - v_threshold; the LIF "
                       "nodes' v_reset = 0 holds only for reset 'zero'"),
        "weight_scale": WEIGHT_SCALE,
        "v_bits": config.v_bits,
        "leak_shift": config.leak_shift,
        "fire": "v >= v_threshold",
        "timesteps": config.timesteps,
        "input": f"spike raster (T, {config.n_in}) from the chip's {config.encoding} "
                 f"encoder",
        "decision": "argmax of the output spike counts over the timesteps, lowest "
                    "index wins a tie",
        "config": config.to_json(),
        "config_hash": config.hash(),
    }
    return {META_PREFIX + key: value for key, value in meta.items()}

