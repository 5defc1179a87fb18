"""
=============================================
Ice-core particles: images and their features
=============================================

:func:`skae.datasets.make_particles` draws microscope images of the particles found in
melted ice cores: spiny pollen, irregular mineral dust, angular volcanic glass (tephra)
with vesicles, fibres, and two kinds that appear only in the *core* set, never in the
labelled *control* set: diatoms and spherules. Each image also comes with 34 features
measured from the image by :func:`skae.datasets.particle_features` (threshold, largest
region, scikit-image ``regionprops``), as a particle analyser would.

This example shows the kinds, two of the features, and how well the features alone
recognise the known kinds in the core.
"""

# %%
# Generate a control and a core set
# ---------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import RandomForestClassifier

from skae.datasets import make_particles

data = make_particles(n_control=300, n_core=300, random_state=0)
kinds = np.array(data.target_names)[data.target]
print(data.DESCR)
print("features:", ", ".join(data.feature_names[:8]), "...")

# %%
# What the kinds look like
# ------------------------
fig, axes = plt.subplots(len(data.target_names), 6, figsize=(7, 7.5))
for row, kind in enumerate(data.target_names):
    for col, index in enumerate(np.flatnonzero(kinds == kind)[:6]):
        axes[row, col].imshow(data.images[index], cmap="gray", vmin=0, vmax=1)
        axes[row, col].axis("off")
    axes[row, 0].set_title(kind + ("" if kind in data.known_kinds else " (core only)"),
                           fontsize=9, loc="left")
fig.tight_layout()

# %%
# Known kinds from the features alone
# -----------------------------------
# A random forest trained on the labelled control set recognises the known kinds in the
# core set. It cannot name diatoms or spherules: it has never seen them, and assigns
# them to whichever known kind they resemble. Finding those is the job of the anomaly
# detector and the clustering (next example, and ``skae demo --data particles``).
forest = RandomForestClassifier(n_estimators=200, random_state=0)
forest.fit(data.features[data.is_control], data.target[data.is_control])
core_known = ~data.is_control & np.isin(kinds, data.known_kinds)
print(f"accuracy on known kinds in the core: "
      f"{forest.score(data.features[core_known], data.target[core_known]):.3f}")
for kind in data.target_names[len(data.known_kinds):]:
    guesses = forest.predict(data.features[kinds == kind])
    named = np.array(data.target_names)[guesses]
    values, counts = np.unique(named, return_counts=True)
    print(f"{kind} taken for: " + ", ".join(f"{v} {c}" for v, c in zip(values, counts)))

# %%
# Two of the 34 features
# ----------------------
f = dict(zip(data.feature_names, data.features.T))
fig, ax = plt.subplots(figsize=(6, 4.5))
for kind in data.target_names:
    sel = kinds == kind
    ax.scatter(f["circularity"][sel], f["intensity_mean"][sel], s=8, label=kind)
ax.set_xlabel("circularity  (4 pi area / perimeter$^2$)")
ax.set_ylabel("mean optical density")
ax.legend(fontsize=8, markerscale=2)
plt.show()
