"""``python -m skae.cli``: the same as the ``skae`` command."""

import sys

from . import main

if __name__ == "__main__":  # importing this module (e.g. to collect doctests) runs nothing
    sys.exit(main())
