"""Synthetic ice-core particle images with measured shape and intensity features.

Each image shows one particle, roughly centred as in a flow-imaging microscope, rendered
as optical density (0 = empty background, 1 = opaque) so that particles are bright on a
dark background. Every kind has its own geometry, size distribution and texture; every
image gets its own rotation, position jitter, defocus blur, uneven illumination, sensor
noise and, sometimes, a speck of debris. The 34 features are then *measured* from the
image alone (threshold, largest connected region, scikit-image region properties), as a
particle analyser would, so they carry the same segmentation noise as real measurements.
"""

import functools

import numpy as np
from scipy import ndimage
from sklearn.utils import Bunch, check_random_state

from ._particle_features import PARTICLE_FEATURE_NAMES, particle_features

__all__ = ["PARTICLE_KINDS", "PARTICLE_FEATURE_NAMES", "make_particles", "particle_features"]

PARTICLE_KINDS = {
    "pollen": "round grain with a bright wall (exine) and regular spines",
    "dust": "irregular, lumpy mineral grain, nearly opaque, rough texture",
    "tephra": "angular volcanic glass shard, translucent, with round vesicles (holes)",
    "fibre": "thin curved fibre (contamination from clothing or filters)",
    "diatom": "elongated lens-shaped frustule with fine transverse striae",
    "spherule": "small, perfectly round, smooth opaque sphere (fly ash / cosmic dust)",
}
DEFAULT_CONTROL_KINDS = ("pollen", "dust", "tephra", "fibre")
DEFAULT_CORE_ONLY_KINDS = ("diatom", "spherule")

_N_ANGLES = 720
_ANGLES = np.linspace(0, 2 * np.pi, _N_ANGLES, endpoint=False)


# --------------------------------------------------------------------------- rendering
@functools.lru_cache(maxsize=4)
def _grid(size):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    yy.flags.writeable = xx.flags.writeable = False
    return yy, xx


class _Canvas:
    """Pixel coordinates of one image, centred on the particle and rotated."""

    def __init__(self, size, rng, stretch=1.0):
        self.size = size
        yy, xx = _grid(size)
        cy, cx = size / 2 + rng.normal(0, 0.04 * size, size=2)
        phi = rng.uniform(0, 2 * np.pi)
        dx, dy = xx - cx, yy - cy
        self.cx, self.cy, self.cos, self.sin = cx, cy, np.cos(phi), np.sin(phi)
        # u along the particle's long axis, v across it.
        self.u = (np.cos(phi) * dx + np.sin(phi) * dy) / stretch
        self.v = -np.sin(phi) * dx + np.cos(phi) * dy

    @functools.cached_property
    def r(self):
        return np.hypot(self.u, self.v)

    @functools.cached_property
    def theta(self):
        return np.mod(np.arctan2(self.v, self.u), 2 * np.pi)

    def polar_mask(self, radius_of_angle):
        """Anti-aliased mask of the star-shaped region ``r < R(theta)``."""
        index = (self.theta * (_N_ANGLES / (2 * np.pi))).astype(np.intp) % _N_ANGLES
        return np.clip(radius_of_angle[index] - self.r + 0.5, 0.0, 1.0)


def _smooth_noise(rng, size, sigma, amplitude):
    noise = ndimage.gaussian_filter(rng.normal(size=(size, size)), sigma, truncate=2.5)
    return amplitude * noise / (noise.std() + 1e-12)


def _pollen(rng, size, scale):
    c = _Canvas(size, rng)
    r0 = rng.uniform(14, 22) * scale
    n_spines = rng.integers(10, 19)
    spine = rng.uniform(0.12, 0.22) * r0
    offset = rng.uniform(0, 2 * np.pi)
    radius = r0 + spine * np.maximum(np.cos(n_spines * _ANGLES + offset), 0) ** 8
    mask = c.polar_mask(radius)
    body = c.polar_mask(np.full(_N_ANGLES, r0))
    wall = np.exp(-0.5 * ((c.r - (r0 - 2.0)) / 1.3) ** 2)
    density = rng.uniform(0.4, 0.55) + 0.3 * wall + _smooth_noise(rng, size, 1.5, 0.06)
    density = density * body + 0.65 * (mask - body)
    return np.clip(density, 0, 1) * mask


def _dust(rng, size, scale):
    c = _Canvas(size, rng)
    r0 = rng.lognormal(np.log(15), 0.3) * scale
    r0 = np.clip(r0, 6, 36)
    log_radius = np.zeros(_N_ANGLES)
    for k in range(2, 9):
        log_radius += rng.normal(0, 0.28 / k) * np.cos(k * _ANGLES + rng.uniform(0, 2 * np.pi))
    mask = c.polar_mask(r0 * np.exp(log_radius))
    density = rng.uniform(0.75, 0.92) + _smooth_noise(rng, size, 1.0, 0.08)
    return np.clip(density, 0, 1) * mask


