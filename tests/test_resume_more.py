"""More of tests/test_resume.py's checks, for what issue 17 changed (that file is kept as it was): a non-finite
loss, now checked on logging steps and before every save, leaves no checkpoint with non-finite weights; the
dataset resident on the device trains the same run, bit for bit."""

from __future__ import annotations

import torch
from test_resume import final_weights, only_run, reference, train  # noqa: F401  (reference: the fixture)

from fwtk_lab.runs.checkpoint_file import load


def test_non_finite_loss_leaves_no_checkpoint_with_non_finite_weights(tmp_path, data_dir):
    proc = train(tmp_path, data_dir, "optimizer.lr=1e30", "optimizer=sgd", "checkpoint.every_n_steps=1")
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: the training loss is")
    for ckpt in (tmp_path / "outputs").glob("train/*/checkpoints/*.ckpt"):  # checked before every save
        weights = load(ckpt)["state_dict"]
        assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point()), ckpt


def test_resident_data_trains_the_same_weights(reference, tmp_path, data_dir):  # noqa: F811
    """data.resident=true (the dataset copied to the device once, batches gathered there): the same run."""
    proc = train(tmp_path, data_dir, "data.resident=true")
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = only_run(tmp_path)
    assert run.name == reference.name  # an execution setting: the same run directory name
    ours, theirs = final_weights(run), final_weights(reference)
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in theirs)
