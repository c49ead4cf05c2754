"""Table 4: nets fused as inputs of one classifier, and how reproducible their features are (Lin's CCC)."""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import pandas as pd

from mgmtfeat.evaluation import concordance_correlation, summarise
from mgmtfeat.evaluation.compare import compare_cv_models, cv_interval
from mgmtfeat.experiments.base import (ExperimentSettings, check_out_folder, finish_results, metrics_long, net_inputs,
                                       open_cohort, prepare_out, progress_bar, run_cv, summary_row, table_title,
                                       write_table)
from mgmtfeat.reports import (cells_to_markdown, metric_cells, plot_auc_bars, plot_ccc, plot_gain, plus_minus,
                              save_figure)
from mgmtfeat.store import FeatureSet

__all__ = ["PAPER_MEAN_CCC_BELOW", "feature_ccc", "net_fusion"]

#: The paper reports a mean CCC below this between every pair of nets.
PAPER_MEAN_CCC_BELOW = 0.15


def feature_ccc(data: FeatureSet, nets: Sequence[str], modalities: Sequence[str], scale: bool = True) -> pd.DataFrame:
    """Lin's CCC per feature between every pair of nets, averaged over features (and per modality).

    Parameters
    ----------
    data : FeatureSet
        Features of ``nets`` x ``modalities`` on the same cases, shape (n_cases, n_inputs, 400).
    scale : bool
        Min-max scale each feature to [0, 1] over the cases first, as the paper's published
        features are; otherwise raw logits of different nets differ in scale and CCC says only that.

    Returns
    -------
    pandas.DataFrame
        ``net_a``, ``net_b``, ``ccc_mean`` (mean over modalities and the 400 features; features
        constant in either net are skipped), ``ccc_MODALITY`` per modality. The CCC itself is
        :func:`mgmtfeat.evaluation.concordance_correlation`.
    """
    def block(net, m):
        x = data.column(f"{net}:{m}").astype(float)
        if scale:
            low, span = x.min(axis=0), np.ptp(x, axis=0)
            x = (x - low) / np.where(span > 0, span, 1.0)
        return x

    rows = []
    for a, b in itertools.combinations(nets, 2):
        row = {"net_a": a, "net_b": b}
        values = []
        for m in modalities:
            ccc = concordance_correlation(block(a, m), block(b, m), axis=0)
            row[f"ccc_{m}"] = float(np.nanmean(ccc))
            values.append(ccc)
        row["ccc_mean"] = float(np.nanmean(np.concatenate(values)))
        rows.append(row)
    return pd.DataFrame(rows)


