"""Mutation smoke test: the tests that guard a behaviour fail when it breaks.

Each mutation below breaks skae the way a plausible bug would, by patching it in memory
(no source file is edited). For each one, the tests named beside it run in a fresh
``python -m pytest`` process with the mutation applied and must all FAIL; without any
mutation the same tests must all pass. A mutation that no test catches any more means a
test was weakened.

The child process loads this file, applies the mutation named on its command line
(``apply_mutation``), then runs pytest on the node ids and writes each test's outcome to
a JSON file (``_Outcomes``): no conftest hook or environment variable carries the
mutation. Mutations of the quality tests that use UMAP (test_discovery, test_pipelines,
the few-label UMAP pipeline) are left out to keep this fast: each compiles numba code.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------- the mutations
def _corruption_discarded():
    """The corruption is called but its output thrown away: de-noising and inpainting
    autoencoders silently train as plain ones."""
    from skae._net import AutoEncoderNet

    def _training_batch(self, batch):
        clean, target = self._prepare_batch(batch)
        if self.corruption is not None:
            self.corruption(clean)
        return clean, target, clean

    AutoEncoderNet._training_batch = _training_batch


def _pair_targets_corrupted():
    """``fit_pairs`` with a corruption corrupts the targets too."""
    from skae._net import AutoEncoderNet

    def _training_batch(self, batch):
        clean, target = self._prepare_batch(batch)
        if self.corruption is None:
            return clean, target, clean
        if batch[1] is not None:  # fit_pairs: a target of its own
            target = self.corruption(target)
        return self.corruption(clean), target, clean

    AutoEncoderNet._training_batch = _training_batch


def _autoencoder_on_labelled_rows():
    """``EncoderClassifier`` fits its autoencoder on the labelled rows only."""
    from skae.semi_supervised import EncoderClassifier, labeled_mask

    fit, fit_autoencoder = EncoderClassifier.fit, EncoderClassifier._fit_autoencoder

    def mutated_fit(self, X, y):
        self._mutation_labelled = labeled_mask(np.asarray(y))
        return fit(self, X, y)

    def mutated_fit_autoencoder(self, X_flat, sample_shape, seed):
        return fit_autoencoder(self, X_flat[self._mutation_labelled], sample_shape, seed)

    EncoderClassifier.fit = mutated_fit
    EncoderClassifier._fit_autoencoder = mutated_fit_autoencoder


def _whole_float_copy():
    """``fit`` turns the whole training array (a uint8 memmap) into one float32 tensor."""
    from skae._data import ArrayDataset

    init = ArrayDataset.__init__

    def mutated_init(self, X, target=None):
        if isinstance(X, np.ndarray):
            X = torch.as_tensor(np.asarray(X), dtype=torch.float32)
        init(self, X, target)

    ArrayDataset.__init__ = mutated_init


def _decoder_ignores_code():
    """The decoder ignores its code: the network predicts one image for every input (it
    learns the mean image) and the encoder, which gets no gradient, never trains."""
    from skae.nn import AutoEncoderModule

    decode = AutoEncoderModule.decode
    AutoEncoderModule.decode = lambda self, z: decode(self, z * 0)


MUTATIONS = {
    "corruption_discarded": (
        _corruption_discarded,
        ["tests/test_corruption.py::test_network_trains_on_the_corruption_output"],
    ),
    "pair_targets_corrupted": (
        _pair_targets_corrupted,
        ["tests/test_inpainting.py::test_fit_pairs_with_corruption_corrupts_inputs_only"],
    ),
    "autoencoder_on_labelled_rows": (
        _autoencoder_on_labelled_rows,
        [
            "tests/test_semi_supervised.py::"
            "test_encoder_classifier_fits_unfitted_autoencoder_on_all_rows"
        ],
    ),
    "whole_float_copy": (
        _whole_float_copy,
        ["tests/test_memmap.py::test_uint8_memmap_is_not_copied_whole_by_torch"],
    ),
    "decoder_ignores_code": (
        _decoder_ignores_code,
        [
            "tests/test_autoencoders.py::"
            "test_dense_codes_beat_the_mean_image_and_an_untrained_encoder",
            "tests/test_autoencoders.py::"
            "test_conv_codes_beat_the_mean_image_pca_and_an_untrained_encoder",
            "tests/test_anomaly.py::test_default_table_detector_finds_an_unseen_digit",
            "tests/test_anomaly.py::test_images_rank_other_classes_lower[reconstruction]",
            "tests/test_semi_supervised.py::test_encoder_classifier_freeze_encoder",
        ],
    ),
}


def apply_mutation(name):
    """Apply the mutation ``name`` in this process ("none": leave skae as it is)."""
    if name != "none":
        MUTATIONS[name][0]()


class _Outcomes:
    """A pytest plugin that records the outcome of each test: "failed" if its setup,
    call or teardown failed, "skipped", or "passed"."""

    def __init__(self):
        self.outcomes = {}

    def pytest_runtest_logreport(self, report):
        previous = self.outcomes.get(report.nodeid, "passed")
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif report.skipped and previous != "failed":
            self.outcomes[report.nodeid] = "skipped"
        else:
            self.outcomes.setdefault(report.nodeid, "passed")


_CHILD = """
import importlib.util, json, sys
import pytest
spec = importlib.util.spec_from_file_location("_skae_mutations", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.apply_mutation(sys.argv[2])
outcomes = module._Outcomes()
code = pytest.main(
    ["-p", "no:xdist", "-p", "no:cacheprovider", "-q", *sys.argv[4:]],
    plugins=[outcomes],
)
with open(sys.argv[3], "w") as f:
    json.dump({"exit_code": int(code), "outcomes": outcomes.outcomes}, f)
"""


def _run(mutation, node_ids, tmp_path):
    report = tmp_path / f"{mutation}.json"
    # One torch thread: the parent waits, but other test workers may share the cores.
    env = {"SKAE_TEST_THREADS": "1", **os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, __file__, mutation, str(report), *node_ids],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540,
    )
    assert report.exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    result = json.loads(report.read_text())
    missing = set(node_ids) - set(result["outcomes"])
    assert not missing, f"not found or not run: {sorted(missing)}\n{completed.stdout[-3000:]}"
    return result["outcomes"], completed.stdout


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_mutation_is_caught(mutation, tmp_path):
    node_ids = MUTATIONS[mutation][1]
    outcomes, output = _run(mutation, node_ids, tmp_path)
    survived = [node for node in node_ids if outcomes[node] != "failed"]
    assert not survived, f"{mutation} survives {survived}:\n{output[-3000:]}"


def test_targeted_tests_pass_without_mutation(tmp_path):
    node_ids = sorted({node for _, nodes in MUTATIONS.values() for node in nodes})
    outcomes, output = _run("none", node_ids, tmp_path)
    not_passed = {node: outcomes[node] for node in node_ids if outcomes[node] != "passed"}
    assert not not_passed, f"{not_passed}:\n{output[-3000:]}"
