"""A results folder is written whole or not at all, keeping only the finished folds of a failed run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mgmtfeat.experiments.fold_cache import CACHE_DIR
from mgmtfeat.experiments.results_folder import (check_out_folder, discard_partial, finish_out, partial_path,
                                                 prepare_out)


def _settings(out, features, force=False):
    return SimpleNamespace(out=str(out), force=force, features=str(features), published_source=None)


def test_prepare_out_empties_an_earlier_try_but_its_finished_folds(tmp_path):
    out = tmp_path / "results"
    tmp = partial_path(out)
    (tmp / CACHE_DIR).mkdir(parents=True)
    (tmp / CACHE_DIR / "logistic-fold-r0-k0-abc.npz").write_bytes(b"fold")
    (tmp / "table1.csv").write_text("half-written")
    assert prepare_out(out, force=False) == tmp == tmp_path / ".results.partial"
    assert sorted(p.name for p in tmp.iterdir()) == [CACHE_DIR]
    assert (tmp / CACHE_DIR / "logistic-fold-r0-k0-abc.npz").read_bytes() == b"fold"


def test_an_existing_folder_is_replaced_only_with_force(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "old.csv").write_text("old")
    with pytest.raises(FileExistsError, match="results exists; choose another --out or pass --force"):
        prepare_out(out, force=False)
    tmp = prepare_out(out, force=True)
    (tmp / CACHE_DIR).mkdir()
    (tmp / "new.csv").write_text("new")
    finish_out(tmp, out)
    assert sorted(p.name for p in out.iterdir()) == ["new.csv"]  # the old files and the fold cache are gone
    assert not tmp.exists()


@pytest.mark.parametrize("finished_folds", [0, 2])
def test_a_failed_run_keeps_only_its_finished_folds(tmp_path, finished_folds):
    tmp = prepare_out(tmp_path / "results", force=False)
    (tmp / "table1.csv").write_text("half-written")
    (tmp / CACHE_DIR).mkdir()
    for k in range(finished_folds):
        (tmp / CACHE_DIR / f"svm-fold-r0-k{k}-abc.npz").write_bytes(b"fold")
    discard_partial(tmp)
    if finished_folds:
        assert sorted(p.name for p in tmp.iterdir()) == [CACHE_DIR]
        assert len(list((tmp / CACHE_DIR).iterdir())) == finished_folds
    else:
        assert not tmp.exists()  # nothing to resume from: nothing is left behind


def test_check_out_folder_refuses_a_folder_that_holds_the_store(tmp_path):
    store = tmp_path / "results" / "store"
    store.mkdir(parents=True)
    with pytest.raises(ValueError, match=r"--out .*results contains the feature store .*store; .*results/NAME"):
        check_out_folder(_settings(tmp_path / "results", store, force=True))
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(FileExistsError, match="elsewhere exists"):
        check_out_folder(_settings(tmp_path / "elsewhere", store))
    assert check_out_folder(_settings(tmp_path / "new", store)) == tmp_path / "new"
