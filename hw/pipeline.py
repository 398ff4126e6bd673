"""Pipeline delay lines: a value carried along a pipeline, one register per stage.

Pipelines here carry a *tag* beside their data: whether a stage holds an item, and which
(its word index). :func:`delay_line` builds the chain of registers once, so a block
names its stages instead of writing each register and its shift by hand::

    tag = data.StructLayout({"valid": 1, "index": range(words)})
    issued = delay_line(m, tag, {"valid": reading, "index": k}, 2, name="issued")
    # issued[0] is the tag of one cycle ago, issued[-1] of two.
"""

from amaranth.hdl import Signal
from amaranth.lib import data


__all__ = ["delay_line", "tag_layout"]


def tag_layout(index_shape):
    """A stage's tag: ``valid`` and the ``index`` of the item it holds."""
    return data.StructLayout({"valid": 1, "index": index_shape})


def delay_line(m, shape, value, depth, *, name, domain="sync"):
    """``depth`` registers of ``shape`` in a row, the first loaded from ``value`` every cycle.

    Parameters
    ----------
    m : Module
    shape : shape-like
        Shape of every stage (a layout gives views).
    value : value-like or dict
        What enters the line (a dict for a struct layout's fields).
    depth : int
        Stages; 0 gives an empty list.
    name : str
        Stage ``n`` is named ``{name}{n}``.

    Returns
    -------
    list
        ``stages[n]`` holds ``value`` as it was ``n + 1`` cycles ago.
    """
    if depth < 0:
        raise ValueError(f"depth must be at least 0, not {depth!r}")
    stages = [Signal(shape, name=f"{name}{n}") for n in range(depth)]
    if stages:
        head = stages[0]
        if isinstance(value, dict):
            m.d[domain] += [getattr(head, field).eq(v) for field, v in value.items()]
        else:
            m.d[domain] += head.eq(value)
    m.d[domain] += [later.eq(earlier) for earlier, later in zip(stages, stages[1:])]
    return stages
