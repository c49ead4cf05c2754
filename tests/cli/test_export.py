"""`mgmtfeat export` and FeatureStore.to_frame: one row per case, a named column per feature."""

import numpy as np
import pandas as pd

from mgmtfeat.cli import export
from mgmtfeat.backbones import list_backbones
from mgmtfeat.backbones.labels import class_names, label_list

from conftest import write_random_store


def test_kinetics400_names_in_logit_order_for_every_backbone():
    names = label_list("kinetics400")
    assert len(names) == len(set(names)) == 400 and names[0] == "abseiling" and names[-1] == "zumba"
    assert list(names) == sorted(names)  # the order of the published label maps
    for net in list_backbones(all_variants=True):
        assert class_names(net) == names
    assert class_names("not-a-net") is None


def test_published_features_export_to_csv_and_parquet(published_store, tmp_path, capsys):
    frame = published_store.to_frame(["vivit"])
    assert len(frame) == 577
    features = [c for c in frame.columns if c.count(":") == 2]
    assert len(features) == 2000 and features[0] == "vivit:flair:abseiling" and features[-1] == "vivit:delta_t1:zumba"
    assert list(frame.columns[:2]) == ["case_id", "label"]
    assert set(frame["split"]) == {"train", "test"} and not frame["vivit:random_weights"].any()
    data = published_store.load(["vivit"])
    np.testing.assert_array_equal(frame[features].to_numpy(np.float32), data.X2d)
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"published.{suffix}"
        assert export.main(["--features", str(published_store.root), "--net", "vivit", "--out", str(out), "--quiet"]) == 0
        back = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
        assert back.shape == frame.shape and list(back.columns) == list(frame.columns)
        assert back["label"].tolist() == frame["label"].tolist()
        # float32 values as decimal text (csv) or as they are (parquet), read back and cast to float32: one
        # rounding at most (6e-8 relative), 1e-6 with margin and on any CPU; a shifted column is off by O(1)
        np.testing.assert_allclose(back[features].to_numpy(np.float32), data.X2d, rtol=1e-6)
        assert (tmp_path / f"published.{suffix}.settings.yaml").is_file()
    assert "577 cases x" in capsys.readouterr().out


def test_unnamed_net_modalities_random_weights_and_two_nets(tmp_path):
    store = write_random_store(tmp_path / "store", n_cases=6, net="custom")
    write_random_store(tmp_path / "store", n_cases=6, net="i3d", seed=1,
                       provenance={"weights": "random", "random_weights": True})
    frame = store.to_frame(["custom", "i3d"], ["t1", "t1ce"])
    assert frame.shape == (6, 2 + 1 + 2 + 2 * 2 * 400)  # case_id, label, meta 'index', two flags, features
    assert "custom:t1:0" in frame and "custom:t1ce:399" in frame and "i3d:t1:abseiling" in frame
    assert frame["i3d:random_weights"].all() and not frame["custom:random_weights"].any()


def test_bad_output_is_refused(tmp_path, capsys):
    store = write_random_store(tmp_path / "store", n_cases=4)
    out = tmp_path / "t.csv"
    base = ["--features", str(store.root), "--net", "vivit"]
    assert export.main([*base, "--out", str(tmp_path / "t.xlsx")]) == 2
    assert "use a file name ending in .csv or .parquet" in capsys.readouterr().err
    assert export.main([*base, "--out", str(out)]) == 0
    assert export.main([*base, "--out", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert export.main([*base, "--out", str(out), "--force", "--modalities", "t1"]) == 0
    assert pd.read_csv(out).shape[1] == 3 + 1 + 400
    assert export.main([*base, "--out", str(out), "--force", "--modalities", "pd"]) == 2
