"""Fixed filtering of image and signal batches: depthwise filters and average pooling."""

import torch.nn.functional as F

_CONV = {1: F.conv1d, 2: F.conv2d}
# Average pooling by number of spatial axes.
AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def check_image_layout(tensor, name):
    """Number of spatial axes of an image ``(n, C, H, W)`` or signal ``(n, C, L)`` batch;
    a ValueError naming ``name`` for any other shape."""
    if tensor.ndim not in (3, 4):
        raise ValueError(
            f"{name} compares images (n, C, H, W) or signals (n, C, L); got a tensor of "
            f"shape {tuple(tensor.shape)}. Use it with ConvAutoEncoder, or give "
            "ConvAutoEncoder flat rows with image_shape."
        )
    return tensor.ndim - 2


def depthwise_filter(x, kernel):
    """Filter every channel of ``x`` with ``kernel`` (shape ``(k,)`` or ``(k, k)``), 'same'
    size with reflected borders (replicated when the input is too small to reflect)."""
    n_spatial = x.ndim - 2
    channels = x.shape[1]
    pads = []
    for size in reversed(kernel.shape):
        pads += [size // 2, size // 2]
    small = any(d <= s // 2 for d, s in zip(x.shape[2:], kernel.shape))
    x = F.pad(x, pads, mode="replicate" if small else "reflect")
    weight = kernel.to(x.dtype).expand(channels, 1, *kernel.shape)
    return _CONV[n_spatial](x, weight, groups=channels)
