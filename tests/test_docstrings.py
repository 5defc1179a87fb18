"""Docstrings: their examples run (doctest), and they describe what the code has (numpydoc).

Two families of checks, after scikit-learn's and imbalanced-learn's
``test_docstring_parameters.py``:

- every ``>>>`` example in a docstring of skae runs and prints what it shows; the ones
  that train a network are marked ``slow`` (deselect with ``-m "not slow"``);
- every public class, function and method documents exactly the parameters of its
  signature (numpydoc validation codes PR01, PR02, and GL08 for a missing docstring), and
  every public estimator documents every fitted attribute it sets, and sets none it does
  not document.
"""

import doctest
import importlib
import inspect
import pkgutil
import re
import warnings

import numpy as np
import pytest
from _public_api import public_modules
from numpydoc.docscrape import ClassDoc
from numpydoc.validate import validate
from sklearn.base import BaseEstimator

import skae

# ----------------------------------------------------------------------------- doctests

# Docstring examples that fail today, reported to the owners of these files. Not strict
# (other files change under us): a fixed entry shows as XPASS in the -ra summary, and
# is then removed from the table.
KNOWN_DOCTEST_FAILURES = {}


def all_modules():
    """Every module of skae, private ones too: public objects live in ``_private`` files."""
    names = ["skae"]
    for info in pkgutil.walk_packages(skae.__path__, "skae."):
        names.append(info.name)
    return sorted(names)


def _collect_doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    params = []
    for module_name in all_modules():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # an optional dependency; its own tests say so
            params.append(
                pytest.param(None, id=module_name, marks=pytest.mark.skip(reason=str(exc)))
            )
            continue
        for test in finder.find(module, module_name):
            if not test.examples:
                continue
            # A doctest that trains a network (fit, fit_transform, fit_pairs, ...) takes
            # seconds, not milliseconds.
            source = "".join(example.source for example in test.examples)
            slow = re.search(r"\.fit\w*\(|rate_distortion_curve\(|EncoderClassifier\(", source)
            marks = [pytest.mark.slow] if slow else []
            if test.name in KNOWN_DOCTEST_FAILURES:
                reason = KNOWN_DOCTEST_FAILURES[test.name]
                marks.append(pytest.mark.xfail(reason=reason, strict=False))
            params.append(pytest.param(test, id=test.name, marks=marks))
    return params


@pytest.mark.parametrize("test", _collect_doctests())
def test_docstring_examples_run(test, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    import matplotlib

    matplotlib.use("Agg")
    output = []
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.printoptions(legacy=False):
            result = runner.run(test, out=output.append, clear_globs=True)
    assert result.failed == 0, "".join(output)


# ----------------------------------------------------------------------------- numpydoc


def public_api():
    """``{object: qualified public name}`` for every name in a public ``__all__``."""
    seen = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                seen.setdefault(obj, f"{module_name}.{name}")
    return seen


PUBLIC = public_api()
CLASSES = sorted(
    (name for obj, name in PUBLIC.items() if inspect.isclass(obj)),
)
FUNCTIONS = sorted(name for obj, name in PUBLIC.items() if inspect.isfunction(obj))


def _own_methods(cls):
    """Public methods a skae class defines itself (not inherited from sklearn or torch).

    ``forward`` of a PyTorch module is left out: it is called as ``module(x)`` and is
    described by the class docstring, as in PyTorch itself.
    """
    import torch

    out = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("skae"):
            continue
        for name, member in vars(klass).items():
            if name.startswith("_") or name in out:
                continue
            if name == "forward" and issubclass(cls, torch.nn.Module):
                continue
            if inspect.isfunction(member):
                out.append(name)
    return sorted(out)


def _validation_targets():
    targets = list(FUNCTIONS)
    for qualified in CLASSES:
        targets.append(qualified)
        cls = next(obj for obj, name in PUBLIC.items() if name == qualified)
        if issubclass(cls, BaseException):
            continue
        targets += [f"{qualified}.{method}" for method in _own_methods(cls)]
    return targets


# Known gaps, reported to the owners of these files: expected failures, to be removed
# from the table once fixed (a fixed entry shows as XPASS in the -ra summary).
KNOWN_GAPS = {}


def _xfail_known(name):
    if name in KNOWN_GAPS:
        return [pytest.mark.xfail(reason=KNOWN_GAPS[name], strict=False)]
    return []


# PR01: a parameter of the signature is not documented; PR02: a documented parameter is
# not in the signature; GL08: no docstring.
CHECKED_CODES = {"PR01", "PR02", "GL08"}


def _is_dataclass(obj):
    return inspect.isclass(obj) and hasattr(obj, "__dataclass_fields__")


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=_xfail_known(n)) for n in _validation_targets()]
)
def test_docstring_parameters_match_signature(name):
    result = validate(name)
    errors = [(code, message) for code, message in result["errors"] if code in CHECKED_CODES]
    # A dataclass documents its fields as Attributes: the generated __init__ takes them.
    target = _resolve(name)
    if _is_dataclass(target):
        errors = [(c, m) for c, m in errors if c != "PR01"]
    assert not errors, f"{name}: {errors}"


