"""The command bridge's ``WRITE_WEIGHTS``: the words of a request, from the input buffer
into the weight memory.

Twin of :meth:`spikefab.layout.Layout.bytes_to_words` and of the ``BAD_VALUE`` rule of
:func:`spikefab.protocol.request_status`: when ``w_bits`` is narrower than the bytes that
carry a weight, a first pass checks every value and a value out of range stops the
request before its first word is written.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikefab.protocol import WEIGHTS_HEADER


__all__ = ["WeightWriter"]


class WeightWriter(wiring.Component):
    """Writes the ``count`` words of a request, their bytes read from the input buffer
    after the request's header, in order: the word address is the bridge's cursor,
    which steps after each ``write``.

    Each word is assembled a byte per two cycles (a buffer read takes a cycle), then
    written; ``words_left`` counts down, so no wide compare decides the end. With narrow
    weights, a check pass reads every byte first and registers each range test before
    it decides.

    Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    shapes : :class:`~spikefab.hw.ports.Shapes`
    layout : :class:`~spikefab.layout.Layout`
    buffer_depth : int

    Members
    -------
    start : In(1)
        With ``count`` (at least 1) and ``length`` (the payload's bytes,
        ``6 + count × word bytes``), both checked and held until ``done``.
    count : In(16); length : In(16)
    buf_raddr : Out(range(buffer_depth)); buf_rdata : In(8)
        ``buf_raddr`` is 0 while idle.
    write : Out(1); wdata : Out(weight_word)
        Write ``wdata`` at the cursor (a weight port's ``we`` and ``wdata``).
    done : Out(1)
        The request is over: every word written, or (``bad_value``) none.
    bad_value : Out(1)
    """

    def __init__(self, config, *, shapes, layout, buffer_depth):
        self._config = config
        self._layout = layout
        super().__init__({
            "start": In(1),
            "count": In(16),
            "length": In(16),
            "buf_raddr": Out(range(buffer_depth)),
            "buf_rdata": In(8),
            "write": Out(1),
            "wdata": Out(shapes.weight_word),
            "done": Out(1),
            "bad_value": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        config = self._config
        lanes, wbytes = self._layout.lanes, self._layout.weight_bytes
        word_bytes = lanes * wbytes
        first = WEIGHTS_HEADER.size()
        narrow = config.w_bits < 8 * wbytes

        pointer = Signal(16)                # the next buffer byte to read
        words_left = Signal(16)
        byte_in_word = Signal(range(word_bytes + 1))
        word = Signal(8 * word_bytes)       # the wire bytes of one word, lane 0 lowest
        lane_bytes = Signal(8 * wbytes)     # check pass: the weight being read
        value_bad = Signal()
        at_end = Signal()                   # check pass: the last byte taken

        def weight_fits(raw):
            # raw: the 8·wbytes-bit two's-complement value of one weight.
            value = raw.as_signed()
            return (value >= config.w_min) & (value <= config.w_max)

        def read_byte(next_state):
            m.d.comb += self.buf_raddr.eq(pointer)
            m.d.sync += pointer.eq(pointer + 1)
            m.next = next_state

        with m.FSM():
            with m.State("IDLE"):
                m.d.sync += [pointer.eq(first), byte_in_word.eq(0),
                             words_left.eq(self.count)]
                with m.If(self.start):
                    m.next = "CHECK_READ" if narrow else "WRITE_READ"

            # Narrow weights: a first pass checks every value.
            with m.State("CHECK_READ"):
                read_byte("CHECK_TAKE")
            with m.State("CHECK_TAKE"):
                raw = Cat(lane_bytes[8:], self.buf_rdata) if wbytes > 1 else self.buf_rdata
                m.d.sync += lane_bytes.eq(raw)
                m.next = "CHECK_RANGE"
            with m.State("CHECK_RANGE"):
                # The byte taken was at pointer - 1; weights start at byte ``first``.
                last_byte = (pointer - first - 1)[0] if wbytes == 2 else Const(1)
                m.d.sync += [value_bad.eq(last_byte & ~weight_fits(lane_bytes)),
                             at_end.eq(pointer == self.length)]
                m.next = "CHECK_TEST"
            with m.State("CHECK_TEST"):
                with m.If(value_bad):
                    m.d.comb += [self.done.eq(1), self.bad_value.eq(1)]
                    m.next = "IDLE"
                with m.Elif(at_end):
                    m.d.sync += pointer.eq(first)
                    m.next = "WRITE_READ"
                with m.Else():
                    m.next = "CHECK_READ"

            # Assemble each word from its bytes, then write it.
            with m.State("WRITE_READ"):
                read_byte("WRITE_TAKE")
            with m.State("WRITE_TAKE"):
                m.d.sync += [word.eq(Cat(word[8:], self.buf_rdata)),
                             byte_in_word.eq(byte_in_word + 1)]
                with m.If(byte_in_word == word_bytes - 1):
                    m.next = "WRITE_WORD"
                with m.Else():
                    m.next = "WRITE_READ"
            with m.State("WRITE_WORD"):
                # Keep w_bits of each lane's wire bytes.
                for lane in range(lanes):
                    raw = word[8 * wbytes * lane:8 * wbytes * (lane + 1)]
                    m.d.comb += self.wdata[lane].eq(raw[:config.w_bits])
                m.d.comb += self.write.eq(1)
                m.d.sync += [words_left.eq(words_left - 1), byte_in_word.eq(0)]
                with m.If(words_left == 1):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "WRITE_READ"
        return m
