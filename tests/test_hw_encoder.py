"""Twin tests of the input spike sources alone in Amaranth's simulator against golden:
``lfsr16_draw`` against :mod:`golden.rng`, the :class:`~hw.encoder.PixelEncoder` against
:func:`golden.encoders.encode` (rate and sigma-delta), the :class:`~hw.encoder.EventReader`
against the event format of :func:`spikefab.protocol.event_payload`, malformed samples
included; each spike stream under random ``ready`` stalls, read from an input buffer
wired as ``hw/core.py`` wires it."""

import struct

import numpy as np
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib.memory import Memory
from hypothesis import HealthCheck, event, given, settings, strategies as st

from spikefab.golden.encoders import encode
from spikefab.golden.rng import lfsr16_draws, lfsr16_step
from spikefab.hw.encoder import EventReader, PixelEncoder, WidePixelEncoder, lfsr16_draw
from spikefab.protocol import EVENT_END, event_payload

from conftest import small_config
from hw_support import simulate, take_spikes, twin_message


TWIN = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BUFFER = 128         # bytes of the input buffer: the longest event sample here is 106


# -- lfsr16_draw ---------------------------------------------------------------------------

class LfsrBench(Elaboratable):
    def __init__(self):
        self.seed, self.load = Signal(16), Signal()
        self.state = Signal(16)

    def elaborate(self, platform):
        m = Module()
        with m.If(self.load):
            m.d.sync += self.state.eq(self.seed)
        with m.Else():
            m.d.sync += self.state.eq(lfsr16_draw(self.state))
        return m


def lfsr_rtl(seed, count):
    """The state after each of ``count`` draws from ``seed``."""
    bench, out = LfsrBench(), []

    async def testbench(ctx):
        ctx.set(bench.seed, seed)
        ctx.set(bench.load, 1)
        await ctx.tick()
        ctx.set(bench.load, 0)
        for _ in range(count):
            await ctx.tick()
            out.append(ctx.get(bench.state))

    simulate(bench, testbench)
    return out


def golden_draw_states(seed, count):
    """Draw ``n`` is the state ``8 × (n + 1)`` steps of :func:`lfsr16_step` on."""
    out, state = [], seed
    for _ in range(count):
        for _ in range(8):
            state = lfsr16_step(state)
        out.append(state)
    return out


@settings(TWIN, max_examples=15)
@given(seed=st.sampled_from([1, 0xFFFF, 0xACE1]) | st.integers(1, 0xFFFF),
       count=st.integers(1, 80))
def test_lfsr16_draw_is_eight_lfsr16_steps(seed, count):
    rtl, ref = lfsr_rtl(seed, count), golden_draw_states(seed, count)
    assert rtl == ref, twin_message("lfsr16_draw", f"from seed {seed:#06x}", rtl, ref)


def test_lfsr16_draw_is_lfsr16_draws():
    # golden's draws (the low ``bits`` of each state; 16 bits: the whole state), for the
    # presets' seed and the ends of the seed range (each costs golden a period's table).
    for seed in (0xACE1, 1, 0xFFFF):
        rtl = lfsr_rtl(seed, 300)
        for bits in (16, 8, 1):
            ref = [int(x) for x in lfsr16_draws(seed, 300, bits)]
            low = [state & ((1 << bits) - 1) for state in rtl]
            assert low == ref, twin_message("lfsr16_draw",
                                            f"from seed {seed:#06x}, low {bits} bits",
                                            low, ref)


# -- PixelEncoder --------------------------------------------------------------------------

class BufferBench(Elaboratable):
    """A spike source with the core's input buffer (synchronous read port): the pixel
    encoder enables it with ``buf_ren``; the event reader's is always enabled (as in the
    core's event mode)."""

    def __init__(self, dut):
        self.dut = dut
        self.buffer = Memory(shape=8, depth=BUFFER, init=[])

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut, m.submodules.buffer = self.dut, self.buffer
        read = self.buffer.read_port()
        enable = self.dut.buf_ren if hasattr(self.dut, "buf_ren") else 1
        m.d.comb += [read.addr.eq(self.dut.buf_raddr), read.en.eq(enable),
                     self.dut.buf_rdata.eq(read.data)]
        return m


