"""Small Sphinx helpers of the skae documentation (a local extension, loaded by conf.py)."""

import argparse
import os
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive

# Gallery sections in the order of the user guide; folders not listed come after them,
# sorted by name, so a new examples/<topic>/ never breaks the build.
GALLERY_ORDER = [
    "representation",
    "anomaly",
    "anomaly_detection",
    "restoration",
    "denoising",
    "compression",
    "semi_supervised",
    "few_labels",
    "discovery",
    "particles",
    "ice_core",
    "cli",
    "persistence",
    "export",
    "scaling",
]


def subsection_order(path):
    """Sort key of sphinx-gallery subsections (``subsection_order`` in conf.py)."""
    name = Path(str(path)).name
    if name in GALLERY_ORDER:
        return (0, GALLERY_ORDER.index(name), name)
    return (1, 0, name)


def reset_torch(gallery_conf, fname):
    """Run before each example: seeded torch, ``SKAE_DOCS_THREADS`` CPU threads (2)."""
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("SKAE_DOCS_THREADS", "2")))


# Docstrings that skae classes inherit from scikit-learn (get_params, set_output, ...)
# refer to labels and glossary terms of scikit-learn's own documentation; they would be
# broken references (warnings, hence errors) here. Outside of skae's own objects, such
# :ref: and :term: roles become their plain text, in italics.
_ROLE = re.compile(r":(?:ref|term):`(?:([^`<]*?)\s*<[^`>]+>|([^`]+))`")


def _plain_refs(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or ""
    if module.startswith("skae"):
        return
    for i, line in enumerate(lines):
        if ":ref:`" in line or ":term:`" in line:
            lines[i] = _ROLE.sub(lambda m: f"*{(m.group(1) or m.group(2)).strip()}*", line)


def _skip_torch_members(app, what, name, obj, skip, options):
    """Skip the members skae's PyTorch modules inherit from ``torch.nn.Module``.

    Users know them from PyTorch's documentation (``forward``, ``parameters``, ``to``,
    ...); their docstrings are written for PyTorch's own build and do not parse cleanly
    here. The members a skae class defines itself are kept.
    """
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and module.startswith("torch"):
        return True
    return None


class CliHelp(Directive):
    """``.. skae-cli-help:: [COMMAND]``: the ``--help`` text of ``skae [COMMAND]``.

    Taken from the parser itself at build time, so the page cannot drift from the code.
    """

    optional_arguments = 1

    def run(self):
        from skae.cli import build_parser

        old = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal width
        try:
            parser = build_parser()
            if self.arguments:
                (subparsers,) = [
                    a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
                ]
                parser = subparsers.choices[self.arguments[0]]
            text = parser.format_help()
        finally:
            if old is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = old
        block = nodes.literal_block(text, text)
        block["language"] = "text"  # help text, not Python: no syntax colouring
        return [block]


def setup(app):
    app.add_directive("skae-cli-help", CliHelp)
    app.connect("autodoc-process-docstring", _plain_refs)
    app.connect("autodoc-skip-member", _skip_torch_members)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
