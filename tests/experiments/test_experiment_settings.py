"""The options records of the studies refuse impossible combinations when they are built, not in a parser.

Each rule is checked with its whole message (the one ``mgmtfeat cv`` and ``mgmtfeat experiment``
print), and a record that honours it is built without complaint, so a rule cannot refuse everything.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from mgmtfeat.experiments.base import ExperimentSettings
from mgmtfeat.experiments.cv_study import StudySettings
from mgmtfeat.experiments.study_task import TaskOptions

COUNTS = [
    ({"folds": 1}, "--folds must be at least 2 (got 1), --repeats and --jobs at least 1 (got 4, 1)"),
    ({"repeats": 0}, "--folds must be at least 2 (got 5), --repeats and --jobs at least 1 (got 0, 1)"),
    ({"jobs": 0}, "--folds must be at least 2 (got 5), --repeats and --jobs at least 1 (got 4, 0)"),
]


@pytest.mark.parametrize("record", [ExperimentSettings, StudySettings])
@pytest.mark.parametrize(("values", "message"), COUNTS)
def test_fold_repeat_and_job_counts_are_refused_at_construction(record, values, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        record(**values)


@pytest.mark.parametrize("record", [ExperimentSettings, StudySettings])
def test_the_smallest_allowed_counts_are_accepted_and_replace_checks_again(record):
    settings = record(folds=2, repeats=1, jobs=1)
    assert (settings.folds, settings.repeats, settings.jobs) == (2, 1, 1)
    with pytest.raises(ValueError, match=r"--folds must be at least 2 \(got 1\)"):
        dataclasses.replace(settings, folds=1)  # replace builds a new record, so the rules hold for it too


def test_jobs_and_a_scheduler_are_refused_together():
    with pytest.raises(ValueError, match="^--jobs and --scheduler both choose where folds run; give one of them$"):
        StudySettings(jobs=2, scheduler="local:2")
    assert StudySettings(jobs=1, scheduler="local:2").scheduler == "local:2"


TASK_RULES = [
    ({"harmonize": "combat"},
     "--harmonize combat needs the site of each case: name its column with --group-column"),
    ({"leave_one_group_out": True, "harmonize": "combat", "group_column": "site"},
     "--leave-one-group-out holds each site out, but ComBat needs every test site in training; drop one of them"),
    ({"leave_one_group_out": True},
     "--leave-one-group-out needs --group-column naming the site column"),
    ({"bootstrap_fraction": 1.0, "test_labels": "test.csv"},
     "--bootstrap-fraction 1.0: give a fraction in (0, 1), e.g. 0.9"),
    ({"bootstrap_fraction": 0.0, "test_features": "store"},
     "--bootstrap-fraction 0.0: give a fraction in (0, 1), e.g. 0.9"),
    ({"bootstrap_fraction": 0.5},
     "--bootstrap-fraction applies to the held-out test cohort; add --test-features or --test-labels"),
]


@pytest.mark.parametrize(("values", "message"), TASK_RULES)
def test_task_option_rules_are_refused_at_construction(values, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        TaskOptions(**values)


@pytest.mark.parametrize("values", [
    {},
    {"harmonize": "combat", "group_column": "site"},
    {"leave_one_group_out": True, "group_column": "site"},
    {"bootstrap_fraction": 0.9, "test_features": "store"},
    {"bootstrap_fraction": 0.9, "test_labels": "test.csv"},
])
def test_task_options_that_honour_the_rules_are_accepted(values):
    assert TaskOptions(**values) == TaskOptions(**values)

