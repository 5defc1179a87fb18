"""Export a fitted encoder for deployment without skae: ONNX or ``torch.export``.

The exported model maps a float32 batch in the network's layout to codes:

- :class:`~skae.DenseAutoEncoder`, :class:`~skae.LinearAutoEncoder`: ``(n, n_features)``;
- :class:`~skae.ConvAutoEncoder`: ``(n, *image_shape_)``, i.e. ``(n, C, H, W)`` for
  images and ``(n, C, L)`` for signals (a channel axis is added to grayscale images);
- :class:`~skae.VariationalDenseAutoEncoder`, :class:`~skae.VariationalConvAutoEncoder`:
  as their deterministic parents; the codes are the posterior means.

The batch size is dynamic. What the estimator does before its network is *not* part of
the export: steps before the autoencoder in a ``Pipeline`` (scalers...), and the float32
conversion of integer input, must be done by the caller (``X.astype("float32")``,
reshaped with :func:`encoder_input_shape`). The outputs equal ``estimator.transform``
up to float32 rounding.

Formats:

``"onnx"``
    An ``.onnx`` file for ONNX Runtime, TensorRT, OpenVINO, browsers... Written with
    PyTorch's ``torch.export``-based exporter when ``onnxscript`` is installed, else with
    the older TorchScript-based one. Needs the ``onnx`` package (``pip install onnx
    onnxscript``; ``onnxruntime`` to run it). Loading an ONNX file runs no Python code.
``"torch.export"``
    A ``.pt2`` archive of a :class:`torch.export.ExportedProgram`; load it with
    ``torch.export.load(path).module()`` in PyTorch (no skae needed).

Examples
--------
>>> import numpy as np, os, tempfile
>>> import onnxruntime as ort  # doctest: +SKIP
>>> from skae import ConvAutoEncoder
>>> from skae.export import export_encoder, encoder_input_shape
>>> X = np.random.RandomState(0).rand(64, 8, 8).astype(np.float32)
>>> ae = ConvAutoEncoder(latent_dim=2, channels=(4,), max_epochs=1, random_state=0).fit(X)
>>> encoder_input_shape(ae)
(1, 8, 8)
>>> path = export_encoder(ae, os.path.join(tempfile.mkdtemp(), "encoder.onnx"))  # doctest: +SKIP
>>> session = ort.InferenceSession(path)  # doctest: +SKIP
>>> codes = session.run(None, {"x": X.reshape(-1, 1, 8, 8)})[0]  # doctest: +SKIP
>>> np.allclose(codes, ae.transform(X), atol=1e-5)  # doctest: +SKIP
True
"""

import copy
import importlib.util
import os
import warnings

import torch
from sklearn.utils.validation import check_is_fitted

__all__ = ["encoder_input_shape", "export_encoder"]

FORMATS = ("onnx", "torch.export")


class _Encoder(torch.nn.Module):
    """The encoder alone, on CPU, in eval mode, with one input named ``x``."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x):
        return self.encoder(x)


def encoder_input_shape(estimator):
    """Shape of one sample as the exported encoder takes it (without the batch axis).

    Parameters
    ----------
    estimator : fitted skae autoencoder

    Returns
    -------
    shape : tuple of int
        ``(n_features,)`` for dense/linear autoencoders, ``image_shape_`` (``(C, H, W)``
        or ``(C, L)``) for :class:`~skae.ConvAutoEncoder`.
    """
    check_is_fitted(estimator, "net_")
    shape = getattr(estimator, "image_shape_", None)
    if shape is not None:
        return tuple(int(s) for s in shape)
    return (int(estimator.n_features_in_),)


def _check_output_path(path):
    """Refuse, before exporting anything, a ``path`` that cannot be written as a file."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise FileNotFoundError(
            f"Cannot export to {path!r}: the folder {folder!r} does not exist; create it "
            "first (export_encoder creates no folders)."
        )
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"Cannot export to {path!r}: {folder!r} is not a folder.")
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"Cannot export to {path!r}: it is a folder; give a file name such as "
            f"{os.path.join(path, 'encoder.onnx')!r}."
        )


def export_encoder(estimator, path, *, format="onnx", opset_version=None):
    """Write the fitted encoder of ``estimator`` to ``path`` for deployment.

    Parameters
    ----------
    estimator : fitted skae autoencoder
        :class:`~skae.DenseAutoEncoder`, :class:`~skae.ConvAutoEncoder`,
        :class:`~skae.LinearAutoEncoder`.
    path : str or path-like
        Output file (``.onnx`` or ``.pt2``); overwritten.
    format : {"onnx", "torch.export"}, default="onnx"
        See the module documentation.
    opset_version : int, default=None
        ONNX opset; None lets PyTorch choose.

    Returns
    -------
    path : str
        The path written.

    Raises
    ------
    NotFittedError
        If the estimator is not fitted.
    ValueError
        If ``format`` is unknown.
    FileNotFoundError
        If the folder of ``path`` does not exist (it is not created).
    NotADirectoryError, IsADirectoryError
        If the folder of ``path`` is a file, or ``path`` is a folder.
    ImportError
        If ``format="onnx"`` and the ``onnx`` package is missing.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}.")
    check_is_fitted(estimator, "net_")
    path = os.fspath(path)
    _check_output_path(path)
    # A CPU copy in eval mode: the estimator's own network is left as it is.
    encoder = _Encoder(copy.deepcopy(estimator.net_.module_.encoder).cpu()).eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    example = torch.zeros(2, *encoder_input_shape(estimator))
    batch = torch.export.Dim("batch")
    if format == "torch.export":
        program = torch.export.export(encoder, (example,), dynamic_shapes=({0: batch},))
        torch.export.save(program, path)
        return path
    if importlib.util.find_spec("onnx") is None:
        raise ImportError("format='onnx' needs the onnx package: pip install onnx onnxscript")
    kwargs = dict(input_names=["x"], output_names=["codes"], opset_version=opset_version)
    if importlib.util.find_spec("onnxscript") is not None:
        torch.onnx.export(
            encoder, (example,), path, dynamo=True, dynamic_shapes=({0: batch},),
            external_data=False, verbose=False, **kwargs,
        )
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                encoder, (example,), path, dynamo=False,
                dynamic_axes={"x": {0: "batch"}, "codes": {0: "batch"}}, **kwargs,
            )
    return path
