"""Shared fixtures: the published ViViT features (real data beside the checkout), small stores, a small image."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from mgmtfeat import MODALITIES
from mgmtfeat.store import FeatureStore

PUBLISHED_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "paper-vivit-features"


@pytest.fixture(scope="session")
def published_dir() -> Path:
    if not (PUBLISHED_DIR / "Traintransdetalrunning1_0.tfrecords").is_file():
        pytest.skip("published features not found beside the checkout (../shared/data/paper-vivit-features)")
    return PUBLISHED_DIR


@pytest.fixture(scope="session")
def published_store(published_dir, tmp_path_factory) -> FeatureStore:
    from mgmtfeat.store.published import import_published

    return import_published(tmp_path_factory.mktemp("published") / "store", published_dir)


@pytest.fixture(scope="session")
def published(published_store):
    """The 577 published cases as a FeatureSet, shape (577, 5, 400)."""
    return published_store.load()


def write_random_store(root: Path, n_cases: int = 40, net: str = "vivit", seed: int = 0, signal: float = 1.0,
                       provenance: dict | None = None) -> FeatureStore:
    """A small store with random features where label 1 shifts the first 20 t1ce features by ``signal``.

    ``provenance`` replaces the net's record (default: ``{"weights": "random test features"}``).
    """
    rng = np.random.default_rng(seed)
    store = FeatureStore(root)
    store.write_provenance(net, provenance or {"weights": "random test features"}, replace=provenance is not None)
    for i in range(n_cases):
        label = i % 2
        features = {m: rng.normal(size=400).astype(np.float32) for m in MODALITIES}
        features["t1ce"][:20] += signal * label
        store.write_case(net, f"case{i:03d}", features, label, meta={"index": i})
    return store


def load_script(path: Path, name: str | None = None):
    """The module of a script that is not part of the package (a benchmark, a docs extension), run once."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def failing_after(real, fits: list, fail_after: int | None = None):
    """An estimator-factory builder (``make_estimator_factory``, ``estimator_factory``) that records each fit's seed in ``fits`` and raises after ``fail_after`` fits.

    Stands in for a run killed after some folds (the folds fitted before it stay cached on disk).
    """
    def make(*args, **kwargs):
        build = real(*args, **kwargs)

        def factory(seed):
            if fail_after is not None and len(fits) >= fail_after:
                raise RuntimeError("killed")
            fits.append(seed)
            return build(seed)
        return factory
    return make


def full_disk(monkeypatch, spare: str | None = None, name_file: bool = True) -> None:
    """``os.replace`` into a path under a ``results`` folder (except one holding ``spare``) fails as a full disk does.

    ``name_file=False``: the error names no file, as the system may leave it.
    """
    real = os.replace

    def full(src, dst, *args, **kwargs):
        if "results" in str(dst) and (spare is None or spare not in str(dst)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), *([str(dst)] if name_file else []))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full)


def break_case_file(cohort: Path, index: int, modality: str) -> str:
    """Truncate the ``modality`` file of the ``index``-th case (sorted) of a BraTS 2021 folder, as a broken
    download leaves it; returns that case's id."""
    victim = sorted(Path(cohort).glob("BraTS2021_*"))[index]
    (victim / f"{victim.name}_{modality}.nii.gz").write_bytes(b"\x1f\x8b\x08 truncated")
    return victim.name


#: Shape of :func:`lps_image`.
IMAGE_SHAPE = (20, 24, 10)


def lps_image(rng=None):
    """A random int16 ``IMAGE_SHAPE`` volume stored in LPS order, and its affine (1 x 1.2 x 2 mm)."""
    rng = rng or np.random.default_rng(0)
    data = rng.integers(1, 1000, IMAGE_SHAPE).astype(np.int16)
    affine = np.diag([-1.0, -1.2, 2.0, 1.0])
    affine[:3, 3] = [10, 20, -5]
    return data, affine


def assert_same_net(expected: Path, actual: Path, net: str) -> None:
    """Two stores hold the same cases of ``net``: identical features, labels, metadata and provenance."""
    a, b = FeatureStore(expected), FeatureStore(actual)
    assert a.case_ids(net) == b.case_ids(net) and a.case_ids(net)
    for case_id in a.case_ids(net):
        fa, la, ma = a.read_case(net, case_id)
        fb, lb, mb = b.read_case(net, case_id)
        assert fa.keys() == fb.keys() and (la, ma) == (lb, mb)
        for modality in fa:
            np.testing.assert_array_equal(fa[modality], fb[modality], err_msg=f"{net} {case_id} {modality}")
    pa, pb = a.provenance(net), b.provenance(net)
    del pa["created"], pb["created"]
    assert pa == pb


@pytest.fixture(autouse=True)
def _dtype_auto_measurement_mocked(monkeypatch, tmp_path):
    """No test times a network for ``--dtype auto``: the "measurement" says bfloat16 (contiguous) is twice
    as fast as float32, and the cache lives in a temporary folder, not the user's."""
    from mgmtfeat.backbones import dtype_choice

    folder = tmp_path / "dtype-choice-cache"
    monkeypatch.setattr(dtype_choice, "measure", lambda name, device, build, channels_last_fp32: {
        "float32": 2.0, "bfloat16": 1.0, "bfloat16/channels_last": 1.5})
    monkeypatch.setattr(dtype_choice, "cache_path", lambda: folder / "dtype_choice.json")
    monkeypatch.setattr(dtype_choice, "_MADE", {})


def write_multi_net_store(root: Path, n_cases: int = 40) -> FeatureStore:
    """i3d (real-weights stand-in) with signal in t1ce; 'twin' = i3d + small noise; 'other' independent.

    twin and other are marked as random-weight nets in their provenance.
    """
    store = write_random_store(root, n_cases=n_cases, net="i3d", signal=1.5)
    rng = np.random.default_rng(7)
    for net in ("twin", "other"):
        store.write_provenance(net, {"weights": "random", "random_weights": True})
    for case_id in store.case_ids("i3d"):
        features, label, meta = store.read_case("i3d", case_id)
        twin = {m: v + 0.1 * rng.normal(size=400).astype(np.float32) for m, v in features.items()}
        other = {m: rng.normal(size=400).astype(np.float32) for m in features}
        store.write_case("twin", case_id, twin, label, meta)
        store.write_case("other", case_id, other, label, meta)
    return store


def two_net_store(root, n=24, seed=0):
    """A store of fake i3d (400) and radiomics (7 named features) vectors; radiomics' T1wCE carries the label."""
    from mgmtfeat import MODALITIES
    from mgmtfeat.store import FeatureStore

    rng = np.random.default_rng(seed)
    store = FeatureStore(root)
    store.write_provenance("i3d", {"weights": "test", "clips": {"n_frames": 150}})
    store.write_provenance("radiomics", {"kind": "radiomics", "n_features": 7,
                                         "feature_names": [f"original_f{i}" for i in range(7)]})
    for i in range(n):
        label = i % 2
        store.write_case("i3d", f"c{i:02d}", {m: rng.normal(size=400) for m in MODALITIES}, label)
        radiomics = {m: rng.normal(size=7) * 10 + 100 for m in MODALITIES}
        radiomics["t1ce"][:3] += 15 * label
        store.write_case("radiomics", f"c{i:02d}", radiomics, label)
    return store