async def fill(ctx, bench, offset, data, rng, pad="random"):
    """The sample at ``offset`` in the buffer, the other bytes random or ``pad``."""
    junk = rng.integers(0, 256, BUFFER) if pad == "random" else np.full(BUFFER, pad)
    junk[offset:offset + len(data)] = list(data)
    for addr, byte in enumerate(junk):
        ctx.set(bench.buffer.data[addr], int(byte))


def pixel_rtl(config, samples, offsets, ready_p, seed, name=""):
    """Per sample (the LFSR reloaded for each): the indices of every timestep, or
    ``"malformed"`` when the encoder raised ``error`` (it ends that timestep early)."""
    bench = BufferBench(PixelEncoder(config, BUFFER))
    dut, rng = bench.dut, np.random.default_rng(seed)
    out = []

    async def testbench(ctx):
        for pixels, offset in zip(samples, offsets):
            await fill(ctx, bench, offset, pixels, rng)
            ctx.set(dut.offset, offset)
            ctx.set(dut.reload, 1)
            await ctx.tick()
            ctx.set(dut.reload, 0)
            rows = []
            for t in range(config.timesteps):
                ctx.set(dut.first, t == 0)              # held through the timestep
                for _ in range(int(rng.integers(0, 3))):
                    await ctx.tick()
                ctx.set(dut.start, 1)
                await ctx.tick()
                ctx.set(dut.start, 0)
                rows.append(await take_spikes(ctx, dut.spikes, rng, ready_p,
                                              block=f"PixelEncoder {name}"))
                if ctx.get(dut.error):
                    rows = "malformed"
                    break
            out.append(rows)

    simulate(bench, testbench)
    return out


def pixel_ref(config, samples):
    """:func:`golden.encoders.encode` of each sample (which refuses a pixel above
    ``2**pixel_bits - 1``)."""
    out = []
    for pixels in samples:
        try:
            raster = encode(np.array([pixels]), config)[0]
        except ValueError:
            out.append("malformed")
            continue
        out.append([np.flatnonzero(row).tolist() for row in raster])
    return out


@st.composite
def pixel_cases(draw):
    config = small_config(
        n_in=draw(st.integers(1, 24)), timesteps=draw(st.integers(1, 5)),
        pixel_bits=draw(st.integers(1, 8)),
        encoding=draw(st.sampled_from(["rate", "sigma-delta"])),
        # A few seeds: golden tabulates a whole LFSR period per seed (lfsr16_draws); the
        # generator itself meets every seed in the lfsr16_draw tests above.
        lfsr_seed=draw(st.sampled_from([0xACE1, 1, 0xFFFF, 0x1234, 0xBEEF, 0x8000])))
    # Mostly in range; now and then a pixel over 2**pixel_bits - 1 (a malformed sample).
    top = draw(st.sampled_from([config.pixel_max] * 2 + [255]))
    samples = draw(st.lists(st.lists(st.integers(0, top), min_size=config.n_in,
                                     max_size=config.n_in), min_size=1, max_size=2))
    offsets = [draw(st.integers(0, BUFFER - config.n_in)) for _ in samples]
    return config, samples, offsets


@settings(TWIN, max_examples=40)
@given(case=pixel_cases(), ready_p=st.sampled_from([1.0, 0.5, 0.2]),
       seed=st.integers(0, 2**16))
def test_pixel_encoder_is_golden_encode(case, ready_p, seed):
    config, samples, offsets = case
    ref = pixel_ref(config, samples)
    for sample in ref:
        event(f"{config.encoding} {'malformed' if sample == 'malformed' else 'sample'}")
    name = (f"(encoding={config.encoding}, n_in={config.n_in}, T={config.timesteps}, "
            f"pixel_bits={config.pixel_bits}, lfsr_seed={config.lfsr_seed:#06x}, "
            f"offsets={offsets}, ready_p={ready_p}, seed={seed})")
    rtl = pixel_rtl(config, samples, offsets, ready_p, seed, f"{name} on {samples}")
    assert rtl == ref, twin_message("PixelEncoder", name, rtl, ref, inputs=samples)


