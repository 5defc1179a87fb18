"""Sphinx configuration of the skae documentation.

Build (examples executed, warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Without executing the gallery (fast, for CI)::

    python -m sphinx -W --keep-going -b html -D plot_gallery=0 docs docs/_build/html

Intersphinx (links to scikit-learn, PyTorch, skorch, NumPy) is offline by default: the
inventories are read from ``docs/_intersphinx/<name>.inv`` when such a file exists, and
fetched from the web only when ``SKAE_DOCS_INTERSPHINX=1``. A build without either never
touches the network and never warns about it; references to those projects then render
as plain code instead of links. See ``docs/install.rst``.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sphinxext"))
sys.path.insert(0, str(HERE.parent))  # the repository's skae, also when not installed

# Headless matplotlib. Torch threads per example: SKAE_DOCS_THREADS (default 2, the CI
# machine's cores), set before each example by skae_docs.reset_torch.
os.environ.setdefault("MPLBACKEND", "Agg")

import skae  # noqa: E402

project = "skae"
author = "The skae developers"
copyright = "2026, The skae developers"
release = skae.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "skae_docs",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"  # `x` in docstrings renders as code, never as a broken reference
pygments_style = "sphinx"

# -- autodoc / autosummary / numpydoc ------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False  # members are listed by our autosummary templates
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- intersphinx: offline unless asked ----------------------------------------------------
INTERSPHINX_PROJECTS = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "sklearn": "https://scikit-learn.org/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "skorch": "https://skorch.readthedocs.io/en/stable/",
}
_online = os.environ.get("SKAE_DOCS_INTERSPHINX", "0") == "1"
intersphinx_mapping = {}
for _name, _url in INTERSPHINX_PROJECTS.items():
    _local = HERE / "_intersphinx" / f"{_name}.inv"
    if _local.is_file():
        intersphinx_mapping[_name] = (_url, str(_local))
    elif _online:
        intersphinx_mapping[_name] = (_url, None)
intersphinx_timeout = 10

# -- sphinx-gallery -----------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    # Use-case order of the user guide; folders added later come after, by name.
    "subsection_order": "skae_docs.subsection_order",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skae",),
    "backreferences_dir": "gen_modules/backreferences",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "capture_repr": ("_repr_html_", "__repr__"),
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "reset_modules": ("matplotlib", "skae_docs.reset_torch"),
    "min_reported_time": 5,
}

# -- HTML ---------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skae {release}"
html_static_path = ["_static"]
html_css_files = ["skae.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_sidebars = {"index": []}
