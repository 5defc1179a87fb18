"""scikit-learn's estimator checks for every public skae estimator.

``parametrize_with_checks`` plus the checks that sklearn's own ``test_common.py`` runs
separately: parameter validation, DataFrame feature names, ``get_feature_names_out`` and
``set_output`` with pandas.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skae import ConvAutoEncoder, DenseAutoEncoder, LinearAutoEncoder
from skae.augmentation import RandomFlip, RandomShift

FAST = dict(max_epochs=2, batch_size=16, random_state=0, device="cpu")

# Fast, seeded settings per estimator (imbalanced-learn's INIT_PARAMS idea).
ESTIMATORS = [
    DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), **FAST),
    ConvAutoEncoder(latent_dim=2, channels=(4,), **FAST),
    # The contrastive training step (two augmented views per sample) under every check.
    ConvAutoEncoder(latent_dim=2, channels=(4,), contrastive=[RandomShift(1), RandomFlip()],
                    **FAST),
    LinearAutoEncoder(latent_dim=1, max_epochs=3, random_state=0, device="cpu"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def _ids(estimator):
    return type(estimator).__name__


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_param_validation(estimator):
    from sklearn.utils.estimator_checks import check_param_validation

    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_dataframe_column_names_consistency(estimator):
    from sklearn.utils.estimator_checks import check_dataframe_column_names_consistency

    check_dataframe_column_names_consistency(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_get_feature_names_out(estimator):
    from sklearn.utils.estimator_checks import check_transformer_get_feature_names_out
    from sklearn.utils.estimator_checks import (
        check_transformer_get_feature_names_out_pandas,
    )

    check_transformer_get_feature_names_out(type(estimator).__name__, estimator)
    check_transformer_get_feature_names_out_pandas(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids)
def test_set_output_pandas(estimator):
    from sklearn.utils.estimator_checks import (
        check_global_output_transform_pandas,
        check_set_output_transform_pandas,
    )

    check_set_output_transform_pandas(type(estimator).__name__, estimator)
    check_global_output_transform_pandas(type(estimator).__name__, estimator)
