"""Are AEAnomalyDetector's decisions calibrated? False-positive rate and false discoveries.

Protocol (issue 18, acceptance 2): ``make_particles`` with 600 control and 600 core images
of 64×64 pixels (a quarter of the core of the two kinds no control item has), over 5 seeds.
The detector is fitted on the control set only, then judged on the core set:

- ``FPR@0.05``: share of the core's *known-kind* items (new normal data, never trained on)
  that ``predict`` flags at ``contamination=0.05``; the target is 0.05.
- ``flag@auto``: the same share at ``contamination="auto"`` (Tukey's fence).
- ``FDP@0.1`` / ``power``: ``predict_at_fdr(core, fdr=0.1)``: share of the flagged core items
  that are of a known kind (the realised false discovery proportion; target: at most 0.1
  on average) and share of the unknown-kind items flagged.
- ``AUROC``: unknown kind vs known kind on the core set, from ``score_samples``.

Rows side by side: the images and the 34 measured features, each with ``novelty=True`` (the
default: decisions calibrated on held-out control items), ``novelty=False`` (in-sample
training scores, the behaviour before calibration) and ``cross-conformal``
(``CrossConformalDetector(AEAnomalyDetector(...), cv=5)``: five detectors, each control item
scored by the one that did not see it, so 600 calibration scores instead of 120);
``FDP@0.1`` needs held-out scores and is left blank for ``novelty=False``. The features
also with the control set's labels (``fit(X, y)``, the class-aware code term;
``labels``), and ``linear labels``: ``AEAnomalyDetector(LinearAutoEncoder(34),
method="latent")`` with the labels, the strongest feature detector of
``bench_unknown_kinds.py`` (AUROC about 0.91), to see what the FDR decision finds when the
score separates the unknown kinds well. Mean and standard deviation over the seeds.

Run alone (the machine's cores shared with other work change the times, not the rates)::

    python benchmarks/bench_calibration.py            # 5 seeds, ~15-25 min on 2 cores
    python benchmarks/bench_calibration.py --quick    # 2 seeds, 10 epochs: a smoke run
    python benchmarks/bench_calibration.py --sources features   # the feature rows only
    python benchmarks/bench_calibration.py --calibration cross  # the cross-conformal rows
"""

import argparse

import numpy as np
from sklearn.metrics import roc_auc_score

from _clock import Clock
from skae import (AEAnomalyDetector, ConvAutoEncoder, CrossConformalDetector,
                  LinearAutoEncoder)
from skae.datasets import make_particles


_LABELS = {"split": "novelty=True", "in-sample": "novelty=False", "cross": "cross-conformal"}


def _rates(detector, X_core, is_unknown):
    """FPR@0.05, flag@auto, FDP@0.1, power, AUROC of a detector fitted at 0.05."""
    known = ~is_unknown
    scores = detector.score_samples(X_core)
    fpr = np.mean(scores[known] < detector.offset_)  # what predict flags
    auroc = roc_auc_score(is_unknown, -scores)
    auto = _tukey_fence(detector.calibration_scores_)  # contamination="auto"
    flagged_auto = np.mean(scores[known] < auto)
    fdp = power = np.nan
    if getattr(detector, "novelty", True):
        flagged = detector.predict_at_fdr(X_core, fdr=0.1) == -1
        fdp = np.sum(flagged & known) / max(flagged.sum(), 1)
        power = np.mean(flagged[is_unknown])
    return fpr, flagged_auto, fdp, power, auroc


def _tukey_fence(scores):
    q1, q3 = np.percentile(scores, [25, 75])
    return q1 - 1.5 * (q3 - q1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 10 epochs")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--sources", nargs="+", choices=("images", "features", "linear"),
                        default=["images", "features", "linear"])
    parser.add_argument("--calibration", nargs="+", choices=("split", "in-sample", "cross"),
                        default=["split", "in-sample", "cross"],
                        help="held-out fifth (novelty=True), training scores "
                             "(novelty=False), out-of-fold scores (CrossConformalDetector)")
    args = parser.parse_args()
    seeds = range(args.seeds or (2 if args.quick else 5))
    epochs = 10 if args.quick else "auto"

    rows = {}
    clock = Clock()
    for seed in seeds:
        data = make_particles(600, 600, image_size=64, random_state=seed)
        control, core = data.is_control, ~data.is_control
        unknown_ids = [data.target_names.index(k) for k in ("diatom", "spherule")]
        is_unknown = np.isin(data.target[core], unknown_ids)
        sources = {"images": data.images, "features": data.features,
                   "features labels": data.features, "linear labels": data.features}
        for source, X in sources.items():
            if source.split()[0] not in args.sources:
                continue
            calibrations = [c for c in args.calibration
                            if c != "in-sample" or not source.endswith("labels")]
            for calibration in calibrations:
                autoencoder = None
                if source == "images":
                    autoencoder = ConvAutoEncoder(latent_dim=32, channels=(32, 64),
                                                  max_epochs=epochs, device="cpu")
                method = "hybrid"
                if source == "linear labels":
                    autoencoder = LinearAutoEncoder(latent_dim=X.shape[1])
                    method = "latent"
                detector = AEAnomalyDetector(autoencoder, method=method, contamination=0.05,
                                             novelty=calibration == "split",
                                             random_state=seed)
                if calibration == "cross":
                    detector = CrossConformalDetector(detector, cv=5, contamination=0.05,
                                                      random_state=seed)
                labels = data.target[control] if source.endswith("labels") else None
                detector.fit(X[control], labels)
                name = f"{source:<15} {_LABELS[calibration]}"
                rows.setdefault(name, []).append(_rates(detector, X[core], is_unknown))
        wall, cpu = clock.lap()
        print(f"seed {seed}: {wall:.0f} s wall, {cpu:.0f} s CPU", flush=True)

    header = ("FPR@0.05", "flag@auto", "FDP@0.1", "power@0.1", "AUROC")
    print(f"\n{len(seeds)} seeds; mean ± std over seeds; targets: FPR@0.05 in "
          "[0.03, 0.07], FDP@0.1 <= 0.1 on average")
    print(f"{'detector':<33}" + "".join(f"{h:>16}" for h in header))
    for name, values in rows.items():
        values = np.asarray(values, dtype=float)
        cells = []
        for column in values.T:
            if np.isnan(column).all():
                cells.append(f"{'-':>16}")
            else:
                cells.append(f"{np.mean(column):>9.3f} ± {np.std(column):.3f}")
        print(f"{name:<33}" + "".join(cells))


if __name__ == "__main__":
    main()
