"""The ``skae`` command line: ``skae demo`` and ``skae explore PATH``.

Both commands are thin layers over the public API; each step is one call a user can make
in Python (the report written by ``explore`` prints the equivalent code):

1. skae's default autoencoder for the data (:class:`skae.ConvAutoEncoder` for images,
   :class:`skae.DenseAutoEncoder` on standardised columns for tables) trained inside
   :class:`skae.AEAnomalyDetector`, which scores every item by its reconstruction error
   and by how far its code lies from the other codes;
2. the autoencoder's codes (``detector.autoencoder_.transform``);
3. UMAP of the codes (:func:`skae.discovery.map_2d` for the 2-D map, a 5-D UMAP for
   clustering) and HDBSCAN clusters (both from ``skae.discovery.map_and_cluster``),
   summarised by :func:`skae.discovery.cluster_report`.

``skae demo`` adds the labelled side: a logistic regression on the codes of the control
set, and an :class:`~skae.AEAnomalyDetector` trained on the control set only, whose
scores on the core set are compared with the truth (AUROC). The whole demo, in Python, is
``examples/ice_core/plot_known_unknown.py``.

The modules of this package: ``_loaders`` (reading the input), ``_explore`` (the
analysis of ``explore``), ``_demo``, ``_report`` (the HTML page; its figures are
:mod:`skae.plotting`'s), ``_output`` (the output folder and how it is written) and
``_interrupts`` (Ctrl+C).
"""

import argparse
import os
import sys
import warnings

from ._demo import run_demo
from ._explore import run_explore
from ._interrupts import INTERRUPTS, InterruptedAfterWriting
from ._loaders import InputError, printable

# What tests and users read from skae.cli. (To replace a step in a test, patch it where
# it is called: e.g. build_report in skae.cli._output, load_input in skae.cli._explore.)
from ._output import MARKER as MARKER
from ._output import OUTPUT_FILES as OUTPUT_FILES
from ._output import check_output_folder as check_output_folder


