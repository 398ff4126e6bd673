import json

import pytest

from spikefab.config import PRESETS, Config, ConfigError, load_config, preset
from spikefab.layout import Layout

from conftest import small_config


def test_presets_are_valid_and_named():
    assert set(PRESETS) >= {"digits", "mnist", "saccade", "mnist-wide", "mnist-deep"}
    for name, config in PRESETS.items():
        assert config.name == name


def test_mnist_preset_fits_up5k_spram():
    config = preset("mnist")
    assert config.n_in == 28 * 28
    weight_bytes = config.n_weights * config.w_bits / 8
    assert weight_bytes <= 128 * 1024


def ecp5_weight_rams(config):
    """Block RAMs of the weight memory on the ECP5, as ``hw/memory.py`` slices it: one RAM
    per bit of a word and 16K-word bank, or 2 (4) bits a RAM of 8K × 2 (4K × 4) when the
    memory is at most half (a quarter) of a RAM deep."""
    width, depth = config.lanes * config.w_bits, Layout(config).weight_depth
    bank_depth, slice_bits = 16384, 1
    while slice_bits < 4 and depth <= bank_depth // 2:
        bank_depth, slice_bits = bank_depth // 2, slice_bits * 2
    return -(-depth // bank_depth) * -(-width // slice_bits)


def test_ulx3s_presets_fit_the_ecp5_block_ram():
    # The ULX3S's ECP5-85F has 208 block RAMs; the mnist network at 16 lanes took 64 for
    # its weights and 70 in all (README, the lanes sweep).
    assert ecp5_weight_rams(preset("mnist").replace(lanes=16)) == 64
    for name, hidden in (("mnist-wide", (256,)), ("mnist-deep", (256, 128))):
        config = preset(name)
        assert (config.n_in, config.hidden, config.n_out) == (784, hidden, 10)
        assert config.lanes == 16           # what reaches 100 MHz on the ECP5
        assert config.rounding == "stochastic" and config.w_bits == 9
        assert ecp5_weight_rams(config) == 144
    # One hidden layer of 384 would need a second bank of RAMs: 288, more than there are.
    assert ecp5_weight_rams(preset("mnist-wide").replace(hidden=(384,))) == 288


def test_json_round_trip_and_hash():
    for config in PRESETS.values():
        again = Config.from_json(config.to_json())
        assert again == config
        assert again.hash() == config.hash()
        assert len(config.hash()) == 16


def test_hash_changes_with_any_field():
    config = preset("digits")
    assert config.replace(threshold=config.threshold + 1).hash() != config.hash()
    assert config.replace(k_fb=2).hash() != config.hash()


def test_hash_does_not_depend_on_key_order():
    config = preset("digits")
    data = config.to_dict()
    shuffled = json.dumps(dict(reversed(list(data.items()))))
    assert Config.from_json(shuffled).hash() == config.hash()


def test_lr_shifts_at_follows_the_annealing_schedule():
    # One more shift every lr_anneal_epochs (0-based) epochs, at most lr_anneal_max
    # more: with 3 and 2, epochs 0-2 at the base shifts, 3-5 one more, 6 on two more.
    config = small_config(hidden=(5, 4), lr_shift_out=2, lr_shift_hidden=3,
                          lr_anneal_epochs=3, lr_anneal_max=2)
    assert config.lr_shifts == (3, 3, 2)                   # hidden layers, then output
    expected = {0: (3, 3, 2), 1: (3, 3, 2), 2: (3, 3, 2), 3: (4, 4, 3), 5: (4, 4, 3),
                6: (5, 5, 4), 7: (5, 5, 4), 100: (5, 5, 4)}
    assert {epoch: config.lr_shifts_at(epoch) for epoch in expected} == expected
    # A step every epoch (as the digits preset anneals): the first epoch, 0, runs at the
    # base shifts, the second at one more.
    every = small_config(lr_shift_out=4, lr_shift_hidden=5, lr_anneal_epochs=1,
                         lr_anneal_max=2)
    assert [every.lr_shifts_at(e) for e in range(4)] == [(5, 4), (6, 5), (7, 6), (7, 6)]
    # lr_anneal_epochs 0: no annealing, whatever lr_anneal_max says.
    flat = small_config(lr_anneal_epochs=0, lr_anneal_max=3)
    assert all(flat.lr_shifts_at(e) == flat.lr_shifts for e in (0, 1, 5, 1000))


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid presets: ") as refused:
        preset("cifar")
    listed = str(refused.value).split("valid presets: ")[1].split(", ")
    assert listed == sorted(PRESETS) and {"digits", "mnist", "digits-es"} <= set(listed)


def test_load_config_from_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(small_config().to_json())
    assert load_config(str(path)) == small_config()
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(tmp_path / "missing.json"))


