"""Every option that several commands take, defined once: ``add_X(parser, ...)`` per option.

A command builds its parser with :func:`mgmtfeat.cli.run.command_parser` and adds its options with
these functions, so ``--folds`` (say) has one type, one default and one help text in ``cv`` and in
``experiment``. Where a command means something of its own by an option (``--out`` is a results
folder, a store or a table), it passes that ``help``; flag, type, metavar and default stay here.
Rules across options are checked by each command's options dataclass (``__post_init__``), not here.
"""

from __future__ import annotations

import argparse

from mgmtfeat import MODALITIES

__all__ = ["HelpFormatter", "csv_list", "float_list", "check_scheduler", "bounded_float", "add_features", "add_published_source",
           "add_net", "add_models", "add_modalities", "add_folds", "add_repeats", "add_seed", "add_jobs", "add_set",
           "add_out", "add_force", "add_scheduler", "add_label_columns", "add_device", "add_cv_arguments",
           "add_slice_protocol_arguments", "FOLDS_HELP"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to an option's help, unless the default is empty (None, False, [])
    or the help already states it (``(default 0.5)``, ``(default: the user cache)``)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or action.default == [] or "(default" in text:
            return text
        return super()._get_help_string(action)


def csv_list(text: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]`` (the type of ``--net``, ``--model``, ``--modalities``)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def float_list(text: str) -> list[float]:
    """``"50,65"`` -> ``[50.0, 65.0]``; argparse's error for anything else."""
    try:
        return [float(v) for v in csv_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers separated by commas, e.g. 50,65") from None


def check_scheduler(jobs: int, scheduler: str | None, what: str) -> None:
    """ValueError for ``--jobs N`` beside ``--scheduler``, or a scheduler address not understood."""
    if scheduler:
        from mgmtfeat._parallel import parse_scheduler

        if jobs > 1:
            raise ValueError(f"--jobs and --scheduler both choose where {what} run; give one of them")
        parse_scheduler(scheduler)  # SchedulerError is a ValueError


FEATURES_HELP = ("feature store written by `mgmtfeat extract` or `mgmtfeat import-published` (default: the paper's "
                 "published ViViT features, imported into the user cache on first use)")
FOLDS_HELP = "number of stratified folds K"
REPEATS_HELP = ("number of repeats of K-fold CV (the fold table is saved in the store and shared by every run with "
                "the same K, repeats and seed)")
JOBS_HELP = "folds fitted in parallel processes"
SEED_HELP = "seed of the fold assignment and of every model fit"
SET_HELP = ("override a model's hyper-parameter, e.g. --set logistic.C=0.1 or --set snn.weight_decay=0.1 (repeatable; "
            "VALUE is a YAML scalar or list; PARAM by the estimator's own name, C, or its pipeline name, clf__C)")


def add_features(parser, help: str = FEATURES_HELP, required: bool = False) -> None:
    """``--features DIR``: the feature store read."""
    parser.add_argument("--features", default=None, required=required, metavar="DIR", help=help)


def add_published_source(parser) -> None:
    """``--published-source DIR``: the offline copy of the published files (without ``--features``)."""
    parser.add_argument("--published-source", default=None, metavar="DIR",
                        help="offline folder holding the two published TFRecord files, used when --features is not given")


def add_net(parser, help: str, default=None, required: bool = False, as_list: bool = True) -> None:
    """``--net NET[,NET...]``: the backbone(s) whose features are used (a list, or the text as typed)."""
    parser.add_argument("--net", default=default, required=required, type=csv_list if as_list else None,
                        metavar="NET[,NET...]", help=help)


def add_models(parser, help: str, default=None, required: bool = False, as_list: bool = True) -> None:
    """``--model MODEL[,MODEL...]`` (or one ``NAME`` with ``as_list=False``): registry model(s)."""
    parser.add_argument("--model", default=default, required=required, type=csv_list if as_list else None,
                        metavar="MODEL[,MODEL...]" if as_list else "NAME", help=help)


def add_modalities(parser, help: str = f"inputs, from: {', '.join(MODALITIES)} (default: the model's own)",
                   default=None) -> None:
    """``--modalities M[,M...]``: the inputs (clips) used or made."""
    parser.add_argument("--modalities", default=default, type=csv_list, metavar="M[,M...]", help=help)


def add_folds(parser) -> None:
    """``--folds K``."""
    parser.add_argument("--folds", type=int, default=5, help=FOLDS_HELP)


def add_repeats(parser) -> None:
    """``--repeats N``."""
    parser.add_argument("--repeats", type=int, default=4, help=REPEATS_HELP)


def add_seed(parser, help: str = SEED_HELP) -> None:
    """``--seed N``."""
    parser.add_argument("--seed", type=int, default=0, help=help)


def add_jobs(parser, help: str = JOBS_HELP) -> None:
    """``--jobs N``: worker processes on this machine; ``help`` says what each runs."""
    parser.add_argument("--jobs", type=int, default=1, help=help)


def add_set(parser, help: str = SET_HELP) -> None:
    """``--set MODEL.PARAM=VALUE`` (repeatable): hyper-parameter overrides."""
    parser.add_argument("--set", action="append", default=[], metavar="MODEL.PARAM=VALUE", help=help)


def add_out(parser, help: str, default=None, required: bool = False, metavar: str = "DIR") -> None:
    """``--out``: what the command writes."""
    parser.add_argument("--out", default=default, required=required, metavar=metavar, help=help)


def add_force(parser, help: str = "replace an existing results folder") -> None:
    """``--force``: replace (or redo) what exists."""
    parser.add_argument("--force", action="store_true", help=help)


def add_scheduler(parser, help: str) -> None:
    """``--scheduler ADDRESS``: Dask instead of in-process work."""
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS", help=help)


def add_device(parser) -> None:
    """``--device`` and ``--threads``: where torch runs."""
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def add_label_columns(parser) -> None:
    """``--label-column``, ``--id-column`` and ``--positive-class`` of a label file (``--labels``)."""
    parser.add_argument("--label-column", default=None, metavar="NAME",
                        help="label column (default: MGMT_value, MGMT status or label, the first present)")
    parser.add_argument("--id-column", default=None, metavar="NAME",
                        help="id column of the label and covariate files (default: case_id, BraTS21ID, ID or "
                        "BraTS21 ID, the first present)")
    parser.add_argument("--positive-class", default=None, metavar="C",
                        help="positive class of a binary task (default 1, or the second of two sorted names)")


def add_cv_arguments(parser) -> None:
    """The options of every cross-validation (``cv``, ``experiment NAME``): store, folds, seed, jobs, ``--set``."""
    add_features(parser)
    add_published_source(parser)
    add_folds(parser)
    add_repeats(parser)
    add_seed(parser)
    add_jobs(parser)
    add_set(parser)


def bounded_float(text: str, low: float, high: float, closed: bool, keyword: str | None, fix: str):
    """``text`` as a float within ``[low, high]`` (``closed``) or ``(low, high)``, or ``keyword`` as typed.

    The ``type`` of an option taking a bounded number; ``fix`` ends argparse's error message.
    """
    if keyword is not None and text == keyword:
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (low <= value <= high if closed else low < value < high):
        raise argparse.ArgumentTypeError(f"{text!r}: {fix}")
    return value


def _cutoff(text: str) -> str | float:
    return bounded_float(text, 0.0, 1.0, True, "youden", "give 'youden' or a fraction of slices in [0, 1], e.g. 0.55")


def _slice_threshold(text: str) -> float:
    return bounded_float(text, 0.0, 1.0, False, None, "give a probability in (0, 1), e.g. 0.5")


def add_slice_protocol_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of stores holding per-slice embeddings (`mgmtfeat extract --pathway slices`)."""
    group = parser.add_argument_group(
        "slice features (predictive index, Shin et al.)",
        "A net whose store holds one embedding per ROI slice is evaluated per patient: the model scores slices "
        "(folds over patients, so no patient's slices are on both sides), a patient's predictive index is the "
        "fraction of its slices called positive, and the patient is positive when the index reaches the cutoff.")
    group.add_argument("--cutoff", default="youden", type=_cutoff, metavar="youden|F",
                       help="predictive-index cutoff: youden (Youden's J on inner-CV indices of the training "
                       "patients of each fold; default) or a fixed fraction, e.g. 0.55")
    group.add_argument("--slice-threshold", type=_slice_threshold, default=0.5, metavar="P",
                       help="a slice is called positive when its probability reaches P (default 0.5)")
