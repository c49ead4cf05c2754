"""``model.json`` through :class:`ModelRecord`: round trip, records without a schema version, unknown versions."""

from __future__ import annotations

import json

import pytest

from mgmtfeat import __version__
from mgmtfeat.bundle.record import (FORMAT, RECORD_FILE, SCHEMA_VERSION, BundleError, ModelRecord, read_record,
                                    write_record)


def _record(**changes) -> ModelRecord:
    fields = dict(mgmtfeat_version=__version__, model={"name": "logistic", "params": {}}, nets=["vivit"],
                  modalities=["flair", "t1ce"], inputs=["vivit:flair", "vivit:t1ce"],
                  task={"classes": [0, 1], "positive_class": 1, "label_source": "store"},
                  features={"store": "features", "provenance": {"vivit": {"net": "vivit", "random_weights": True}}},
                  estimators=["estimator"], files=[], seed=3, training_cases=["a", "b"])
    return ModelRecord(**{**fields, **changes})


def test_round_trip(tmp_path):
    record = _record(ensemble={"k": 2, "folds": [{"fold": 0}, {"fold": 1}]})
    write_record(tmp_path, record)
    back = read_record(tmp_path)
    assert back == record and back.schema_version == SCHEMA_VERSION
    assert back.classes == [0, 1] and back.provenance["vivit"]["net"] == "vivit" and not back.is_slices
    written = json.loads((tmp_path / RECORD_FILE).read_text())
    assert written["schema_version"] == SCHEMA_VERSION and written["format"] == FORMAT
    assert written["nets"] == ["vivit"]  # tuples are written as JSON lists


def test_record_is_frozen():
    with pytest.raises(AttributeError):
        _record().seed = 4


def test_record_without_schema_version_converts(tmp_path):
    old = _record().to_dict()
    del old["schema_version"], old["pathway"]  # as written before either field existed
    (tmp_path / RECORD_FILE).write_text(json.dumps(old))
    record = read_record(tmp_path)
    assert record.schema_version == SCHEMA_VERSION and record.pathway == "clips"
    assert record == _record()


def test_unknown_schema_version_is_refused_naming_file_and_fix(tmp_path):
    data = {**_record().to_dict(), "schema_version": SCHEMA_VERSION + 1}
    (tmp_path / RECORD_FILE).write_text(json.dumps(data))
    with pytest.raises(BundleError) as err:
        read_record(tmp_path)
    message = str(err.value)
    assert str(tmp_path / RECORD_FILE) in message and f"schema version {SCHEMA_VERSION + 1}" in message
    assert "fit the model again" in message and f"mgmtfeat {__version__}" in message


def test_missing_field_is_refused(tmp_path):
    data = _record().to_dict()
    del data["inputs"]
    (tmp_path / RECORD_FILE).write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"lacks inputs.*fit the model again"):
        read_record(tmp_path)
