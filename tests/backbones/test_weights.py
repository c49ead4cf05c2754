"""Safe loading: sha256 checks, the numpy-only unpickler, strict key checks, caches."""

import os
import pickle

import numpy as np
import pytest
import torch

from mgmtfeat.backbones import WeightsError, create_backbone
from mgmtfeat.backbones.numpy_pickle import load_numpy_pickle
from mgmtfeat.backbones.weights import (
    cache_dir,
    check_state_dict,
    load_safetensors,
    load_state_dict_strict,
    load_torch_checkpoint,
    save_safetensors,
    verify_sha256,
)


class _Evil:
    """Pickles to a call of os.system that would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_numpy_pickle_round_trip(tmp_path):
    tree = {"params": {"a": {"kernel": np.ones((2, 3), np.float32)}}, "batch_stats": {"m": np.arange(3)}}
    path = tmp_path / "w.ckpt"
    path.write_bytes(pickle.dumps(tree))
    out = load_numpy_pickle(path)
    np.testing.assert_array_equal(out["params"]["a"]["kernel"], tree["params"]["a"]["kernel"])


def test_numpy_pickle_refuses_other_globals_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"params": {"x": _Evil(marker)}}))
    with pytest.raises(WeightsError, match=r"evil\.ckpt: refusing to unpickle (posix|nt|os)\.system"):
        load_numpy_pickle(path)
    assert not marker.exists()


def test_numpy_pickle_refuses_non_array_leaves(tmp_path):
    path = tmp_path / "str.ckpt"
    path.write_bytes(pickle.dumps({"params": {"x": "text"}}))
    with pytest.raises(WeightsError, match="expected a numeric numpy array"):
        load_numpy_pickle(path)
    path.write_bytes(pickle.dumps({"params": np.array([{"a": 1}], dtype=object)}))
    with pytest.raises(WeightsError):
        load_numpy_pickle(path)


def test_torch_checkpoint_with_objects_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pyth"
    torch.save({"model_state": {"w": torch.ones(2)}, "extra": _Evil(marker)}, path)
    with pytest.raises(WeightsError, match=r"refusing to load .*evil\.pyth: .*global (posix|nt|os)\.system") as err:
        load_torch_checkpoint(path)
    assert "weights_only=False" not in str(err.value)  # torch's advice would run the payload
    assert not marker.exists()


def test_sha256_mismatch(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert verify_sha256(path, good) == good
    with pytest.raises(WeightsError, match="expected 0{64}"):
        verify_sha256(path, "0" * 64)


def test_strict_keys_list_missing_and_unexpected_and_load_nothing():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    state.pop("1.bias")
    state["2.weight"] = torch.zeros(1)
    state["0.weight"] = torch.zeros(5, 5)
    with pytest.raises(WeightsError) as err:
        load_state_dict_strict(model, state, "test.pth")
    text = str(err.value)
    assert "1 missing keys [1.bias]" in text and "1 unexpected keys [2.weight]" in text
    assert "0.weight: file (5, 5) vs model (3, 2)" in text and "nothing was loaded" in text
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    check_state_dict(model, before, "ok")  # exact match passes


def test_safetensors_cache_round_trip_and_tamper(tmp_path, monkeypatch):
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache" and cache_dir().is_dir()
    state = {"a": torch.arange(6.0).reshape(2, 3)}
    path = cache_dir() / "s.safetensors"
    digest = save_safetensors(state, path)
    assert (cache_dir() / "s.safetensors.sha256").read_text().strip() == digest
    loaded, d2 = load_safetensors(path)
    assert d2 == digest and torch.equal(loaded["a"], state["a"])
    assert not [p for p in cache_dir().iterdir() if p.suffix == ".tmp"]
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(WeightsError, match="sha256"):
        load_safetensors(path)


def test_url_weights_offline_error_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path))

    def no_network(url, *args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    with pytest.raises(WeightsError, match=r"R2PLUS1D_16x4_R50.pyth.*weights=PATH"):
        create_backbone("r2plus1d")
    assert list(tmp_path.iterdir()) == []  # no partial download left behind


def test_local_checkpoint_with_wrong_keys(tmp_path):
    path = tmp_path / "other.pyth"
    torch.save({"model_state": {"blocks.0.conv.weight": torch.zeros(1)}}, path)
    with pytest.raises(WeightsError, match=r"missing keys.*unexpected keys \[\].*nothing was loaded"):
        create_backbone("r2plus1d", weights=path)
    with pytest.raises(WeightsError, match="does not exist"):
        create_backbone("r2plus1d", weights=tmp_path / "absent.pyth")


def test_url_weights_with_wrong_digest_are_not_cached(tmp_path, monkeypatch):
    from mgmtfeat.backbones.weights import download_to_cache

    monkeypatch.setenv("MGMTFEAT_CACHE", str(tmp_path / "cache"))
    server = tmp_path / "server" / "NET.pyth"
    server.parent.mkdir()
    server.write_bytes(b"not the published checkpoint")
    with pytest.raises(WeightsError, match=r"NET\.pyth gave a file with sha256 .*expected 0{64}.*weights=PATH"):
        download_to_cache(server.as_uri(), "0" * 64, "pass weights=PATH")
    assert list((tmp_path / "cache").iterdir()) == []
    assert download_to_cache(server.as_uri(), None, "pass weights=PATH").read_bytes() == server.read_bytes()


def test_truncated_safetensors_names_file_and_fix(tmp_path):
    path = tmp_path / "w.safetensors"
    save_safetensors({"a": torch.ones(64, 64)}, path)
    (tmp_path / "w.safetensors.sha256").unlink()  # a file the user supplies has no sidecar
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(WeightsError, match=r"w\.safetensors is not a valid safetensors file .*convert the weights again"):
        load_safetensors(path)
    with pytest.raises(WeightsError, match=r"w\.safetensors is not a valid safetensors file"):
        create_backbone("i3d", weights=path)