def _resolve(name):
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


# ----------------------------------------------------------------------------- attributes
# Fast settings and data per estimator class name: (constructor, data kind). Every
# public estimator must be listed; the test says so when one is missing.


def _tiny_conv(**kwargs):
    return skae.ConvAutoEncoder(
        latent_dim=4, channels=(4,), max_epochs=1, batch_size=64, random_state=0, **kwargs
    )


def _tiny_dense(**kwargs):
    return skae.DenseAutoEncoder(
        latent_dim=3, hidden_layer_sizes=(8,), max_epochs=1, random_state=0, **kwargs
    )


def _estimator_factories():
    factories = {
        "ConvAutoEncoder": (lambda: _tiny_conv(early_stopping=True), "images"),
        "DenseAutoEncoder": (_tiny_dense, "table"),
        "LinearAutoEncoder": (
            lambda: skae.LinearAutoEncoder(latent_dim=2, max_epochs=2, random_state=0),
            "table",
        ),
        "VariationalConvAutoEncoder": (
            lambda: skae.VariationalConvAutoEncoder(
                latent_dim=4, channels=(4,), max_epochs=1, batch_size=64,
                n_importance_samples=2, early_stopping=True, random_state=0,
            ),
            "images",
        ),
        "VariationalDenseAutoEncoder": (
            lambda: skae.VariationalDenseAutoEncoder(
                latent_dim=3, hidden_layer_sizes=(8,), max_epochs=1, random_state=0
            ),
            "table",
        ),
    }
    if hasattr(skae, "AEAnomalyDetector"):
        factories["AEAnomalyDetector"] = (
            lambda: skae.AEAnomalyDetector(_tiny_conv(), random_state=0),
            "images",
        )
    from sklearn.ensemble import IsolationForest

    factories["FusedAnomalyDetector"] = (
        lambda: skae.FusedAnomalyDetector([
            ("forest", IsolationForest(n_estimators=10, random_state=0), slice(0, 50)),
            ("ae", skae.AEAnomalyDetector(_tiny_dense(), random_state=0), slice(50, None)),
        ], random_state=0),
        "table_few_labels",
    )
    factories["CrossConformalDetector"] = (
        lambda: skae.CrossConformalDetector(
            skae.AEAnomalyDetector(_tiny_conv(), random_state=0), cv=2, random_state=0),
        "images",
    )
    factories["TransductiveNoveltyDetector"] = (
        lambda: skae.TransductiveNoveltyDetector(_tiny_dense(), random_state=0),
        "table_few_labels",
    )
    factories["OpenSetDetector"] = (
        lambda: skae.OpenSetDetector(
            skae.EncoderClassifier(_tiny_dense(), max_epochs=2, random_state=0),
            random_state=0),
        "table_few_labels",
    )
    from skae.preprocessing import ImageAligner

    factories["ImageAligner"] = (ImageAligner, "images")
    if hasattr(skae, "FewLabelClassifier"):
        from sklearn.linear_model import LogisticRegression

        factories["FewLabelClassifier"] = (
            lambda: skae.FewLabelClassifier(LogisticRegression()),
            "table_few_labels",
        )
    if hasattr(skae, "EncoderClassifier"):
        factories["EncoderClassifier"] = (
            lambda: skae.EncoderClassifier(_tiny_dense(), max_epochs=2, random_state=0),
            "table_few_labels",
        )
    try:
        from skae import compression
    except ImportError:
        compression = None
    if compression is not None and hasattr(compression, "AutoEncoderCodec"):
        factories["AutoEncoderCodec"] = (
            lambda: compression.AutoEncoderCodec(_tiny_conv(), bits=2),
            "images",
        )
    if compression is not None and hasattr(compression, "PCACodec"):
        factories["PCACodec"] = (
            lambda: compression.PCACodec(n_components=3, bits=4),
            "images",
        )
    return factories


FACTORIES = _estimator_factories()
ESTIMATORS = sorted(
    name
    for obj, name in PUBLIC.items()
    if inspect.isclass(obj) and issubclass(obj, BaseEstimator) and not inspect.isabstract(obj)
    and obj is not skae.BaseAutoEncoder
)


def _data(kind):
    from skae.datasets import load_fashion_mnist_subset

    images, y = load_fashion_mnist_subset(return_X_y=True)
    images, y = images[:200], y[:200]
    if kind == "images":
        return images, None
    table = images.reshape(len(images), -1)[:, ::8].astype(np.float64)
    if kind == "table":
        return table, None
    y = y.copy()
    y[40:] = -1  # 40 labelled rows, the rest unlabelled
    return table, y


