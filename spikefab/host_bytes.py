"""Host↔chip bytes per training sample: the frames a training run sends, both ways.

Counted exactly from the wire format of :mod:`spikefab.protocol`: every frame is
``SOF`` + ``LEN`` + body + ``CRC`` (its overhead is what :func:`~spikefab.protocol.
encode_frame` adds to a body), a request body is :data:`~spikefab.protocol.REQUEST_HEAD`
and its payload, a reply body its layout. What one training sample costs:

* ``sparse-dfa``, ``dfa``: one ``TRAIN`` request (:data:`~spikefab.protocol.
  SAMPLE_REQUEST` and the sample: ``n_in`` pixel bytes, or the event payload of
  :func:`~spikefab.protocol.event_payload`) and its :data:`~spikefab.protocol.
  SAMPLE_REPLY`.
* ``eggroll``: a generation of ``B = es_batch`` samples sends one ``ES_FACTORS`` request
  (the ``K = es_population / 2`` u32 pair seeds; an OK reply), ``N = es_population × B``
  ``EVALUATE`` requests (a 6-byte member header — mode, label, member, first — and the
  sample; a reply of :data:`~spikefab.protocol.SAMPLE_REPLY`'s fields and a u32 error
  energy) and one ``ES_UPDATE`` request (the ``K`` signed pair signals; a reply with u32
  cycles and u32 weight writes); the sum over the generation divided by its ``B``
  samples (a full generation).
* ``es``, ``bptt``: no chip rule (float only): :class:`NotOnChip` says so.

Left out, as they do not grow with the samples: the run's setup (``STATUS``, loading the
weights) and the register writes of the learning-rate schedule (once an epoch for DFA,
when the schedule changes for EGGROLL), and retries on a noisy link.
"""

import numpy as np

from spikefab import protocol
from spikefab.protocol import (OK_REPLY, REQUEST_HEAD, SAMPLE_REPLY, SAMPLE_REQUEST,
                               encode_frame)


__all__ = ["NotOnChip", "NO_CHIP_REASONS", "host_bytes_per_train_sample", "host_bytes_breakdown",
           "frame_bytes", "sample_payload_sizes", "es_layouts"]

# The reply to ES_FACTORS is the plain OK reply.
_DFA_ALGOS = ("sparse-dfa", "dfa")
_ES_ALGOS = ("eggroll",)
#: Why a rule has no chip figures: it has no chip protocol (float only).
NO_CHIP_REASONS = {"es": "no chip rule: full-rank ES is a float reference only",
            "bptt": "no chip rule: backpropagation through time is a float (PyTorch) "
                    "rule only"}


class NotOnChip(ValueError):
    """An algorithm with no chip protocol: no bytes to count (the message says why)."""


def es_layouts():
    """The EGGROLL request and reply layouts of :mod:`spikefab.protocol` by name, and
    where they come from."""
    names = ("ES_FACTORS_REQUEST", "MEMBER_REQUEST", "EVALUATE_REPLY", "ES_UPDATE_REQUEST",
             "ES_UPDATE_REPLY")
    return {name: getattr(protocol, name) for name in names}, "protocol"


def frame_bytes(body_bytes):
    """Bytes of a frame whose body has ``body_bytes`` (``encode_frame``'s overhead)."""
    return len(encode_frame(bytes(int(body_bytes))))


def _size(layout, config, pairs):
    """Bytes of ``layout``; a repeated field is ``n_out`` long if so named, else one
    item per pair (the ES requests' seeds and signals)."""
    counts = {field.count: config.n_out if field.count == "n_out" else pairs
              for field in layout.fields if field.count is not None}
    return layout.size(**counts)


def sample_payload_sizes(dataset):
    """Bytes of each training sample's data in a ``TRAIN``/``EVALUATE`` request: ``n_in``
    for pixels; two a spike event and two a timestep's end word for events."""
    x = dataset.x_train
    if dataset.kind == "pixels":
        return np.full(len(x), x.shape[1], dtype=np.int64)
    events = np.count_nonzero(x.reshape(len(x), -1), axis=1)
    return 2 * (events + x.shape[1])


def _mean_payload(sample_bytes):
    sizes = np.atleast_1d(np.asarray(sample_bytes, dtype=np.float64))
    if sizes.size == 0 or (sizes < 0).any():
        raise ValueError("sample_bytes must be a non-negative size or a non-empty list "
                         "of them")
    return float(sizes.mean())


def host_bytes_breakdown(algo, config, sample_bytes):
    """Bytes to the chip and from it per training sample, and what was counted.

    ``sample_bytes``: the bytes of a sample's data (``config.n_in`` for pixels), or one
    per training sample (:func:`sample_payload_sizes`), of which the mean is taken
    (frame sizes are linear in it, so the mean is exact). :class:`NotOnChip` for ``es``
    and ``bptt``."""
    if algo in NO_CHIP_REASONS:
        raise NotOnChip(NO_CHIP_REASONS[algo])
    payload = _mean_payload(sample_bytes)
    overhead = frame_bytes(1) - 1                       # SOF, LEN, CRC
    head = REQUEST_HEAD.size()
    if algo in _DFA_ALGOS:
        request = overhead + head + SAMPLE_REQUEST.size() + payload
        reply = frame_bytes(SAMPLE_REPLY.size(n_out=config.n_out))
        return {"to_chip": request, "from_chip": reply, "total": request + reply,
                "layouts": "protocol",
                "counted": "one TRAIN request and its reply per sample"}
    if algo in _ES_ALGOS:
        layouts, source = es_layouts()
        members, batch = config.es_population, config.es_batch
        pairs = members // 2
        size = lambda name: _size(layouts[name], config, pairs)      # noqa: E731
        evaluate_to = overhead + head + size("MEMBER_REQUEST") + payload
        evaluate_from = frame_bytes(size("EVALUATE_REPLY"))
        to_chip = (frame_bytes(head + size("ES_FACTORS_REQUEST"))
                   + members * batch * evaluate_to
                   + frame_bytes(head + size("ES_UPDATE_REQUEST"))) / batch
        from_chip = (frame_bytes(OK_REPLY.size()) + members * batch * evaluate_from
                     + frame_bytes(size("ES_UPDATE_REPLY"))) / batch
        return {"to_chip": to_chip, "from_chip": from_chip, "total": to_chip + from_chip,
                "layouts": source,
                "counted": f"per generation: ES_FACTORS ({pairs} seeds), {members} × "
                           f"{batch} EVALUATE, ES_UPDATE ({pairs} signals), each with "
                           f"its reply, over the generation's {batch} samples"}
    raise ValueError(f"unknown algorithm {algo!r}")


def host_bytes_per_train_sample(algo, config, sample_bytes):
    """Frame bytes both ways (requests and replies, ``SOF``/``LEN``/``CRC`` included)
    that training with ``algo`` sends per training sample: see the module docstring and
    :func:`host_bytes_breakdown`."""
    return host_bytes_breakdown(algo, config, sample_bytes)["total"]