def test_pixel_encoder_refuses_pixels_over_range():
    # Directed: a pixel above 2**pixel_bits - 1 anywhere in the sample, both encoders.
    for encoding in ("rate", "sigma-delta"):
        config = small_config(n_in=6, timesteps=2, pixel_bits=4, encoding=encoding)
        samples = [[16, 0, 0, 0, 0, 0], [15, 3, 7, 0, 9, 255], [0, 0, 0, 0, 0, 15]]
        name = f"{encoding}, pixel_bits=4"
        rtl = pixel_rtl(config, samples, [0, 5, 9], 0.5, 2, f"{name} on {samples}")
        ref = pixel_ref(config, samples)
        assert ref[:2] == ["malformed"] * 2
        assert rtl == ref, twin_message("PixelEncoder", name, rtl, ref, inputs=samples)


# -- EventReader ---------------------------------------------------------------------------

def read_events(payload, n_in, timesteps):
    """The event format (``protocol.event_payload``, ``hw.encoder.EventReader``), read as
    the chip reads it: per timestep the addresses before ``0xFFFF`` and whether the
    timestep was malformed (an address ``≥ n_in``, one not above its predecessor, or
    fewer than two bytes left), stopping at the first malformed one; then, when all
    ``T`` were read, whether the payload ended there (``None`` otherwise)."""
    pos, out = 0, []
    for _ in range(timesteps):
        indices = []
        while True:
            if pos + 2 > len(payload):
                out.append((indices, True))
                return out, None
            (address,) = struct.unpack_from("<H", payload, pos)
            pos += 2
            if address == EVENT_END:
                out.append((indices, False))
                break
            if address >= n_in or (indices and address <= indices[-1]):
                out.append((indices, True))
                return out, None
            indices.append(address)
    return out, pos == len(payload)


def event_rtl(config, payloads, offsets, ready_p, seed, pad="random", name=""):
    """What :func:`read_events` says of each payload, from the reader's spike stream,
    ``error`` after each timestep, and ``at_end`` after the last."""
    bench = BufferBench(EventReader(config, BUFFER))
    dut, rng = bench.dut, np.random.default_rng(seed)
    out = []

    async def testbench(ctx):
        for payload, offset in zip(payloads, offsets):
            await fill(ctx, bench, offset, payload, rng, pad)
            ctx.set(dut.offset, offset)
            ctx.set(dut.length, len(payload))
            # The core reloads in IDLE and starts a cycle later (SOURCE).
            ctx.set(dut.reload, 1)
            await ctx.tick()
            ctx.set(dut.reload, 0)
            steps, at_end = [], None
            for t in range(config.timesteps):
                for _ in range(int(rng.integers(0, 3))):
                    await ctx.tick()
                ctx.set(dut.start, 1)
                await ctx.tick()
                ctx.set(dut.start, 0)
                indices = await take_spikes(ctx, dut.spikes, rng, ready_p,
                                            block=f"EventReader {name}")
                steps.append((indices, bool(ctx.get(dut.error))))
                if steps[-1][1]:
                    break
            else:
                at_end = bool(ctx.get(dut.at_end))
            out.append((steps, at_end))

    simulate(bench, testbench)
    return out


FAULTS = ["none", "none", "address-out-of-range", "address-out-of-range", "repeated-address",
          "decreasing", "missing-end", "odd-byte", "trailing-word", "cut-mid-word"]


@st.composite
def event_cases(draw):
    config = small_config(n_in=draw(st.integers(1, 12)), timesteps=draw(st.integers(1, 4)))
    payloads, faults = [], []
    for _ in range(draw(st.integers(1, 2))):
        raster = np.array(draw(st.lists(st.lists(st.booleans(), min_size=config.n_in,
                                                 max_size=config.n_in),
                                        min_size=config.timesteps,
                                        max_size=config.timesteps)), dtype=np.uint8)
        words = list(np.frombuffer(event_payload(raster), dtype="<u2"))
        fault = draw(st.sampled_from(FAULTS))
        ends = [n for n, w in enumerate(words) if w == EVENT_END]
        t = draw(st.integers(0, config.timesteps - 1))
        start = ends[t - 1] + 1 if t else 0          # the words of timestep t
        row = words[start:ends[t]]
        if fault == "address-out-of-range":
            words.insert(ends[t], draw(st.sampled_from([config.n_in])
                                       | st.integers(config.n_in, EVENT_END - 1)))
        elif fault == "repeated-address" and row:
            words.insert(ends[t], row[-1])
        elif fault == "decreasing" and len(row) >= 2:
            words[start], words[start + 1] = words[start + 1], words[start]
        elif fault == "missing-end":
            del words[ends[t]]
        elif fault == "trailing-word":
            words.append(draw(st.integers(0, 0xFFFF)))
        payload = np.array(words, dtype="<u2").tobytes()
        if fault == "odd-byte":
            payload += b"\x00"
        elif fault == "cut-mid-word":
            payload = payload[:-1]
        payloads.append(payload)
        faults.append(fault)
    offsets = [draw(st.integers(0, BUFFER - len(p))) for p in payloads]
    return config, payloads, faults, offsets