def _epochs(text):
    """``--epochs``: "auto" (the data-dependent budget of ``max_epochs="auto"``) or N."""
    return "auto" if text == "auto" else _positive_int(text)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _device(text):
    from .._runtime import resolve_device

    try:
        resolve_device(text)
    except (ValueError, RuntimeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser():
    """The parser of ``skae`` and its commands ``demo`` and ``explore``.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="skae",
        formatter_class=formatter,
        description=(
            "Autoencoders for scientists: learn a compact code for each image or table row,\n"
            "group similar items into clusters, and flag the unusual ones. Everything runs\n"
            "offline, on CPU or GPU."
        ),
        epilog=(
            "examples:\n"
            "  skae demo                      # known / unknown / odd on bundled images\n"
            "  skae demo --data particles     # the same on synthetic ice-core particles\n"
            "  skae explore my_images/        # your folder of PNG/TIFF/JPEG images\n"
            "  skae explore measurements.csv  # your table of numbers\n\n"
            "Run 'skae demo --help' or 'skae explore --help' for their options."
        ),
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"skae {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def common(sub, latent):
        sub.add_argument("--latent-dim", type=_positive_int, default=latent, metavar="N",
                         help=f"size of the code learned for each item (default {latent})")
        sub.add_argument("--epochs", type=_epochs, default="auto", metavar="N",
                         help="passes over the data while training; 'auto' (the default) "
                              "scales them with the number of items and stops when the "
                              "held-out loss stops improving")
        sub.add_argument("--device", type=_device, default="auto",
                         help="'cpu', 'cuda', 'cuda:1', or 'auto' = GPU if there is one "
                              "(default auto)")
        sub.add_argument("--seed", type=int, default=0,
                         help="random seed; the same seed gives the same result on CPU "
                              "(default 0)")
        sub.add_argument("--min-cluster-size", type=_positive_int, default=None, metavar="N",
                         help="smallest group of items that counts as a cluster "
                              "(default: 2.5%% of the items, at least 5)")
        sub.add_argument("--overwrite", action="store_true",
                         help="replace the results of an earlier skae run in the output "
                              "folder: only results.csv and report.html, only if skae "
                              "wrote them and nobody changed them since; other files "
                              "there are kept")
        sub.add_argument("--quiet", action="store_true",
                         help="print only the results: no training log and no status "
                              "lines")

    demo = commands.add_parser(
        "demo", formatter_class=formatter,
        help="run the whole workflow on bundled data, no network needed",
        description=(
            "The main workflow, end to end, on data that ships with skae:\n"
            "  1. hold some classes out as 'unknown'; the other ('known') classes are split\n"
            "     into a labelled control set and an unlabelled core set, which also gets\n"
            "     every image of the unknown classes;\n"
            "  2. train a convolutional autoencoder on all images (progress bar shown);\n"
            "  3. classify the known classes from the codes (trained on the control set);\n"
            "  4. flag the unknown classes with an anomaly detector trained on the control\n"
            "     set (AUROC: 1.0 = perfect, 0.5 = chance);\n"
            "  5. cluster the codes (UMAP + HDBSCAN) and compare clusters with true kinds.\n"
            "With --data particles, the 34 features measured on each particle are used\n"
            "next to the codes (steps 3 and 5) and by a second anomaly detector (step 4),\n"
            "fused with the first by FusedAnomalyDetector (weighted by leaving one known\n"
            "kind out), whose false-discovery-rate decision is calibrated on every\n"
            "control item, each scored by one of 5 fused detectors that did not see it\n"
            "(CrossConformalDetector); and a second decision judges the core set as a\n"
            "batch, by the neighbours of each particle among all particles\n"
            "(TransductiveNoveltyDetector on the features).\n"
            "Takes about 1-4 minutes on a laptop CPU."
        ),
        epilog=(
            "examples:\n"
            "  skae demo\n"
            "  skae demo --unknown Sandal,Bag --epochs 20\n"
            "  skae demo --data particles --output particles_report\n"
        ),
    )
    demo.add_argument("--data", choices=("fashion", "particles"), default="fashion",
                      help="'fashion': 2,000 real Fashion-MNIST images bundled with skae "
                           "(default); 'particles': synthetic ice-core particle images from "
                           "skae.datasets.make_particles")
    demo.add_argument("--unknown", metavar="NAMES", default=None,
                      help="comma-separated classes to hold out as unknown (default: "
                           "Trouser,Bag for fashion; diatom,spherule for particles)")
    demo.add_argument("--n-images", type=_positive_int, default=1200, metavar="N",
                      help="particles only: number of images to generate (default 1200)")
    demo.add_argument("--image-size", type=_positive_int, default=64, metavar="PIXELS",
                      help="particles only: side the 128x128 images are resized to for the "
                           "autoencoder (default 64)")
    demo.add_argument("--output", metavar="FOLDER", default=None,
                      help="also write results.csv and report.html into this folder")
    common(demo, latent=16)

    explore = commands.add_parser(
        "explore", formatter_class=formatter,
        help="find clusters and anomalies in your own images or table",
        description=(
            "Learn a code for every item of your data, group similar items into clusters\n"
            "and rank the items by how unusual they are.\n\n"
            "PATH is one of:\n"
            "  - a folder of images (.png, .tif, .tiff, .jpg, .jpeg; subfolders included),\n"
            "    grayscale or colour, all of one size (or use --resize); 8-bit values are\n"
            "    divided by 255, 16-bit and float TIFFs scaled to [0, 1] over the whole\n"
            "    set (as skae.datasets.load_images(PATH) reads them);\n"
            "  - one multi-page TIFF file (a stack): each page is one item;\n"
            "  - a .npy or .npz array: (items, features) is a table, (items, H, W) grayscale\n"
            "    images, (items, C, H, W) or (items, H, W, C) multichannel images;\n"
            "  - a .csv table with a header row, one row per item: its numeric columns are\n"
            "    analysed; every other column (text, dates, labels) is carried to\n"
            "    results.csv unchanged, not used for training (name an identifier column\n"
            "    with --id-column).\n\n"
            "Writes into the output folder:\n"
            "  results.csv  one row per item: id, the CSV's non-numeric columns, cluster\n"
            "               (-1 = none), anomaly_score (higher = more unusual), anomaly_rank,\n"
            "               score_part_reconstruction, score_part_latent (why: how unusual\n"
            "               the item is in each term, higher = more unusual; anomaly_score\n"
            "               is their mean), reconstruction_error, map_x, map_y (2-D map),\n"
            "               code_0, code_1, ... (the learned code)\n"
            "  report.html  one self-contained page that works offline: training curve,\n"
            "               reconstructions, an interactive map coloured by cluster (hover\n"
            "               a point to see the item; search by id), typical items of each\n"
            "               cluster, items in no cluster, the most anomalous items with the\n"
            "               parts of their score, maps of where they differ and their\n"
            "               nearest normal items.\n"
            "  .skae-output.json  which files skae wrote, with their SHA-256 (--overwrite\n"
            "               replaces nothing else).\n"
            "skae reads only PATH (symbolic links leading out of a folder are skipped) and\n"
            "writes only these three files. Exit status: 0 done, 2 bad input or output\n"
            "folder, 1 the analysis failed, 130 interrupted (Ctrl+C; nothing written)."
        ),
        epilog=(
            "examples:\n"
            "  skae explore particles/ --resize 64 64 --output particles_skae\n"
            "  skae explore spectra.npy --latent-dim 4 --epochs 50\n"
            "  skae explore features.csv --id-column sample_id --overwrite\n"
            "  skae explore particles/ --resize 64 64 --features measurements.csv\n"
        ),
    )
    explore.add_argument("path", metavar="PATH",
                         help="folder of images, a multi-page TIFF, .npy/.npz or .csv")
    explore.add_argument("--output", metavar="FOLDER", default=None,
                         help="where to write results.csv and report.html (default: "
                              "<name of PATH>_skae in the current folder); must not exist "
                              "or be empty unless --overwrite, and may not be, contain or "
                              "lie inside PATH, nor be or contain the current folder")
    explore.add_argument("--resize", type=_positive_int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                         default=None,
                         help="resize every image to HEIGHT x WIDTH pixels (needed when "
                              "images differ in size; smaller is faster)")
    explore.add_argument("--key", default=None,
                         help=".npz only: name of the array to read")
    explore.add_argument("--id-column", default=None, metavar="NAME",
                         help="CSV only: column that identifies the rows (not analysed; "
                              "other non-numeric columns are carried to results.csv, "
                              "not analysed either)")
    explore.add_argument("--features", metavar="CSV", default=None,
                         help="a .csv/.tsv of measurements of the same items, one row per "
                              "item in their order (file names sorted); a second detector "
                              "ranks its rows, the anomaly score is the mean of both, and "
                              "the clusters use the codes and the features")
    explore.add_argument("--map", choices=("umap", "pca"), default="umap",
                         help="'umap' (default): clusters from UMAP of the codes; 'pca': "
                              "clusters on the codes directly, PCA map (faster). Clusters "
                              "are HDBSCAN's (its finest dense groups if one cluster would "
                              "hold over half of the items); items between groups are "
                              "cluster -1")
    common(explore, latent=8)
    return parser


def main(argv=None):
    """Run the ``skae`` command line; returns the exit status.

    0: success. 2: bad input, options or output folder, or a file that cannot be read
    or written (one line on stderr, no traceback). 1: the analysis failed (training
    diverged, out of memory). 130: interrupted (Ctrl+C); the output folder is as before.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; ``sys.argv[1:]`` if None. None at all prints the help.

    Returns
    -------
    status : int
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # bare ``skae``: what it can do, not an error
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    handlers = {"demo": run_demo, "explore": run_explore}
    from ..exceptions import TrainingDivergedError, TrainingInterruptedWarning

    def fail(message, status):
        print(f"skae {args.command}: {printable(message)}", file=sys.stderr, flush=True)
        return status

    writes = args.command == "explore" or args.output  # demo writes only with --output
    kept = "; the output folder was left as it was." if writes else "."

    try:
        with INTERRUPTS.installed(), warnings.catch_warnings():
            # Ctrl+C inside fit: skorch returns normally and skae warns; stop instead.
            warnings.filterwarnings("error", category=TrainingInterruptedWarning)
            return handlers[args.command](args)
    except (InputError, OSError) as exc:  # OSError: a file that cannot be read or written
        return fail(f"error: {exc}", 2)
    except (TrainingDivergedError, MemoryError, ValueError) as exc:
        if os.environ.get("SKAE_DEBUG"):
            raise
        return fail(f"error: {type(exc).__name__}: {exc} (set SKAE_DEBUG=1 to see where it "
                    "happened)", 1)
    except InterruptedAfterWriting:
        return fail("interrupted, after the outputs had been written completely.", 130)
    except KeyboardInterrupt:
        return fail(f"interrupted{kept}", 130)
    except TrainingInterruptedWarning:
        return fail(f"interrupted during training{kept}", 130)

