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
default: decisions calibrated on held-out control items) and ``novelty=False`` (in-sample
training scores, the behaviour before calibration); ``FDP@0.1`` needs held-out scores and
is left blank for the latter. The features also with the control set's labels
(``fit(X, y)``, the class-aware code term; ``labels``). Mean and standard deviation over
the seeds.

Run alone (the machine's cores shared with other work change the times, not the rates)::

    python benchmarks/bench_calibration.py            # 5 seeds, ~15-25 min on 2 cores
    python benchmarks/bench_calibration.py --quick    # 2 seeds, 10 epochs: a smoke run
    python benchmarks/bench_calibration.py --sources features   # the feature rows only
"""

import argparse

import numpy as np
from sklearn.metrics import roc_auc_score

from _clock import Clock
from skae import AEAnomalyDetector, ConvAutoEncoder
from skae.datasets import make_particles


def _rates(detector, X_core, is_unknown):
    """FPR@0.05, flag@auto, FDP@0.1, power, AUROC of a detector fitted at 0.05."""
    known = ~is_unknown
    scores = detector.score_samples(X_core)
    fpr = np.mean(scores[known] < detector.offset_)  # what predict flags
    auroc = roc_auc_score(is_unknown, -scores)
    auto = _tukey_fence(detector.calibration_scores_)  # contamination="auto"
    flagged_auto = np.mean(scores[known] < auto)
    fdp = power = np.nan
    if detector.novelty:
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
    parser.add_argument("--sources", nargs="+", choices=("images", "features"),
                        default=["images", "features"])
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
                   "features labels": data.features}
        for source, X in sources.items():
            if source.split()[0] not in args.sources:
                continue
            for novelty in (True, False) if source != "features labels" else (True,):
                autoencoder = None
                if source == "images":
                    autoencoder = ConvAutoEncoder(latent_dim=32, channels=(32, 64),
                                                  max_epochs=epochs, device="cpu")
                detector = AEAnomalyDetector(autoencoder, contamination=0.05,
                                             novelty=novelty, random_state=seed)
                labels = data.target[control] if source.endswith("labels") else None
                detector.fit(X[control], labels)
                name = f"{source:<15} novelty={novelty!s:<5}"
                rows.setdefault(name, []).append(_rates(detector, X[core], is_unknown))
        wall, cpu = clock.lap()
        print(f"seed {seed}: {wall:.0f} s wall, {cpu:.0f} s CPU", flush=True)

    header = ("FPR@0.05", "flag@auto", "FDP@0.1", "power@0.1", "AUROC")
    print(f"\n{len(seeds)} seeds; mean ± std over seeds; targets: FPR@0.05 in "
          "[0.03, 0.07], FDP@0.1 <= 0.1 on average")
    print(f"{'detector':<31}" + "".join(f"{h:>16}" for h in header))
    for name, values in rows.items():
        values = np.asarray(values, dtype=float)
        cells = []
        for column in values.T:
            if np.isnan(column).all():
                cells.append(f"{'-':>16}")
            else:
                cells.append(f"{np.mean(column):>9.3f} ± {np.std(column):.3f}")
        print(f"{name:<31}" + "".join(cells))


if __name__ == "__main__":
    main()
