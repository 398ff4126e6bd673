"""Twin tests of the command bridge's blocks, each alone in Amaranth's simulator, against
the wire format of :mod:`spikefab.protocol` (the golden twin of the host protocol):

- :class:`~spikefab.hw.requests.RequestChecks` with the
  :class:`~spikefab.hw.requests.RequestDispatcher`: every request (hypothesis: each
  opcode with its own fields at and around their limits, or any bytes; damaged frames;
  junk in the buffer past the payload; a sequence number equal to the one held or not)
  gets the status of ``protocol.request_status``, the action and reply its opcode asks
  for (a sample that repeats the held one: the sample reply, not a run), and a register
  write only when it is OK;
- :class:`~spikefab.hw.weight_writer.WeightWriter`: the words it writes are
  ``Layout.bytes_to_words`` of the payload, and none when a value does not fit
  ``w_bits`` (narrow and wide weights, one and two bytes per weight);
- :class:`~spikefab.hw.replies.ReplyBuilder`: each body is the layout's ``pack`` of the
  figures, its head echoing the request's opcode and seq, announced with its length,
  under random stalls on the reply stream;
- :class:`~spikefab.hw.replies.WeightsBody`: the words of the ``READ_WEIGHTS`` body are
  ``Layout.words_to_bytes``, for read latencies 1–3, under stalls, and it reads no word
  past the last one asked for.

``tests/test_hw_protocol.py`` runs the same blocks inside the whole chip. Each test was
seen to fail on mutated private copies of its block (an end address off by one, a limit
test ``>=``, a label checked for ``INFER``, a value range off by one, a word too many,
big-endian bytes, a byte offered before it settled, a length one too long, a word taken
a cycle early, a read without demand, no sign extension…).
"""

import numpy as np
from amaranth.hdl import Elaboratable, Module, Shape
from amaranth.sim import Simulator
from hypothesis import HealthCheck, event, given, settings, strategies as st

from spikefab.hw.ports import Shapes
from spikefab.hw.replies import ReplyBuilder, ReplyKind, WeightsBody
from spikefab.hw.requests import HEADER_BYTES, Action, RequestChecks, RequestDispatcher
from spikefab.hw.weight_writer import WeightWriter
from spikefab.layout import Layout
from spikefab.protocol import (COUNTERS_REPLY, ERROR_REPLY, ES_UPDATE_REPLY, EVALUATE_REPLY,
                               MAGIC, MEMBER_REQUEST, OK_REPLY,
                               REGISTER_REQUEST, SAMPLE_REPLY, SAMPLE_REQUEST, STATUS_REPLY,
                               VERSION, WEIGHTS_HEADER, WEIGHTS_REPLY, Op, Register, Status,
                               max_read_words, request_status)

from conftest import small_config


