"""The weight memory's port, declared once, and the arbiter that shares it.

Every block that reads or writes weights (the synapse engine, the update unit, the
command bridge) holds a :class:`WeightPort.Signature` and ``connect()``\\ s it to one of
the :class:`WeightArbiter`'s clients; the arbiter's ``memory`` side connects to the
:class:`~spikefab.hw.memory.WeightMemory`, whose own interface is the flipped port.

A request is ``addr`` with ``en`` (read) or ``we`` (write ``wdata``); ``rdata`` holds the
word read ``read_latency`` cycles after its address, and keeps the last word read while
no read is made. The memory has a single port: one read *or* one write per cycle.
"""

from amaranth.hdl import Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


__all__ = ["WeightPort", "WeightArbiter"]


class WeightPort:
    """Namespace of the weight port's signature (after ``amaranth.lib.memory.ReadPort``)."""

    class Signature(wiring.Signature):
        """The port seen from a client: ``Out`` members are its requests.

        Parameters
        ----------
        shapes : :class:`~spikefab.hw.ports.Shapes`
            Supplies ``weight_addr`` and ``weight_word``.
        read_latency : int
            Cycles from a read's address to its data.
        """

        def __init__(self, shapes, *, read_latency):
            self.read_latency = read_latency
            super().__init__({
                "addr": Out(shapes.weight_addr),
                "en": Out(1),
                "we": Out(1),
                "wdata": Out(shapes.weight_word),
                "rdata": In(shapes.weight_word),
            })

        def __eq__(self, other):
            return (type(other) is type(self) and other.members == self.members
                    and other.read_latency == self.read_latency)

        def __repr__(self):
            return f"WeightPort.Signature({dict(self.members)!r}, " \
                   f"read_latency={self.read_latency})"


class WeightArbiter(wiring.Component):
    """Gives the weight port to one of ``n_clients`` at a time.

    The clients take the memory in turn, never together (the core's controller decides
    whose phase it is), so the grant is one-hot and the arbiter is an AND-OR of the
    granted client's requests; every client sees the read data. With no grant the
    memory rests.

    Parameters
    ----------
    signature : :class:`WeightPort.Signature`
    n_clients : int

    Members
    -------
    clients : In(signature) × n_clients
    grant : In(n_clients)
        One-hot: the client whose requests reach the memory.
    memory : Out(signature)
    """

    def __init__(self, signature, n_clients):
        if not isinstance(signature, WeightPort.Signature):
            self._MustUse__silence = True
            raise TypeError(f"signature must be a WeightPort.Signature, not {signature!r}")
        if not isinstance(n_clients, int) or n_clients < 1:
            self._MustUse__silence = True
            raise ValueError(f"n_clients must be a positive integer, not {n_clients!r}")
        self._n_clients = n_clients
        super().__init__({
            "clients": In(signature).array(n_clients),
            "grant": In(n_clients),
            "memory": Out(signature),
        })

    def elaborate(self, platform):
        m = Module()
        for name in ("addr", "en", "we", "wdata"):
            target = Value.cast(getattr(self.memory, name))
            # Bits of each granted request, ORed: the grant is one-hot.
            terms = [Value.cast(getattr(client, name)) & self.grant[n].replicate(len(target))
                     for n, client in enumerate(self.clients)]
            combined = terms[0]
            for term in terms[1:]:
                combined = combined | term
            m.d.comb += target.eq(combined)
        for client in self.clients:
            m.d.comb += client.rdata.eq(self.memory.rdata)
        return m
