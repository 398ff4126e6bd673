"""The command bridge: runs one received request on the learning core and builds its reply.

Checks every field before acting (length, address, value, input mode, label), so a frame
that gets an error reply changes nothing; ``WRITE_WEIGHTS`` checks every value before it
writes the first word when ``w_bits`` is narrower than the bytes that carry a weight.
Holds the run-time registers (per-layer learning-rate shifts, margin) for the core, and
passes on the request to reload its rounding generator.
"""

from functools import reduce
from operator import or_

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spikefab.hw.ports import host_signature
from spikefab.protocol import MAGIC, SAMPLE_HEADER, VERSION, Op, Register, Status


__all__ = ["CommandBridge"]


def _le(value, n_bytes):
    """The little-endian bytes of an int or an unsigned Amaranth value, zero-extended."""
    bits = 8 * n_bytes
    value = Const(value, bits) if isinstance(value, int) else Cat(value, Const(0, bits))[:bits]
    return [value[8 * i:8 * i + 8] for i in range(n_bytes)]


class CommandBridge(wiring.Component):
    """Parameters
    ----------
    core : :class:`~hw.core.LearningCore`
        The core it drives (for its config, layout and shapes; ports are connected by the top).
    """

    def __init__(self, core):
        self._core = core
        config = core.config
        buf = core.buffer_depth
        super().__init__({
            # From the frame receiver.
            "frame_valid": In(1),
            "frame_ack": Out(1),
            "frame_status": In(8),
            "frame_op": In(8),
            "frame_length": In(16),
            # To the frame sender.
            "reply_start": Out(1),
            "reply_length": Out(16),
            "reply": Out(stream.Signature(8)),
            "reply_done": In(1),
            # The core.
            "core": Out(host_signature(config, core.shapes, buf,
                                        core.weight_memory.read_latency)),
        })

    def elaborate(self, platform):
        m = Module()
        config, layout = self._core.config, self._core.layout
        lanes, wbytes = layout.lanes, layout.weight_bytes
        word_bytes = lanes * wbytes
        n_layers = len(config.weight_shapes)
        depth = layout.weight_depth
        max_read = (0xFFFF - 1) // word_bytes

        # Request header bytes, read from the buffer into registers.
        args = [Signal(8, name=f"arg{i}") for i in range(6)]
        arg_index = Signal(range(8))
        # The fields each request reads from its header.
        address = Cat(args[0], args[1], args[2], args[3])     # weight requests
        count = Cat(args[4], args[5])
        register, value = args[0], args[1]                    # SET_REGISTER
        mode, label = args[0], Cat(args[1], args[2])          # INFER, TRAIN
        length = self.frame_length
        op = self.frame_op
        # The weight requests' checks, worked out over two cycles before DISPATCH so that
        # no wide add or compare feeds its decision: first the sums, then the flags.
        end_address = Signal(33)
        last_word = Signal(16)      # count - 1
        write_length = Signal(range(6 + 0xFFFF * word_bytes + 1))
        outside = Signal()          # no words, or past the end of the weight memory
        read_too_long = Signal()    # the reply would not fit one frame
        write_length_bad = Signal()
        # Every other test DISPATCH makes, registered the cycle before.
        frame_bad, length_nonzero, length_not_2, length_not_6 = (Signal(name=n) for n in (
            "frame_bad", "length_nonzero", "length_not_2", "length_not_6"))
        sample_short, pixels_length_bad = Signal(), Signal()
        register_is_shift, register_is_margin, register_is_reseed = Signal(), Signal(), Signal()
        shift_bad, margin_bad, value_nonzero = Signal(), Signal(), Signal()
        mode_bad, label_bad, events_mode = Signal(), Signal(), Signal()
        is_op = {op_value: Signal(name=f"is_{op_value.name.lower()}") for op_value in Op}

        status = Signal(8)
        kind = Signal(6)            # which reply body, one-hot
        KIND_ERROR, KIND_OK, KIND_STATUS, KIND_SAMPLE, KIND_COUNTERS, KIND_WEIGHTS = range(6)
        reply_length = Signal(16)
        remaining = Signal(16)      # body bytes of the reply not yet offered
        out_valid = Signal()        # the reply byte register
        out_byte = Signal(8)
        m.d.comb += [self.reply.valid.eq(out_valid), self.reply.payload.eq(out_byte)]

        # -- fixed reply bodies -------------------------------------------------------
        hash_bytes = bytes.fromhex(config.hash())
        status_body = ([Const(Status.OK, 8)] + [Const(b, 8) for b in MAGIC]
                       + [Const(VERSION, 8)] + [Const(b, 8) for b in hash_bytes]
                       + [Const(lanes, 8)] + _le(self._core.buffer_depth, 2) + _le(depth, 4)
                       + _le(n_layers, 1) + _le(self.core.margin, 1)
                       + [byte for layer in range(n_layers)
                          for byte in _le(self.core.lr_shift[layer], 1)])
        sample_body = ([Const(Status.OK, 8)] + _le(self.core.prediction, 2)
                       + [byte for j in range(config.n_out)
                          for byte in _le(self.core.counts[j], 1)]
                       + _le(self.core.sample_cycles, 4) + _le(self.core.sample_sops, 4)
                       + _le(self.core.sample_writes, 4))
        counter_body = [Const(Status.OK, 8)]
        for counter in (self.core.cycles, self.core.sops, self.core.writes, self.core.samples):
            counter_body += _le(counter, 8)
        error_body = [status, op]
        bodies = {KIND_ERROR: error_body, KIND_OK: [Const(Status.OK, 8)],
                  KIND_STATUS: status_body, KIND_SAMPLE: sample_body,
                  KIND_COUNTERS: counter_body}
        # Byte of a fixed body: no wider than the longest body, so that its select is no
        # deeper than it must be (weights replies count bytes in ``remaining``).
        index = Signal(range(max(len(body) for body in bodies.values())))

        # READ_WEIGHTS: status byte, then per word (see _weights_reply).
        weights_stage = Signal(range(self._weights_stages()[-1] + 1))

        # Byte ``index`` of each long body, registered: the select of a body's byte and
        # the choice among the bodies are a cycle each. A byte is offered only once its
        # register has caught up with ``index`` (``settled``); one byte per two cycles is
        # far above the UART's rate.
        body_bytes = {}
        for kind_value, body in bodies.items():
            if len(body) > 2:
                body_bytes[kind_value] = Signal(8, name=f"body{kind_value}_byte")
                m.d.sync += body_bytes[kind_value].eq(Array(body)[index])
            else:
                body_bytes[kind_value] = Array(body)[index]
        settled = Signal()
        m.d.sync += settled.eq(1)

        def reply(kind_value, body_length=None):
            m.d.sync += [kind.eq(1 << kind_value), index.eq(0), weights_stage.eq(0)]
            if body_length is None:
                body_length = len(bodies[kind_value])
            m.d.sync += reply_length.eq(body_length)
            m.next = "REPLY_START"

        def fail(code):
            m.d.sync += status.eq(code)
            reply(KIND_ERROR)

        # -- weights, word by word ------------------------------------------------------
        word = Signal(8 * word_bytes)         # the wire bytes of one word, lane 0 lowest
        word_index = Signal(16)
        # The weight address of word ``word_index``: counted, not added, so that no
        # 32-bit sum drives the weight memory's address.
        word_address = Signal(self._core.shapes.weight_addr)
        byte_in_word = Signal(range(word_bytes + 1))
        pointer = Signal(16)
        lane_bytes = Signal(8 * wbytes)
        value_bad = Signal()        # a whole weight out of range (narrow weights)
        at_end = Signal()           # the last byte of the request taken
        narrow = config.w_bits < 8 * wbytes

        def weight_fits(raw):
            # raw: the 8·wbytes-bit two's-complement value of one weight.
            value = raw.as_signed()
            return (value >= config.w_min) & (value <= config.w_max)

        with m.FSM():
            with m.State("IDLE"):
                m.d.sync += arg_index.eq(0)
                with m.If(self.frame_valid):
                    m.next = "ARGS"
            with m.State("ARGS"):
                # Read up to 6 header bytes (a read takes a cycle; one spare at the end).
                m.d.comb += self.core.buf_raddr.eq(arg_index)
                m.d.sync += arg_index.eq(arg_index + 1)
                with m.If(arg_index != 0):
                    for i in range(6):
                        with m.If(arg_index - 1 == i):
                            m.d.sync += args[i].eq(self.core.buf_rdata)
                with m.If(arg_index == 6):
                    m.next = "SUMS"
            with m.State("SUMS"):
                m.d.sync += [end_address.eq(address + count), last_word.eq(count - 1),
                             write_length.eq(6 + count * word_bytes)]
                m.next = "CHECKS"
            with m.State("CHECKS"):
                m.d.sync += [
                    outside.eq((count == 0) | (end_address > depth)),
                    read_too_long.eq(count > max_read),
                    write_length_bad.eq((length < 6) | (length != write_length)),
                    frame_bad.eq(self.frame_status != Status.OK),
                    length_nonzero.eq(length != 0),
                    length_not_2.eq(length != 2),
                    length_not_6.eq(length != 6),
                    sample_short.eq(length < SAMPLE_HEADER),
                    pixels_length_bad.eq(length != SAMPLE_HEADER + config.n_in),
                    register_is_shift.eq(register < n_layers),
                    register_is_margin.eq(register == Register.MARGIN),
                    register_is_reseed.eq(register == Register.RESEED_ROUNDING),
                    shift_bad.eq(value > config.max_lr_shift),
                    margin_bad.eq(value > config.timesteps),
                    value_nonzero.eq(value != 0),
                    mode_bad.eq(mode > 1),
                    events_mode.eq(mode == 1),
                    label_bad.eq(label >= config.n_out),
                ]
                for op_value in Op:
                    m.d.sync += is_op[op_value].eq(op == op_value)
                m.next = "DISPATCH"
            with m.State("DISPATCH"):
                # Only registered flags decide here.
                with m.If(frame_bad):
                    fail(self.frame_status)
                with m.Elif(is_op[Op.STATUS]):
                    with m.If(length_nonzero):
                        fail(Status.BAD_LENGTH)
                    with m.Else():
                        reply(KIND_STATUS)
                with m.Elif(is_op[Op.WRITE_WEIGHTS]):
                    with m.If(write_length_bad):
                        fail(Status.BAD_LENGTH)
                    with m.Elif(outside):
                        fail(Status.BAD_ADDRESS)
                    with m.Else():
                        m.d.sync += [pointer.eq(6), word_index.eq(0), byte_in_word.eq(0),
                                     word_address.eq(address)]
                        m.next = "CHECK_READ" if narrow else "WRITE_READ"
                with m.Elif(is_op[Op.READ_WEIGHTS]):
                    with m.If(length_not_6):
                        fail(Status.BAD_LENGTH)
                    with m.Elif(outside | read_too_long):
                        fail(Status.BAD_ADDRESS)
                    with m.Else():
                        m.d.sync += [byte_in_word.eq(0), word_address.eq(address)]
                        reply(KIND_WEIGHTS, 1 + count * word_bytes)
                with m.Elif(is_op[Op.SET_REGISTER]):
                    with m.If(length_not_2):
                        fail(Status.BAD_LENGTH)
                    with m.Elif(register_is_shift):
                        with m.If(shift_bad):
                            fail(Status.BAD_VALUE)
                        with m.Else():
                            m.d.sync += Array(self.core.lr_shift[layer] for layer in
                                              range(n_layers))[register].eq(value)
                            reply(KIND_OK)
                    with m.Elif(register_is_margin):
                        with m.If(margin_bad):
                            fail(Status.BAD_VALUE)
                        with m.Else():
                            m.d.sync += self.core.margin.eq(value)
                            reply(KIND_OK)
                    with m.Elif(register_is_reseed):
                        with m.If(value_nonzero):
                            fail(Status.BAD_VALUE)
                        with m.Else():
                            m.d.comb += self.core.reseed.eq(1)
                            reply(KIND_OK)
                    with m.Else():
                        fail(Status.BAD_ADDRESS)
                with m.Elif(is_op[Op.INFER] | is_op[Op.TRAIN]):
                    training = is_op[Op.TRAIN]
                    with m.If(sample_short):
                        fail(Status.BAD_LENGTH)
                    with m.Elif(mode_bad):
                        fail(Status.BAD_VALUE)
                    with m.Elif(~events_mode & pixels_length_bad):
                        fail(Status.BAD_LENGTH)
                    with m.Elif(training & label_bad):
                        fail(Status.BAD_VALUE)
                    with m.Else():
                        m.d.sync += [
                            self.core.train.eq(training), self.core.events.eq(events_mode),
                            self.core.label.eq(Mux(training, label, 0)),
                            self.core.data_offset.eq(SAMPLE_HEADER),
                            self.core.data_length.eq(length - SAMPLE_HEADER),
                        ]
                        m.next = "START"
                with m.Elif(is_op[Op.READ_COUNTERS]):
                    with m.If(length_nonzero):
                        fail(Status.BAD_LENGTH)
                    with m.Else():
                        reply(KIND_COUNTERS)
                with m.Elif(is_op[Op.CLEAR_COUNTERS]):
                    with m.If(length_nonzero):
                        fail(Status.BAD_LENGTH)
                    with m.Else():
                        m.d.comb += self.core.clear_counters.eq(1)
                        reply(KIND_OK)
                with m.Else():
                    fail(Status.BAD_OPCODE)
            with m.State("START"):
                # The sample's fields are registered by now.
                m.d.comb += self.core.start.eq(1)
                m.next = "RUN"
            with m.State("RUN"):
                with m.If(self.core.done):
                    with m.If(self.core.error):
                        fail(Status.BAD_SAMPLE)
                    with m.Else():
                        reply(KIND_SAMPLE)

            # WRITE_WEIGHTS, narrow weights: a first pass checks every value.
            with m.State("CHECK_READ"):
                m.d.comb += self.core.buf_raddr.eq(pointer)
                m.d.sync += pointer.eq(pointer + 1)
                m.next = "CHECK_TAKE"
            with m.State("CHECK_TAKE"):
                raw = (Cat(lane_bytes[8:], self.core.buf_rdata) if wbytes > 1
                       else self.core.buf_rdata)
                m.d.sync += lane_bytes.eq(raw)
                m.next = "CHECK_RANGE"
            with m.State("CHECK_RANGE"):
                # The range compares are registered: they do not feed the decision.
                # The byte taken was at pointer - 1; weights start at byte 6.
                last_byte = (pointer - 7)[0] if wbytes == 2 else Const(1)
                m.d.sync += [value_bad.eq(last_byte & ~weight_fits(lane_bytes)),
                             at_end.eq(pointer == length)]
                m.next = "CHECK_TEST"
            with m.State("CHECK_TEST"):
                with m.If(value_bad):
                    fail(Status.BAD_VALUE)
                with m.Elif(at_end):
                    m.d.sync += [pointer.eq(6), byte_in_word.eq(0)]
                    m.next = "WRITE_READ"
                with m.Else():
                    m.next = "CHECK_READ"

            # WRITE_WEIGHTS: assemble each word from its bytes, then write it.
            with m.State("WRITE_READ"):
                m.d.comb += self.core.buf_raddr.eq(pointer)
                m.d.sync += pointer.eq(pointer + 1)
                m.next = "WRITE_TAKE"
            with m.State("WRITE_TAKE"):
                shifted = Cat(word[8:], self.core.buf_rdata)
                m.d.sync += [word.eq(shifted), byte_in_word.eq(byte_in_word + 1)]
                with m.If(byte_in_word == word_bytes - 1):
                    m.next = "WRITE_WORD"
                with m.Else():
                    m.next = "WRITE_READ"
            with m.State("WRITE_WORD"):
                # ``word`` holds the wire bytes, lane 0 lowest; keep w_bits of each lane.
                for lane in range(lanes):
                    raw = word[8 * wbytes * lane:8 * wbytes * (lane + 1)]
                    m.d.comb += self.core.weights.wdata[lane].eq(raw[:config.w_bits])
                m.d.comb += [self.core.weights.addr.eq(word_address), self.core.weights.we.eq(1)]
                m.d.sync += [word_index.eq(word_index + 1), word_address.eq(word_address + 1),
                             byte_in_word.eq(0)]
                with m.If(word_index == last_word):
                    reply(KIND_OK)
                with m.Else():
                    m.next = "WRITE_READ"

            with m.State("REPLY_START"):
                m.d.comb += [self.reply_start.eq(1), self.reply_length.eq(reply_length)]
                m.d.sync += remaining.eq(reply_length)
                m.next = "REPLY"
            with m.State("REPLY"):
                # Exactly ``reply_length`` bytes are offered (none may be left in a stream
                # stage to open the next reply), each from a register: ``free`` when the
                # last one has been taken, so no body select reaches the sender's side.
                free = ~out_valid | self.reply.ready
                with m.If(out_valid & self.reply.ready):
                    m.d.sync += out_valid.eq(0)

                def offer(byte):
                    m.d.sync += [out_byte.eq(byte), out_valid.eq(1),
                                 remaining.eq(remaining - 1)]

                with m.If((remaining != 0) & kind[KIND_WEIGHTS]):
                    self._weights_reply(m, offer, free, weights_stage, word_address,
                                        byte_in_word, word_bytes)
                with m.Elif((remaining != 0) & free & settled):
                    offer(reduce(or_, (Mux(kind[kind_value], byte, 0)
                                       for kind_value, byte in body_bytes.items())))
                    m.d.sync += [index.eq(index + 1), settled.eq(0)]
                with m.If(self.reply_done):
                    m.d.comb += self.frame_ack.eq(1)
                    m.next = "IDLE"
        return m

    def _weights_stages(self):
        """The READ_WEIGHTS stages ``STATUS, READ, TAKE, SEND``: between READ and TAKE a
        WAIT stage per cycle until the word read arrives."""
        latency = self._core.weight_memory.read_latency
        return 0, 1, 1 + latency, 2 + latency

    def _weights_reply(self, m, offer, free, stage, word_address, byte_in_word, word_bytes):
        """READ_WEIGHTS body: the status byte, then each word read, registered as it
        arrives (no block-RAM output feeds the byte select) and offered bytewise."""
        lanes, wbytes = self._core.layout.lanes, self._core.layout.weight_bytes
        STATUS, READ, TAKE, SEND = self._weights_stages()
        word_read = Signal.like(self.core.weights.rdata)
        wire_bytes = []
        for lane in range(lanes):
            extended = Signal(8 * wbytes, name=f"wire{lane}")
            m.d.comb += extended.eq(word_read[lane])
            wire_bytes += [extended[8 * b:8 * b + 8] for b in range(wbytes)]
        with m.If(stage == STATUS):
            with m.If(free):
                offer(Status.OK)
                m.d.sync += stage.eq(READ)
        with m.Elif(stage == READ):
            m.d.comb += [self.core.weights.addr.eq(word_address), self.core.weights.en.eq(1)]
            m.d.sync += [stage.eq(READ + 1), byte_in_word.eq(0)]
        with m.Elif(stage < TAKE):
            m.d.sync += stage.eq(stage + 1)   # WAIT
        with m.Elif(stage == TAKE):
            m.d.sync += [word_read.eq(self.core.weights.rdata), stage.eq(SEND)]
        with m.Elif(free):
            offer(Array(wire_bytes)[byte_in_word])
            m.d.sync += byte_in_word.eq(byte_in_word + 1)
            with m.If(byte_in_word == word_bytes - 1):
                m.d.sync += [stage.eq(READ), word_address.eq(word_address + 1)]
