"""A pair's Rademacher factors, row by row, from its seed (rule 2 of
:mod:`spikefab.golden.es`).

Twin of :func:`spikefab.golden.es.pair_factors`: the words are the successive states
of ``XorShift32(seed)`` (seed 0 stands for ``0x9E3779B9``); weight layers in order, in
each ``A`` (``fan_out`` rows) then ``B`` (``fan_in`` rows); row ``n`` of a matrix is its
bits ``n·r … n·r + r - 1``, LSB first, bit ``m`` being bit ``m mod 32`` of the matrix's
word ``m div 32``; each matrix starts on a fresh word.

A stream (:mod:`amaranth.lib.stream`) of one row a transfer: the row's ``bits`` and
where it goes (``layer``, ``matrix`` 0 for ``A`` and 1 for ``B``, ``row``); ``last`` on
the final row of the last layer's ``B``. ``start`` (while idle) loads a seed. The block
holds two words, so a row that straddles them (``r`` not a power of two) is taken in one
cycle; a row a cycle whenever the consumer is ready.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from spikefab.golden.rng import XORSHIFT32_ZERO_SEED
from spikefab.hw.rounding import xorshift32


__all__ = ["FactorStream", "factor_row_layout"]


def factor_row_layout(config):
    """Payload of the factor stream: a row's ``bits`` and its place."""
    rows = max(max(shape) for shape in config.weight_shapes)
    return data.StructLayout({
        "bits": unsigned(config.es_rank),
        "layer": range(len(config.weight_shapes)),
        "matrix": 1,
        "row": range(rows),
        "last": 1,
    })


class FactorStream(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`

    Members
    -------
    seed : In(32); start : In(1)
        A pair seed, loaded by ``start`` while not ``busy``.
    busy : Out(1)
        From ``start`` to the transfer of the last row.
    rows : Out(stream.Signature(factor_row_layout(config)))
    """

    def __init__(self, config):
        self._config = config
        super().__init__({
            "seed": In(32),
            "start": In(1),
            "busy": Out(1),
            "rows": Out(stream.Signature(factor_row_layout(config))),
        })

    def elaborate(self, platform):
        m = Module()
        config = self._config
        rank = config.es_rank
        # The matrices in stream order and their row counts.
        matrices = [(layer, matrix, rows)
                    for layer, (fan_in, fan_out) in enumerate(config.weight_shapes)
                    for matrix, rows in ((0, fan_out), (1, fan_in))]
        current = Signal(32)          # the word bit `offset` is read from
        following = Signal(32)        # the word after it
        offset = Signal(range(32))
        index = Signal(range(len(matrices)))
        row = Signal.like(self.rows.payload.row)
        window = Cat(current, following)

        last_row = Signal()
        final = Signal()
        m.d.comb += [
            self.rows.valid.eq(self.busy),
            self.rows.payload.bits.eq((window >> offset)[:rank]),
            self.rows.payload.row.eq(row),
        ]
        for n, (layer, matrix, rows) in enumerate(matrices):
            with m.If(index == n):
                m.d.comb += [
                    self.rows.payload.layer.eq(layer),
                    self.rows.payload.matrix.eq(matrix),
                    last_row.eq(row == rows - 1),
                    final.eq(n == len(matrices) - 1),
                ]
        m.d.comb += self.rows.payload.last.eq(last_row & final)

        with m.If(~self.busy & self.start):
            first = Signal(32)
            # Seed 0 is xorshift32's fixed point: golden's stand-in replaces it.
            seed = Mux(self.seed == 0, XORSHIFT32_ZERO_SEED, self.seed)
            m.d.comb += first.eq(xorshift32(seed))
            m.d.sync += [self.busy.eq(1), current.eq(first),
                         following.eq(xorshift32(first)),
                         offset.eq(0), index.eq(0), row.eq(0)]
        with m.If(self.rows.valid & self.rows.ready):
            self._advance(m, current, following, offset, index, row, last_row, final)
        return m

    def _advance(self, m, current, following, offset, index, row, last_row, final):
        """After a row: the next row's bit position, words, matrix and row number."""
        rank = self._config.es_rank
        moved = Signal(range(32 + rank), name="moved")
        m.d.comb += moved.eq(offset + rank)
        # Words are consumed when the position passes them; a new matrix also skips
        # what is left of a word it has begun.
        with m.If(last_row):
            m.d.sync += [row.eq(0), index.eq(index + 1), offset.eq(0)]
            with m.If(final):
                m.d.sync += self.busy.eq(0)
            with m.If(moved > 32):
                m.d.sync += [current.eq(xorshift32(following)),
                             following.eq(xorshift32(xorshift32(following)))]
            with m.Else():
                m.d.sync += [current.eq(following), following.eq(xorshift32(following))]
        with m.Else():
            m.d.sync += row.eq(row + 1)
            with m.If(moved >= 32):
                m.d.sync += [offset.eq(moved - 32), current.eq(following),
                             following.eq(xorshift32(following))]
            with m.Else():
                m.d.sync += offset.eq(moved)