def test_read_events_reads_event_payload():
    # The reference reader against the golden format: what event_payload writes reads
    # back as the raster, every timestep well-formed, ending at the payload's end.
    rng = np.random.default_rng(0)
    for n_in, timesteps in [(1, 1), (5, 3), (12, 4)]:
        raster = (rng.random((timesteps, n_in)) < 0.5).astype(np.uint8)
        assert read_events(event_payload(raster), n_in, timesteps) == \
            ([(np.flatnonzero(row).tolist(), False) for row in raster], True)


@settings(TWIN, max_examples=40)
@given(case=event_cases(), ready_p=st.sampled_from([1.0, 0.5, 0.2]),
       pad=st.sampled_from(["random", 0xFF, 0x00]), seed=st.integers(0, 2**16))
def test_event_reader_reads_the_event_format(case, ready_p, pad, seed):
    # ``pad``: the buffer's bytes around the sample (0xFF: half an end marker).
    config, payloads, faults, offsets = case
    ref = [read_events(p, config.n_in, config.timesteps) for p in payloads]
    for (steps, at_end), fault in zip(ref, faults):
        event(f"{fault}: {'error' if steps[-1][1] or at_end is False else 'good'}")
    name = (f"(n_in={config.n_in}, T={config.timesteps}, faults={faults}, "
            f"offsets={offsets}, pad={pad}, ready_p={ready_p}, seed={seed})")
    rtl = event_rtl(config, payloads, offsets, ready_p, seed, pad,
                    f"{name} on {[p.hex() for p in payloads]}")
    assert rtl == ref, twin_message("EventReader", name, rtl, ref,
                                    inputs=[p.hex() for p in payloads])


def test_event_reader_refuses_malformed_events():
    # Directed: each malformed sample raises ``error`` (or, for trailing data, leaves
    # ``at_end`` low, which the core turns into an error), as read_events says.
    config = small_config(n_in=9, timesteps=2)
    words = lambda *w: np.array(w, dtype="<u2").tobytes()
    cases = {
        "address n_in": words(9, EVENT_END, EVENT_END),
        "not increasing": words(2, 1, EVENT_END, EVENT_END),
        "repeated": words(3, 3, EVENT_END, EVENT_END),
        "no end marker": words(1, 2),
        "one timestep short": words(1, EVENT_END),
        "trailing word": words(EVENT_END, 4, EVENT_END, 0),
        "odd length": words(EVENT_END, EVENT_END) + b"\x01",
        "end marker cut": words(EVENT_END, EVENT_END)[:-1],
        "address cut": words(EVENT_END, 1)[:-1],
        "empty": b"",
    }
    payloads = list(cases.values())
    # The buffer holds 0xFF around the sample: a read past its end finds half an end
    # marker there.
    rtl = event_rtl(config, payloads, [3] * len(payloads), 0.5, 1, pad=0xFF,
                    name="malformed samples")
    ref = [read_events(p, config.n_in, config.timesteps) for p in payloads]
    for (steps, at_end), name in zip(ref, cases):
        assert steps[-1][1] or at_end is False, f"read_events accepts {name}"
    assert rtl == ref, twin_message("EventReader", "malformed samples", rtl, ref,
                                    inputs=list(cases))


# -- WidePixelEncoder ----------------------------------------------------------------------

