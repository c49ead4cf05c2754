"""Step 10, fitted-model folders: train once (:func:`fit_bundle`), predict new patients (:func:`predict_bundle`).

In the step order (:data:`mgmtfeat.STEPS`) it comes after evaluation and reports: it uses the store,
the models and the evaluation metrics; only saliency, experiments and the commands may import it.
What experiments share with it (:func:`~mgmtfeat.models.ensemble.bundle_proba`,
:func:`~mgmtfeat.models.slices.check_slice_model`, :func:`~mgmtfeat.store.slices.is_slice_store`)
lives in those earlier steps. A model folder holds::

    model.json          what was fitted, on what (store, provenance, classes, seeds), with which versions
    estimator.skops     or estimator-fold0.skops ... (or .safetensors + .json for the torch models)
    MODEL_CARD.md       intended use, training data, metrics, limitations
    folds.csv, oof_predictions.csv, cv_metrics.csv, cv_bootstrap.csv     fold models only

>>> from mgmtfeat.bundle import FitSettings, fit_bundle, predict_bundle

Slice models (per-slice embeddings, predictive index, fold models voting): :mod:`mgmtfeat.bundle.slices`.
"""

from mgmtfeat.bundle.fit import FitSettings, fit_bundle
from mgmtfeat.bundle.predict import PredictSettings, load_bundle, predict_bundle
from mgmtfeat.bundle.record import FORMAT, BundleError

__all__ = ["FORMAT", "BundleError", "FitSettings", "fit_bundle", "PredictSettings", "load_bundle", "predict_bundle"]
