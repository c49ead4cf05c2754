"""`mgmtfeat extract` with the paper's GluonCV nets and `--sampling paper`: random weights, a local
GluonCV-layout file, frame indices in provenance, and a store that never mixes samplings."""

import numpy as np
import pytest
import torch

from mgmtfeat.cli import extract
from mgmtfeat.backbones import registry
from mgmtfeat.data.synthetic import write_cohort
from mgmtfeat.store import FeatureStore

QUIET = ["--threads", "1", "--quiet", "--limit", "1"]
SLOWFAST = "slowfast_4x16_resnet50_kinetics400"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("data") / "brats", layout="brats2021", n_cases=2, shape=(48, 48, 24),
                        seed=2)


@pytest.fixture
def small_slowfast(monkeypatch):
    """GluonCV's SlowFast at one block per stage (its constructor's ``layers``), so files and runs stay small."""
    registry.get_weights_config(SLOWFAST)
    builder, config = registry._REGISTRY[SLOWFAST]
    small = lambda config, weights, kwargs: builder(config, weights, {"layers": (1, 1, 1, 1)})  # noqa: E731
    monkeypatch.setitem(registry._REGISTRY, SLOWFAST, (small, config))


def test_the_three_gluon_nets_extract_with_random_weights(cohort, tmp_path):
    out = tmp_path / "store"
    argv = ["--data", str(cohort), "--out", str(out), "--net", "i3d_nl10,slowfast_gluon,ircsn", "--weights", "random",
            "--net-frames", "8", "--net-size", "32", *QUIET]
    assert extract.main(argv) == 0
    store = FeatureStore(out)
    assert sorted(store.nets()) == sorted(["i3d_nl10_resnet101_v1_kinetics400", SLOWFAST,
                                           "r2plus1d_v2_resnet152_kinetics400"])  # aliases stored by their names
    for net in store.nets():
        prov = store.provenance(net)
        assert prov["sampling"] == "uniform" and prov["random_weights"] is True
        assert prov["frame_indices"] == np.round(np.linspace(0, 149, 8)).astype(int).tolist()
        features = store.read_case(net, store.case_ids(net)[0])[0]
        assert all(v.shape == (400,) and np.isfinite(v).all() for v in features.values())


def test_a_local_gluoncv_file_through_extract(cohort, tmp_path, small_slowfast):
    from mgmtfeat.backbones.gluon_slowfast import GluonSlowFast

    path = tmp_path / "slowfast_gluoncv.pth"
    torch.manual_seed(5)
    torch.save(GluonSlowFast(layers=(1, 1, 1, 1)).state_dict(), path)  # GluonCV's layout (test_backbones_gluon.py)
    out = tmp_path / "store"
    argv = ["--data", str(cohort), "--out", str(out), "--net", "slowfast_gluon", "--weights", str(path),
            "--net-frames", "8", "--net-size", "32", *QUIET]
    assert extract.main(argv) == 0
    prov = FeatureStore(out).provenance(SLOWFAST)
    assert prov["weights_id"] == f"gluoncv {SLOWFAST} (local {path.name})" and prov["random_weights"] is False
    assert len(prov["weights_sha256"]) == 64


def test_paper_sampling_is_recorded_and_a_store_never_mixes_samplings(cohort, tmp_path, small_slowfast, capsys):
    out = tmp_path / "store"
    base = ["--data", str(cohort), "--out", str(out), "--net", "slowfast_gluon", "--weights", "random", *QUIET]
    assert extract.main([*base, "--sampling", "paper"]) == 0
    prov = FeatureStore(out).provenance(SLOWFAST)
    assert prov["sampling"] == "paper" and prov["frame_indices"] == [0, 25, 50, 75, 100, 125]
    assert (prov["num_frames"], prov["size"], prov["resize_to"]) == (6, 224, 256)
    assert prov["normalisation"]["mean"] == [0.485, 0.456, 0.406]
    capsys.readouterr()
    assert extract.main(base) == 2  # uniform into the paper store: refused before any work
    err = capsys.readouterr().err
    assert "made with other settings" in err and "frame_indices" in err and "sampling" in err and "--force" in err


@pytest.mark.parametrize("argv, message", [
    (["--net", "i3d", "--sampling", "paper"], r"'i3d' does not support sampling 'paper'.*use one of i3d_nl10"),
    (["--net", "vivit", "--sampling", "paper", "--frames", "100"], r"a clip of 100 frames gives 4\. Make the clips "
                                                                     r"with --frames 150"),
    (["--net", "ircsn", "--sampling", "paper", "--net-frames", "8"], r"sampling 'paper' fixes the frames"),
    (["--net", "radiomics", "--sampling", "paper"], r"--sampling paper applies to the clip pathway's video nets"),
])
def test_a_sampling_that_cannot_be_run_is_refused_before_any_work(cohort, tmp_path, capsys, argv, message):
    import re

    out = tmp_path / "store"
    assert extract.main(["--data", str(cohort), "--out", str(out), "--weights", "random", *argv, *QUIET]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (out / "vivit").exists() and not (out / "i3d").exists()
