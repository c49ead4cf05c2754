"""int8, the opt-in dtype: ViViT's linears dynamically quantised, gated, recorded, never mixed in a store."""

import numpy as np
import pytest
import torch

from mgmtfeat.backbones import cpu, create_backbone, resolve_dtype
from mgmtfeat.backbones.quantize import INT8_CCC, INT8_MIN_CCC
from mgmtfeat.evaluation import concordance_correlation
from mgmtfeat.store import FeatureStore
from mgmtfeat.store.errors import StoreError

VIVIT = dict(weights="random", num_frames=4, size=32,
             model_kwargs=dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4))


@pytest.fixture(scope="module")
def pair():
    clips = np.random.default_rng(0).integers(0, 256, (2, 150, 32, 32), dtype=np.uint8)
    return create_backbone("vivit", **VIVIT), create_backbone("vivit", dtype="int8", **VIVIT), clips


def test_int8_vivit_quantises_its_linears_and_stays_close(pair):
    fp32, int8, clips = pair
    fc1 = int8.model.hf.vivit.layers[0].mlp.fc1
    assert "quantized" in type(fc1).__module__ and fc1.weight().dtype == torch.qint8
    a, b = fp32.extract(clips), int8.extract(clips)
    assert b.dtype == np.float32 and b.shape == a.shape == (2, 400)
    # int8 rounds each weight and activation to one of 255 levels of its tensor's range (~0.4 % steps);
    # through this tiny net's 7 quantised linears the logits keep CCC 0.9995 here; a broken
    # quantisation (wrong scale, a linear left out of the graph) gives far less than 0.99
    assert concordance_correlation(a.ravel(), b.ravel()) > 0.99
    assert not np.array_equal(a, b)  # it did quantise


def test_int8_is_recorded_in_provenance(pair):
    fp32, int8, _ = pair
    prov = int8.provenance
    assert prov["dtype"] == "int8" and prov["int8"]["ccc_vs_float32"] == INT8_CCC["vivit"] >= INT8_MIN_CCC
    assert "quantize_dynamic" in prov["int8"]["method"] and prov["int8"]["engine"]
    assert "int8" not in fp32.provenance and fp32.provenance["dtype"] == "float32"


def test_int8_is_gated_per_net_and_device_and_never_automatic(monkeypatch):
    with pytest.raises(ValueError, match=r"dtype='int8' is not available for 'i3d'.*linears.*float32"):
        resolve_dtype("i3d", "int8")
    with pytest.raises(ValueError, match=r"dtype='int8' is not available for 'r2plus1d'"):
        create_backbone("r2plus1d", dtype="int8", pretrained=False, num_frames=8, size=64)
    with pytest.raises(ValueError, match=r"'vivit' on device 'cuda'.*CPU only"):
        resolve_dtype("vivit", "int8", device="cuda")
    from mgmtfeat.backbones import quantize

    monkeypatch.setitem(quantize.INT8_CCC, "vivit", 0.998)
    with pytest.raises(ValueError, match=r"recorded int8-vs-float32 CCC 0.998 is under 0.999"):
        resolve_dtype("vivit", "int8")
    for native in (False, True):
        monkeypatch.setattr(cpu, "native_bfloat16", lambda: native)
        assert resolve_dtype("vivit") in ("float32", "bfloat16")


def test_a_store_never_mixes_int8_with_float32(tmp_path, pair):
    fp32, int8, _ = pair
    store = FeatureStore(tmp_path / "store")
    store.write_provenance("vivit", fp32.provenance)
    store.check_provenance("vivit", fp32.provenance)  # the same settings: fine
    with pytest.raises(StoreError, match=r"other settings \(differing: dtype 'float32' in the store, 'int8' now; int8\)"):
        store.check_provenance("vivit", int8.provenance)


def test_extraction_checks_int8_before_any_work(tmp_path):
    from mgmtfeat.cli.extract import _parser
    from mgmtfeat.extraction.nets import run_dtype
    from mgmtfeat.extraction.run import ExtractionSettings

    assert _parser().parse_args(["--data", "d", "--net", "vivit", "--dtype", "int8"]).dtype == "int8"
    store = FeatureStore(tmp_path / "store")
    settings = ExtractionSettings(data=str(tmp_path), out=str(store.root), net="vivit", dtype="int8")
    assert run_dtype(store, settings) == "int8"
    with pytest.raises(ValueError, match=r"dtype='int8' is not available for 'i3d'"):
        run_dtype(store, ExtractionSettings(data=str(tmp_path), out=str(store.root), net="i3d", dtype="int8"))


def test_an_int8_clip_gets_the_same_features_alone_or_beside_others(pair):
    _, int8, clips = pair
    others = np.random.default_rng(1).integers(0, 256, (3, 150, 32, 32), dtype=np.uint8)
    together = int8.extract(np.concatenate([clips[:1], others]))[0]
    # the same float32 operations on the same clip in the same order: equal to the bit. Run as one
    # batch, dynamic quantisation would scale the clip by the range of all four and change it.
    np.testing.assert_array_equal(together, int8.extract(clips[:1])[0])
