"""The update lanes: the new weights of one word of a row, ``P`` synapses side by side.

Twin of :func:`spikefab.golden.learning.apply_update` for one word: lane ``l`` with
postsynaptic signal ``p``, presynaptic count ``a`` and weight ``w`` computes
``m = (|p|·a + r) >> s``, ``w' = clamp(w - sign(p)·m)`` and whether ``w' ≠ w``. The
rounding offset ``r`` is ``2**(s-1)`` (round to nearest, 0 for ``s = 0``) or, for
stochastic rounding, the top ``s`` bits of the lane's dither ``(D + l·0x9E37) mod 2**16``
where ``D`` starts a row at the rounding generator's row dither and steps by
``P·0x9E37`` per word.

A pipeline, one arithmetic step a stage (100 MHz on the ECP5); each stage's tag says
whether it holds a word and which:

0. ``arriving``: the word's signals are on ``signal_data`` (the weight word follows a
   cycle later on ``weight_data``: the weight memory answers one cycle after the
   signal memory);
1. ``taken``: the signals registered; the weight word arrives;
2. ``sized``: each lane's ``|p|`` and direction; the weight word registered;
3. ``multiplied``: ``|p|·a`` and the offset; the room to each rail;
4. ``stepped``: the step ``(|p|·a + r) >> s``; the saturated word and which lanes changed
   are worked out from it (combinational) — with ``registered_sum``, ``|p|·a + r`` is a
   stage of its own before it (``summed``) and the stages below are a cycle later;
5. ``pending``: ``new_word`` and ``changed``, registered, for the caller to write.

No memory output feeds logic: both words are registered as they arrive.

**Rows back to back** (``per_word``, the update unit of wide configs,
:attr:`~spikefab.layout.Layout.overlap_rows`): the tag of each word also carries its
row's ``activity``, the word's own ``dither`` (``D + k·P·0x9E37`` for word ``k``) and its
weight address ``addr``, so words of successive rows may follow each other through the
stages with no drain between rows; ``activity``, ``row_dither`` and ``load_dither`` are
then unused.
"""

import functools
import operator

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from spikefab.golden.learning import DITHER_STEP
from spikefab.hw.pipeline import delay_line, tag_layout
from spikefab.hw.ports import SHIFT_BITS


__all__ = ["UpdateLanes", "word_tag_layout", "shift_add_product"]


def shift_add_product(a, b):
    """``a · b`` for unsigned ``a`` and ``b`` as the sum of ``a << i`` over the set bits
    ``i`` of ``b``: logic cells beside the lane instead of a DSP block (no ``*`` for
    Yosys to map to one)."""
    return sum(Mux(b[i], a << i, 0) for i in range(len(b)))


def word_tag_layout(index_shape, addr_shape, count_shape):
    """The tag of a word in ``per_word`` mode: ``valid``, its ``index`` in its row, its
    weight ``addr``, its row's ``activity`` and its stochastic-rounding ``dither``."""
    return data.StructLayout({"valid": 1, "index": index_shape, "addr": addr_shape,
                              "activity": count_shape, "dither": 16})


