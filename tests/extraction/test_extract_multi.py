"""`extract --net A,B`: one reading and clipping per case for several nets, per-net stores, resume per (case, net)."""

import shutil
from dataclasses import replace

import pytest
import yaml

from mgmtfeat.cli import extract
from mgmtfeat.data.synthetic import write_cohort
from mgmtfeat.extraction import worker
from mgmtfeat.extraction.nets import net_list, net_settings, parse_weights
from mgmtfeat.extraction.run import ExtractionSettings, extract_features
from mgmtfeat.store import FeatureStore

from conftest import assert_same_net, break_case_file

NETS = ("slowfast", "r2plus1d")
# two small random-weight nets on short, small inputs keep these tests fast
SMALL = ["--weights", "random", "--net-frames", "8", "--net-size", "64", "--threads", "1", "--quiet"]
BOTH = ["--net", ",".join(NETS), *SMALL]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("data") / "brats", layout="brats2021", n_cases=3, shape=(48, 48, 24),
                        seed=5)


@pytest.fixture(scope="module")
def separate(cohort, tmp_path_factory):
    """A store made by one single-net run per net."""
    out = tmp_path_factory.mktemp("separate") / "store"
    for net in NETS:
        assert extract.main(["--data", str(cohort), "--out", str(out), "--net", net, *SMALL]) == 0
    return out


@pytest.fixture
def calls(monkeypatch):
    """Count the cases read and clipped, and record the nets each case ran through (in-process runs)."""
    seen = {"read": [], "nets": []}
    real_read, real_features = worker.read_clips, worker.nets_features

    def read_clips(ref, *args, **kwargs):
        seen["read"].append(ref.case_id)
        return real_read(ref, *args, **kwargs)

    def nets_features(ref, backbones, *args, **kwargs):
        seen["nets"].append((ref.case_id, tuple(backbones)))
        return real_features(ref, backbones, *args, **kwargs)

    monkeypatch.setattr(worker, "read_clips", read_clips)
    monkeypatch.setattr(worker, "nets_features", nets_features)
    return seen


def test_one_pass_gives_exactly_the_stores_of_single_net_runs(cohort, separate, tmp_path, calls, capsys):
    out = tmp_path / "store"
    capsys.readouterr()
    assert extract.main(["--data", str(cohort), "--out", str(out), *BOTH]) == 0
    printed = capsys.readouterr().out
    for net in NETS:
        assert_same_net(separate, out, net)
        assert f"{net}: 3 cases extracted, 0 already in the store, 0 failed; forward" in printed
        record = yaml.safe_load((out / net / "settings.yaml").read_text())
        assert record["net"] == net and record["weights"] == "random"  # each net's record reruns that net alone
    assert "3 cases read and clipped once for 2 nets" in printed and "reading and clips" in printed
    assert sorted(calls["read"]) == sorted(FeatureStore(out).case_ids("slowfast"))  # once per case, not per net
    assert {nets for _, nets in calls["nets"]} == {NETS}


def test_resume_runs_only_the_missing_case_and_net(cohort, separate, tmp_path, calls):
    out = tmp_path / "store"
    shutil.copytree(separate, out)
    store = FeatureStore(out)
    first, second, third = store.case_ids("r2plus1d")
    store.case_path("r2plus1d", second).unlink()  # one entry of one net missing
    store.case_path("slowfast", third).write_bytes(b"")  # one entry of the other net damaged
    settings = ExtractionSettings(data=str(cohort), out=str(out), net=",".join(NETS), weights="random", threads=1,
                                  num_frames=8, size=64)
    finished = []
    report = extract_features(settings, progress=False, on_case=finished.append)
    assert sorted(calls["nets"]) == [(second, ("r2plus1d",)), (third, ("slowfast",))]
    assert sorted(calls["read"]) == [second, third] and sorted(finished) == [second, third]
    assert report.skipped == [first] and sorted(report.done) == [second, third]
    assert report.nets["r2plus1d"].done == [second] and report.nets["slowfast"].done == [third]
    assert set(report.seconds) == {"read_and_clip", "reading", "geometry", "clips", "forward", "total"}
    assert all(set(part.seconds) == {"forward"} for part in report.nets.values())
    for net in NETS:
        assert_same_net(separate, out, net)
    calls["read"].clear()
    again = extract_features(settings, progress=False)  # all done: nothing is read
    assert calls["read"] == [] and again.done == [] and len(again.skipped) == 3


