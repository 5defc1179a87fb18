"""scikit-learn's estimator checks for every public skae estimator, from one list.

``ESTIMATORS`` holds fast, seeded instances of every public estimator (imbalanced-learn's
``INIT_PARAMS`` idea); ``test_every_public_estimator_is_checked`` walks the public modules
and fails when a public estimator is missing from it. On that list run
``parametrize_with_checks`` and, as in sklearn's own ``test_common.py``, the checks that
sklearn runs separately: parameter validation and DataFrame feature names for every
estimator, ``get_feature_names_out`` and ``set_output`` for the transformers.
"""

import importlib
import inspect
import warnings

import pytest
from _public_api import public_modules
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_get_feature_names_out_error,
    check_global_output_transform_pandas,
    check_param_validation,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)

import skae
from skae import (
    AEAnomalyDetector,
    BaseAutoEncoder,
    ConvAutoEncoder,
    CrossConformalDetector,
    DenseAutoEncoder,
    FusedAnomalyDetector,
    LinearAutoEncoder,
    OpenSetDetector,
    TransductiveNoveltyDetector,
    VariationalConvAutoEncoder,
    VariationalDenseAutoEncoder,
)
from skae.augmentation import RandomFlip, RandomShift
from skae.compression import AutoEncoderCodec, PCACodec
from skae.corruption import GaussianNoise, PixelDropout
from skae.preprocessing import ImageAligner
from skae.semi_supervised import EncoderClassifier, FewLabelClassifier

CPU = dict(random_state=0, device="cpu")
FAST = dict(max_epochs=2, batch_size=16, **CPU)


def _tiny_dense(**params):
    return DenseAutoEncoder(**{"latent_dim": 2, "hidden_layer_sizes": (8,), **FAST, **params})


# One entry per estimator configuration to check; every public estimator at least once.
ESTIMATORS = [
    # ---- autoencoders
    _tiny_dense(),
    ConvAutoEncoder(latent_dim=2, channels=(4,), **FAST),
    # The contrastive training step (two augmented views per sample) under every check.
    ConvAutoEncoder(latent_dim=2, channels=(4,), contrastive=[RandomShift(1), RandomFlip()],
                    **FAST),
    # Training-input corruption (the noise is drawn in the training step only).
    _tiny_dense(corruption=[GaussianNoise(0.1), PixelDropout(0.2, fill="mean")]),
    # The U-Net for restoration: skip connections, residual output, a spatial code.
    ConvAutoEncoder(latent_dim=2, channels=(4, 4), architecture="unet", residual=True,
                    corruption=[GaussianNoise(0.1)], **FAST),
    LinearAutoEncoder(latent_dim=1, max_epochs=3, **CPU),
    VariationalDenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), n_importance_samples=4,
                                **FAST),
    VariationalConvAutoEncoder(latent_dim=2, channels=(4,), n_importance_samples=4, **FAST),
    # ---- compression
    AutoEncoderCodec(_tiny_dense(hidden_layer_sizes=(16,), batch_size=32), bits=3),
    PCACodec(2, bits=3),
    # ---- semi-supervised
    FewLabelClassifier(LogisticRegression()),
    EncoderClassifier(
        DenseAutoEncoder(latent_dim=4, hidden_layer_sizes=(16,), max_epochs=5, batch_size=64,
                         **CPU),
        max_epochs=30, batch_size=64, **CPU,
    ),
    # ---- preprocessing
    ImageAligner(),
    # ---- anomaly detection
    AEAnomalyDetector(_tiny_dense(), random_state=0),  # novelty=True: held-out offset
    AEAnomalyDetector(_tiny_dense(), method="reconstruction", contamination=0.1,
                      random_state=0),
    # The log-likelihood of a variational autoencoder as the score.
    AEAnomalyDetector(VariationalDenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,),
                                                  n_importance_samples=4, **FAST),
                      method="likelihood", random_state=0),
    # Outlier detection (fit_predict, contamination = share of the training data).
    AEAnomalyDetector(_tiny_dense(), novelty=False, contamination=0.1, random_state=0),
    # Two detectors on all the columns; the checks' y (when given) picks the weights.
    FusedAnomalyDetector([
        ("forest", IsolationForest(n_estimators=10, random_state=0), slice(None)),
        ("autoencoder", AEAnomalyDetector(_tiny_dense(), random_state=0), slice(None)),
    ], random_state=0),
    # Calibrated on out-of-fold scores of every training sample (cv clones).
    CrossConformalDetector(IsolationForest(n_estimators=10, random_state=0), cv=3,
                           random_state=0),
    CrossConformalDetector(AEAnomalyDetector(_tiny_dense(), random_state=0), cv=2,
                           contamination=0.1, random_state=0),
    # Judges the items marked new in y from their neighbours among all items (here the
    # checks' label 0 marks the new items, since their y has no -1).
    TransductiveNoveltyDetector("passthrough", n_neighbors=3, new_label=0, random_state=0),
    TransductiveNoveltyDetector(_tiny_dense(), n_neighbors=3, new_label=0, random_state=0),
    # Open-set detection from a classifier of the known kinds (fit needs y).
    OpenSetDetector(LogisticRegression(), random_state=0),
    OpenSetDetector(EncoderClassifier(
        DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2, batch_size=64,
                         **CPU), max_epochs=5, batch_size=64, **CPU),
        method="max_proba", random_state=0),
]

LABELS_MINUS_ONE = (
    "check_classifiers_classes fits labels {-1, 1}: -1 marks unlabelled rows here (the "
    "sklearn.semi_supervised convention), so only one class is left and fit must refuse."
)