def net_fusion(settings: ExperimentSettings, model: str = "snn", nets: Sequence[str] | None = None,
               modalities: Sequence[str] | None = None, max_nets: int = 4) -> dict[str, pd.DataFrame]:
    """Table 4: every combination of 2..``max_nets`` nets fused, with CCC reproducibility.

    The fusion gain of a combination is its AUC minus the best AUC of its nets alone, tested by the
    corrected resampled t-test against that net on the same (repeat, fold) pairs (``gain_p``); each
    row's AUC has a corrected 95 % CI over folds (``auc_ci_low``, ``auc_ci_high``). The CCC of a
    combination is the mean pairwise CCC of its nets.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{"table4": one row per net and combination, "ccc": one row per pair of nets,
        "gain_vs_ccc": Pearson r of gain against mean CCC}``.
    """
    from scipy import stats

    out = check_out_folder(settings)
    cohort = open_cohort(settings, nets, modalities, min_nets=2)
    mods = [i.split(":", 1)[1] for i in cohort.data.inputs if i.startswith(cohort.nets[0] + ":")]
    combos = [c for k in range(2, min(max_nets, len(cohort.nets)) + 1) for c in itertools.combinations(cohort.nets, k)]
    ccc = feature_ccc(cohort.data, cohort.nets, mods)
    pair_ccc = {frozenset((r.net_a, r.net_b)): r.ccc_mean for r in ccc.itertuples()}
    results, singles, rows = {}, {}, []
    with progress_bar(settings, cohort, len(cohort.nets) + len(combos), "table 4") as bar:
        for net in cohort.nets:
            singles[net] = run_cv(cohort, settings, model, net_inputs(net, mods), bar)
            results[net] = singles[net]
            rows.append({"nets": net, "n_nets": 1, **summary_row(singles[net]), **_ci(singles[net]), "gain": np.nan,
                         "gain_p": np.nan, "mean_ccc": np.nan})
        for combo in combos:
            name = "+".join(combo)
            results[name] = run_cv(cohort, settings, model, [i for n in combo for i in net_inputs(n, mods)], bar)
            row = summary_row(results[name])
            best = max(combo, key=lambda n: summarise(singles[n].metrics)["auc"]["mean"])
            test = compare_cv_models(results[name].metrics, singles[best].metrics)
            cccs = [pair_ccc[frozenset(p)] for p in itertools.combinations(combo, 2)]
            rows.append({"nets": name, "n_nets": len(combo), **row, **_ci(results[name]),
                         "gain": test.mean_difference, "gain_p": test.p_value, "mean_ccc": float(np.mean(cccs))})
    table = pd.DataFrame(rows)
    fused = table[table.n_nets > 1]
    if len(fused) >= 3 and fused["mean_ccc"].nunique() > 1 and fused["gain"].nunique() > 1:
        r, p = stats.pearsonr(fused["mean_ccc"], fused["gain"])
    else:
        r, p = np.nan, np.nan
    gain_vs_ccc = pd.DataFrame([{"pearson_r": float(r), "p_value": float(p), "n_combinations": len(fused)}])
    pairs = fused[fused.n_nets == 2]
    pair_auc, pair_gain = pairs.set_index("nets")["auc_mean"], pairs.set_index("nets")["gain"]
    names = ccc["net_a"] + "+" + ccc["net_b"]
    ccc = ccc.assign(fusion_auc=names.map(pair_auc), gain=names.map(pair_gain))
    shown = pd.concat([table[["nets"]], metric_cells(table),
                       pd.DataFrame({"AUC 95% CI": [f"{lo:.3f} to {hi:.3f}" for lo, hi in
                                                    zip(table["auc_ci_low"], table["auc_ci_high"])],
                                     "gain": [plus_minus(g, None) for g in table["gain"]],
                                     "gain P": ["" if np.isnan(q) else f"{q:.3g}" for q in table["gain_p"]],
                                     "mean CCC": [plus_minus(c, None) for c in table["mean_ccc"]]})], axis=1)
    ccc_shown = ccc.assign(**{c: ccc[c].map(lambda v: plus_minus(v, None))
                              for c in ccc.columns if c not in ("net_a", "net_b")})
    title = table_title(f"Table 4: fusion of nets ({model})", cohort, settings)
    note = (f"Fusion gain = AUC of the combination minus the best AUC of its nets alone; gain P and the AUC 95% CI "
            "use Nadeau and Bengio's corrected resampled t statistics over the same (repeat, fold) pairs (± is the "
            "SEM over folds, descriptive only); mean CCC = mean over "
            f"its net pairs of Lin's CCC per feature (features min-max scaled over cases). Pearson r between "
            f"gain and mean CCC over {len(fused)} combinations: "
            + (f"r = {r:.2f} (P = {p:.3f})." if np.isfinite(r) else "not defined (fewer than 3 combinations)."))
    tmp = prepare_out(out, settings.force)
    write_table(tmp, "table4", table, cells_to_markdown(shown), title.replace("\n", " — "), notes=[note])
    write_table(tmp, "ccc", ccc, cells_to_markdown(ccc_shown),
                f"Feature reproducibility between nets (Lin's CCC) — {cohort.label}",
                notes=[f"The paper reports a mean CCC below {PAPER_MEAN_CCC_BELOW} between every pair of nets."])
    gain_vs_ccc.to_csv(tmp / "gain_vs_ccc.csv", index=False)
    metrics_long(results).to_csv(tmp / "metrics.csv", index=False)
    save_figure(plot_auc_bars(table["nets"], table, "Nets fused", title), tmp / "fusion.png")
    save_figure(plot_ccc(ccc, cohort.nets, f"Feature CCC between nets\n{cohort.label}"), tmp / "ccc.png")
    save_figure(plot_gain(fused, r, f"Fusion gain vs feature CCC\n{cohort.label}"), tmp / "gain_vs_ccc.png")
    finish_results(tmp, out, settings, cohort, {"gain_vs_ccc_r": r})
    return {"table4": table, "ccc": ccc, "gain_vs_ccc": gain_vs_ccc}


def _ci(result) -> dict:
    ci = cv_interval(result.metrics)
    return {"auc_ci_low": ci.low, "auc_ci_high": ci.high}
