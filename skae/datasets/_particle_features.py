"""The 34 features a particle analyser measures on one particle image (shape, size,
intensity, texture), and their names."""

import numpy as np
from scipy import ndimage
from skimage.measure import label, regionprops

_HU = tuple(f"hu_moment_{i}" for i in range(1, 8))
PARTICLE_FEATURE_NAMES = (
    "area",
    "perimeter",
    "perimeter_crofton",
    "area_convex",
    "area_filled",
    "equivalent_diameter",
    "major_axis_length",
    "minor_axis_length",
    "feret_diameter_max",
    "eccentricity",
    "solidity",
    "extent",
    "euler_number",
    "circularity",
    "aspect_ratio",
    "roundness",
    "hole_fraction",
    *_HU,
    "inertia_eigval_major",
    "inertia_eigval_minor",
    "intensity_mean",
    "intensity_std",
    "intensity_min",
    "intensity_max",
    "integrated_density",
    "edge_gradient",
    "texture_contrast",
    "n_fragments",
)
assert len(PARTICLE_FEATURE_NAMES) == 34

# Segmentation: smoothed density above this value is "particle".
_THRESHOLD = 0.2
_SMOOTH_SIGMA = 1.0
_MIN_FRAGMENT_AREA = 5


def particle_features(image):
    """Measure the 34 shape and intensity features of the particle in one image.

    The image is smoothed (Gaussian, sigma 1 px) and thresholded at a density of 0.2; the
    largest connected region is the particle. Its region properties (scikit-image) give
    the shape features; intensities are read from the unsmoothed image.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        Optical density in [0, 1] (particle bright, background dark).

    Returns
    -------
    features : ndarray of shape (34,), float64
        In the order of ``PARTICLE_FEATURE_NAMES``. All NaN when nothing exceeds the
        threshold. Lengths are in pixels, areas in pixels squared; Hu moments are given as
        ``-sign(h) * log10(|h|)`` (the usual log scale, 0 where ``h == 0``).
    """
    image = np.asarray(image, dtype=np.float64)
    smooth = ndimage.gaussian_filter(image, _SMOOTH_SIGMA, truncate=3.0)
    labels = label(smooth > _THRESHOLD)
    if labels.max() == 0:
        return np.full(len(PARTICLE_FEATURE_NAMES), np.nan)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    biggest = int(np.argmax(sizes))
    n_fragments = int(np.sum(sizes >= _MIN_FRAGMENT_AREA))
    # Work on the region's bounding box (plus a margin): same numbers, far fewer pixels.
    rows, cols = np.nonzero(labels == biggest)
    pad = 3
    box = (
        slice(max(rows.min() - pad, 0), rows.max() + pad + 1),
        slice(max(cols.min() - pad, 0), cols.max() + pad + 1),
    )
    image, smooth = image[box], smooth[box]
    mask = labels[box] == biggest
    (region,) = regionprops(mask.astype(np.uint8), intensity_image=image)

    area = float(region.area)
    perimeter = float(region.perimeter) or 1.0
    major = float(region.axis_major_length)
    minor = float(region.axis_minor_length)
    hu = np.asarray(region.moments_hu, dtype=np.float64)
    hu_log = -np.sign(hu) * np.log10(np.abs(hu), out=np.zeros_like(hu), where=hu != 0)
    eig_major, eig_minor = region.inertia_tensor_eigvals
    values = image[mask]
    gradient = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))
    boundary = mask & ~ndimage.binary_erosion(mask)
    interior = ndimage.binary_erosion(mask, iterations=2)
    laplace = ndimage.laplace(image)
    texture = float(laplace[interior].std()) if interior.sum() > 1 else 0.0
    area_filled = float(region.area_filled)
    return np.array(
        [
            area,
            perimeter,
            float(region.perimeter_crofton),
            float(region.area_convex),
            area_filled,
            float(region.equivalent_diameter_area),
            major,
            minor,
            float(region.feret_diameter_max),
            float(region.eccentricity),
            float(region.solidity),
            float(region.extent),
            float(region.euler_number),
            4 * np.pi * area / perimeter**2,
            major / max(minor, 1.0),
            4 * area / (np.pi * max(major, 1.0) ** 2),
            (area_filled - area) / area_filled,
            *hu_log,
            float(eig_major),
            float(eig_minor),
            float(values.mean()),
            float(values.std()),
            float(values.min()),
            float(values.max()),
            float(values.sum()),
            float(gradient[boundary].mean()),
            texture,
            float(n_fragments),
        ],
        dtype=np.float64,
    )


# --------------------------------------------------------------------------- public API
