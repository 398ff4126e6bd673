"""What a report carries for its plots: the test split's confusion counts and one sample's
spike raster through the layers.

Both are small on purpose (a report stays a few kilobytes): the confusion matrix is
``n_out × n_out`` counts, rows the true label and columns the prediction; the raster is
one test sample's spikes, per layer (input first) a list of ``timesteps`` lists of the
indices of the neurons that fired at that step.
"""

from pathlib import Path

import numpy as np

from spikefab.files import write_json
from spikefab.golden.encoders import encode
from spikefab.golden.lif import run_layer
from spikefab.golden.network import GoldenNet, decide
from spikefab.train import iter_samples


__all__ = ["confusion_matrix", "add_confusion", "spike_raster", "sample_raster",
           "save_report", "RASTER_SAMPLE"]

#: The test sample whose raster a report shows (the first: the same one in every report).
RASTER_SAMPLE = 0


def add_confusion(matrix, label, prediction):
    """Count one decision into ``matrix`` (a list of lists), in place."""
    matrix[int(label)][int(prediction)] += 1


def confusion_matrix(model, dataset):
    """Counts of ``model``'s decisions on the test split: ``[true][predicted]``; the
    counts add up to the number of test samples."""
    n_out = model.config.n_out
    matrix = [[0] * n_out for _ in range(n_out)]
    order = np.arange(len(dataset.y_test))
    for raster, label in iter_samples(dataset.x_test, dataset.y_test, dataset.kind,
                                      model.config, order):
        add_confusion(matrix, label, model.forward(raster).prediction)
    return matrix


def spike_raster(net, raster):
    """The spikes of ``raster`` (``(T, n_in)``, 0/1) through ``net``, an integer-weight
    :class:`~spikefab.golden.network.GoldenNet` (golden's own LIF): per layer, input
    first, a list of ``T`` lists of the neurons that fired at each timestep."""
    spikes = net.check_raster(raster)
    layers = [spikes]
    for weights in net.weights:
        spikes, _, _ = run_layer(net.lif, spikes, weights)
        layers.append(spikes)
    return [[np.flatnonzero(step).tolist() for step in layer] for layer in layers]


def sample_raster(net, dataset, index=RASTER_SAMPLE):
    """The report's raster entry: test sample ``index`` of ``dataset`` through ``net``
    (None when ``net`` is not an integer model or the test split is empty), with its
    label, the prediction and the layer sizes."""
    if not isinstance(net, GoldenNet) or len(dataset.y_test) <= index:
        return None
    sample = dataset.x_test[index:index + 1]
    raster = encode(sample, net.config)[0] if dataset.kind == "pixels" else sample[0]
    layers = spike_raster(net, raster)
    output_counts = np.zeros(net.config.n_out, dtype=np.int64)
    for step in layers[-1]:
        output_counts[step] += 1
    return {"test_index": index, "label": int(dataset.y_test[index]),
            "prediction": decide(output_counts),
            "sizes": list(net.config.layer_sizes), "layers": layers}


def save_report(report, path):
    """Write ``report`` as indented JSON to ``path`` atomically (a temporary file in the
    same folder, then ``os.replace``); the folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, report, indent=1)
