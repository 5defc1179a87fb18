"""The output folder of ``skae explore``/``skae demo``: what may be written, and how.

The CLI writes results.csv, report.html and the marker file into the output folder, and
nothing else anywhere (docs/cli.rst says the same to users). A folder that already holds
files is written into only with ``--overwrite`` and only if skae wrote it (its marker
lists the files with their SHA-256); then only those files are replaced, each
atomically, and only if nobody changed them since.
"""

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from ._interrupts import INTERRUPTS
from ._loaders import InputError
from ._report import build_report

OUTPUT_FILES = ("results.csv", "report.html")  # the only files the CLI ever replaces
MARKER = ".skae-output.json"  # written last; says which files skae wrote, with digests


def check_output_folder(path, overwrite, input_path=None):
    """Refuse an output folder the CLI must not write into; before any long computation,
    and again just before writing.

    Parameters
    ----------
    path : str or Path
        The output folder.
    overwrite : bool
        ``--overwrite``: a folder that holds skae's own, unchanged outputs is accepted.
    input_path : str or Path, default=None
        The input, which the output folder may not be, contain or lie inside.

    Raises
    ------
    InputError
        If skae must not write into ``path``, or cannot.
    """
    path = Path(path)
    target = path.resolve()
    cwd = Path.cwd().resolve()
    if target == cwd or cwd.is_relative_to(target):
        raise InputError(f"Output folder '{path}' is {'' if target == cwd else 'above '}"
                         "the current folder; give --output a new folder of its own.")
    if input_path is not None:
        source = Path(input_path).resolve()
        if target == source or source.is_relative_to(target):
            raise InputError(f"Output folder '{path}' contains the input '{input_path}'; "
                             "give --output a folder outside it.")
        if target.is_relative_to(source):
            raise InputError(f"Output folder '{path}' lies inside the input "
                             f"'{input_path}'; give --output a folder outside it.")
    if path.exists() and not path.is_dir():
        raise InputError(f"Output path '{path}' exists and is not a folder.")
    if not path.exists():
        parent = next(p for p in target.parents if p.exists())
        if not parent.is_dir():
            raise InputError(f"Output folder '{path}' would lie under '{parent}', which is "
                             "a file, not a folder.")
        _probe_writable(parent, path)
        return
    if not any(path.iterdir()):
        _probe_writable(path, path)
        return
    if not overwrite:
        raise InputError(
            f"Output folder '{path}' already exists and is not empty. Choose another "
            "--output, or add --overwrite to replace the results of an earlier skae run "
            "there."
        )
    written = _read_marker(path)
    for name in OUTPUT_FILES:
        file = path / name
        if not os.path.lexists(file):
            continue
        if file.is_symlink() or not file.is_file() or _sha256(file) != written.get(name):
            raise InputError(
                f"'{file}' was changed or replaced since skae wrote it; --overwrite "
                "replaces only skae's own, unchanged outputs. Move it away, or choose "
                "another --output."
            )
    _probe_writable(path, path)


