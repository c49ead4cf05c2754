"""ComBat against neuroCombat's output on a fixed example, train-only fitting, pipelines, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mgmtfeat.models.harmonize import ComBatHarmonizer

REF = np.load(Path(__file__).resolve().parents[1] / "fixtures" / "combat_reference.npz")
# Same algorithm, same fixed-point iterates; only the least-squares route differs (lstsq here, an
# explicit inverse in neuroCombat): agreement seen is ~3e-14 on values up to 13, so 1e-10 absolute.
TOL = 1e-10


def test_matches_neurocombat_on_training_and_test_rows():
    x, sites = REF["x_train"], REF["sites_train"]
    h = ComBatHarmonizer().fit(x, sites=sites)
    np.testing.assert_allclose(h.transform(x, sites=sites), REF["train"], rtol=0, atol=TOL)
    np.testing.assert_allclose(h.gamma_star_, REF["gamma_star"], rtol=0, atol=TOL)
    np.testing.assert_allclose(h.delta_star_, REF["delta_star"], rtol=0, atol=TOL)
    # unseen rows of known sites, with the training estimates (neuroCombatFromTraining)
    np.testing.assert_allclose(h.transform(REF["x_test"], sites=REF["sites_test"]), REF["test"], rtol=0, atol=TOL)
    assert list(h.sites_) == ["siteA", "siteB", "siteC"]


def test_matches_neurocombat_with_a_covariate_and_without_empirical_bayes():
    x, sites = REF["x_train"], REF["sites_train"]
    # neuroCombat casts continuous covariates to float32; cast ours the same way to compare like with like
    age = REF["age_train"].astype(np.float32).astype(float)
    h = ComBatHarmonizer().fit(x, sites=sites, covariates=age)
    np.testing.assert_allclose(h.transform(x, sites=sites, covariates=age), REF["train_age"], rtol=0, atol=TOL)
    plain = ComBatHarmonizer(empirical_bayes=False).fit(x, sites=sites)
    np.testing.assert_allclose(plain.transform(x, sites=sites), REF["train_no_eb"], rtol=0, atol=TOL)


def test_location_scale_adjustment_equalises_site_means():
    # Without shrinkage each site's adjusted mean is the grand mean exactly (hand algebra: the site's
    # standardised mean gamma_hat is subtracted), whatever the site shifts were.
    x, sites = REF["x_train"], REF["sites_train"]
    h = ComBatHarmonizer(empirical_bayes=False).fit(x, sites=sites)
    out = h.transform(x, sites=sites)
    for s in np.unique(sites):
        np.testing.assert_allclose(out[sites == s].mean(axis=0), h.grand_mean_, rtol=0, atol=1e-12)


def test_fitted_on_training_rows_only_and_rows_are_independent():
    x, sites = REF["x_train"], REF["sites_train"]
    h = ComBatHarmonizer().fit(x, sites=sites)
    before = {k: v.copy() for k, v in vars(h).items() if k.endswith("_") and isinstance(v, np.ndarray)}
    together = h.transform(REF["x_test"], sites=REF["sites_test"])
    one_by_one = np.vstack([h.transform(REF["x_test"][i:i + 1], sites=REF["sites_test"][i:i + 1])
                            for i in range(len(REF["x_test"]))])
    np.testing.assert_array_equal(together, one_by_one)  # a test row's output never depends on other test rows
    for key, value in before.items():
        np.testing.assert_array_equal(getattr(h, key), value)  # transform learns nothing


def test_site_column_inside_a_pipeline_equals_the_sites_argument():
    x, sites = REF["x_train"], REF["sites_train"]
    codes = np.searchsorted(np.unique(sites), sites).astype(float)  # site as a numeric first column
    with_column = np.column_stack([codes, x])
    direct = ComBatHarmonizer().fit(x, sites=codes).transform(x, sites=codes)
    np.testing.assert_array_equal(ComBatHarmonizer(site_column=0).fit_transform(with_column), direct)

    y = (x[:, 0] > np.median(x[:, 0])).astype(int)
    model = clone(make_pipeline(ComBatHarmonizer(site_column=0), LogisticRegression()))
    p = model.fit(with_column, y).predict_proba(with_column)
    assert p.shape == (len(y), 2) and model[-1].n_features_in_ == x.shape[1]  # the site column is dropped


def test_sites_through_metadata_routing():
    x, sites = REF["x_train"], REF["sites_train"]
    y = (x[:, 0] > np.median(x[:, 0])).astype(int)
    with sklearn.config_context(enable_metadata_routing=True):
        harmonizer = ComBatHarmonizer().set_fit_request(sites=True).set_transform_request(sites=True)
        model = make_pipeline(harmonizer, LogisticRegression().set_fit_request(sample_weight=False))
        p = model.fit(x, y, sites=sites).predict_proba(x, sites=sites)
    reference = LogisticRegression().fit(ComBatHarmonizer().fit_transform(x, sites=sites), y)
    # the same float64 fits through a pipeline and by hand (lbfgs from the same start): equal to rounding, 1e-12
    np.testing.assert_allclose(p, reference.predict_proba(ComBatHarmonizer().fit_transform(x, sites=sites)),
                               rtol=0, atol=1e-12)


def test_bad_input_gives_clear_errors():
    x, sites = REF["x_train"], REF["sites_train"].copy()
    lonely = sites.copy()
    lonely[0] = "siteD"
    with pytest.raises(ValueError, match=r"\['siteD'\] have a single training case.*Merge the site"):
        ComBatHarmonizer().fit(x, sites=lonely)
    h = ComBatHarmonizer().fit(x, sites=sites)
    with pytest.raises(ValueError, match=r"\['siteE'\] were not in the training rows.*stratify the folds by site"):
        h.transform(REF["x_test"], sites=np.array(["siteA"] * 5 + ["siteE"]))
    missing = x.copy()
    missing[3, 2] = np.nan
    with pytest.raises(ValueError, match="1 missing or infinite values .*row 3, column 2.*impute"):
        ComBatHarmonizer().fit(missing, sites=sites)
    with pytest.raises(ValueError, match="at least 2 sites"):
        ComBatHarmonizer().fit(x, sites=np.full(len(x), "siteA"))
    with pytest.raises(ValueError, match="needs the site of each row"):
        ComBatHarmonizer().fit(x)
    with pytest.raises(ValueError, match="fitted with 0 covariate"):
        h.transform(x, sites=sites, covariates=REF["age_train"])
