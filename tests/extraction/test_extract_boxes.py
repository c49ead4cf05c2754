"""Extraction with user boxes: a box outside the image is a recorded failure, not features of a blank clip."""

import pytest

from mgmtfeat.cli import extract
from mgmtfeat.data.layouts import find_cases
from mgmtfeat.data.synthetic import write_cohort
from mgmtfeat.store import FeatureStore

# a small random-weight SlowFast on short, small inputs keeps this test fast
FAST = ["--net", "slowfast", "--weights", "random", "--net-frames", "8", "--net-size", "64", "--threads", "1",
        "--quiet"]


def test_a_box_outside_the_image_is_a_failure_and_a_partial_one_is_clamped(tmp_path, capsys):
    root = write_cohort(tmp_path / "brats", layout="brats2021", n_cases=2, shape=(48, 48, 24), seed=2)
    refs = find_cases(root)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(f"case_id,row,col\n{refs[0].case_id},1000,1000\n{refs[1].case_id},-20,0\n")
    out = tmp_path / "store"
    with pytest.warns(UserWarning, match="clamped"):
        code = extract.main(["--data", str(root), "--out", str(out), "--box", "csv", "--box-csv", str(boxes),
                             "--box-size", "32", *FAST])
    assert code == 1
    store = FeatureStore(out)
    assert store.case_ids("slowfast") == [refs[1].case_id]  # no features of a blank clip
    report = (out / "slowfast" / "failures.csv").read_text()
    assert refs[0].case_id in report and str(boxes) in report and "misses the flair image" in report
    _, _, meta = store.read_case("slowfast", refs[1].case_id)
    assert meta["box"] == [0, 0, 32] and "clamped to row=0, col=0" in meta["notes"][0]
