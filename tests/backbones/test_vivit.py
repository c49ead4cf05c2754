"""ViViT through transformers, with a tiny random VivitConfig (400 labels)."""

import socket

import numpy as np
import pytest
import torch

from mgmtfeat.backbones import WeightsError, create_backbone

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "tubelet_size": [2, 16, 16]}


def _tiny(**kwargs):
    torch.manual_seed(0)
    return create_backbone("vivit", weights="random", num_frames=4, size=32, model_kwargs=TINY, **kwargs)


def test_tiny_vivit_extract():
    bb = _tiny()
    assert bb.model.hf.config.num_labels == 400
    clips = np.random.default_rng(0).integers(0, 256, size=(2, 150, 128, 128), dtype=np.uint8)
    logits = bb.extract(clips)
    assert logits.shape == (2, 400) and logits.dtype == np.float32 and np.isfinite(logits).all()
    assert not np.allclose(logits[0], logits[1], rtol=0, atol=1e-3)  # two random clips: logits apart by O(0.1)
    emb = bb.extract(clips, return_embedding=True)
    assert emb.shape == (2, 32)
    # the logits are the classifier applied to the embedding (pre-softmax)
    w = bb.model.hf.classifier.weight.numpy()
    b = bb.model.hf.classifier.bias.numpy()
    # numpy's float32 matmul against torch's linear: 32 products summed in another order, a few ulp of
    # logits of size ~1; 1e-5 holds on any CPU
    np.testing.assert_allclose(emb @ w.T + b, logits, rtol=0, atol=1e-5)
    assert bb.provenance["random_weights"] is True and bb.provenance["layout"] == "NTCHW"


def test_vivit_from_local_dir_matches(tmp_path):
    bb = _tiny()
    bb.model.hf.save_pretrained(tmp_path / "vivit")
    again = create_backbone("vivit", weights=tmp_path / "vivit", num_frames=4, size=32)
    assert again.provenance["random_weights"] is False
    clips = np.random.default_rng(1).integers(0, 256, size=(1, 150, 64, 64), dtype=np.uint8)
    # the same weights and kernels: equal but for kernel choices ordering float32 sums (ulp of O(1) logits)
    np.testing.assert_allclose(again.extract(clips), bb.extract(clips), rtol=0, atol=1e-6)


def test_vivit_mismatched_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="does not match the input"):
        create_backbone("vivit", weights="random", num_frames=4, size=32,
                        model_kwargs={**TINY, "num_frames": 8})
    with pytest.raises(WeightsError, match="config.json"):
        create_backbone("vivit", weights=tmp_path)