TWIN = settings(max_examples=50, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
BUFFER = 48

# Three weight layers, two lanes of one byte; and narrow 12-bit weights in two bytes.
CONFIGS = {
    "wide": small_config(n_in=9, hidden=(6, 4), n_out=3, timesteps=4, lanes=2,
                         threshold=30),
    "narrow": small_config(n_in=5, hidden=(4,), n_out=3, timesteps=5, lanes=3, w_bits=12,
                           v_bits=20,
                           rounding="stochastic"),
    # With the ES units: three pairs (12 seed bytes, 3 signal bytes).
    "es": small_config(n_in=7, hidden=(5,), n_out=4, lanes=2, es_on_chip=True,
                       es_population=6),
}


def run(dut, testbench, *processes):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    for process in processes:
        sim.add_process(process)
    sim.run()


def buffer_process(dut, buffer):
    """The input buffer's read port: data a cycle after the address."""
    async def process(ctx):
        async for _clk, _rst, raddr in ctx.tick().sample(dut.buf_raddr):
            ctx.set(dut.buf_rdata, buffer[raddr])
    return process


# -- RequestChecks + RequestDispatcher ---------------------------------------------------

class Front(Elaboratable):
    def __init__(self, config):
        self.checks = RequestChecks(config, layout=Layout(config), buffer_depth=BUFFER)
        self.dispatch = RequestDispatcher(es=config.es_on_chip)

    def elaborate(self, platform):
        m = Module()
        m.submodules.checks, m.submodules.dispatch = self.checks, self.dispatch
        m.d.comb += [self.dispatch.tests.eq(self.checks.tests),
                     self.dispatch.frame_status.eq(self.checks.frame_status)]
        return m


STROBES = ("set_lr_shift", "set_margin", "reseed", "clear_counters")


def dispatch_golden(config, op, payload, frame_status, repeat=False):
    """What the dispatcher must decide, from ``request_status`` (``repeat``: the seq is
    the one held, of a sample that finished)."""
    refused = {"status": frame_status, "action": Action.REPLY, "reply": ReplyKind.ERROR,
               **{name: 0 for name in STROBES}}
    if frame_status != Status.OK:
        return refused
    status = request_status(op, payload, config)
    if op in (Op.WRITE_WEIGHTS, Op.ES_UPDATE) and status == Status.BAD_VALUE:
        status = Status.OK              # the values are the writer's (updater's) to check
    if status != Status.OK:
        return {**refused, "status": status}
    out = {"status": Status.OK, "action": Action.REPLY, "reply": ReplyKind.OK,
           **{name: 0 for name in STROBES}}
    if op == Op.STATUS:
        out["reply"] = ReplyKind.STATUS
    elif op == Op.READ_COUNTERS:
        out["reply"] = ReplyKind.COUNTERS
    elif op == Op.READ_WEIGHTS:
        out["reply"] = ReplyKind.WEIGHTS
    elif op == Op.WRITE_WEIGHTS:
        out["action"] = Action.WRITE_WEIGHTS
    elif op in (Op.INFER, Op.TRAIN, Op.EVALUATE):
        if repeat:
            out["reply"] = ReplyKind.EVALUATE if op == Op.EVALUATE else ReplyKind.SAMPLE
        else:
            out["action"] = Action.RUN_SAMPLE
    elif op == Op.ES_FACTORS:
        out["action"] = Action.RUN_ES
    elif op == Op.ES_UPDATE:
        if repeat:
            out["reply"] = ReplyKind.UPDATE
        else:
            out["action"] = Action.RUN_ES
    elif op == Op.CLEAR_COUNTERS:
        out["clear_counters"] = 1
    elif op == Op.SET_REGISTER:
        register = payload[0]
        name = ("set_margin" if register == Register.MARGIN else
                "reseed" if register == Register.RESEED_ROUNDING else "set_lr_shift")
        out[name] = 1
    return out


def front_rtl(config, requests, seqs):
    """Each ``(op, payload, frame_status, junk)`` with its ``(seq, held_seq, held)``
    through the checks and the dispatcher: the decision and the registered header, and
    the cycles each took."""
    dut = Front(config)
    checks, dispatch = dut.checks, dut.dispatch
    buffer = bytearray(BUFFER)
    got = []

    async def testbench(ctx):
        for (op, payload, frame_status, junk), (seq, held_seq, held) in zip(requests, seqs):
            buffer[:] = (payload + junk)[:BUFFER].ljust(BUFFER, b"\0")
            ctx.set(checks.frame_seq, seq)
            ctx.set(checks.held_seq, held_seq)
            ctx.set(checks.held, held)
            ctx.set(checks.frame_op, op)
            ctx.set(checks.frame_length, len(payload))
            ctx.set(checks.frame_status, frame_status)
            ctx.set(checks.start, 1)
            await ctx.tick()
            ctx.set(checks.start, 0)
            cycles = 1
            while not ctx.get(checks.done):
                assert ctx.get(checks.buf_raddr) <= HEADER_BYTES
                await ctx.tick()
                cycles += 1
                assert cycles < 20, "RequestChecks: no done"
            await ctx.tick()
            decision = {name: ctx.get(getattr(dispatch, name)) for name in
                        ("status", "action", "reply", *STROBES)}
            header = {kind: {field: ctx.get(getattr(getattr(checks.header, kind), field))
                             for field in layout_.unpack(bytes(buffer[:layout_.size()]))}
                      for kind, layout_ in HEADERS.items()}
            got.append((decision, header, cycles, ctx.get(checks.buf_raddr)))

    run(dut, testbench, buffer_process(checks, buffer))
    return got


HEADERS = {"weights": WEIGHTS_HEADER, "register": REGISTER_REQUEST,
           "sample": SAMPLE_REQUEST, "member": MEMBER_REQUEST}


@st.composite
def requests(draw, config):
    """A request aimed at one opcode's checks, or at none in particular."""
    layout = Layout(config)
    depth, word_bytes = layout.weight_depth, layout.lanes * layout.weight_bytes
    n_layers, max_read = len(config.weight_shapes), max_read_words(word_bytes)
    op = draw(st.sampled_from(list(Op)) | st.sampled_from(list(Op)) | st.integers(0, 255))
    family = draw(st.sampled_from(["own", "own", "own", "any"]))
    if family == "any":
        payload = draw(st.binary(max_size=12))
    elif op in (Op.WRITE_WEIGHTS, Op.READ_WEIGHTS):
        count = draw(st.integers(1, 4) | st.integers(1, 4) | st.integers(1, 4)
                     | st.sampled_from([0, 1, 2, 3, max_read, max_read + 1, 0xFFFF])
                     | st.integers(0, 0xFFFF))
        # Mostly inside; often ending at the memory's end or one word past it.
        address = draw(st.integers(0, depth - 4) | st.integers(0, depth - 4)
                       | st.sampled_from([depth - count, depth - count + 1])
                       | st.sampled_from([depth - count, depth - count + 1])
                       | st.sampled_from([depth, 1 << 16, 1 << 31])
                       | st.integers(0, 2**32 - 1))
        payload = WEIGHTS_HEADER.pack(address=max(address, 0), count=count)
        if op == Op.WRITE_WEIGHTS:
            words = min(count, (BUFFER - len(payload)) // word_bytes)
            payload += draw(st.binary(min_size=words * word_bytes,
                                      max_size=words * word_bytes))
        payload = payload[:draw(st.sampled_from([len(payload)] * 8 + [len(payload) - 1, 4]))]
        payload += draw(st.sampled_from([b""] * 8 + [b"\x00"]))
    elif op == Op.SET_REGISTER:
        register = draw(st.sampled_from([*range(n_layers + 1), 0x7F, Register.MARGIN,
                                         Register.RESEED_ROUNDING, 0x82, 0xFF]))
        # Mostly at the register's limit or one above it.
        limit = (config.max_lr_shift if register < n_layers else
                 config.timesteps if register == Register.MARGIN else 0)
        value = draw(st.sampled_from([limit, limit + 1]) | st.sampled_from([limit, limit + 1])
                     | st.integers(0, 255))
        payload = REGISTER_REQUEST.pack(register=register, value=value)
        payload = draw(st.sampled_from([payload] * 4 + [payload[:1], payload + b"\x00"]))
    elif op in (Op.INFER, Op.TRAIN):
        mode = draw(st.sampled_from([0, 1] * 3 + [2, 255]))
        label = draw(st.sampled_from([0, config.n_out - 1] * 2
                                     + [config.n_out, 0x100, 0xFFFF]))
        size = draw(st.sampled_from([config.n_in] * 6 + [config.n_in - 1, config.n_in + 1])
                    | st.integers(0, 20))
        payload = SAMPLE_REQUEST.pack(mode=mode, label=label) + bytes(size)
        payload = payload[:draw(st.sampled_from([len(payload)] * 8 + [0, 1, 2]))]
    elif op == Op.EVALUATE:
        mode = draw(st.sampled_from([0, 1] * 3 + [2, 255]))
        label = draw(st.sampled_from([0, config.n_out - 1] * 2 + [config.n_out, 0xFFFF]))
        n = config.es_population
        member = draw(st.sampled_from([0, n - 1] * 2 + [n, 0xFFFF]))
        first = draw(st.sampled_from([0, 1] * 3 + [2, 255]))
        size = draw(st.sampled_from([config.n_in] * 6 + [config.n_in - 1, config.n_in + 1])
                    | st.integers(0, 20))
        payload = MEMBER_REQUEST.pack(mode=mode, label=label, member=member,
                                      first=first) + bytes(size)
        payload = payload[:draw(st.sampled_from([len(payload)] * 8 + [0, 3, 5]))]
    elif op in (Op.ES_FACTORS, Op.ES_UPDATE):
        size = (4 if op == Op.ES_FACTORS else 1) * (config.es_population // 2)
        payload = draw(st.binary(min_size=size, max_size=size))
        payload = payload[:draw(st.sampled_from([len(payload)] * 6 + [0, size - 1]))]
        payload += draw(st.sampled_from([b""] * 8 + [b"\x00"]))
    else:
        payload = draw(st.sampled_from([b""] * 3 + [b"\x00", b"\x01\x02"]))
    frame_status = draw(st.sampled_from([Status.OK] * 6 + [Status.BAD_CRC, Status.BAD_LENGTH,
                                                           Status.TIMEOUT]))
    junk = draw(st.binary(max_size=8))
    return op, payload[:BUFFER], frame_status, junk


@TWIN
@given(data=st.data())
def test_checks_and_dispatch_decide_as_request_status(data):
    for name, config in CONFIGS.items():
        # Many requests per simulation: a request takes a dozen cycles, a simulation
        # takes its elaboration.
        cases = data.draw(st.lists(requests(config), min_size=20, max_size=40), label=name)
        # The seq against the one held: equal often, one bit apart, or any.
        seqs = data.draw(st.lists(st.tuples(st.integers(0, 255), st.sampled_from(
            [0, 0, 1, 0x80, None]), st.booleans()), min_size=len(cases),
            max_size=len(cases)), label="seqs")
        seqs = [(seq, seq ^ flip if flip is not None else 255 - seq, held)
                for seq, flip, held in seqs]
        got = front_rtl(config, cases, seqs)
        for (op, payload, frame_status, junk), (seq, held_seq, held), \
                (decision, header, cycles, raddr) in zip(cases, seqs, got):
            repeat = held and seq == held_seq
            ref = dispatch_golden(config, op, payload, frame_status, repeat)
            event(f"{Status(ref['status']).name} {ref['action'].name} {ref['reply'].name}")
            case = f"{name}: op {op:#04x}, payload {payload.hex()}, frame {frame_status!r}, " \
                   f"seq {seq}, held {held_seq if held else None}"
            assert decision == ref, f"RequestChecks+Dispatcher {case}: {decision} != {ref}"
            buffer = (payload + junk).ljust(BUFFER, b"\0")
            for kind, layout in HEADERS.items():
                assert header[kind] == layout.unpack(buffer[:layout.size()]), \
                    f"RequestChecks {case}: header.{kind} {header[kind]}"
            assert cycles == HEADER_BYTES + 3, f"RequestChecks {case}: {cycles} cycles"
            assert raddr == 0, f"RequestChecks {case}: buf_raddr {raddr} while idle"


# -- WeightWriter ------------------------------------------------------------------------

WRITER_CONFIGS = {
    "lanes2-w8": dict(lanes=2, w_bits=8),
    "lanes2-w4": dict(lanes=2, w_bits=4, init_range=(7, 7), threshold=8),
    "lanes3-w12": dict(lanes=3, w_bits=12, v_bits=20),
    "lanes1-w16": dict(lanes=1, w_bits=16, v_bits=24),
}


def writer_config(name):
    # Room for the most words a BUFFER-byte request holds (30 words at 2 lanes).
    return small_config(n_in=8, hidden=(6,), n_out=2, **WRITER_CONFIGS[name])


def writer_rtl(config, payload, count):
    layout = Layout(config)
    dut = WeightWriter(config, shapes=Shapes(config, layout), layout=layout,
                       buffer_depth=BUFFER)
    buffer = payload.ljust(BUFFER, b"\0")
    got = {"writes": []}

    async def testbench(ctx):
        ctx.set(dut.count, count)
        ctx.set(dut.length, len(payload))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for cycle in range(20 * len(payload) + 20):
            if ctx.get(dut.write):
                got["writes"].append([ctx.get(dut.wdata[q]) for q in range(layout.lanes)])
            done, bad = ctx.get(dut.done), ctx.get(dut.bad_value)
            await ctx.tick()
            if done:
                got["bad_value"] = bad
                break
        else:
            raise AssertionError("WeightWriter: never done")
        for _ in range(4):                                  # back to idle, quiet
            assert not ctx.get(dut.write) and ctx.get(dut.buf_raddr) == 0
            await ctx.tick()

    run(dut, testbench, buffer_process(dut, buffer))
    return got


@TWIN
@given(data=st.data(), name=st.sampled_from(sorted(WRITER_CONFIGS)))
def test_weight_writer_writes_bytes_to_words(data, name):
    config = writer_config(name)
    layout = Layout(config)
    word_bytes = layout.lanes * layout.weight_bytes
    count = data.draw(st.integers(1, (BUFFER - 6) // word_bytes), label="count")
    bits = 8 * layout.weight_bytes
    fits = st.integers(config.w_min, config.w_max)
    values = data.draw(st.lists(fits, min_size=count * layout.lanes,
                                max_size=count * layout.lanes), label="values")
    if bits > config.w_bits and data.draw(st.booleans(), label="spoil"):
        # One value that the wire bytes carry but w_bits does not.
        spoiled = data.draw(st.integers(-(1 << (bits - 1)), config.w_min - 1)
                            | st.integers(config.w_max + 1, (1 << (bits - 1)) - 1))
        values[data.draw(st.integers(0, len(values) - 1))] = spoiled
    words = np.array(values).reshape(count, layout.lanes)
    payload = WEIGHTS_HEADER.pack(address=0, count=count) + layout.words_to_bytes(words)
    got = writer_rtl(config, payload, count)
    status = request_status(Op.WRITE_WEIGHTS, payload, config)
    assert status in (Status.OK, Status.BAD_VALUE)
    bad = status == Status.BAD_VALUE
    event(f"{name} {'BAD_VALUE' if bad else 'written'}")
    ref = {"writes": [] if bad else layout.bytes_to_words(payload[6:]).tolist(),
           "bad_value": int(bad)}
    assert got == ref, f"WeightWriter {name}, words {words.tolist()}: {got} != {ref}"


# -- ReplyBuilder ------------------------------------------------------------------------

async def take_reply(ctx, dut, rng, ready_p, *, block, limit=2000):
    """The reply announced by ``reply_start`` and exactly its length of body bytes,
    taken with ``ready`` high with probability ``ready_p``; a byte offered and not taken
    must stay offered, unchanged. Then a few cycles with nothing more offered."""
    for _ in range(4):
        if ctx.get(dut.reply_start):
            break
        await ctx.tick()
    else:
        raise AssertionError(f"{block}: no reply_start")
    length = ctx.get(dut.reply_length)
    await ctx.tick()
    body, offered = bytearray(), None
    for _ in range(limit):
        if len(body) == length:
            break
        ready = bool(rng.random() < ready_p)
        ctx.set(dut.reply.ready, ready)
        valid, payload = ctx.get(dut.reply.valid), ctx.get(dut.reply.payload)
        if offered is not None:
            assert valid and payload == offered, \
                f"{block}: byte {offered:#04x} withdrawn or changed before it was taken"
        offered = payload if valid and not ready else None
        await ctx.tick()
        if valid and ready:
            body.append(payload)
    else:
        raise AssertionError(f"{block}: {len(body)} of {length} bytes after {limit} cycles")
    ctx.set(dut.reply.ready, 1)
    for _ in range(8):
        assert not ctx.get(dut.reply.valid), f"{block}: a byte past the announced length"
        await ctx.tick()
    return length, bytes(body)


def report_values(dut, rng):
    """Random figures for every reported member, as wide as the member."""
    values = {}
    for name in dut.report.signature.members:
        member = getattr(dut.report, name)
        shape = dut.report.signature.members[name].shape
        if hasattr(shape, "length"):                       # an ArrayLayout
            width = Shape.cast(shape.elem_shape).width
            values[name] = [int(rng.integers(0, 1 << width)) for _ in range(shape.length)]
        else:
            values[name] = int(rng.integers(0, 1 << len(member)))
    return values


def body_golden(config, kind, status, op, seq, values):
    layout = Layout(config)
    head = {"status": Status.OK, "op": op, "seq": seq}
    if kind == ReplyKind.ERROR:
        return ERROR_REPLY.pack(**{**head, "status": status})
    if kind == ReplyKind.OK:
        return OK_REPLY.pack(**head)
    if kind == ReplyKind.STATUS:
        return STATUS_REPLY.pack(
            **head, magic=MAGIC, version=VERSION,
            config_hash=bytes.fromhex(config.hash()), lanes=layout.lanes,
            buffer_bytes=BUFFER, weight_words=layout.weight_depth,
            layers=len(config.weight_shapes), margin=values["margin"],
            lr_shifts=values["lr_shift"])
    if kind == ReplyKind.EVALUATE:
        return EVALUATE_REPLY.pack(
            **head, prediction=values["prediction"], counts=values["counts"],
            cycles=values["sample_cycles"] & 0xFFFFFFFF,
            sops=values["sample_sops"] & 0xFFFFFFFF,
            weight_writes=values["sample_writes"] & 0xFFFFFFFF, energy=values["energy"])
    if kind == ReplyKind.UPDATE:
        return ES_UPDATE_REPLY.pack(**head, cycles=values["sample_cycles"] & 0xFFFFFFFF,
                                    weight_writes=values["sample_writes"] & 0xFFFFFFFF)
    if kind == ReplyKind.SAMPLE:
        return SAMPLE_REPLY.pack(
            **head, prediction=values["prediction"], counts=values["counts"],
            # u32 fields: the low bits of each figure.
            cycles=values["sample_cycles"] & 0xFFFFFFFF,
            sops=values["sample_sops"] & 0xFFFFFFFF,
            weight_writes=values["sample_writes"] & 0xFFFFFFFF)
    return COUNTERS_REPLY.pack(**head, cycles=values["cycles"], sops=values["sops"],
                               weight_writes=values["writes"], samples=values["samples"])


@TWIN
@given(kinds=st.lists(st.sampled_from(list(ReplyKind)), min_size=1, max_size=4),
       status=st.sampled_from(list(Status)[1:]), op=st.integers(0, 255),
       seq=st.integers(0, 255), words=st.integers(1, 6),
       ready_p=st.sampled_from([1.0, 0.6, 0.2]), seed=st.integers(0, 2**32 - 1))
def test_reply_builder_sends_each_layout_under_stalls(kinds, status, op, seq, words, ready_p,
                                                      seed):
    # The weights source below offers one READ_WEIGHTS body per run.
    if ReplyKind.WEIGHTS in kinds:
        kinds = [k for k in kinds if k != ReplyKind.WEIGHTS] + [ReplyKind.WEIGHTS]
    # With the ES units: every kind of reply (EVALUATE and UPDATE are theirs).
    config = CONFIGS["wide"].replace(es_on_chip=True)
    layout = Layout(config)
    dut = ReplyBuilder(config, layout=layout, buffer_depth=BUFFER, weight_latency=2)
    rng = np.random.default_rng(seed)
    values = report_values(dut, rng)
    weight_bytes = bytes(rng.integers(0, 256, words * layout.lanes * layout.weight_bytes)
                         .astype(np.uint8))

    async def weights_source(ctx):
        # The READ_WEIGHTS words as WeightsBody offers them: valid with gaps, held till
        # taken.
        source = weight_bytes
        n = 0
        async for _clk, _rst, ready, valid in ctx.tick().sample(dut.words_body.ready,
                                                                dut.words_body.valid):
            if valid and ready:
                n += 1
            offer = n < len(source) and (valid and not ready or rng.random() < 0.7)
            ctx.set(dut.words_body.valid, offer)
            ctx.set(dut.words_body.payload, source[n] if offer else 0)

    async def testbench(ctx):
        for name, value in values.items():
            ctx.set(getattr(dut.report, name), value)
        ctx.set(dut.op, op)
        ctx.set(dut.seq, seq)
        for kind in kinds:
            ctx.set(dut.kind, kind)
            # As the bridge gives it: the refusal for an error reply, else OK.
            ctx.set(dut.status, status if kind == ReplyKind.ERROR else Status.OK)
            ctx.set(dut.words, words)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            length, body = await take_reply(ctx, dut, rng, ready_p,
                                            block=f"ReplyBuilder {kind.name}")
            if kind == ReplyKind.WEIGHTS:
                ref = WEIGHTS_REPLY.pack(status=Status.OK, op=op, seq=seq,
                                         words=weight_bytes)
            else:
                ref = body_golden(config, kind, status, op, seq, values)
            assert (length, body) == (len(ref), ref), \
                f"ReplyBuilder {kind.name}: length {length}, body {body.hex()} != " \
                f"{len(ref)}, {ref.hex()}"

    run(dut, testbench, weights_source)


# -- WeightsBody -------------------------------------------------------------------------

@TWIN
@given(latency=st.integers(1, 3), name=st.sampled_from(sorted(WRITER_CONFIGS)),
       address=st.integers(0, 10), count=st.integers(1, 8),
       ready_p=st.sampled_from([1.0, 0.5, 0.15]), seed=st.integers(0, 2**32 - 1))
def test_weights_body_is_words_to_bytes_under_stalls(latency, name, address, count, ready_p,
                                                     seed):
    config = writer_config(name)
    layout = Layout(config)
    dut = WeightsBody(Shapes(config, layout), layout=layout, read_latency=latency)
    rng = np.random.default_rng(seed)
    memory = rng.integers(config.w_min, config.w_max + 1, (address + count + 4, layout.lanes))
    reads = []

    async def memory_process(ctx):
        # The weight port behind the bridge's cursor: read data ``latency`` cycles after
        # the read, held until the next.
        pipe = [None] * latency
        cursor = address
        async for _clk, _rst, read in ctx.tick().sample(dut.read):
            pipe = pipe[1:] + [memory[cursor].tolist() if read else None]
            if read:
                reads.append(cursor)
                cursor += 1
            if pipe[0] is not None:
                ctx.set(dut.rdata, pipe[0])

    async def testbench(ctx):
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        size = count * layout.lanes * layout.weight_bytes
        body, offered = bytearray(), None
        for _ in range(100 * size):
            if len(body) == size:
                break
            ready = bool(rng.random() < ready_p)
            ctx.set(dut.body.ready, ready)
            valid, payload = ctx.get(dut.body.valid), ctx.get(dut.body.payload)
            if offered is not None:
                assert valid and payload == offered, "WeightsBody: a byte withdrawn"
            offered = payload if valid and not ready else None
            await ctx.tick()
            if valid and ready:
                body.append(payload)
        ctx.set(dut.body.ready, 0)
        for _ in range(latency + 4):
            await ctx.tick()
        ref = layout.words_to_bytes(memory[address:address + count])
        assert bytes(body) == ref, \
            f"WeightsBody {name}, latency {latency}: {bytes(body).hex()} != {ref.hex()}"
        assert reads == list(range(address, address + count)), \
            f"WeightsBody {name}: read words {reads}, asked for {count} from {address}"

    run(dut, testbench, memory_process)


def test_weights_body_refuses_a_latency_below_1():
    config = writer_config("lanes2-w8")
    layout = Layout(config)
    try:
        WeightsBody(Shapes(config, layout), layout=layout, read_latency=0)
    except ValueError as error:
        assert "read_latency must be a positive integer, not 0" in str(error)
    else:
        raise AssertionError("WeightsBody took read_latency=0")