def test_from_json_rejects_garbage():
    with pytest.raises(ConfigError, match="not valid JSON"):
        Config.from_json("{nope")
    with pytest.raises(ConfigError, match="JSON object"):
        Config.from_json("[1, 2]")
    with pytest.raises(ConfigError, match="unknown config field.*colour"):
        Config.from_json(json.dumps({**small_config().to_dict(), "colour": "red"}))
    data = small_config().to_dict()
    del data["threshold"]
    with pytest.raises(ConfigError, match="threshold"):
        Config.from_dict(data)


def test_init_wrong_threshold_not_representable():
    with pytest.raises(ConfigError, match="threshold must be at most 2047"):
        small_config(v_bits=12, threshold=2048)
    with pytest.raises(ConfigError, match="threshold must be at least 1"):
        small_config(threshold=0)


def test_init_wrong_k_fb_more_than_outputs():
    with pytest.raises(ConfigError, match="k_fb must be at most 3"):
        small_config(k_fb=4)


def test_init_wrong_zero_timesteps():
    with pytest.raises(ConfigError, match="timesteps must be at least 1"):
        small_config(timesteps=0)


def test_init_wrong_membrane_too_narrow():
    # 6 inputs × 2**7 = 768 needs v_bits ≥ 11
    with pytest.raises(ConfigError, match=r"v_bits=10 is too narrow for layer 0.*v_bits ≥ 11"):
        small_config(v_bits=10, threshold=40)
    small_config(v_bits=11)


def test_init_wrong_leak_shift():
    with pytest.raises(ConfigError, match="leak_shift must be at most 11"):
        small_config(leak_shift=12)
    with pytest.raises(ConfigError, match="leak_shift must be at least 1"):
        small_config(leak_shift=0)


def test_init_wrong_reset_mode():
    with pytest.raises(ConfigError, match="reset must be one of subtract, zero"):
        small_config(reset="hold")


def test_init_wrong_encoding():
    with pytest.raises(ConfigError, match="encoding must be one of rate, sigma-delta"):
        small_config(encoding="poisson")


def test_init_wrong_rounding():
    with pytest.raises(ConfigError, match="rounding must be one of nearest, stochastic"):
        small_config(rounding="floor")


def test_init_wrong_rounding_seed():
    with pytest.raises(ConfigError, match="rounding_seed must be at least 1, not 0"):
        small_config(rounding_seed=0)


def test_init_wrong_stochastic_shift():
    with pytest.raises(ConfigError, match="rounding='stochastic' the lr shifts plus "
                                          "lr_anneal_max=3 must stay at most 16"):
        small_config(rounding="stochastic", lr_shift_hidden=14, lr_anneal_max=3)


def test_init_wrong_hidden_layers():
    with pytest.raises(ConfigError, match="one or two hidden layer"):
        small_config(hidden=(), init_range=(1,))
    with pytest.raises(ConfigError, match="one or two hidden layer"):
        small_config(hidden=(4, 4, 4))
    with pytest.raises(ConfigError, match="hidden layer sizes"):
        small_config(hidden=(0,))


def test_init_wrong_init_range():
    with pytest.raises(ConfigError, match="one entry per weight layer"):
        small_config(init_range=(1, 2, 3))
    with pytest.raises(ConfigError, match="w_max=127"):
        small_config(init_range=(128, 1))


def test_init_wrong_lfsr_seed():
    with pytest.raises(ConfigError, match="lfsr_seed must be at least 1"):
        small_config(lfsr_seed=0)
    with pytest.raises(ConfigError, match="lfsr_seed must be at most 65535"):
        small_config(lfsr_seed=1 << 16)


def test_init_wrong_gate():
    with pytest.raises(ConfigError, match="gate_hi must be at least 3"):
        small_config(gate_lo=3, gate_hi=2)


def test_init_wrong_target_count():
    with pytest.raises(ConfigError, match="target_count must be at most 6"):
        small_config(target_count=7)


def test_init_wrong_type():
    with pytest.raises(ConfigError, match="timesteps must be an integer"):
        small_config(timesteps=4.0)
    with pytest.raises(ConfigError, match="threshold must be an integer"):
        small_config(threshold=True)


def test_init_wrong_lanes():
    with pytest.raises(ConfigError, match="lanes must be at least 1"):
        small_config(lanes=0)


def test_config_is_frozen():
    config = small_config()
    with pytest.raises(AttributeError):
        config.threshold = 3


def test_init_wrong_error_clip_within_margin():
    with pytest.raises(ConfigError, match="error_clip=4 is not above margin=4"):
        small_config(error_clip=4, margin=4)
    small_config(error_clip=5, margin=4)
