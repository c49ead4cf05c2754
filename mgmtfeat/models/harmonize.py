"""ComBat harmonisation of features by site, as a scikit-learn transformer fitted on training rows only.

ComBat (Johnson, Li and Rabinovic, Biostatistics 8, 2007) removes per-site location and scale
effects from each feature with empirical-Bayes shrinkage across features (parametric priors), while
keeping the effects of optional biological covariates. Here it is fitted on the training rows of a
fold and applied, unchanged, to the test rows: the test rows' sites must have been seen in training.

Why written here rather than imported: ``neuroCombat`` 0.2.12 (Fortin et al.) is a function on a
whole data set, not an estimator, and its apply-to-new-data function fails under numpy 2;
``combatlearn`` 2.3.0 is an estimator but takes the sites of all rows at construction and brings
plotting dependencies (plotly, seaborn, umap-learn). The algorithm is short; the tests compare this
implementation with neuroCombat's output on a fixed example (``tests/fixtures/combat_reference.npz``).

How sites reach the transformer inside a ``Pipeline`` or :func:`mgmtfeat.evaluation.cross_validate`:
pass ``site_column=0`` and prepend the site code as the first column of X (the column is used for
the site and dropped from the output, so the classifier never sees it). Outside pipelines, or with
scikit-learn metadata routing enabled, ``fit(X, sites=...)`` / ``transform(X, sites=...)`` work too.
The first way needs no global configuration and survives ``clone``, ``GridSearchCV`` and saved folds
unchanged, which is why it is the one the pipelines use.

>>> from mgmtfeat.models.harmonize import ComBatHarmonizer
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

__all__ = ["ComBatHarmonizer"]


def _split_columns(X, site_column, covariate_columns, sites, covariates, method: str):
    """Features, sites and covariates from X (column mode) or from the arguments."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_cases, n_features); got shape {X.shape}.")
    covariate_columns = list(covariate_columns or ())
    if site_column is not None:
        if sites is not None:
            raise ValueError(f"{method}: sites given both as site_column={site_column} and as sites=; use one.")
        sites = X[:, site_column]
        covariates = X[:, covariate_columns] if covariate_columns else covariates
        keep = np.setdiff1d(np.arange(X.shape[1]), [site_column, *covariate_columns])
        X = X[:, keep]
    elif sites is None:
        raise ValueError(f"{method} needs the site of each row: pass sites=, or build the harmonizer with "
                         "site_column=<index of the site column of X> to use it inside a Pipeline.")
    sites = np.asarray(sites)
    if sites.shape != (len(X),):
        raise ValueError(f"sites must hold one site per row of X: shape {sites.shape} for {len(X)} rows.")
    if covariates is not None:
        covariates = np.asarray(covariates, dtype=float).reshape(len(X), -1)
    for name, values in (("X", X), ("covariates", covariates)):
        if values is not None and not np.isfinite(values).all():
            rows, cols = np.nonzero(~np.isfinite(values))
            raise ValueError(f"{name} holds {len(rows)} missing or infinite values (first at row {rows[0]}, column "
                             f"{cols[0]}); ComBat needs complete data: impute them (inside the pipeline) or drop "
                             "those cases/features.")
    return X, sites, covariates