class BankedBufferBench(Elaboratable):
    """The wide encoder with the core's input buffer in ``pixels`` banks (byte ``a`` in
    bank ``a mod pixels``, row ``a // pixels``), each read at the encoder's row."""

    def __init__(self, dut, pixels):
        self.dut = dut
        self.pixels = pixels
        self.banks = [Memory(shape=8, depth=BUFFER // pixels, init=[]) for _ in range(pixels)]

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        for b, bank in enumerate(self.banks):
            m.submodules[f"bank{b}"] = bank
            read = bank.read_port()
            m.d.comb += [read.addr.eq(self.dut.bank_raddr[b]), read.en.eq(self.dut.buf_ren),
                         self.dut.bank_rdata[b].eq(read.data)]
        return m


async def fill_banks(ctx, bench, offset, data, rng):
    junk = rng.integers(0, 256, BUFFER)
    junk[offset:offset + len(data)] = list(data)
    for addr, byte in enumerate(junk):
        ctx.set(bench.banks[addr % bench.pixels].data[addr // bench.pixels], int(byte))


def wide_pixel_rtl(config, pixels, samples, offsets, ready_p, seed, name=""):
    """As :func:`pixel_rtl`, for the :class:`~hw.encoder.WidePixelEncoder`; also the
    cycles from each ``start`` to its end marker."""
    bench = BankedBufferBench(WidePixelEncoder(config, BUFFER, pixels), pixels)
    dut, rng = bench.dut, np.random.default_rng(seed)
    out = []

    async def testbench(ctx):
        for data, offset in zip(samples, offsets):
            await fill_banks(ctx, bench, offset, data, rng)
            ctx.set(dut.offset, offset)
            ctx.set(dut.reload, 1)
            await ctx.tick()
            ctx.set(dut.reload, 0)
            rows = []
            for t in range(config.timesteps):
                ctx.set(dut.first, t == 0)
                for _ in range(int(rng.integers(0, 3))):
                    await ctx.tick()
                ctx.set(dut.start, 1)
                await ctx.tick()
                ctx.set(dut.start, 0)
                rows.append(await take_spikes(ctx, dut.spikes, rng, ready_p,
                                              block=f"WidePixelEncoder {name}"))
                if ctx.get(dut.error):
                    rows = "malformed"
                    break
            out.append(rows)

    simulate(bench, testbench)
    return out


@st.composite
def wide_pixel_cases(draw):
    config, samples, offsets = draw(pixel_cases())
    # Larger inputs too, so that groups are many and the last one partial or full.
    n_in = draw(st.integers(1, 40))
    config = config.replace(n_in=n_in, v_bits=16)
    top = draw(st.sampled_from([config.pixel_max] * 3 + [255]))
    samples = draw(st.lists(st.lists(st.integers(0, top), min_size=n_in, max_size=n_in),
                            min_size=1, max_size=2))
    offsets = [draw(st.integers(0, BUFFER - n_in)) for _ in samples]
    return config, draw(st.sampled_from([2, 4, 8])), samples, offsets


@settings(TWIN, max_examples=40)
@given(case=wide_pixel_cases(), ready_p=st.sampled_from([1.0, 0.5, 0.2]),
       seed=st.integers(0, 2**16))
def test_wide_pixel_encoder_is_golden_encode(case, ready_p, seed):
    config, pixels, samples, offsets = case
    ref = pixel_ref(config, samples)
    name = (f"(pixels={pixels}, encoding={config.encoding}, n_in={config.n_in}, "
            f"T={config.timesteps}, pixel_bits={config.pixel_bits}, "
            f"lfsr_seed={config.lfsr_seed:#06x}, offsets={offsets}, ready_p={ready_p}, "
            f"seed={seed})")
    rtl = wide_pixel_rtl(config, pixels, samples, offsets, ready_p, seed,
                         f"{name} on {samples}")
    assert rtl == ref, twin_message("WidePixelEncoder", name, rtl, ref, inputs=samples)


def test_wide_pixel_encoder_refuses_pixels_over_range():
    # Directed: the first input out of range at each place in a group, both encoders;
    # the spikes before it are sent, none after.
    for encoding in ("rate", "sigma-delta"):
        config = small_config(n_in=11, timesteps=2, pixel_bits=4, encoding=encoding)
        samples = [[16] + [15] * 10, [15, 3, 7, 0, 9, 255, 15, 15, 15, 15, 15],
                   [15] * 10 + [16], [0] * 10 + [15]]
        name = f"{encoding}, pixel_bits=4, 4 pixels a cycle"
        rtl = wide_pixel_rtl(config, 4, samples, [0, 5, 9, 3], 0.5, 2,
                             f"{name} on {samples}")
        ref = pixel_ref(config, samples)
        assert ref[:3] == ["malformed"] * 3
        assert rtl == ref, twin_message("WidePixelEncoder", name, rtl, ref, inputs=samples)
