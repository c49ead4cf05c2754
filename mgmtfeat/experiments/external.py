"""External validation: train on one cohort's store, test on another's, without shared patients."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from mgmtfeat.evaluation import binary_metrics, sem
from mgmtfeat.experiments.base import (ExperimentError, ExperimentSettings, available_modalities, check_models,
                                       check_out_folder, describe_features, finish_results, make_estimator_factory,
                                       open_store, prepare_out, write_table)
from mgmtfeat.reports import TABLE_METRICS, cells_to_markdown, metric_cells, plot_roc, save_figure
from mgmtfeat.store import FeatureStore

__all__ = ["external_validation"]


def external_validation(settings: ExperimentSettings, test_features: str | None, model: str = "snn",
                        net: str | None = None, modalities: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Train on the store of ``settings.features`` and test on the store ``test_features``.

    Test cases also in the training cohort are dropped: same case id, or a ``brats_id`` in the
    test case's metadata that names a training case (or its ``brats_id``). ``settings.repeats``
    models are trained from different seeds; metrics are mean ± SEM over them, and the AUC of
    their mean probability is reported too.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"external": one row of metrics, "dropped": the test cases dropped and why}``.
    """
    out = check_out_folder(settings)
    check_models([model])
    train_store = open_store(settings.features, settings.published_source)
    if not test_features:
        raise ExperimentError(
            "external validation needs a second cohort: extract its features first with `mgmtfeat extract "
            "--data SECOND_DATASET --out SECOND_STORE --net NET` and pass it as the test store "
            "(--external-features SECOND_STORE)."
        )
    test_store = FeatureStore(test_features)
    if test_store.root.resolve() == train_store.root.resolve():
        raise ExperimentError(f"--external-features {test_store.root} is the training store; "
                              "give another cohort's store.")
    nets = [net] if net else [n for n in train_store.nets() if n in test_store.nets()]
    if not nets or not test_store.nets():
        raise ExperimentError(
            f"test store {test_store.root} has no features of a net of the training store "
            f"({', '.join(train_store.nets()) or 'none'}); extract them first with `mgmtfeat extract "
            f"--data SECOND_DATASET --out {test_store.root} --net {(train_store.nets() or ['i3d'])[0]}`."
        )
    net = nets[0]
    for store in (train_store, test_store):
        store.provenance(net)
    mods = list(modalities or [m for m in available_modalities(train_store, net)
                               if m in available_modalities(test_store, net)])
    train = train_store.load(net, mods)
    test_all = test_store.load(net, mods)
    dropped = _overlap(train_store, test_store, net, train.case_ids, test_all.case_ids)
    keep = np.array([c not in set(dropped["case_id"]) for c in test_all.case_ids])
    test = test_all.subset(np.flatnonzero(keep))
    if len(np.unique(test.y)) < 2:
        raise ExperimentError(f"test store {test_store.root}: after dropping {len(dropped)} overlapping cases, "
                              f"{len(test.y)} cases of one class remain; an AUC needs both classes.")
    label = describe_features(train_store, [net]) + " -> " + describe_features(test_store, [net])
    params = dict(settings.model_params.get(model, {}))
    from tqdm.auto import tqdm

    rows, parts = [], []
    for r in tqdm(range(settings.repeats), desc="external", unit="fit", disable=not settings.progress):
        seed = settings.seed * 1000 + r
        estimator = make_estimator_factory(model, False, settings.seed, params)(seed).fit(train.X2d, train.y)
        p = estimator.predict_proba(test.X2d)[:, 1]
        rows.append({"seed": seed, **binary_metrics(test.y, p)})
        parts.append(pd.DataFrame({"case_id": test.case_ids, "label": test.y, "seed": seed, "probability": p}))
    per_seed = pd.DataFrame(rows)
    predictions = pd.concat(parts, ignore_index=True)
    mean_p = predictions.groupby("case_id", sort=False)["probability"].mean()
    ensemble_auc = binary_metrics(test.y, mean_p.loc[list(test.case_ids)].to_numpy())["auc"]
    table = pd.DataFrame([{"train_store": str(train_store.root), "test_store": str(test_store.root), "net": net,
                           "inputs": "+".join(mods), "n_train": len(train.y), "n_test": len(test.y),
                           "n_dropped_overlap": len(dropped), "n_seeds": settings.repeats,
                           **{f"{m}_{stat}": (per_seed[m].mean() if stat == "mean" else sem(per_seed[m]))
                              for m in TABLE_METRICS for stat in ("mean", "sem")},
                           "auc_of_mean_probability": ensemble_auc}])
    shown = pd.concat([table[["net", "n_train", "n_test", "n_dropped_overlap"]], metric_cells(table),
                       pd.DataFrame({"AUC of mean probability": [f"{ensemble_auc:.3f}"]})], axis=1)
    title = f"External validation ({model}, {settings.repeats} seeds): {label}"
    tmp = prepare_out(out, settings.force)
    write_table(tmp, "external", table, cells_to_markdown(shown), title, notes=[
        "Mean ± SEM over models trained from different seeds on the whole training cohort. The paper trained on "
        "BraTS 2021 and tested on 81 UCSF-PDGM patients not in BraTS: AUC 0.624."])
    per_seed.to_csv(tmp / "metrics.csv", index=False)
    predictions.to_csv(tmp / "predictions.csv", index=False)
    dropped.to_csv(tmp / "dropped.csv", index=False)
    curves = predictions.assign(model=predictions["seed"].map(lambda s: f"seed {s}"))
    save_figure(plot_roc(curves, title=f"External test ROC ({model}, one curve per seed)\n{label}"), tmp / "roc.png")
    finish_results(tmp, out, settings, None, {"train_store": str(train_store.root),
                                              "test_store": str(test_store.root), "features": label})
    return {"external": table, "dropped": dropped}


def _overlap(train_store: FeatureStore, test_store: FeatureStore, net: str, train_ids, test_ids) -> pd.DataFrame:
    """Test cases of the training cohort: same id, or a ``brats_id`` naming a training case."""
    train_names = set(train_ids)
    train_meta = train_store.labels(net)
    if "brats_id" in train_meta.columns:
        train_names |= set(train_meta["brats_id"].dropna().astype(str))
    test_meta = test_store.labels(net).set_index("case_id")
    rows = []
    for case_id in test_ids:
        brats = test_meta.loc[case_id].get("brats_id") if "brats_id" in test_meta.columns else None
        brats = None if brats is None or pd.isna(brats) or brats == "" else str(brats)
        if case_id in train_names:
            rows.append({"case_id": case_id, "brats_id": brats, "reason": "same case id in the training store"})
        elif brats and brats in train_names:
            rows.append({"case_id": case_id, "brats_id": brats, "reason": "brats_id is a training case"})
    return pd.DataFrame(rows, columns=["case_id", "brats_id", "reason"])