def _eb_site(z: np.ndarray, gamma_hat: np.ndarray, delta_hat: np.ndarray, conv: float = 1e-4):
    """Parametric empirical-Bayes estimates for one site (Johnson et al. 2007, eqs. 3.1-3.2).

    Parameters
    ----------
    z : ndarray, shape (n_site, n_features)
        Standardised data of the site's rows.
    gamma_hat, delta_hat : ndarray, shape (n_features,)
        The site's per-feature mean and variance (ddof=1) of ``z``.
    conv : float
        Relative change at which the fixed-point iteration stops; 1e-4 as in R's sva::ComBat and
        neuroCombat, so results agree with theirs.

    Returns
    -------
    gamma_star, delta_star : ndarray, shape (n_features,)
    """
    n = z.shape[0]
    # priors across features: normal for gamma, inverse gamma (method of moments) for delta
    gamma_bar, t2 = gamma_hat.mean(), gamma_hat.var(ddof=1)
    m, s2 = delta_hat.mean(), delta_hat.var(ddof=1)
    a, b = (2 * s2 + m ** 2) / s2, (m * s2 + m ** 3) / s2
    g_old, d_old = gamma_hat, delta_hat
    while True:
        g_new = (t2 * n * gamma_hat + d_old * gamma_bar) / (t2 * n + d_old)
        sum2 = ((z - g_new) ** 2).sum(axis=0)
        d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
        # divided by the signed g_old, exactly as sva::ComBat and neuroCombat do (so a feature with a
        # negative gamma does not hold up the stop); this keeps the iterates identical to theirs
        with np.errstate(divide="ignore", invalid="ignore"):
            change = max(np.max(np.abs(g_new - g_old) / g_old), np.max(np.abs(d_new - d_old) / d_old))
        g_old, d_old = g_new, d_new
        if not change > conv:  # also stops on NaN (a gamma_hat of exactly 0) instead of looping for ever
            return g_new, d_new


