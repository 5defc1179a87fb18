"""The package's layout rules: small modules that say what they are for, and no module
reaching into another's private names except the autoencoder's protected API."""

import ast
import pathlib

import pytest

from skae._base import PROTECTED_API

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "skae"
MODULES = sorted(PACKAGE.rglob("*.py"))
# "No module over ~500 lines": the limit leaves room for a docstring's worth of slack.
MAX_LINES = 520
# Names on objects of other libraries that are read on purpose (not skae's privates).
FOREIGN_OBJECTS = {"torch", "np", "sys", "super"}
# scikit-learn's protocol: a subclass extends its parent's constraints (as
# imbalanced-learn does with ``{**Parent._parameter_constraints, ...}``).
SKLEARN_PROTOCOL = {"_parameter_constraints"}


def _relative(path):
    return path.relative_to(PACKAGE.parent).as_posix()


def _is_private(name):
    return name.startswith("_") and not name.startswith("__")


def private_uses(path):
    """``(line, what)`` for every use in ``path`` of a private skae name defined elsewhere:
    a ``_name`` imported from a skae module, or ``obj._name`` on anything but ``self``,
    ``cls`` and foreign modules, unless ``_name`` is in ``PROTECTED_API``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (
            node.level or (node.module or "").split(".")[0] == "skae"
        ):
            found += [(node.lineno, f"import {a.name} from {node.module}")
                      for a in node.names if _is_private(a.name)]
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in {"self", "cls"} | FOREIGN_OBJECTS:
                continue
            if isinstance(owner, ast.Call) and ast.unparse(owner.func) == "super":
                continue
            if node.attr in PROTECTED_API or node.attr in SKLEARN_PROTOCOL:
                continue
            found.append((node.lineno, f"{ast.unparse(owner)}.{node.attr}"))
    return found


@pytest.mark.parametrize("path", MODULES, ids=_relative)
def test_module_is_small_and_says_what_it_is_for(path):
    lines = path.read_text().count("\n")
    assert lines <= MAX_LINES, f"{_relative(path)} has {lines} lines (at most ~500)"
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring and docstring.strip(), f"{_relative(path)} has no module docstring"


@pytest.mark.parametrize("path", MODULES, ids=_relative)
def test_no_module_uses_another_modules_private_names(path):
    assert private_uses(path) == [], _relative(path)


def test_the_check_catches_a_private_call(tmp_path):
    module = tmp_path / "composer.py"
    module.write_text(
        "from ._base import _helper\n"
        "def fit(ae, X):\n"
        "    ae._validate_input(X, True)\n"
        "    ae._fit_network(X)\n"
        "    self._own(X)\n"
    )
    assert private_uses(module) == [
        (1, "import _helper from _base"),
        (3, "ae._validate_input"),
    ]


def test_the_protected_api_exists_and_is_documented():
    import skae._base
    from skae import BaseAutoEncoder

    for name in PROTECTED_API:
        assert callable(getattr(BaseAutoEncoder, name)), name
        assert f"``{name}(" in skae._base.__doc__, f"{name} is not documented in _base"
