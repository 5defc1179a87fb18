"""Per-sample reconstruction losses.

A skae loss maps ``(reconstruction, target)`` tensors of shape ``(n, ...)`` to one value
per sample, shape ``(n,)``. Training minimises their mean; ``reconstruction_error`` and
``score`` report them per sample. Pass a name from :data:`LOSSES` or any callable with
that signature, e.g. ``SSIMLoss(window_size=11)`` or
``PerceptualLoss(my_classifier.features)``.

Pixel losses: ``"mse"``, ``"l1"``, ``"bce"``. Image losses (``ConvAutoEncoder``, network
layout ``(n, C, H, W)`` or signals ``(n, C, L)``): ``"ssim"`` (1 - SSIM),
``"ssim_l1"`` (0.84 (1 - SSIM) + 0.16 L1, the mix of Zhao et al.) and ``"perceptual"``
(distance between multi-scale gradient and Laplacian responses,
:class:`PerceptualLoss` with :class:`MultiScaleFilterBank`).
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .nn._filters import AVG_POOL, check_image_layout, depthwise_filter


def mse_loss(reconstruction, target):
    """Mean squared error per sample.

    Parameters
    ----------
    reconstruction : torch.Tensor of shape (n, ...)
        The network's output.
    target : torch.Tensor of the same shape
        What it should be.

    Returns
    -------
    loss : torch.Tensor of shape (n,)
    """
    return (reconstruction - target).pow(2).flatten(1).mean(1)


def l1_loss(reconstruction, target):
    """Mean absolute error per sample.

    Parameters
    ----------
    reconstruction : torch.Tensor of shape (n, ...)
        The network's output.
    target : torch.Tensor of the same shape
        What it should be.

    Returns
    -------
    loss : torch.Tensor of shape (n,)
    """
    return (reconstruction - target).abs().flatten(1).mean(1)


def bce_loss(reconstruction, target):
    """Binary cross-entropy per sample; both tensors must lie in [0, 1].

    Parameters
    ----------
    reconstruction : torch.Tensor of shape (n, ...)
        The network's output.
    target : torch.Tensor of the same shape
        What it should be.

    Returns
    -------
    loss : torch.Tensor of shape (n,)
    """
    return F.binary_cross_entropy(reconstruction, target, reduction="none").flatten(1).mean(1)


class SSIMLoss:
    """``1 - SSIM`` per sample: the structural dissimilarity of images or signals.

    SSIM (Wang et al., 2004) compares local means, variances and covariance in a Gaussian
    window; 1 is a perfect match. It follows the local structure that the eye sees
    rather than the pixel-wise error, so it keeps edges and texture that MSE blurs.
    Computed per channel with 'same'-size windows (reflected borders) so that border
    pixels are trained too, then averaged over pixels and channels.

    Parameters
    ----------
    window_size : int, default=7
        Odd side of the Gaussian window (7 suits 28x28 images; Wang et al. use 11).
    sigma : float, default=1.5
        Standard deviation of the Gaussian window, in pixels.
    data_range : float, default=1.0
        Range of the data (1 for images in [0, 1], 255 for 8-bit values); sets the
        stabilising constants ``C1 = (K1 data_range)^2`` and ``C2 = (K2 data_range)^2``.
    k1, k2 : float, default=0.01, 0.03
        The constants of Wang et al.
    alpha : float in [0, 1], default=1.0
        Weight of ``1 - SSIM``; ``1 - alpha`` goes to the mean absolute error. SSIM alone
        ignores uniform shifts of brightness in flat regions; ``alpha=0.84`` is the mix
        that Zhao et al. found best for image restoration (``loss="ssim_l1"``).

    References
    ----------
    .. [1] Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality
       assessment: from error visibility to structural similarity", IEEE Transactions on
       Image Processing 13(4), 2004.
    .. [2] H. Zhao, O. Gallo, I. Frosio and J. Kautz, "Loss functions for image
       restoration with neural networks", IEEE Transactions on Computational Imaging
       3(1), 2017.

    Examples
    --------
    >>> import torch
    >>> from skae.losses import SSIMLoss
    >>> x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    >>> loss = SSIMLoss()
    >>> loss(x, x).tolist()
    [0.0, 0.0]
    >>> bool((loss(x.flip(0), x) > 0.5).all())
    True
    """

    def __init__(self, window_size=7, *, sigma=1.5, data_range=1.0, k1=0.01, k2=0.03,
                 alpha=1.0):
        if not isinstance(window_size, int) or window_size < 1 or window_size % 2 != 1:
            raise ValueError(f"window_size must be a positive odd int, got {window_size!r}.")
        for name, value in [("sigma", sigma), ("data_range", data_range), ("k1", k1),
                            ("k2", k2)]:
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}.")
        if not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}.")
        self.window_size = window_size
        self.sigma = sigma
        self.data_range = data_range
        self.k1 = k1
        self.k2 = k2
        self.alpha = alpha

    def _window(self, n_spatial, device):
        coords = torch.arange(self.window_size, dtype=torch.float32, device=device)
        g = torch.exp(-((coords - self.window_size // 2) ** 2) / (2 * self.sigma**2))
        g = g / g.sum()
        return g if n_spatial == 1 else torch.outer(g, g)

    def ssim(self, reconstruction, target):
        """SSIM per sample; 1 means identical.

        Parameters
        ----------
        reconstruction : torch.Tensor of shape (n, C, H, W) or (n, C, L)
            The network's output.
        target : torch.Tensor of the same shape
            What it should be.

        Returns
        -------
        ssim : torch.Tensor of shape (n,)
        """
        return self._ssim_map(reconstruction, target).flatten(1).mean(1)

    def _ssim_map(self, reconstruction, target):
        n_spatial = check_image_layout(target, "SSIMLoss")
        window = self._window(n_spatial, target.device)
        c1 = (self.k1 * self.data_range) ** 2
        c2 = (self.k2 * self.data_range) ** 2
        x, y = reconstruction, target
        mu_x, mu_y = depthwise_filter(x, window), depthwise_filter(y, window)
        var_x = depthwise_filter(x * x, window) - mu_x**2
        var_y = depthwise_filter(y * y, window) - mu_y**2
        cov = depthwise_filter(x * y, window) - mu_x * mu_y
        return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
            (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
        )

    def __call__(self, reconstruction, target):
        loss = 1 - self.ssim(reconstruction, target)
        if self.alpha < 1:
            loss = self.alpha * loss + (1 - self.alpha) * l1_loss(reconstruction, target)
        return loss

    def __repr__(self):
        return (
            f"SSIMLoss(window_size={self.window_size}, sigma={self.sigma}, "
            f"data_range={self.data_range}, k1={self.k1}, k2={self.k2}, alpha={self.alpha})"
        )


class MultiScaleFilterBank(nn.Module):
    """Fixed multi-scale gradient and Laplacian filters: the default perceptual features.

    At each of ``n_scales`` scales (the image average-pooled by 1, 2, 4, ...) every
    channel is filtered by the two Sobel derivatives and a Laplacian (one derivative and
    one Laplacian for signals); the coarsest scale also keeps the pooled image itself.
    Returns one feature tensor per scale. No weights are learned or downloaded.

    Parameters
    ----------
    n_scales : int, default=3
        Number of scales; scales that would shrink an axis below 2 are dropped.

    Examples
    --------
    >>> import torch
    >>> from skae.losses import MultiScaleFilterBank
    >>> features = MultiScaleFilterBank()(torch.zeros(2, 1, 28, 28))
    >>> [tuple(f.shape) for f in features]
    [(2, 3, 28, 28), (2, 3, 14, 14), (2, 4, 7, 7)]
    """

    def __init__(self, n_scales=3):
        super().__init__()
        if not isinstance(n_scales, int) or n_scales < 1:
            raise ValueError(f"n_scales must be a positive int, got {n_scales!r}.")
        self.n_scales = n_scales
        sobel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8
        laplace = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]) / 4
        self.register_buffer("filters_2d", torch.stack([sobel, sobel.T, laplace]))
        self.register_buffer(
            "filters_1d", torch.tensor([[0.5, 0.0, -0.5], [0.5, -1.0, 0.5]])
        )

    def forward(self, x):
        n_spatial = check_image_layout(x, "MultiScaleFilterBank")
        filters = self.filters_2d if n_spatial == 2 else self.filters_1d
        n, channels = x.shape[:2]
        features = []
        for scale in range(self.n_scales):
            if scale > 0:
                if min(x.shape[2:]) < 4:
                    break
                x = AVG_POOL[n_spatial](x, 2, ceil_mode=True)
            responses = [depthwise_filter(x, f) for f in filters]
            last = scale == self.n_scales - 1 or min(x.shape[2:]) < 4
            if last:
                responses.append(x)
            # (n, C * n_filters, ...), filters of one channel side by side
            features.append(torch.cat(responses, dim=1))
            if last:
                break
        return features


class PerceptualLoss:
    """Distance between the activations of a fixed feature network, per sample.

    Comparing features instead of pixels ("perceptual" or "feature" loss, Johnson et
    al., 2016) weighs errors by what the features respond to. The reconstruction and
    the target are passed through ``feature_extractor``; the mean distance of each
    returned activation is summed (weighted by ``layer_weights``).

    **Default features: fixed hand-made filters, not a random network.** Without
    downloaded weights there are two candidates: a randomly initialised, seeded CNN, or
    a fixed filter bank. We take :class:`MultiScaleFilterBank` (Sobel gradients and a
    Laplacian at 3 scales, plus the coarse image), in the spirit of the Laplacian
    pyramid loss of Bojanowski et al. (2018), because (1) it is deterministic and
    interpretable: it weighs errors in edges and textures at several scales, which is
    what pixel MSE underweights and what makes reconstructions blurry; (2) because it
    keeps the coarse image, it is zero only when the images agree, whereas a random
    ReLU network has directions of change it does not see, so that a network can lower
    the loss without getting closer to the target; (3) its behaviour does not depend on a
    seed, a depth or a width that nobody tuned, and it works for any image size, any
    number of channels and 1-D signals; (4) it costs a few cheap convolutions.

    **Your own features**: pass any ``torch.nn.Module`` that maps a batch
    ``(n, C, H, W)`` to a tensor, or a list/tuple/dict of tensors (several layers), e.g.
    the convolutional part of a classifier trained on your images. A frozen copy in
    evaluation mode is used (your module is not changed or trained); it must accept the
    channels of your data (wrap it to repeat a gray channel for an RGB network).

    Parameters
    ----------
    feature_extractor : torch.nn.Module, default=None
        The feature network. None uses ``MultiScaleFilterBank()``.
    layer_weights : sequence of float, default=None
        Weight of each returned activation (in order; dict values in insertion order).
        None gives weight 1 to each.
    distance : {"l1", "l2"}, default="l1"
        Mean absolute or mean squared difference of activations.
    pixel_weight : float, default=0.0
        Weight of an added pixel-wise term (the same distance on the pixels), useful with
        feature networks that ignore colour or brightness.

    References
    ----------
    .. [1] J. Johnson, A. Alahi and L. Fei-Fei, "Perceptual losses for real-time style
       transfer and super-resolution", ECCV 2016.
    .. [2] P. Bojanowski, A. Joulin, D. Lopez-Paz and A. Szlam, "Optimizing the latent
       space of generative networks", ICML 2018.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skae.losses import PerceptualLoss
    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = torch.rand(2, 1, 16, 16, generator=g), torch.rand(2, 1, 16, 16, generator=g)
    >>> PerceptualLoss()(x, x).tolist()
    [0.0, 0.0]
    >>> torch.manual_seed(0) and None
    >>> features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    >>> PerceptualLoss(features, distance="l2")(x, y).shape
    torch.Size([2])
    """

    def __init__(self, feature_extractor=None, *, layer_weights=None, distance="l1",
                 pixel_weight=0.0):
        if feature_extractor is not None and not isinstance(feature_extractor, nn.Module):
            raise TypeError(
                "feature_extractor must be a torch.nn.Module or None, got "
                f"{type(feature_extractor).__name__}."
            )
        if distance not in ("l1", "l2"):
            raise ValueError(f"distance must be 'l1' or 'l2', got {distance!r}.")
        if not isinstance(pixel_weight, (int, float)) or pixel_weight < 0:
            raise ValueError(f"pixel_weight must be a non-negative number: {pixel_weight!r}.")
        if layer_weights is not None:
            layer_weights = [float(w) for w in layer_weights]
            if any(not w >= 0 for w in layer_weights):
                raise ValueError(f"layer_weights must be non-negative: {layer_weights}.")
        self.feature_extractor = feature_extractor
        self.layer_weights = layer_weights
        self.distance = distance
        self.pixel_weight = pixel_weight
        self._frozen = {}

    def _features_on(self, device):
        key = str(device)
        if key not in self._frozen:
            source = self.feature_extractor
            module = MultiScaleFilterBank() if source is None else copy.deepcopy(source)
            module = module.to(device).eval()
            for param in module.parameters():
                param.requires_grad_(False)
            self._frozen[key] = module
        return self._frozen[key]

    def _distance(self, a, b):
        diff = a - b
        diff = diff.abs() if self.distance == "l1" else diff.pow(2)
        return diff.flatten(1).mean(1)

    def __call__(self, reconstruction, target):
        module = self._features_on(target.device)
        outputs = []
        for tensor in (reconstruction, target):
            out = module(tensor)
            if isinstance(out, dict):
                out = list(out.values())
            elif isinstance(out, torch.Tensor):
                out = [out]
            outputs.append(list(out))
        weights = self.layer_weights or [1.0] * len(outputs[0])
        if len(weights) != len(outputs[0]):
            raise ValueError(
                f"layer_weights has {len(weights)} entries but the feature extractor "
                f"returned {len(outputs[0])} activations."
            )
        loss = torch.zeros(target.shape[0], dtype=target.dtype, device=target.device)
        for w, a, b in zip(weights, *outputs):
            if w:
                loss = loss + w * self._distance(a, b)
        if self.pixel_weight:
            loss = loss + self.pixel_weight * self._distance(reconstruction, target)
        return loss

    def __getstate__(self):
        return {**self.__dict__, "_frozen": {}}

    def __deepcopy__(self, memo):
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for key, value in self.__getstate__().items():
            setattr(clone, key, copy.deepcopy(value, memo))
        return clone

    def __repr__(self):
        features = "None" if self.feature_extractor is None else (
            type(self.feature_extractor).__name__ + "(...)"
        )
        return (
            f"PerceptualLoss({features}, layer_weights={self.layer_weights}, "
            f"distance={self.distance!r}, pixel_weight={self.pixel_weight})"
        )


LOSSES = {
    "mse": mse_loss,
    "l1": l1_loss,
    "bce": bce_loss,
    "ssim": SSIMLoss(),
    "ssim_l1": SSIMLoss(alpha=0.84),
    "perceptual": PerceptualLoss(),
}

# Losses whose targets must lie in [0, 1]; fit checks the data against this.
UNIT_INTERVAL_LOSSES = {"bce"}


def get_loss_function(loss):
    """Return the per-sample loss function for a name or a callable.

    Parameters
    ----------
    loss : str or callable
        A key of :data:`LOSSES`, or a callable ``(reconstruction, target) -> (n,)``,
        returned as is.

    Returns
    -------
    loss_function : callable
    """
    if callable(loss):
        return loss
    try:
        return LOSSES[loss]
    except KeyError:
        raise ValueError(
            f"Unknown loss {loss!r}; choose one of {sorted(LOSSES)} or pass a callable "
            "(reconstruction, target) -> per-sample loss of shape (n,)."
        ) from None


class ReconstructionCriterion(nn.Module):
    """skorch criterion: the batch mean of a per-sample loss.

    Parameters
    ----------
    loss_function : callable
        ``(reconstruction, target) -> per-sample losses of shape (n,)``; checked at
        every call.
    """

    def __init__(self, loss_function):
        super().__init__()
        self.loss_function = loss_function

    def forward(self, reconstruction, target):
        per_sample = self.loss_function(reconstruction, target)
        if per_sample.ndim != 1 or per_sample.shape[0] != reconstruction.shape[0]:
            raise ValueError(
                "A skae loss must return one value per sample (shape (n,)), got shape "
                f"{tuple(per_sample.shape)}."
            )
        return per_sample.mean()


def nt_xent_loss(z1, z2, temperature=0.5):
    """Normalised temperature-scaled cross entropy (SimCLR's contrastive loss).

    Row ``i`` of ``z1`` and row ``i`` of ``z2`` are two views of one sample (a positive
    pair); every other row of the batch is a negative. Each of the ``2n`` rows is
    classified, by cosine similarity divided by ``temperature``, among the other
    ``2n - 1``; the loss is the mean cross entropy of finding its partner. Its lowest
    value is 0; with random projections it is about ``log(2n - 1)``.

    Parameters
    ----------
    z1, z2 : torch.Tensor of shape (n, d)
        Projections of two views of the same ``n`` samples.
    temperature : float, default=0.5
        Lower values weigh the hardest negatives more.

    Returns
    -------
    loss : torch.Tensor
        A scalar (0 when ``n == 1``: there is no negative).

    References
    ----------
    .. [1] T. Chen, S. Kornblith, M. Norouzi and G. Hinton, "A simple framework for
       contrastive learning of visual representations", ICML 2020.

    Examples
    --------
    >>> import torch
    >>> z = torch.eye(4)
    >>> float(nt_xent_loss(z, z, temperature=0.1)) < 1e-3
    True
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(
            f"z1 and z2 must have the same shape (n, d), got {tuple(z1.shape)} and "
            f"{tuple(z2.shape)}."
        )
    n = z1.shape[0]
    if n < 2:
        return z1.sum() * 0.0
    z = nn.functional.normalize(torch.cat([z1, z2]).float(), dim=1)
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return nn.functional.cross_entropy(similarity, partner)


__all__ = [
    "LOSSES",
    "MultiScaleFilterBank",
    "PerceptualLoss",
    "ReconstructionCriterion",
    "SSIMLoss",
    "bce_loss",
    "get_loss_function",
    "l1_loss",
    "mse_loss",
    "nt_xent_loss",
]