def _polygon_radius(vertex_angles, vertex_radii):
    """Distance from the origin to a star-shaped polygon's edge along every angle."""
    px, py = vertex_radii * np.cos(vertex_angles), vertex_radii * np.sin(vertex_angles)
    segment = np.searchsorted(vertex_angles, _ANGLES, side="right") - 1
    i, j = segment % len(px), (segment + 1) % len(px)
    ex, ey = px[j] - px[i], py[j] - py[i]
    ux, uy = np.cos(_ANGLES), np.sin(_ANGLES)
    return (px[i] * ey - py[i] * ex) / (ux * ey - uy * ex)


def _tephra(rng, size, scale):
    c = _Canvas(size, rng, stretch=rng.uniform(1.0, 1.8))
    r0 = rng.uniform(12, 22) * scale
    n_vertices = rng.integers(4, 8)
    gaps = rng.dirichlet(np.full(n_vertices, 4.0)) * 2 * np.pi
    angles = np.cumsum(gaps) - gaps[0]
    radii = r0 * rng.uniform(0.45, 1.0, n_vertices)
    outline = _polygon_radius(angles, radii)
    mask = c.polar_mask(outline)
    density = np.full((size, size), rng.uniform(0.4, 0.55))
    # Vesicles: round bubbles frozen in the glass, seen as holes, kept inside the shard.
    holes = np.zeros((size, size))
    for _ in range(rng.integers(2, 7)):
        where = rng.uniform(0, 2 * np.pi)
        room = outline[int(where / (2 * np.pi) * _N_ANGLES) % _N_ANGLES]
        hole_r = rng.uniform(2.5, 4.5) * scale
        if room < 2.0 * hole_r + 2:
            continue
        at = rng.uniform(0, room - hole_r - 2)
        d = np.hypot(c.u - at * np.cos(where), c.v - at * np.sin(where))
        holes = np.maximum(holes, np.clip(hole_r - d + 0.5, 0, 1))
    density = density * (1 - 0.9 * holes) + _smooth_noise(rng, size, 2.0, 0.03)
    return np.clip(density, 0, 1) * mask


def _fibre(rng, size, scale):
    c = _Canvas(size, rng)
    length = rng.uniform(45, 95) * scale
    width = rng.uniform(2.2, 4.0)
    t = np.linspace(-0.5, 0.5, int(4 * length))
    bend = rng.normal(0, 0.25) * length
    wiggle = rng.normal(0, 0.04) * length
    u = t * length
    v = bend * (t**2 - 1 / 12) + wiggle * np.sin(2 * np.pi * t * rng.uniform(1, 2.5))
    # Rasterise the centre line, then thicken it with a distance transform.
    xs = np.rint(c.cx + c.cos * u - c.sin * v).astype(np.intp)
    ys = np.rint(c.cy + c.sin * u + c.cos * v).astype(np.intp)
    keep = (xs >= 0) & (xs < size) & (ys >= 0) & (ys < size)
    line = np.zeros((size, size), dtype=bool)
    line[ys[keep], xs[keep]] = True
    if not line.any():  # cannot happen for centred fibres, but stay safe
        line[size // 2, size // 2] = True
    distance = ndimage.distance_transform_edt(~line)
    mask = np.clip(width / 2 - distance + 0.5, 0, 1)
    density = rng.uniform(0.65, 0.85) + _smooth_noise(rng, size, 3.0, 0.04)
    return np.clip(density, 0, 1) * mask


def _diatom(rng, size, scale):
    c = _Canvas(size, rng)
    half_length = rng.uniform(20, 40) * scale
    half_width = rng.uniform(4.5, 7.5) * scale
    p = rng.uniform(1.8, 2.4)
    inside = np.abs(c.u / half_length) ** p + np.abs(c.v / half_width) ** 2
    # Soft edge about one pixel wide.
    mask = np.clip((1 - inside) * half_width / 2 + 0.5, 0, 1)
    period = rng.uniform(2.8, 4.0)
    striae = 0.5 + 0.5 * np.cos(2 * np.pi * c.u / period)
    raphe = np.exp(-0.5 * (c.v / 0.8) ** 2)
    density = rng.uniform(0.35, 0.45) + 0.25 * striae + 0.2 * raphe
    return np.clip(density, 0, 1) * mask


def _spherule(rng, size, scale):
    c = _Canvas(size, rng)
    radius = rng.uniform(5, 12) * scale
    mask = c.polar_mask(np.full(_N_ANGLES, radius))
    highlight = np.exp(-0.5 * (np.hypot(c.u + 0.2 * radius, c.v + 0.2 * radius)
                              / (0.22 * radius)) ** 2)
    density = 0.95 - 0.55 * highlight
    return np.clip(density, 0, 1) * mask


_RENDERERS = {
    "pollen": _pollen,
    "dust": _dust,
    "tephra": _tephra,
    "fibre": _fibre,
    "diatom": _diatom,
    "spherule": _spherule,
}


def _render(kind, rng, size, noise, blur):
    scale = size / 128 * rng.lognormal(0, 0.12)
    density = _RENDERERS[kind](rng, size, scale)
    if rng.random() < 0.3:  # a speck of debris somewhere near the border
        y, x = rng.uniform(0.05, 0.95, 2) * size
        if np.hypot(y - size / 2, x - size / 2) > 0.35 * size:
            yy, xx = np.ogrid[0:size, 0:size]
            speck = np.clip(rng.uniform(0.8, 2.0) - np.hypot(yy - y, xx - x) + 0.5, 0, 1)
            density = np.maximum(density, 0.6 * speck)
    sigma = rng.uniform(0.5, 1.2) * blur
    if sigma > 0:
        density = ndimage.gaussian_filter(density, sigma, truncate=3.0)
    yy, xx = np.ogrid[0:size, 0:size]
    tilt = rng.normal(0, 0.015, 2)
    background = 0.06 + tilt[0] * (yy / size - 0.5) + tilt[1] * (xx / size - 0.5)
    image = background + density + rng.normal(0, noise, (size, size))
    return np.clip(image, 0, 1).astype(np.float32)


# --------------------------------------------------------------------------- features
def _check_kinds(kinds, name):
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in PARTICLE_KINDS]
    if unknown:
        raise ValueError(
            f"{name} has unknown particle kind(s) {unknown}; choose from "
            f"{sorted(PARTICLE_KINDS)}."
        )
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"{name} lists a kind twice: {kinds}.")
    return kinds