def test_a_failing_case_is_recorded_in_each_net_and_the_run_goes_on(cohort, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(cohort, data)
    victim = break_case_file(data, 1, "t2")
    out = tmp_path / "store"
    assert extract.main(["--data", str(data), "--out", str(out), *BOTH]) == 1
    for net in NETS:
        assert len(FeatureStore(out).case_ids(net)) == 2
        assert victim in (out / net / "failures.csv").read_text()
    captured = capsys.readouterr()
    assert captured.err.count(f"failed: case {victim}") == 1  # one line per case, not per net
    assert "2 cases read and clipped once for 2 nets, 0 already in the store for every net, 1 failed" in captured.out


@pytest.mark.parametrize("net, weights, message", [
    ("slowfast,slowfast", [], "slowfast listed twice"),
    ("slowfast,resnet50", [], "image (2D) network taking slices"),
    ("slowfast,nope", [], "known backbones: i3d"),
    ("slowfast,radiomics", [], "run it separately: `mgmtfeat extract --net radiomics"),
    ("slowfast,r2plus1d", ["--weights", "vivit=random"], "vivit is not one of the nets of this run"),
    ("slowfast,r2plus1d", ["--weights", "weights.pt"], "--weights slowfast=weights.pt"),
    ("slowfast,r2plus1d", ["--weights", "slowfast=a.pt", "--weights", "slowfast=random"], "given weights twice"),
])
def test_bad_net_lists_and_weights_stop_before_any_data_is_read(tmp_path, capsys, net, weights, message):
    (tmp_path / "empty").mkdir()  # no cases: a check made after reading the folder would say so instead
    for dry in ([], ["--dry-run"]):
        argv = ["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "store"), "--net", net, *weights, *dry]
        assert extract.main(argv + ["--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and message in err
    assert not (tmp_path / "store").exists()


def test_weights_per_net():
    nets = ["i3d", "r2plus1d", "vivit"]
    assert parse_weights(None, nets) == {"i3d": None, "r2plus1d": None, "vivit": None}
    assert parse_weights(["i3d=a.pt,r2plus1d=random", "vivit=hf/dir"], nets) == {
        "i3d": "a.pt", "r2plus1d": "random", "vivit": "hf/dir"}
    assert parse_weights(["random", "i3d=a.pt"], nets) == {"i3d": "a.pt", "r2plus1d": "random", "vivit": "random"}
    assert parse_weights({"vivit": "d"}, nets) == {"i3d": None, "r2plus1d": None, "vivit": "d"}
    # one net: a bare path as before, commas in it kept; NET= names it too
    assert parse_weights(["/w/a,b.pt"], ["i3d"]) == {"i3d": "/w/a,b.pt"}
    assert parse_weights("i3d=/w/x=1.pt", ["i3d"]) == {"i3d": "/w/x=1.pt"}
    for spec, message in [(["a.pt", "b.pt"], "one bare value"), (["i3d="], "give a path"),
                          (["i3d=a.pt", "i3d=b.pt"], "twice"), (["slowfast=a.pt"], "slowfast is not one of")]:
        with pytest.raises(ValueError, match=message):
            parse_weights(spec, nets)
    with pytest.raises(ValueError, match="twice"):
        parse_weights(["a.pt", "i3d=b.pt"], ["i3d"])
    assert net_list(" i3d, r2plus1d ,") == ["i3d", "r2plus1d"] and net_list(["vivit"]) == ["vivit"]


def test_dtype_auto_is_resolved_per_net_and_a_resumed_net_keeps_its_own(tmp_path, monkeypatch):
    from mgmtfeat.backbones import cpu

    monkeypatch.setattr(cpu, "native_bfloat16", lambda: True)
    store = FeatureStore(tmp_path / "store")
    store.write_provenance("r2plus1d", {"weights": "random test features", "dtype": "float32"})
    settings = ExtractionSettings(data=str(tmp_path), out=str(store.root), net="i3d,r2plus1d",
                                  weights="i3d=a.pt,r2plus1d=random", dtype="auto")  # an opt-in: float32 is the default
    runs = net_settings(settings, ["i3d", "r2plus1d"], store)
    assert {net: (run.net, run.weights, run.dtype) for net, run in runs.items()} == {
        "i3d": ("i3d", "a.pt", "bfloat16"), "r2plus1d": ("r2plus1d", "random", "float32")}


def test_a_worker_keeps_every_net_of_its_run_and_only_those(monkeypatch):
    built = []
    monkeypatch.setattr(worker, "open_backbone", lambda run: built.append(run.net) or object())
    monkeypatch.setattr(worker, "_BACKBONES", {})
    run = ExtractionSettings(data=".", out=".", threads=1)
    first = {net: replace(run, net=net) for net in NETS}
    a = worker.cached_backbones(first, ["slowfast"])
    b = worker.cached_backbones(first, list(NETS))
    assert built == list(NETS) and a["slowfast"] is b["slowfast"] and len(worker._BACKBONES) == 2
    worker.cached_backbones({"vivit": replace(run, net="vivit")}, ["vivit"])  # another run: the first one's go
    assert built == [*NETS, "vivit"] and len(worker._BACKBONES) == 1


def test_process_pool_gives_exactly_the_one_pass_store(cohort, separate, tmp_path):
    out = tmp_path / "pool"
    assert extract.main(["--data", str(cohort), "--out", str(out), "--jobs", "2", *BOTH]) == 0
    for net in NETS:
        assert_same_net(separate, out, net)


def test_dry_run_lists_each_net(cohort, separate, tmp_path, capsys):
    out = tmp_path / "store"
    shutil.copytree(separate / "slowfast", out / "slowfast")
    before = sorted(out.rglob("*"))
    assert extract.main(["--data", str(cohort), "--out", str(out), *BOTH, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert f"slowfast: 3 already in {out} (would be skipped), would extract 0 cases" in text
    assert f"r2plus1d: 0 already in {out} (would be skipped), would extract 3 cases" in text
    assert "nothing written" in text and sorted(out.rglob("*")) == before


@pytest.mark.slow
def test_dask_workers_give_exactly_the_one_pass_store(cohort, separate, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "dask"
    assert extract.main(["--data", str(cohort), "--out", str(out), "--scheduler", "local:2", *BOTH]) == 0
    for net in NETS:
        assert_same_net(separate, out, net)


def test_a_net_settings_file_reruns_that_net_and_the_command_line_replaces_its_weights(separate, tmp_path, capsys):
    from mgmtfeat.cli.config import apply_config, load_config

    settings = separate / "slowfast" / "settings.yaml"
    parser = extract._parser()
    apply_config(parser, load_config(settings, "extract"), where=str(settings))
    assert parser.parse_args([]).weights == ["random"]
    assert parser.parse_args(["--weights", "slowfast=a.pt", "--weights", "b.pt"]).weights == ["slowfast=a.pt", "b.pt"]
    out = tmp_path / "store"
    shutil.copytree(separate, out)
    capsys.readouterr()
    assert extract.main(["--config", str(settings), "--out", str(out)]) == 0
    assert "0 cases extracted, 3 already in the store" in capsys.readouterr().out