class ComBatHarmonizer(TransformerMixin, BaseEstimator):
    """ComBat site harmonisation fitted on training rows, applied to any rows of known sites.

    Parameters
    ----------
    site_column : int, optional
        Index of the column of X that holds the site code (numbers); it and ``covariate_columns``
        are removed from the output. Without it, pass ``sites=`` to ``fit`` and ``transform``.
    covariate_columns : sequence of int, optional
        Columns of X (column mode) holding numeric covariates whose effects are kept (e.g. age,
        one-hot sex). Never the label: it is unknown for test rows.
    empirical_bayes : bool
        Shrink the site effects across features (ComBat proper); False uses the per-site means
        and variances as they are (location/scale adjustment).

    Attributes
    ----------
    sites_ : ndarray, shape (n_sites,)
        Sites seen in training, sorted.
    grand_mean_ : ndarray, shape (n_features,)
        Site-size-weighted mean of the features.
    var_pooled_ : ndarray, shape (n_features,)
        Pooled residual variance.
    beta_covariates_ : ndarray, shape (n_covariates, n_features)
    gamma_star_, delta_star_ : ndarray, shape (n_sites, n_features)
        Additive and multiplicative site effects on the standardised scale.
    n_features_in_ : int
        Columns of X at fit (site and covariate columns included).
    """

    def __init__(self, site_column: int | None = None, covariate_columns: Sequence[int] | None = None,
                 empirical_bayes: bool = True):
        self.site_column = site_column
        self.covariate_columns = covariate_columns
        self.empirical_bayes = empirical_bayes

    def fit(self, X, y=None, sites=None, covariates=None):
        """Estimate the site effects from training rows.

        Parameters
        ----------
        X : array-like, shape (n_cases, n_columns)
            Features (plus the site and covariate columns in column mode).
        y : ignored
            Present for the Pipeline contract; labels are never used.
        sites : array-like, shape (n_cases,), optional
            Site of each row (any labels), unless ``site_column`` is set.
        covariates : array-like, shape (n_cases, n_covariates), optional
            Numeric covariates to protect, unless ``covariate_columns`` is set.

        Returns
        -------
        self
        """
        self.n_features_in_ = np.asarray(X).shape[1] if np.ndim(X) == 2 else 0
        X, sites, covariates = _split_columns(X, self.site_column, self.covariate_columns, sites, covariates, "fit")
        levels, index, counts = np.unique(sites, return_inverse=True, return_counts=True)
        if len(levels) < 2:
            raise ValueError(f"fit: all {len(X)} rows come from site {levels[0]!r}; ComBat needs at least 2 sites. "
                             "Leave the harmonizer out for single-site data.")
        if counts.min() < 2:
            lonely = [str(s) for s in levels[counts < 2]]
            raise ValueError(f"fit: site(s) {lonely} have a single training case; a site's variance needs at least "
                             "2. Merge the site with a similar one, drop its case, or use folds that keep >= 2 of its "
                             "cases in every training set.")
        if X.shape[1] < 2:
            raise ValueError(f"fit: X has {X.shape[1]} feature(s); the empirical-Bayes priors are estimated across "
                             "features and need at least 2 (use empirical_bayes=False otherwise).")
        n, n_sites = len(X), len(levels)
        onehot = np.eye(n_sites)[index]
        design = onehot if covariates is None else np.hstack([onehot, covariates])
        beta = np.linalg.lstsq(design, X, rcond=None)[0]  # (n_sites + n_covariates, n_features)
        self.grand_mean_ = (counts / n) @ beta[:n_sites]
        self.beta_covariates_ = beta[n_sites:]
        var = ((X - design @ beta) ** 2).mean(axis=0)
        self.var_pooled_ = np.where(var > 0, var, 1.0)  # a constant feature: leave it as it is
        z, _ = self._standardise(X, covariates)
        gamma_hat = np.stack([z[index == k].mean(axis=0) for k in range(n_sites)])
        delta_hat = np.stack([z[index == k].var(axis=0, ddof=1) for k in range(n_sites)])
        delta_hat[delta_hat == 0] = 1.0  # no spread within the site: no scale correction (as neuroCombat)
        if self.empirical_bayes:
            stars = [_eb_site(z[index == k], gamma_hat[k], delta_hat[k]) for k in range(n_sites)]
            gamma_hat, delta_hat = np.stack([g for g, _ in stars]), np.stack([d for _, d in stars])
        self.sites_, self.gamma_star_, self.delta_star_ = levels, gamma_hat, delta_hat
        return self

    def fit_transform(self, X, y=None, sites=None, covariates=None):
        """:meth:`fit` then :meth:`transform` of the same rows (sites and covariates forwarded to both,
        which metadata routing needs).

        Returns
        -------
        ndarray, shape (n_cases, n_features)
        """
        return self.fit(X, y, sites=sites, covariates=covariates).transform(X, sites=sites, covariates=covariates)

    def _standardise(self, X: np.ndarray, covariates) -> tuple[np.ndarray, np.ndarray | float]:
        """Standardised data, shape (n_cases, n_features), and the covariates' effect on X."""
        effect = 0.0 if covariates is None else covariates @ self.beta_covariates_
        return (X - self.grand_mean_ - effect) / np.sqrt(self.var_pooled_), effect

    def transform(self, X, sites=None, covariates=None):
        """Remove the training sites' effects from rows of those sites.

        Parameters
        ----------
        X : array-like, shape (n_cases, n_columns)
            As at fit.
        sites : array-like, shape (n_cases,), optional
            Unless ``site_column`` is set; every site must have been seen at fit.
        covariates : array-like, shape (n_cases, n_covariates), optional
            The rows' own covariates, if the harmonizer was fitted with covariates.

        Returns
        -------
        ndarray, shape (n_cases, n_features)
            Harmonised features (site and covariate columns removed in column mode).
        """
        check_is_fitted(self, "gamma_star_")
        X, sites, covariates = _split_columns(X, self.site_column, self.covariate_columns, sites, covariates,
                                              "transform")
        if X.shape[1] != len(self.grand_mean_):
            raise ValueError(f"transform: X has {X.shape[1]} features, the harmonizer was fitted on "
                             f"{len(self.grand_mean_)}; pass the same columns.")
        n_cov = len(self.beta_covariates_)
        if (covariates is None and n_cov) or (covariates is not None and covariates.shape[1] != n_cov):
            raise ValueError(f"transform: the harmonizer was fitted with {n_cov} covariate(s); pass the same "
                             "covariates for these rows.")
        unseen = [str(s) for s in np.unique(sites[~np.isin(sites, self.sites_)])]
        if unseen:
            raise ValueError(f"transform: site(s) {unseen} were not in the training rows (seen: "
                             f"{[str(s) for s in self.sites_]}); ComBat cannot estimate their effects. Put cases of "
                             "every site in each training set (stratify the folds by site) or drop those rows.")
        k = np.searchsorted(self.sites_, sites)
        z, effect = self._standardise(X, covariates)
        adjusted = (z - self.gamma_star_[k]) / np.sqrt(self.delta_star_[k])
        return adjusted * np.sqrt(self.var_pooled_) + self.grand_mean_ + effect
