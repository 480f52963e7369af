"""More of tests/test_resume.py's checks, for what issue 17 changed (that file is kept as it was): a non-finite
loss, now checked on logging steps and before every save, leaves no checkpoint with non-finite weights; the
dataset resident on the device trains the same run, bit for bit; checkpoints written by a thread
(checkpoint.background=true) hold their own step's state, and a run killed with them resumes bit-identical."""

from __future__ import annotations

import signal

import torch
from test_resume import final_weights, kill_args, only_run, reference, train  # noqa: F401  (reference: the fixture)

from fwtk_lab.runs.checkpoint_file import load


def same_weights(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor]) -> bool:
    return ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in theirs)


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
    assert same_weights(final_weights(run), final_weights(reference))


def same_state(ours: dict, theirs: dict) -> bool:
    """The same weights and optimizer state, tensor for tensor."""
    weights = same_weights(ours["state_dict"], theirs["state_dict"])
    mine, ref = ours["optimizer_states"][0]["state"], theirs["optimizer_states"][0]["state"]
    moments = mine.keys() == ref.keys() and all(
        torch.equal(mine[i][k], ref[i][k]) for i in ref for k in ref[i] if torch.is_tensor(ref[i][k])
    )
    return weights and moments and ours["global_step"] == theirs["global_step"]


def test_background_checkpoints_hold_their_own_steps_state(reference, tmp_path, data_dir):  # noqa: F811
    """The state is copied at its step: the files a thread wrote while training went on are those the
    training thread writes itself (the reference run), step 16's included, not a later step's weights."""
    proc = train(tmp_path, data_dir, "checkpoint.background=true")
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = only_run(tmp_path)
    assert run.name == reference.name  # an execution setting: the same run directory
    for name in ("latest-step00000016.ckpt", "latest-step00000020.ckpt", "last.ckpt"):
        assert same_state(load(run / "checkpoints" / name), load(reference / "checkpoints" / name)), name


def test_run_killed_with_background_checkpoints_resumes_bit_identical(reference, tmp_path, data_dir):  # noqa: F811
    """SIGKILL one step after the epoch-end checkpoint (step 10) was handed to the writing thread: the rerun
    resumes from whichever checkpoint reached the disk, and ends with the reference's weights."""
    killed = train(tmp_path, data_dir, "checkpoint.background=true", *kill_args("train", 11))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    resumed = train(tmp_path, data_dir, "checkpoint.background=true")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert same_weights(final_weights(only_run(tmp_path)), final_weights(reference))


def test_python_generator_state_round_trips_as_one_tensor_and_from_older_checkpoints():
    import random

    from fwtk_lab.runs.latest_checkpoint import rng_states, set_rng_states

    random.seed(7)
    state = rng_states()
    assert isinstance(state["python"][1], torch.Tensor)  # pickled as one object, not 625
    expected = [random.random() for _ in range(5)]
    set_rng_states(state)
    assert [random.random() for _ in range(5)] == expected
    version, internal, gauss = state["python"]
    older = {**state, "python": [version, internal.tolist(), gauss]}  # as checkpoints before held it
    set_rng_states(older)
    assert [random.random() for _ in range(5)] == expected
