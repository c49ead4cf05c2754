"""``dtype="auto"`` by measurement (mgmtfeat.backbones.dtype_choice); every timing is mocked."""

import json

import pytest

from mgmtfeat.backbones import cpu, create_backbone, dtype_choice, resolve_dtype
from mgmtfeat.store.integrity import settings_digest

TINY = dict(pretrained=False, num_frames=8, size=64, model_kwargs={"depth": 18})
REAL_MEASURE = dtype_choice.measure  # before conftest's autouse fixture mocks it


def test_the_measurement_times_each_variant_once_built():
    built = []

    def build(name, **kwargs):
        built.append((kwargs["dtype"], kwargs["channels_last"]))
        return create_backbone(name, **{**TINY, **kwargs, "weights": None, "size": 32})  # tiny: emulated bf16 is fine

    seconds = REAL_MEASURE("r2plus1d", "cpu", build, True)
    assert built == [("float32", True), ("bfloat16", False), ("bfloat16", True)]
    assert sorted(seconds) == ["bfloat16", "bfloat16/channels_last", "float32"]
    assert all(s > 0 for s in seconds.values())  # which is faster is not asserted (machine-dependent)


@pytest.fixture
def timed(monkeypatch):
    """Set the seconds the mocked measurement returns; the calls are counted in ``timed.calls``."""

    class Timed:
        def __init__(self):
            self.calls = []

        def __call__(self, seconds):
            def fake(name, device, build, channels_last_fp32):
                self.calls.append(name)
                return dict(seconds)

            monkeypatch.setattr(dtype_choice, "measure", fake)

    return Timed()


def test_nothing_is_timed_without_native_bfloat16_or_a_close_concordance(monkeypatch, timed):
    timed({"float32": 2.0, "bfloat16": 1.0, "bfloat16/channels_last": 1.0})
    monkeypatch.setattr(cpu, "native_bfloat16", lambda: False)
    assert resolve_dtype("r2plus1d") == "float32"
    monkeypatch.setattr(cpu, "native_bfloat16", lambda: True)
    assert resolve_dtype("slowfast_8x8") == "float32"  # no recorded bfloat16 concordance
    assert timed.calls == []
    assert resolve_dtype("r2plus1d", "float32") == "float32"  # an explicit dtype is kept


def test_bfloat16_only_when_measured_faster_by_the_margin(monkeypatch, timed):
    monkeypatch.setattr(cpu, "native_bfloat16", lambda: True)
    timed({"float32": 1.0, "bfloat16": 0.97, "bfloat16/channels_last": 1.2})  # 3 %: within the noise
    assert resolve_dtype("slowfast") == "float32"
    timed({"float32": 1.0, "bfloat16": 0.6, "bfloat16/channels_last": 0.5})
    assert resolve_dtype("r2plus1d") == "bfloat16"
    record = dtype_choice._MADE[("r2plus1d", "cpu")]
    assert record["channels_last"] is True and record["seconds"]["bfloat16/channels_last"] == 0.5
    assert "faster" in record["reason"] and "torch" in record["machine"]


def test_measurements_are_cached_per_machine_and_net(monkeypatch, timed):
    monkeypatch.setattr(cpu, "native_bfloat16", lambda: True)
    timed({"float32": 1.0, "bfloat16": 0.5, "bfloat16/channels_last": 0.7})
    assert [resolve_dtype("r2plus1d") for _ in range(2)] == ["bfloat16"] * 2
    monkeypatch.setattr(dtype_choice, "_MADE", {})  # as a new process: the cache answers
    assert resolve_dtype("r2plus1d") == "bfloat16" and timed.calls == ["r2plus1d"]
    cache = json.loads(dtype_choice.cache_path().read_text())
    assert cache[dtype_choice.machine_key()]["r2plus1d@cpu"]["seconds"]["bfloat16"] == 0.5
    dtype_choice.cache_path().write_text("{damaged")  # a damaged cache: measured again, rewritten
    monkeypatch.setattr(dtype_choice, "_MADE", {})
    assert resolve_dtype("r2plus1d") == "bfloat16" and timed.calls == ["r2plus1d"] * 2
    assert "r2plus1d@cpu" in json.loads(dtype_choice.cache_path().read_text())[dtype_choice.machine_key()]


def test_auto_uses_the_measured_layout_and_records_the_choice(monkeypatch, timed):
    monkeypatch.setattr(cpu, "native_bfloat16", lambda: True)
    timed({"float32": 1.0, "bfloat16": 0.6, "bfloat16/channels_last": 0.4})
    bb = create_backbone("r2plus1d", dtype="auto", **TINY)  # a tiny net: emulated bfloat16 is fine
    assert bb.dtype == "bfloat16" and bb.channels_last
    choice = bb.provenance["dtype_choice"]
    assert choice["dtype"] == "bfloat16" and choice["seconds"]["float32"] == 1.0
    # a float32 network of the same net does not claim the choice
    assert "dtype_choice" not in create_backbone("r2plus1d", dtype="float32", **TINY).provenance


def test_the_choice_record_is_not_part_of_the_settings_digest():
    record = {"net": "vivit", "dtype": "bfloat16"}
    timed = {**record, "dtype_choice": {"seconds": {"float32": 1.0}}}
    assert settings_digest(record) == settings_digest(timed)
    assert settings_digest(record) != settings_digest({**record, "dtype": "float32"})
