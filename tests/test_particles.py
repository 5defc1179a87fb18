import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score

from skae.datasets import (
    PARTICLE_FEATURE_NAMES,
    PARTICLE_KINDS,
    make_particles,
    particle_features,
)


@pytest.fixture(scope="module")
def particles():
    return make_particles(n_control=120, n_core=120, random_state=0)


def test_shapes_types_and_split(particles):
    d = particles
    assert d.images.shape == (240, 128, 128)
    assert d.images.dtype == np.float32
    assert 0.0 <= d.images.min() and d.images.max() <= 1.0
    assert d.features.shape == (240, 34) and d.features.dtype == np.float64
    assert d.feature_names == list(PARTICLE_FEATURE_NAMES) and len(set(d.feature_names)) == 34
    assert np.isfinite(d.features).all()
    assert d.target_names == ["pollen", "dust", "tephra", "fibre", "diatom", "spherule"]
    assert d.known_kinds == ["pollen", "dust", "tephra", "fibre"]
    assert d.is_control.sum() == 120 and d.is_control[:120].all()
    # The control set holds known kinds only, in equal shares.
    assert np.array_equal(np.bincount(d.target[d.is_control]), [30, 30, 30, 30])
    # The core set: 25 % from the core-only kinds, split equally, the rest known kinds.
    core = d.target[~d.is_control]
    assert np.array_equal(np.bincount(core, minlength=6)[4:], [15, 15])
    assert np.array_equal(np.bincount(core, minlength=6)[:4], [23, 23, 22, 22])


def test_seeded_and_reproducible():
    a = make_particles(10, 10, random_state=3)
    b = make_particles(10, 10, random_state=3)
    c = make_particles(10, 10, random_state=4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.features, b.features)
    assert np.array_equal(a.target, b.target)
    assert not np.array_equal(a.images, c.images)


def test_particle_background_dark_particle_bright(particles):
    images = particles.images
    border = np.concatenate([images[:, :4].ravel(), images[:, -4:].ravel()])
    assert np.median(border) < 0.12
    assert np.all(images.max(axis=(1, 2)) > 0.4)
    # Particles sit near the centre, as in a flow-imaging microscope.
    yy, xx = np.mgrid[0:128, 0:128]
    mass = np.clip(images - 0.2, 0, None)
    cy = (mass * yy).sum(axis=(1, 2)) / mass.sum(axis=(1, 2))
    cx = (mass * xx).sum(axis=(1, 2)) / mass.sum(axis=(1, 2))
    assert np.all(np.hypot(cy - 64, cx - 64) < 30)


def test_kinds_are_told_apart_by_their_measured_features(particles):
    """The 34 measured features carry the kind: a forest separates all six kinds."""
    forest = RandomForestClassifier(n_estimators=100, random_state=0)
    accuracy = cross_val_score(forest, particles.features, particles.target, cv=3).mean()
    assert accuracy > 0.9


def test_features_match_the_geometry():
    d = make_particles(80, 80, random_state=1)
    f = dict(zip(d.feature_names, d.features.T))
    kinds = np.array(d.target_names)[d.target]
    # Fibres are long and thin, spherules round, tephra shards have vesicles (holes).
    assert np.median(f["aspect_ratio"][kinds == "fibre"]) > 4
    assert np.median(f["circularity"][kinds == "spherule"]) > 0.85
    assert np.median(f["eccentricity"][kinds == "pollen"]) < 0.4
    assert np.mean(f["euler_number"][kinds == "tephra"] < 1) > 0.5
    assert np.mean(f["euler_number"][kinds == "dust"] < 1) < 0.1
    assert np.median(f["area"][kinds == "spherule"]) < np.median(f["area"][kinds == "pollen"])


def test_particle_features_of_known_shapes():
    yy, xx = np.mgrid[0:64, 0:64]
    r = np.hypot(yy - 32, xx - 32)
    disk = np.where(r < 10, 0.8, 0.05)
    original = disk.copy()
    f = dict(zip(PARTICLE_FEATURE_NAMES, particle_features(disk)))
    np.testing.assert_array_equal(disk, original)  # input not modified
    # A threshold at 20 % of the edge step after smoothing grows the disk by about 1 px.
    assert np.pi * 10**2 < f["area"] < np.pi * 11.5**2
    assert f["eccentricity"] < 0.1 and f["euler_number"] == 1 and f["n_fragments"] == 1
    assert f["circularity"] > 0.85 and f["hole_fraction"] == 0
    assert abs(f["intensity_max"] - 0.8) < 1e-6
    ring = np.where((r < 14) & (r > 7), 0.8, 0.05)
    g = dict(zip(PARTICLE_FEATURE_NAMES, particle_features(ring)))
    assert g["euler_number"] == 0 and g["hole_fraction"] > 0.15
    two = np.where((np.hypot(yy - 16, xx - 16) < 5) | (np.hypot(yy - 48, xx - 48) < 8), 0.8, 0)
    assert particle_features(two)[PARTICLE_FEATURE_NAMES.index("n_fragments")] == 2
    assert np.isnan(particle_features(np.zeros((32, 32)))).all()


def test_options():
    d = make_particles(8, 12, control_kinds=("dust", "fibre"), core_only_kinds=(),
                       core_only_fraction=0.0, image_size=64, random_state=0)
    assert d.images.shape == (20, 64, 64) and d.target_names == ["dust", "fibre"]
    d = make_particles(4, 4, core_only_kinds=("spherule",), core_only_fraction=1.0,
                       as_frame=True, random_state=0)
    assert list(d.frame.columns[-2:]) == ["kind", "set"]
    assert d.features.shape == (8, 34) and list(d.features.columns) == d.feature_names
    assert set(d.frame["kind"][d.frame["set"] == "core"]) == {"spherule"}
    assert set(PARTICLE_KINDS) == {"pollen", "dust", "tephra", "fibre", "diatom", "spherule"}


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(control_kinds=("pollen", "rock")), "unknown particle kind"),
        (dict(control_kinds=("dust",), core_only_kinds=("dust",)), "both control"),
        (dict(control_kinds=()), "at least one"),
        (dict(core_only_fraction=1.5), "core_only_fraction"),
        (dict(core_only_kinds=(), core_only_fraction=0.2), "needs at least one"),
        (dict(n_control=-1), "n_control"),
        (dict(n_control=0, n_core=0), "n_control \\+ n_core"),
        (dict(image_size=16), "image_size"),
        (dict(noise=-0.1), "noise"),
        (dict(blur=np.nan), "blur"),
    ],
)
def test_invalid_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        make_particles(**{"n_control": 4, "n_core": 4, **params})