def _read_marker(folder):
    """The files (name -> SHA-256) that skae wrote into ``folder``, from its marker."""
    marker = folder / MARKER
    refusal = InputError(
        f"Output folder '{folder}' holds files that skae did not write (it has no valid "
        f"{MARKER} from an earlier skae run); --overwrite replaces only skae's own "
        "outputs. Choose another --output, or empty the folder yourself."
    )
    if marker.is_symlink() or not marker.is_file() or marker.stat().st_size > 65536:
        raise refusal
    try:
        files = json.loads(marker.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise refusal from None
    if not isinstance(files, dict):
        raise refusal
    return {k: v for k, v in files.items() if k in OUTPUT_FILES and isinstance(v, str)}


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _probe_writable(folder, output):
    """Create and remove a temporary folder in ``folder``: fails early, before training,
    on a read-only or virtual file system (``/proc``) or without permission."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".skae-probe-", dir=folder))
    except OSError as exc:
        raise InputError(f"Cannot write output folder '{output}': cannot create files in "
                         f"'{folder}' ({exc.strerror or exc}).") from None


def _write_atomically(folder, contents):
    """Write ``{name: bytes}`` into ``folder``: each file first under a temporary name in
    the same folder, then all moved over the old ones with ``os.replace`` (Ctrl+C waits
    for the moves), so every file is either its old or its complete new version."""
    umask = os.umask(0)
    os.umask(umask)
    staged = {}
    try:
        for name, data in contents.items():
            fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".skae-partial",
                                             dir=folder)
            staged[name] = temporary
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), 0o666 & ~umask)  # mkstemp makes it private
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        with INTERRUPTS.deferred():
            for name in contents:
                os.replace(staged.pop(name), folder / name)
    finally:
        for temporary in staged.values():
            with contextlib.suppress(OSError):
                os.remove(temporary)


def results_table(data, result):
    """The table of results.csv: one row per item: id, the input's non-numeric columns
    (unchanged, not analysed), cluster, anomaly score and rank, the parts of the score,
    reconstruction error, map x/y, codes.

    Parameters
    ----------
    data : LoadedData
    result : Analysis

    Returns
    -------
    table : pandas.DataFrame
    """
    import pandas as pd

    columns = {"id": data.ids}
    analysed = ["cluster", "anomaly_score", "anomaly_rank", "reconstruction_error",
                "map_x", "map_y"]
    for name, values in (data.metadata or {}).items():
        # A carried column named like one of ours keeps its values under "input_NAME".
        while name in columns or name in analysed or name.startswith(
                ("code_", "score_part_")):
            name = "input_" + name
        columns[name] = values
    columns.update({
        "cluster": result.clusters,
        "anomaly_score": result.scores,
        "anomaly_rank": pd.Series(result.scores).rank(ascending=False, method="first")
        .astype(int).to_numpy(),
    })
    if result.score_parts is not None:
        # Higher = more unusual, like anomaly_score, which is their mean.
        for j, part in enumerate(result.score_part_names):
            columns["score_part_" + "_".join(part.split())] = result.score_parts[:, j]
    columns.update({
        "reconstruction_error": result.reconstruction_error,
        "map_x": result.xy[:, 0],
        "map_y": result.xy[:, 1],
    })
    table = pd.DataFrame(columns)
    codes = pd.DataFrame(result.codes, columns=[f"code_{j}" for j in
                                                range(result.codes.shape[1])])
    return pd.concat([table, codes], axis=1)


def write_outputs(folder, data, result, title, options, overwrite, extra=None,
                  input_path=None, command="explore", python_code=None):
    """results.csv, report.html and the marker, written into ``folder`` atomically.

    Everything is computed in memory first; the folder (and any missing parents) is
    created only then, and removed again if writing fails.

    Parameters
    ----------
    folder : str or Path
        The output folder, checked again with :func:`check_output_folder`.
    data : LoadedData
        The items analysed.
    result : Analysis
        What was found.
    title : str
        Title of the report.
    options : dict
        Option -> value, shown in the report.
    overwrite, input_path
        See :func:`check_output_folder`.
    extra : list of (str, str), default=None
        More summary content for the report, see :func:`build_report`.
    command : str, default="explore"
        The command that writes, recorded in the marker.
    python_code : str, default=None
        The report's "Do the same in Python" code; :func:`build_report` writes it from
        ``data`` and ``result`` if None.

    Returns
    -------
    folder : Path
    """
    from matplotlib import rc_context

    from .. import __version__

    table = results_table(data, result).to_csv(index=False).encode("utf-8")
    with rc_context({"text.usetex": False}):  # a user's matplotlibrc may ask for LaTeX
        page = build_report(data, result, title, options, extra,
                            python_code=python_code).to_html().encode("utf-8")
    contents = {"results.csv": table, "report.html": page}
    marker = {"written_by": f"skae {command}", "version": __version__,
              "files": {name: hashlib.sha256(b).hexdigest() for name, b in contents.items()},
              "note": "skae explore/demo --overwrite replaces only these files, and only "
                      "while their SHA-256 matches."}
    contents[MARKER] = (json.dumps(marker, indent=2) + "\n").encode("utf-8")
    folder = Path(folder)
    INTERRUPTS.check()
    check_output_folder(folder, overwrite, input_path)  # the folder may have changed
    created = []
    try:
        for parent in reversed([folder, *folder.parents]):
            if not parent.exists():
                parent.mkdir()
                created.append(parent)
        _write_atomically(folder, contents)
    except BaseException:
        for made in reversed(created):  # only the folders made here, and only if empty
            with contextlib.suppress(OSError):
                made.rmdir()
        raise
    return folder
