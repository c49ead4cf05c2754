"""``MODEL_CARD.md`` of a model folder: intended use, training data, metrics and limitations."""

from __future__ import annotations

import pandas as pd

from mgmtfeat.bundle.record import ModelRecord

__all__ = ["model_card"]


def _provenance_lines(record: ModelRecord) -> list[str]:
    lines = []
    for net, prov in record.provenance.items():
        weights = prov.get("weights_id") or prov.get("weights") or "not recorded"
        sha = prov.get("weights_sha256")
        lines.append(f"- **{net}**: weights {weights}" + (f" (sha256 `{sha}`)" if sha else ""))
        if prov.get("random_weights"):
            lines.append(f"  - **WARNING: {net} ran with RANDOM weights, not trained ones. These features carry no "
                         "learned video representation; this model is a test artefact and must not be used to "
                         "draw any conclusion.**")
        clips = prov.get("clips") or prov.get("preprocessing")
        if clips:
            lines.append(f"  - clips: {clips}")
    return lines


def model_card(record: ModelRecord, cv: pd.DataFrame | None) -> str:
    """The model card text of ``record`` (model.json) and, for fold models, their out-of-fold metrics.

    Parameters
    ----------
    record : ModelRecord
        The record written by :func:`mgmtfeat.bundle.fit_bundle`.
    cv : pandas.DataFrame or None
        Bootstrap table (``metric``, ``estimate``, ``low``, ``high``) of the out-of-fold predictions.
    """
    task, model = record.task, record.model
    counts = ", ".join(f"{c}: {n}" for c, n in task["cases_per_class"].items())
    random = [n for n, p in record.provenance.items() if p.get("random_weights")]
    lines = [f"# Model card: {model['name']} on {'+'.join(record.nets)} features", ""]
    if random:
        lines += [f"> **RANDOM WEIGHTS**: the features of {', '.join(random)} come from a network with random "
                  "weights. Not a usable model.", ""]
    lines += [
        "## Intended use",
        "For research only: studying how well off-the-shelf video-network features of routine MRI separate "
        f"the classes {task['classes']}. **Not a medical device; not for clinical decisions** about any patient. "
        "Predict only on features made exactly as the training features were (`mgmtfeat predict` refuses others).",
        "",
        "## Model",
        f"- {model['name']}: {model['description']}; parameters set: {model['params'] or 'defaults'}",
        f"- inputs: {', '.join(record.inputs)}",
        f"- seed {record.seed}; mgmtfeat {record.mgmtfeat_version}; "
        + ", ".join(f"{k} {v}" for k, v in record.libraries.items() if v),
    ]
    if record.ensemble:
        ens = record.ensemble
        lines.append(f"- {ens['k']} fold models (stratified {ens['k']}-fold split, seeds {ens['seeds']}), combined "
                     "at prediction by mean probability or majority vote")
    else:
        lines.append("- one model fitted on all training cases")
    lines += [
        "",
        "## Training data",
        f"- feature store `{record.features['store']}`; {task['n_cases']} cases ({counts})",
        f"- labels: {task['label_source']}; classes {task['classes']}"
        + (f", positive class {task['positive_class']!r}" if task["positive_class"] is not None else ""),
        f"- store cases without a label left out: {task['n_unlabelled_left_out']}; label-file ids not in the store: "
        f"{task['n_label_ids_not_in_store']}",
        *_provenance_lines(record),
        "",
        "## Metrics",
    ]
    if cv is not None:
        lines += ["Out-of-fold predictions of the fold models (each case scored by the model that did not see it), "
                  "with percentile bootstrap 95 % CIs over cases:", "", "| metric | estimate | 95 % CI |",
                  "| --- | --- | --- |"]
        lines += [f"| {r.metric} | {r.estimate:.3f} | {r.low:.3f} to {r.high:.3f} |" for r in cv.itertuples()]
    else:
        lines.append("None: a single model on all cases has no held-out estimate. Fit with `--fold-models K` for "
                     "out-of-fold metrics, or run `mgmtfeat cv` with the same settings.")
    lines += [
        "",
        "## Limitations",
        "- Trained on one cohort (one store); performance on other scanners, sites and protocols is unknown "
        "until measured on them.",
        f"- Features of {'one net' if len(record.nets) == 1 else 'the nets ' + ', '.join(record.nets)} only; "
        "a change of weights, clip settings or preprocessing changes the features and invalidates the model.",
        "- Out-of-fold metrics are estimates from the training cohort, optimistic for new cohorts; report "
        "results on an external test set.",
        "- Labels are taken as given; label noise (e.g. MGMT assay cut-offs) bounds what any model can reach.",
        "",
    ]
    return "\n".join(lines)
