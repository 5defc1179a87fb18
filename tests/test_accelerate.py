"""Multi-process training through Hugging Face Accelerate (skorch's AccelerateMixin).

``net_params={"accelerator": Accelerator(...)}`` makes the estimator train through
:class:`skae._net.AcceleratedAutoEncoderNet`. Here on CPU: one process, and two processes
(DistributedDataParallel over gloo, started with ``torch.distributed.run``).
"""

import json
import subprocess
import sys
import textwrap

import accelerate
import numpy as np
import pytest

from skae import DenseAutoEncoder


def test_single_process_accelerator_equals_plain_training():
    X = np.random.RandomState(0).rand(100, 10).astype(np.float32)
    params = dict(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=3, random_state=0,
                  device="cpu")
    accelerated = DenseAutoEncoder(
        net_params={"accelerator": accelerate.Accelerator(cpu=True)}, **params
    ).fit(X)
    plain = DenseAutoEncoder(**params).fit(X)
    assert type(accelerated.net_).__name__ == "AcceleratedAutoEncoderNet"
    np.testing.assert_allclose(accelerated.loss_curve_, plain.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(accelerated.transform(X), plain.transform(X), atol=1e-6)


def test_precision_parameter_conflicts_with_accelerator():
    X = np.random.RandomState(0).rand(20, 4).astype(np.float32)
    ae = DenseAutoEncoder(latent_dim=2, precision="bf16-mixed", device="cpu",
                          net_params={"accelerator": accelerate.Accelerator(cpu=True)})
    with pytest.raises(ValueError, match="mixed_precision"):
        ae.fit(X)


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, torch
    from accelerate import Accelerator
    from skae import DenseAutoEncoder
    from skae._data import ArrayDataset

    acc = Accelerator(cpu=True)
    X = np.random.RandomState(0).rand(256, 10).astype(np.float32)
    ae = DenseAutoEncoder(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2,
                          batch_size=32, random_state=0,
                          net_params={"accelerator": acc}).fit(X)
    weights = torch.cat([p.detach().flatten() for p in ae.net_.module_.parameters()])
    iterator = ae.net_.get_iterator(ArrayDataset(X), training=True)
    first = next(iter(iterator))[0]
    out = {"world": acc.num_processes, "n_batches": len(iterator),
           "weights": weights.tolist(), "first_batch_sum": float(first.sum()),
           "codes": ae.transform(X[:5]).tolist(), "n_epochs": ae.n_epochs_}
    with open(sys.argv[1] + f"/rank{acc.process_index}.json", "w") as fh:
        json.dump(out, fh)
    """
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_processes_ddp_on_cpu(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    # --standalone: torchrun binds a free port itself, so no other test (a Dask cluster
    # starting on the other xdist worker) can take it between choosing and binding.
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         "2", str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=280,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 for r in ranks)
    # Each process trains on half of the 8 batches of an epoch...
    assert [r["n_batches"] for r in ranks] == [4, 4]
    assert ranks[0]["first_batch_sum"] != ranks[1]["first_batch_sum"]
    # ...and DDP keeps their weights identical, so the fitted models agree.
    np.testing.assert_allclose(ranks[0]["weights"], ranks[1]["weights"], rtol=1e-6)
    np.testing.assert_allclose(ranks[0]["codes"], ranks[1]["codes"], rtol=1e-6)
    assert ranks[0]["n_epochs"] == ranks[1]["n_epochs"] == 2