def _check_count(value, name, minimum=0):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def make_particles(
    n_control=500,
    n_core=500,
    *,
    control_kinds=DEFAULT_CONTROL_KINDS,
    core_only_kinds=DEFAULT_CORE_ONLY_KINDS,
    core_only_fraction=0.25,
    image_size=128,
    noise=0.03,
    blur=1.0,
    as_frame=False,
    random_state=None,
):
    """Generate ice-core-like microscope images of particles, with measured features.

    Mimics the particles filtered from melted ice cores and imaged one by one: a carefully
    labelled *control* set holding the known kinds (``control_kinds``), and a *core* set
    that mixes the known kinds with kinds nobody labelled (``core_only_kinds``). The task
    it poses: recognise the known kinds in the core and find the others.

    Kinds (see ``PARTICLE_KINDS``): ``"pollen"`` round grains with a bright wall and
    spines; ``"dust"`` irregular opaque mineral grains; ``"tephra"`` angular translucent
    glass shards with vesicles; ``"fibre"`` thin curved fibres; ``"diatom"`` elongated
    striated frustules; ``"spherule"`` small smooth opaque spheres.

    Images are optical density (0 = background, 1 = opaque): particles bright on dark.
    Each image gets a random rotation, position jitter, size variation (log-normal, about
    12 %), defocus blur, a slight illumination gradient, Gaussian sensor noise and, in
    about a quarter of the images, a speck of debris near the border. The 34 features
    are measured from each image by :func:`particle_features` (threshold, largest region,
    scikit-image ``regionprops``): 17 shape descriptors, 7 Hu moments, 2 inertia
    eigenvalues, 5 intensity statistics, edge gradient, texture contrast and the number of
    fragments.

    Parameters
    ----------
    n_control : int, default=500
        Number of images in the labelled control set (known kinds only, in equal shares).
    n_core : int, default=500
        Number of images in the core set.
    control_kinds : sequence of str, default=("pollen", "dust", "tephra", "fibre")
        The known kinds: in the control set and in the core set.
    core_only_kinds : sequence of str, default=("diatom", "spherule")
        Kinds present only in the core set. May be empty.
    core_only_fraction : float, default=0.25
        Share of the core set drawn from ``core_only_kinds`` (in equal shares); the rest
        comes from ``control_kinds``.
    image_size : int, default=128
        Side of the square images in pixels (at least 32). Particle sizes scale with it.
    noise : float, default=0.03
        Standard deviation of the Gaussian sensor noise.
    blur : float, default=1.0
        Scale of the defocus blur (the Gaussian sigma of each image is drawn in
        ``[0.5, 1.2] * blur`` pixels); 0 disables it.
    as_frame : bool, default=False
        If True, ``features`` is a :class:`pandas.DataFrame` and the Bunch gains a
        ``frame`` with the features plus ``kind`` and ``set`` columns.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible data.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        images : ndarray of shape (n_control + n_core, image_size, image_size), float32
            Control images first, then core images; values in [0, 1].
        features : ndarray of shape (n_samples, 34), float64 (or DataFrame)
            Measured features, in the order of ``feature_names``.
        feature_names : list of str
            Names of the 34 features.
        target : ndarray of shape (n_samples,), int
            Index of each particle's true kind in ``target_names``. In real data the core
            labels are unknown; they are here so results can be scored.
        target_names : list of str
            ``control_kinds`` followed by ``core_only_kinds``.
        is_control : ndarray of shape (n_samples,), bool
            True for the labelled control set, False for the core set.
        known_kinds : list of str
            ``control_kinds``.
        frame : DataFrame, only if ``as_frame=True``
            Features, target and ``is_control`` in one table.
        DESCR : str
            Description of the data set.

    See Also
    --------
    particle_features : The feature measurement used here, for your own images.
    load_fashion_mnist_subset : Real images bundled with skae.

    Examples
    --------
    >>> from skae.datasets import make_particles
    >>> data = make_particles(n_control=40, n_core=40, random_state=0)
    >>> data.images.shape, data.features.shape
    ((80, 128, 128), (80, 34))
    >>> data.target_names
    ['pollen', 'dust', 'tephra', 'fibre', 'diatom', 'spherule']
    >>> int(data.is_control.sum()), sorted(set(data.target[~data.is_control].tolist()))
    (40, [0, 1, 2, 3, 4, 5])
    """
    n_control = _check_count(n_control, "n_control")
    n_core = _check_count(n_core, "n_core")
    if n_control + n_core < 1:
        raise ValueError("make_particles needs n_control + n_core >= 1.")
    image_size = _check_count(image_size, "image_size", minimum=32)
    control_kinds = _check_kinds(control_kinds, "control_kinds")
    core_only_kinds = _check_kinds(core_only_kinds, "core_only_kinds")
    if not control_kinds:
        raise ValueError("control_kinds must name at least one kind.")
    overlap = set(control_kinds) & set(core_only_kinds)
    if overlap:
        raise ValueError(f"Kinds {sorted(overlap)} are both control and core-only kinds.")
    if not 0 <= core_only_fraction <= 1:
        raise ValueError(f"core_only_fraction must be in [0, 1], got {core_only_fraction}.")
    if core_only_fraction > 0 and not core_only_kinds:
        raise ValueError("core_only_fraction > 0 needs at least one core_only_kinds entry.")
    for name, value in (("noise", noise), ("blur", blur)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")

    rs = check_random_state(random_state)
    n_known, n_new = len(control_kinds), len(core_only_kinds)
    n_core_only = int(round(n_core * core_only_fraction)) if n_new else 0

    def balanced(n, first, count):
        labels = first + np.arange(n) % count if count else np.empty(0, int)
        return rs.permutation(labels)

    target = np.concatenate(
        [
            balanced(n_control, 0, n_known),
            rs.permutation(
                np.concatenate(
                    [balanced(n_core - n_core_only, 0, n_known),
                     balanced(n_core_only, n_known, n_new)]
                )
            ),
        ]
    ).astype(np.int64)
    target_names = [*control_kinds, *core_only_kinds]
    seeds = rs.randint(np.iinfo(np.int32).max, size=len(target))
    images = np.empty((len(target), image_size, image_size), dtype=np.float32)
    features = np.empty((len(target), len(PARTICLE_FEATURE_NAMES)), dtype=np.float64)
    for i, (kind, seed) in enumerate(zip(target, seeds)):
        rng = np.random.default_rng(seed)
        images[i] = _render(target_names[kind], rng, image_size, noise, blur)
        features[i] = particle_features(images[i])
    is_control = np.arange(len(target)) < n_control

    descr = (
        f"Synthetic ice-core particles: {n_control} labelled control images of "
        f"{', '.join(control_kinds)}; {n_core} core images that also hold "
        f"{', '.join(core_only_kinds) or 'no other kinds'} "
        f"({n_core_only} images). {image_size}x{image_size} optical density images and 34 "
        "features measured with scikit-image regionprops."
    )
    bunch = Bunch(
        images=images,
        features=features,
        feature_names=list(PARTICLE_FEATURE_NAMES),
        target=target,
        target_names=target_names,
        is_control=is_control,
        known_kinds=list(control_kinds),
        DESCR=descr,
    )
    if as_frame:
        import pandas as pd

        bunch.features = pd.DataFrame(features, columns=list(PARTICLE_FEATURE_NAMES))
        frame = bunch.features.copy()
        frame["kind"] = pd.Categorical.from_codes(target, categories=target_names)
        frame["set"] = np.where(is_control, "control", "core")
        bunch.frame = frame
    return bunch
