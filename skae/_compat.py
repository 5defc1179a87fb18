"""The one door to scikit-learn's private API: every private sklearn name skae uses.

scikit-learn's parameter validation (``_param_validation``), ``_fit_context`` and
``_check_feature_names``, ``_num_samples``... are private and may move between releases. skae imports them
from here only, and ``pyproject.toml`` pins an upper bound on scikit-learn that the test
suite has run against, so a release that moves them fails here, in one place, with a
clear message instead of deep inside an estimator.
"""

import sklearn

try:
    from sklearn.base import _fit_context
    from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
    from sklearn.utils.validation import (
        _check_feature_names,
        _check_method_params,
        _is_fitted,
        _num_samples,
    )
except ImportError as error:  # pragma: no cover - only on an untested scikit-learn
    raise ImportError(
        f"skae needs scikit-learn's parameter-validation helpers, which scikit-learn "
        f"{sklearn.__version__} does not provide where skae expects them ({error}). "
        "Install a scikit-learn version within the range that skae's pyproject.toml names."
    ) from error

from sklearn.utils import _safe_indexing as safe_indexing
from sklearn.utils._indexing import _get_column_indices as get_column_indices
from sklearn.utils.metaestimators import _BaseComposition as BaseComposition
from sklearn.utils import get_tags

fit_context = _fit_context
check_feature_names = _check_feature_names
check_method_params = _check_method_params
is_fitted = _is_fitted
num_samples = _num_samples

__all__ = [
    "BaseComposition",
    "HasMethods",
    "Interval",
    "Options",
    "StrOptions",
    "check_feature_names",
    "check_method_params",
    "fit_context",
    "get_column_indices",
    "get_tags",
    "is_fitted",
    "num_samples",
    "safe_indexing",
]


_SKORCH_STUB_DOC = "\n" * 5 + "".join(
    f"    {name} : object\n      {name}.\n"
    for name in ("module", "criterion", "batch_size", "train_split")
)


def _install_skorch_docstring_guard():
    """Let ``python -OO`` import skorch.

    skorch (up to 1.4 at least) builds ``NeuralNetClassifier.__doc__`` and its siblings
    by string operations on ``NeuralNet.__doc__`` at import time; under ``-OO`` that
    docstring is None and ``import skorch`` raises AttributeError. Until skorch guards
    it, a one-shot import hook gives ``NeuralNet`` a stub docstring holding the
    parameter lines skorch's regular expressions look for, right after ``skorch.net``
    runs and before ``skorch.classifier`` reads it. It does nothing without
    ``-OO`` or once skorch is imported.
    """
    import importlib.machinery
    import sys

    if sys.flags.optimize < 2 or "skorch" in sys.modules:
        return

    class _GuardSkorchNet:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name != "skorch.net":
                return None
            sys.meta_path.remove(_GuardSkorchNet)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            exec_module = spec.loader.exec_module

            def exec_and_guard(module):
                exec_module(module)
                if module.NeuralNet.__doc__ is None:
                    module.NeuralNet.__doc__ = _SKORCH_STUB_DOC

            spec.loader.exec_module = exec_and_guard
            return spec

    sys.meta_path.insert(0, _GuardSkorchNet)


_install_skorch_docstring_guard()