def _documented_attributes(cls):
    return [name for name, _, _ in ClassDoc(cls)["Attributes"]]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fitted_attributes_are_documented(name):
    short = name.rsplit(".", 1)[1]
    assert short in FACTORIES, (
        f"{name} has no fast setting in tests/test_docstrings.py::_estimator_factories"
    )
    factory, kind = FACTORIES[short]
    estimator = factory()
    X, y = _data(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
    documented = _documented_attributes(type(estimator))
    assert documented, f"{name} documents no Attributes"
    # Documented but missing after fit: only those documented as conditional.
    conditional = {"feature_names_in_"}
    missing = [a for a in documented if a not in conditional and not hasattr(estimator, a)]
    assert not missing, f"{name}: documented attributes missing after fit: {missing}"
    # Set by fit but not documented.
    fitted = [
        a for a in vars(estimator) if a.endswith("_") and not a.startswith("_")
    ]
    undocumented = sorted(set(fitted) - set(documented))
    assert not undocumented, f"{name}: fitted attributes not documented: {undocumented}"


# ----------------------------------------------------------------------------- markup
# The docs build (warnings are errors) parses every docstring as reStructuredText after
# numpydoc has rendered it; this finds the same markup errors in a second, without
# building anything: a stray ``name_`` (a link to nowhere), a definition list that ends
# without a blank line, an unclosed literal.

_SPHINX_ROLES = (
    "class", "func", "meth", "mod", "attr", "data", "obj", "exc", "ref", "term", "doc",
    "math", "py:class", "py:func", "py:meth", "py:mod", "py:attr", "py:obj", "py:data",
)
_SPHINX_DIRECTIVES = (
    "seealso", "versionadded", "versionchanged", "deprecated", "autosummary", "plot",
    "index", "currentmodule", "only", "minigallery",
)


def _register_sphinx_markup():
    from docutils import nodes
    from docutils.parsers.rst import Directive, directives, roles

    def literal_role(name, rawtext, text, lineno, inliner, options=None, content=None):
        return [nodes.literal(rawtext, text)], []

    class AnyDirective(Directive):
        has_content = True
        optional_arguments = 100
        final_argument_whitespace = True
        option_spec = None

        def run(self):
            return []

    import collections

    AnyDirective.option_spec = collections.defaultdict(lambda: directives.unchanged)
    for role in _SPHINX_ROLES:
        roles.register_local_role(role, literal_role)
    for directive in _SPHINX_DIRECTIVES:
        directives.register_directive(directive, AnyDirective)


def _markup_targets():
    targets = []
    for qualified in FUNCTIONS + CLASSES:
        obj = _resolve(qualified)
        targets.append(qualified)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            targets += [f"{qualified}.{m}" for m in _own_methods(obj)]
    return targets


# Markup errors that fail the docs build today, reported to the owners (expected
# failures; a fixed entry shows as XPASS).
KNOWN_MARKUP_ERRORS = {}


def _xfail_markup(name):
    if name in KNOWN_MARKUP_ERRORS:
        return [pytest.mark.xfail(reason=KNOWN_MARKUP_ERRORS[name], strict=False)]
    return []


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=_xfail_markup(n)) for n in _markup_targets()]
)
def test_docstring_markup_parses(name):
    import io

    import docutils.core
    from docutils import nodes
    from numpydoc.docscrape_sphinx import get_doc_object

    _register_sphinx_markup()
    obj = _resolve(name)
    rst = str(get_doc_object(obj, config={"show_class_members": False}))
    stream = io.StringIO()
    tree = docutils.core.publish_doctree(
        rst,
        settings_overrides={"report_level": 2, "halt_level": 5, "warning_stream": stream},
    )
    # Messages of the parser are in the tree; those of the transforms (e.g. a reference
    # to an unknown target) in transform_messages.
    messages = [*tree.findall(nodes.system_message), *tree.transform_messages]
    problems = sorted({m.astext().splitlines()[0] for m in messages if m["level"] >= 2})
    assert not problems, f"{name}: {problems}"


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=_xfail_markup(f"summary:{n}")) for n in FUNCTIONS + CLASSES]
)
def test_api_table_summary_parses(name):
    # The API reference tables show the first sentence of each docstring, cut by
    # Sphinx at the first period followed by a space: "a... b" cuts inside "a...".
    import io

    import docutils.core
    from docutils import nodes
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser
    from sphinx.ext.autosummary import extract_summary

    _register_sphinx_markup()
    doc = inspect.getdoc(_resolve(name)) or ""
    summary = extract_summary(doc.splitlines(), get_default_settings(Parser))
    tree = docutils.core.publish_doctree(
        summary,
        settings_overrides={"report_level": 2, "halt_level": 5,
                            "warning_stream": io.StringIO()},
    )
    messages = [*tree.findall(nodes.system_message), *tree.transform_messages]
    problems = sorted({m.astext().splitlines()[0] for m in messages if m["level"] >= 2})
    assert not problems, f"{name}: summary {summary!r}: {problems}"