# Checks that fail by design, with the reason why: one entry per estimator class.
EXPECTED_FAILED_CHECKS = {
    AEAnomalyDetector: {
        "check_methods_subset_invariance": (
            "float32 torch matrix products differ with the batch size at the 1e-7 level "
            "(the check's tolerance); scores agree to about 1e-6."
        )
    },
    FusedAnomalyDetector: {
        "check_methods_subset_invariance": (
            "its AEAnomalyDetector's float32 torch matrix products differ with the batch "
            "size at the 1e-7 level (the check's tolerance); scores agree to about 1e-6."
        )
    },
    CrossConformalDetector: {
        "check_methods_subset_invariance": (
            "its AEAnomalyDetector's float32 torch matrix products differ with the batch "
            "size at the 1e-7 level (the check's tolerance); scores agree to about 1e-6."
        )
    },
    TransductiveNoveltyDetector: {
        "check_estimators_dtypes": (
            "the check's y has no item marked new (new_label=0 here): nothing to judge, "
            "and fit refuses with a clear error."
        ),
        "check_fit2d_1feature": (
            "the check's y has no item marked new (new_label=0 here): nothing to judge, "
            "and fit refuses with a clear error."
        ),
    },
    OpenSetDetector: {
        "check_outliers_train": (
            "an open-set detector learns the known kinds from y, and this check fits "
            "outlier detectors without labels (fit(X)); fit(X) is refused with a clear error."
        ),
    },
    FewLabelClassifier: {"check_classifiers_classes": LABELS_MINUS_ONE},
    EncoderClassifier: {
        "check_classifiers_classes": LABELS_MINUS_ONE,
        "check_methods_subset_invariance": (
            "float32 torch matrix products differ with the batch size at the 1e-7 level "
            "(tolerance of the check); predictions agree."
        ),
    },
}



def expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator), {})


def _ids(estimator):
    return type(estimator).__name__


TRANSFORMERS = [est for est in ESTIMATORS if isinstance(est, TransformerMixin)]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_dataframe_column_names_consistency(estimator):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        check_dataframe_column_names_consistency(type(estimator).__name__, estimator)
    # As in sklearn's test_common: feature names seen at fit must not be lost on the way.
    for warning in record:
        assert "was fitted without feature names" not in str(warning.message)


@pytest.mark.parametrize(
    "estimator", [est for est in ESTIMATORS if hasattr(est, "get_feature_names_out")],
    ids=_ids,
)
def test_get_feature_names_out_error(estimator):
    check_get_feature_names_out_error(type(estimator).__name__, estimator)


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=_ids)
def test_transformer_get_feature_names_out(transformer):
    check_transformer_get_feature_names_out(type(transformer).__name__, transformer)
    check_transformer_get_feature_names_out_pandas(type(transformer).__name__, transformer)


# The pandas checks fit on one input and transform the other (arrays vs DataFrames);
# sklearn's own transformers (PCA, ...) warn there just the same.
@pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")
@pytest.mark.filterwarnings("ignore:X does not have valid feature names:UserWarning")
@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=_ids)
@pytest.mark.parametrize(
    "check",
    [
        check_set_output_transform,
        check_set_output_transform_pandas,
        check_global_output_transform_pandas,
    ],
)
def test_set_output(transformer, check):
    check(type(transformer).__name__, transformer)


# ------------------------------------------------------------------ the list is complete
def public_estimators():
    """Every concrete estimator class a user imports without an underscore: the
    ``__all__`` of each public module (its public names where it has no ``__all__``)."""
    found = set()
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None)
        if names is None:
            names = [name for name in vars(module) if not name.startswith("_")]
        for name in names:
            obj = getattr(module, name)
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseEstimator)
                and obj.__module__.split(".")[0] == "skae"
                and not inspect.isabstract(obj)
            ):
                found.add(obj)
    return found


def _names(classes):
    return sorted(cls.__name__ for cls in classes)


def test_every_public_estimator_is_checked():
    public = public_estimators()
    checked = {type(est) for est in ESTIMATORS}
    missing = public - checked
    assert not missing, f"public estimators missing from ESTIMATORS: {_names(missing)}"
    assert checked <= public, f"not public: {_names(checked - public)}"
    assert set(EXPECTED_FAILED_CHECKS) <= checked, "expected failures of unlisted classes"
    # Sanity of the walk itself: it sees the subpackages' estimators too.
    assert {DenseAutoEncoder, AutoEncoderCodec, EncoderClassifier} <= public


# ------------------------------------------------------------------ BaseAutoEncoder
def test_base_autoencoder_is_abstract():
    assert inspect.isabstract(BaseAutoEncoder)
    with pytest.raises(TypeError, match="abstract"):
        BaseAutoEncoder(latent_dim=2)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_concrete_autoencoders_implement_the_subclass_api():
    # The public autoencoders implement every abstract method; only private bases
    # (such as the tabular one, which builds no network) stay abstract.
    assert BaseAutoEncoder.__abstractmethods__ == {
        "__init__", "_validate_input", "_to_sample_shape", "_build_encoder_decoder"
    }
    concrete = [
        cls for cls in _subclasses(BaseAutoEncoder)
        if cls.__module__.startswith("skae") and not cls.__name__.startswith("_")
    ]
    assert {DenseAutoEncoder, ConvAutoEncoder, LinearAutoEncoder} <= set(concrete)
    for cls in concrete:
        assert not inspect.isabstract(cls), (cls, cls.__abstractmethods__)


def test_subclass_missing_a_method_cannot_be_instantiated():
    class NoNetwork(BaseAutoEncoder):
        def __init__(self, latent_dim=2):
            super().__init__(latent_dim=latent_dim)

        def _validate_input(self, X, reset):
            return X

        def _to_sample_shape(self, array):
            return array

    with pytest.raises(TypeError, match="_build_encoder_decoder"):
        NoNetwork()
