"""The counters alone against sums of what they were told: totals since ``clear``, the
last sample's figures since ``sample_start``, each complete two cycles after its event."""

from hypothesis import given, settings, strategies as st

from spikefab.cost import sample_counter_bits
from spikefab.hw.counters import Counters

from conftest import small_config
from hw_support import simulate

CONFIG = small_config(lanes=2)
MAX_SOPS = max(CONFIG.layer_sizes)

event = st.fixed_dictionaries({
    "busy": st.booleans(), "sops": st.integers(0, MAX_SOPS),
    "writes": st.integers(0, CONFIG.lanes), "sample_done": st.booleans(),
    "clear": st.integers(0, 9).map(lambda n: n == 0),
    "sample_start": st.integers(0, 6).map(lambda n: n == 0),
})


def counters_rtl(events):
    dut = Counters(CONFIG, 2)
    seen = []
    outputs = ("cycles", "sops_total", "writes_total", "samples",
               "sample_cycles", "sample_sops", "sample_writes")

    async def testbench(ctx):
        for step in events + [{}] * 2:
            for name in ("busy", "sops", "writes", "sample_done", "clear", "sample_start"):
                ctx.set(getattr(dut, name), step.get(name, 0))
            await ctx.tick()
        seen.append({name: ctx.get(getattr(dut, name)) for name in outputs})

    simulate(dut, testbench)
    return seen[0]


def counters_reference(events):
    """The same counts as the counters promise: an event is registered, and added in the
    next cycle (a clear or start in that cycle drops it)."""
    totals = dict.fromkeys(("cycles", "sops_total", "writes_total", "samples"), 0)
    sample = dict.fromkeys(("sample_cycles", "sample_sops", "sample_writes"), 0)
    landing = [{}]              # the increments registered last cycle
    for step in events + [{}] * 2:
        due = landing.pop(0)
        if step.get("clear"):
            totals = dict.fromkeys(totals, 0)
        else:
            for name, key in (("cycles", "busy"), ("sops_total", "sops"),
                              ("writes_total", "writes"), ("samples", "sample_done")):
                totals[name] += int(due.get(key, 0))
        if step.get("sample_start"):
            sample = dict.fromkeys(sample, 0)
        else:
            for name, key in (("sample_cycles", "busy"), ("sample_sops", "sops"),
                              ("sample_writes", "writes")):
                sample[name] += int(due.get(key, 0))
        landing.append(step)
    return {**totals, **sample}


@settings(max_examples=60, deadline=None)
@given(st.lists(event, max_size=30))
def test_counters_count_what_they_are_told(events):
    assert counters_rtl(events) == counters_reference(events), \
        f"Counters differ from the sums of {events}"


def test_sample_counters_are_as_wide_as_the_worst_case():
    dut = Counters(CONFIG, 2)
    widths = sample_counter_bits(CONFIG, 2)
    assert {name: len(getattr(dut, f"sample_{name}")) for name in widths} == widths