def test_offline_without_weights_gives_instructions_and_no_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def no_connect(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    with pytest.raises(WeightsError, match=r"HF_HUB_OFFLINE.*weights=DIR"):
        create_backbone("vivit")


def _offline_hub(tmp_path, monkeypatch):
    """An offline Hugging Face cache under ``tmp_path``; returns the (absent) snapshot folder of the repo."""
    import huggingface_hub.constants as constants

    hub = tmp_path / "hub"
    repo = hub / "models--google--vivit-b-16x2-kinetics400"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    (repo / "snapshots").mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return repo / "snapshots" / revision


def test_offline_loads_from_hugging_face_cache(tmp_path, monkeypatch):
    """With HF_HUB_OFFLINE=1 the checkpoint is read from the cache, without any connection."""
    bb = _tiny()
    snapshot = _offline_hub(tmp_path, monkeypatch)
    bb.model.hf.save_pretrained(snapshot)
    revision = snapshot.name

    def no_connect(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    cached = create_backbone("vivit", num_frames=4, size=32)
    assert cached.provenance["weights_id"] == f"google/vivit-b-16x2-kinetics400@{revision}"
    clips = np.random.default_rng(2).integers(0, 256, size=(1, 150, 64, 64), dtype=np.uint8)
    # the same weights and kernels: equal but for kernel choices ordering float32 sums (ulp of O(1) logits)
    np.testing.assert_allclose(cached.extract(clips), bb.extract(clips), rtol=0, atol=1e-6)


def test_bfloat16_keeps_tubelet_embedding_in_float32():
    fp32 = _tiny()
    bf16 = _tiny(dtype="bfloat16")
    conv = bf16.model.hf.vivit.embeddings.patch_embeddings.projection
    assert conv.weight.dtype == torch.float32
    assert bf16.model.hf.classifier.weight.dtype == torch.bfloat16
    clips = np.random.default_rng(3).integers(0, 256, size=(2, 150, 64, 64), dtype=np.uint8)
    a, b = fp32.extract(clips), bf16.extract(clips)
    assert b.dtype == np.float32 and np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def _broken_dirs(tmp_path):
    """A config-only folder, a pickle payload as pytorch_model.bin, a truncated model.safetensors."""
    import os

    good = tmp_path / "good"
    _tiny().model.hf.save_pretrained(good)
    config = (good / "config.json").read_text()
    dirs = {}
    for name in ("config_only", "pickle", "truncated"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
        (dirs[name] / "config.json").write_text(config)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"vivit.embeddings.cls_token": Payload()}, dirs["pickle"] / "pytorch_model.bin")
    raw = (good / "model.safetensors").read_bytes()
    (dirs["truncated"] / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    return dirs, marker


def test_broken_weights_folders_give_messages_naming_file_and_fix(tmp_path):
    dirs, marker = _broken_dirs(tmp_path)
    with pytest.raises(WeightsError, match=r"config_only holds config.json but no weights file.*download the weights again"):
        create_backbone("vivit", weights=dirs["config_only"], num_frames=4, size=32)
    with pytest.raises(WeightsError, match=r"refusing to load .*pickle[/\\]pytorch_model\.bin: .*global (posix|nt|os)\.system"
                       r".*download the weights again") as err:
        create_backbone("vivit", weights=dirs["pickle"], num_frames=4, size=32)
    assert "weights_only=False" not in str(err.value)  # never advise the unsafe retry
    assert not marker.exists()
    with pytest.raises(WeightsError, match=r"truncated[/\\]model\.safetensors: SafetensorError.*download the weights again"):
        create_backbone("vivit", weights=dirs["truncated"], num_frames=4, size=32)


def test_broken_hugging_face_cache_names_the_folder_to_delete(tmp_path, monkeypatch):
    dirs, _ = _broken_dirs(tmp_path)
    snapshot = _offline_hub(tmp_path, monkeypatch)
    dirs["truncated"].rename(snapshot)
    repo = snapshot.parent.parent
    with pytest.raises(WeightsError, match=rf"{snapshot.name}[/\\]model\.safetensors.*delete the cached repository .*{repo.name}"):
        create_backbone("vivit", num_frames=4, size=32)


def test_fused_gelu_agrees_with_transformers_gelu_fast():
    """fuse=True swaps transformers' eight-op ``gelu_fast`` for ``nn.GELU(approximate="tanh")``."""
    from transformers.activations import FastGELUActivation

    plain, fused = _tiny(fuse=False), _tiny()
    kinds = lambda bb: {type(m).__name__ for m in bb.model.hf.modules()}  # noqa: E731
    assert "FastGELUActivation" in kinds(plain) and "FastGELUActivation" not in kinds(fused) and fused.fused
    # the same function: sqrt(2 / pi) vs transformers' 0.7978845608 differ by 4e-12 relative, below
    # float32's 6e-8; what remains is the order of float32 roundings, a few ulp (observed 4.8e-7 at
    # |y| ~ 12), while the exact erf GELU differs from both by up to 4.7e-4
    x = torch.linspace(-12, 12, 100_001)
    np.testing.assert_allclose(torch.nn.GELU(approximate="tanh")(x), FastGELUActivation()(x), rtol=1e-6, atol=1e-6)
    clips = np.random.default_rng(4).integers(0, 256, size=(2, 150, 64, 64), dtype=np.uint8)
    a, b = plain.extract(clips), fused.extract(clips)
    # logits: observed 1.5e-7 of their scale; the bound 1e-6 still refuses the exact erf GELU (6.8e-6
    # here, where the tiny net's activations stay small)
    assert np.abs(a - b).max() <= 1e-6 * np.abs(a).max(), np.abs(a - b).max()
