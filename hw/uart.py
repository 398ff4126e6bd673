"""8N1 UART on byte streams, so boards carry the host protocol over a serial line.

``divisor`` is clock cycles per bit (e.g. 12 MHz / 115200 baud → 104). The receiver
samples the middle of every bit after a start bit that is still low at its middle; a
frame whose stop bit is low is dropped (the protocol's CRC catches what slips through).
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


__all__ = ["UARTReceiver", "UARTTransmitter"]


def _checked_divisor(component, divisor):
    if not isinstance(divisor, int) or divisor < 4:
        component._MustUse__silence = True   # refused, so never to be elaborated
        raise ValueError(f"divisor must be an integer of at least 4, not {divisor!r}")
    return divisor


class UARTReceiver(wiring.Component):
    """Serial ``rx`` pin → ``bytes`` stream (a byte not taken in time is overwritten)."""

    def __init__(self, divisor):
        self._divisor = _checked_divisor(self, divisor)
        super().__init__({"rx": In(1, init=1), "bytes": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        divisor = self._divisor
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(divisor))
        bit = Signal(range(9))
        shift = Signal(8)

        with m.If(self.bytes.valid & self.bytes.ready):
            m.d.sync += self.bytes.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(divisor // 2)
                    m.next = "START"
            with m.State("START"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(~rx):
                        m.d.sync += [timer.eq(divisor - 1), bit.eq(0)]
                        m.next = "DATA"
                    with m.Else():
                        m.next = "IDLE"     # a glitch, not a start bit
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(divisor - 1), shift.eq(Cat(shift[1:], rx)),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(rx):
                        m.d.sync += [self.bytes.payload.eq(shift), self.bytes.valid.eq(1)]
                    m.next = "IDLE"
        return m


class UARTTransmitter(wiring.Component):
    """``bytes`` stream → serial ``tx`` pin, one start bit, 8 data bits LSB first, one stop bit."""

    def __init__(self, divisor):
        self._divisor = _checked_divisor(self, divisor)
        super().__init__({"bytes": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        divisor = self._divisor
        timer = Signal(range(divisor))
        frame = Signal(10)
        bits_left = Signal(range(11))

        with m.If(bits_left == 0):
            m.d.comb += self.bytes.ready.eq(1)
            with m.If(self.bytes.valid):
                m.d.sync += [frame.eq(Cat(0, self.bytes.payload, 1)), bits_left.eq(10),
                             timer.eq(divisor - 1), self.tx.eq(0)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [timer.eq(divisor - 1), bits_left.eq(bits_left - 1),
                             frame.eq(frame[1:])]
                m.d.sync += self.tx.eq(frame[1] | (bits_left == 1))
        return m