class UpdateLanes(wiring.Component):
    """Parameters
    ----------
    config : :class:`~spikefab.config.Config`
    shapes : :class:`~spikefab.hw.ports.Shapes`
    lanes : int
    index_shape : shape-like
        Shape of a word's index within its row (carried in the tags).
    per_word : bool
        Each word's tag carries its row's activity, its dither and its address
        (:func:`word_tag_layout`; ``addr_shape`` is the address's shape), instead of
        ``activity`` and the dither being held over a row.
    lut_products : bool
        ``|p|·a`` in logic cells (:func:`shift_add_product`), not in DSP blocks: on the
        ECP5 sixteen lanes' DSPs sit in rows across the die from their registers, and
        the route there and back (6 ns of the 10) kept mnist-wide from 100 MHz. The
        product is small (signal × count bits), so in logic it costs a few dozen cells a
        lane.
    registered_sum : bool
        The step's add (``|p|·a + r``) and its shift by the layer's ``s`` in two stages,
        a cycle more from a word's arrival to its write: on the ECP5 a sixteen-lane
        chip's lanes spread over the die, and the add's carry chain, the shift's
        multiplexers and the routes between them missed 100 MHz (``mnist-deep``: 97.9
        MHz, ``mnist-wide`` 100.3, on this path).

    Members
    -------
    arriving : In(tag)
        ``valid`` and ``index`` of the word whose signals are on ``signal_data``.
    signal_data : In(signal word); weight_data : In(weight word)
    activity : In(count)
        ``a``, held over a row. ``shift`` : In(SHIFT_BITS), held over a layer.
    load_dither : In(1); row_dither : In(16)
        Stochastic rounding: a row starts its dither at ``row_dither`` (no word in flight).
    pending : Out(tag); new_word : Out(weight word); changed : Out(lanes)
    write : Out(1)
        ``per_word`` only: the pending word changed (``pending.valid`` and a lane changed),
        registered with it.
    busy : Out(1)
        A word between ``taken`` and ``stepped``.
    """

    def __init__(self, config, shapes, lanes, index_shape, *, per_word=False,
                 addr_shape=None, lut_products=False, registered_sum=False):
        self._config = config
        self._registered_sum = registered_sum
        self._shapes = shapes
        self._lanes = lanes
        self._per_word = per_word
        self._lut_products = lut_products
        if per_word:
            tag = word_tag_layout(index_shape, addr_shape, shapes.count)
        else:
            tag = tag_layout(index_shape)
        super().__init__({
            "arriving": In(tag),
            "signal_data": In(shapes.signal_word),
            "weight_data": In(shapes.weight_word),
            "activity": In(shapes.count),
            "shift": In(SHIFT_BITS),
            "load_dither": In(1),
            "row_dither": In(16),
            "pending": Out(tag),
            "new_word": Out(shapes.weight_word),
            "changed": Out(lanes),
            "write": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        config, shapes, lanes = self._config, self._shapes, self._lanes
        extra = int(self._registered_sum)    # the sum's stage, between multiplied and stepped
        stages = delay_line(m, self.arriving.shape(), self.arriving, 5 + extra, name="stage")
        taken, sized, multiplied = stages[:3]
        stepped, pending = stages[-2:]
        m.d.comb += [self.pending.eq(pending), self.busy.eq(
            functools.reduce(operator.or_, (stage.valid for stage in stages[:-1])))]

        signal_word = Signal.like(self.signal_data)
        # The old word from its arrival (sized) down to the step (stepped).
        old_words = [Signal(shapes.weight_word, name=f"old_word{n}")
                     for n in range(3 + extra)]
        m.d.sync += [signal_word.eq(self.signal_data), old_words[0].eq(self.weight_data)]
        m.d.sync += [later.eq(earlier) for earlier, later in zip(old_words, old_words[1:])]

        if self._per_word:
            activity = None         # each lane's own copy, registered from ``taken``
            offsets = self._offsets(m, sized.valid, word_dither=sized.dither)
        else:
            activity = self.activity
            offsets = self._offsets(m, sized.valid)
        prod_bits = shapes.signal.width + config.count_bits
        new_word = Signal(shapes.weight_word)
        changed = Signal(lanes)
        for lane in range(lanes):
            magnitude = Signal(shapes.signal.width, name=f"magnitude{lane}")
            lowers = Signal(name=f"lowers{lane}")             # p ≥ 0 lowers the weight
            product = Signal(prod_bits, name=f"product{lane}")
            product_down = Signal(name=f"product_down{lane}")
            step = Signal(prod_bits + 1, name=f"step{lane}")
            step_down = Signal(name=f"step_down{lane}")
            p = signal_word[lane]
            if self._per_word:
                # A copy of the activity per lane, beside the lane's multiplier (one
                # register feeding sixteen DSPs across the die missed 100 MHz).
                lane_activity = Signal(shapes.count, name=f"activity{lane}")
                m.d.sync += lane_activity.eq(taken.activity)
            else:
                lane_activity = activity
            if self._lut_products:
                scaled = shift_add_product(magnitude, lane_activity)
            else:
                scaled = magnitude * lane_activity
            m.d.sync += [magnitude.eq(abs(p)), lowers.eq(p >= 0),
                         product.eq(scaled), product_down.eq(lowers)]
            moves = None
            if self._registered_sum:
                rounded = product + offsets[lane]
                total = Signal(rounded.shape(), name=f"sum{lane}")
                total_down = Signal(name=f"sum_down{lane}")
                m.d.sync += [total.eq(rounded), total_down.eq(product_down),
                             step.eq(total >> self.shift), step_down.eq(total_down)]
                moves = self._moves(m, lane, total, total_down, old_words[-2])
            else:
                m.d.sync += [step.eq((product + offsets[lane]) >> self.shift),
                             step_down.eq(product_down)]
            m.d.comb += [new_word[lane].eq(self._saturated(m, lane, old_words, step,
                                                           step_down, changed, moves))]
        m.d.sync += [self.new_word.eq(new_word), self.changed.eq(changed)]
        if self._per_word:
            # The pending word is to be written: decided a stage early, so that only a
            # register stands before the weight port's choice of address.
            m.d.sync += self.write.eq(stepped.valid & changed.any())
        return m

    def _offsets(self, m, advance, word_dither=None):
        """Each lane's rounding offset ``r``, registered with the product; from the
        dither of the word in ``sized`` (``word_dither``), or one held and stepped here."""
        lanes = self._lanes
        if self._config.rounding != "stochastic":
            # 2**(s-1), 0 for s = 0: registered, as the shift holds over a layer.
            half = Signal(32)
            m.d.sync += half.eq((Const(1, 33) << self.shift)[1:33])
            return [half] * lanes
        dither_shift = Signal(range(17))        # 16 - s leaves a dither's top s bits
        m.d.sync += dither_shift.eq(16 - self.shift)
        if word_dither is None:
            word_dither = Signal(16)
            with m.If(self.load_dither):
                m.d.sync += word_dither.eq(self.row_dither)
            with m.Elif(advance):
                m.d.sync += word_dither.eq(word_dither + lanes * DITHER_STEP)
        offsets = []
        for lane in range(lanes):
            # The dither's add and shift are one stage, the step's add and shift the next.
            offset = Signal(16, name=f"offset{lane}")
            m.d.sync += offset.eq((word_dither + lane * DITHER_STEP)[:16] >> dither_shift)
            offsets.append(offset)
        return offsets

    def _moves(self, m, lane, total, total_down, old_word):
        """Whether the lane's step will move its weight (``registered_sum``): decided
        from the sum, registered with the step. The step ``total >> s`` is non-zero when
        a bit of ``total`` at or above ``s`` is set (a mask per lane, as the shift holds
        over a layer), and the weight moves unless it sits on that rail. Every lane's
        flag is then a register, and so is the word's write decision's input: the OR of
        sixteen lanes spread over the ECP5 came after the step's compare and the rails'
        choice (``mnist-wide``: 97.7 MHz)."""
        config = self._config
        above = Signal(len(total), name=f"above_s{lane}")
        m.d.sync += above.eq(Const((1 << len(total)) - 1, len(total)) << self.shift)
        moves = Signal(name=f"moves{lane}")
        m.d.sync += moves.eq((total & above).any() &
                             Mux(total_down, old_word[lane] != config.w_min,
                                 old_word[lane] != config.w_max))
        return moves

    def _saturated(self, m, lane, old_words, step, step_down, changed, moves=None):
        """The lane's saturated new weight; sets ``changed[lane]`` (from ``moves``, the
        flag :meth:`_moves` registered, where given)."""
        config = self._config
        moved_bits = max(config.w_bits, len(step) + 1) + 2
        # The room to each rail is registered with the step, so the saturating add is
        # one carry chain per direction, side by side, then a choice.
        room_up = Signal(unsigned(config.w_bits), name=f"room_up{lane}")
        room_down = Signal(unsigned(config.w_bits), name=f"room_down{lane}")
        m.d.sync += [room_up.eq(config.w_max - old_words[-2][lane]),
                     room_down.eq(old_words[-2][lane] - config.w_min)]
        w = old_words[-1][lane]
        up = Signal(signed(moved_bits), name=f"up{lane}")
        down = Signal(signed(moved_bits), name=f"down{lane}")
        m.d.comb += [up.eq(w + step), down.eq(w - step)]
        # A step moves the weight unless it is zero or the weight sits on that rail.
        if moves is None:
            m.d.comb += changed[lane].eq((step != 0) & Mux(step_down, room_down != 0,
                                                            room_up != 0))
        else:
            m.d.comb += changed[lane].eq(moves)
        return Mux(step_down, Mux(step > room_down, config.w_min, down),
                   Mux(step > room_up, config.w_max, up))
