"""Held-out trials: copies of the model trained under each candidate policy, judged by their held-out loss."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from augmeta.lightning import AugDataModule
from augmeta.lightning.policy_trials import TrialScores, _cycled, chosen, trial_losses
from augmeta.meta import AffinityObjective, MetaNetwork

from .helpers import changed, cloned_state, digits, exactly, small_module, small_trainer
from .test_module import StopAtEpochEnd, last_checkpoint

HARMFUL_FOR_DIGITS = ["identity", "flip_x", "flip_y", "invert", "rotate", "translate_x", "brightness"]


def _toy_data(seed: int = 0, count: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Bright-left vs bright-right 8x8 images: an inversion or a mirror changes what the label means."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (count,), generator=generator)
    images = torch.rand(count, 1, 8, 8, generator=generator) * 0.2
    images[labels == 0, :, :, :4] += 0.7
    images[labels == 1, :, :, 4:] += 0.7
    return images, labels


def _policy(op: str) -> MetaNetwork:
    """A controller that applies ``op`` (at full strength) to every image, or (``identity``) nothing."""
    if op == "identity":
        return MetaNetwork(ops=["identity", "brightness"], init_identity=1 - 1e-6)
    return MetaNetwork(ops=["identity", op], num_steps=1, init_identity=1e-4, init_magnitude=0.999)


def _trials(policies: list[MetaNetwork], model: nn.Module, optimizer: torch.optim.Optimizer) -> TrialScores:
    train, held = _toy_data(0), _toy_data(1)
    return trial_losses(
        model,
        optimizer,
        policies,
        lambda: [(train[0][i : i + 16], train[1][i : i + 16]) for i in range(0, 64, 16)],
        lambda images, labels: (images, labels),
        lambda: [held],
        steps=12,
        lr_factor=lambda step: 1.0,
        criterion=nn.functional.cross_entropy,
    )


def _model() -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def test_a_label_destroying_policy_loses_its_trial_and_the_run_is_left_as_it_was():
    model, optimizer = _model()
    before, rng = cloned_state(model), torch.get_rng_state()
    scores = _trials([_policy("identity"), _policy("flip_x"), _policy("brightness")], model, optimizer)
    assert scores.losses.shape == scores.gains.shape == scores.errors.shape == (3,)
    assert scores.losses.dtype == torch.float64
    assert scores.losses[1] > scores.losses[0] + 0.2  # mirrored training images teach the opposite rule
    assert scores.gains[1] == pytest.approx(float(scores.losses[0] - scores.losses[1]))  # paired, against index 0
    assert scores.gains[0] == scores.errors[0] == 0
    assert scores.gains[1] + 2 * scores.errors[1] < 0  # clearly worse, not by chance
    assert chosen(scores, reference=0) == 0
    assert changed(before, cloned_state(model)) == []
    assert optimizer.state == {}  # the run's optimiser took no step
    assert torch.equal(rng, torch.get_rng_state())  # the run's draws are the ones it would have made


def test_the_same_policy_twice_scores_the_same_the_candidates_are_paired():
    model, optimizer = _model()
    scores = _trials([_policy("brightness"), _policy("brightness")], model, optimizer)
    assert scores.losses[0] == scores.losses[1] and scores.gains[1] == scores.errors[1] == 0


def test_a_candidate_replaces_the_reference_only_when_its_gain_is_more_than_z_standard_errors():
    scores = TrialScores(
        losses=torch.tensor([1.0, 0.9, 0.8, 0.95], dtype=torch.float64),
        gains=torch.tensor([0.0, 0.1, 0.2, 0.05], dtype=torch.float64),
        errors=torch.tensor([0.0, 0.04, 0.15, 0.01], dtype=torch.float64),
    )
    assert chosen(scores, reference=0) == 3  # lower bounds 0.02, -0.1, 0.03: the surest gain, not the largest
    assert chosen(scores, reference=0, z=0.0) == 2
    assert chosen(scores, reference=0, z=6.0) == 0  # nothing is sure: the reference stays


def test_trials_need_at_least_one_step():
    model, optimizer = _model()
    with pytest.raises(ValueError, match=exactly("`steps` should be an integer >= 1, but got 0 instead.")):
        trial_losses(model, optimizer, [], list, tuple, list, 0, float, nn.functional.cross_entropy)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"objective": "affinity", "policy_trials": 1.0},
            "`policy_trials` should be a fraction in [0, 1), but got 1.0 instead.",
        ),
        (
            {"objective": "affinity", "policy_trials": 0.2, "trial_ops": -1},
            "`trial_ops` should be an integer >= 0, but got -1 instead.",
        ),
        (
            {"objective": "gradient_matching", "policy_trials": 0.2},
            "`policy_trials` should be 0 unless the policy is learned by objective 'affinity' in meta_mode 'global' "
            "(the trials compare the candidates of its verdict), but got policy_trials=0.2 with policy 'augmeta', "
            "objective 'gradient_matching', meta_mode 'global'.",
        ),
    ],
)  # fmt: skip
def test_trial_settings_are_checked(arguments, message):
    with pytest.raises(ValueError, match=exactly(message)):
        small_module(**arguments)


def _trial_module(augment_from: float = 0.25) -> object:
    return small_module(
        objective="affinity",
        augment_from=augment_from,
        meta_every=1,
        meta_ops=HARMFUL_FOR_DIGITS,
        policy_trials=0.25,
        trial_ops=2,
        objective_args={"min_probes": 1, "levels": 2},
    )


def test_the_verdict_is_the_candidate_the_trials_chose_and_the_controller_moves_to_it(tmp_path):
    pl.seed_everything(0, verbose=False)
    module = _trial_module()
    small_trainer(tmp_path, max_epochs=4).fit(module, digits())
    record = module.objective.trial_losses
    names = list(record)
    assert names[:2] == ["none", "screen"] and len(names) == 4
    assert all(name.startswith("only_") for name in names[2:])
    scores = TrialScores(*(torch.tensor(column, dtype=torch.float64) for column in zip(*record.values(), strict=True)))
    winner = names[chosen(scores, reference=1)]
    assert module.objective.trial_winner == winner
    assert f"held-out trials (0.25 of the run each) kept {winner!r}" in module.current_policy().provenance.notes
    kept = {op for op, keep in zip(module.meta.ops, module.objective.kept_ops.tolist(), strict=True) if keep}
    if winner == "none":
        assert kept == set()
    elif winner.startswith("only_"):
        assert kept == {winner.removeprefix("only_")} and module.objective.reference == "resampled"
    else:
        assert module.objective.reference == "clean"
    p = torch.softmax(module.meta.op_logits, dim=-1).mean(dim=(0, 1))
    assert all(float(p[module.meta.ops.index(op)]) < 1e-3 for op in set(module.meta.ops) - kept - {"identity"})


def test_candidates_are_none_the_screen_and_the_resampled_screens_leading_ops_alone():
    meta = MetaNetwork(ops=["identity", "flip_y", "rotate", "brightness"], ranges={"rotate": [0.0, 180.0]})
    objective = AffinityObjective(levels=2, min_probes=1)
    objective.both_references = True
    ops, _ = objective._probe_cells(meta)  # cells: flip_y; rotate at 1/2 and 1; brightness at 1/2 and 1
    assert ops == [1, 2, 2, 3, 3]
    # against the clean image a turn costs its blur (0.1); against its round trip nothing
    objective.clean_sum = torch.ones(5)
    objective.other_sum = torch.tensor([1.0, 0.9, 0.9, 1.0, 1.0])
    objective.probed_sum = torch.tensor([0.3, 0.9, 0.9, 1.0, 1.0])
    objective.change_sum, objective.count, objective.seen = torch.full((5,), 0.1), torch.ones(5), torch.ones(5)
    target = objective.target(meta)
    objective.kept_ops, objective.floor = objective._verdict(target, meta), target[1]
    assert objective.kept_ops.tolist() == [False, False, False, True]  # the clean screen drops the turn
    found = {name: (kept.tolist(), reference) for name, kept, reference in objective.candidates(meta, 2)}
    assert found == {
        "none": ([False] * 4, "clean"),
        "screen": ([False, False, False, True], "clean"),
        "only_rotate": ([False, False, True, False], "resampled"),
        "only_brightness": ([False, False, False, True], "resampled"),
    }
    before = meta.op_logits.clone()
    objective.settle(meta, objective.kept_ops.clone(), "clean", {"screen": [0.5, 0.0, 0.0]})
    assert torch.equal(meta.op_logits, before)  # the screen won: the pulls go on as they would have
    objective.settle(meta, torch.tensor([False, False, True, False]), "resampled", {"only_rotate": [0.5, 0.1, 0.01]})
    assert objective.reference == "resampled" and objective.floor.tolist() == [0.0, 0.0, 1.0, 0.0]
    assert torch.equal(objective.clean_sum, torch.tensor([1.0, 0.9, 0.9, 1.0, 1.0]))  # the references swapped
    probabilities, magnitudes = objective.target(meta)
    assert probabilities.tolist() == pytest.approx([0.5, 0.0, 0.5, 0.0])  # the turn alone, at all of 180 degrees
    assert magnitudes[2] == 1.0
    p = torch.softmax(meta.op_logits, dim=-1).mean(dim=(0, 1))
    assert p.tolist() == pytest.approx([0.5, 0.0, 0.5, 0.0], abs=1e-3)  # applied as it was tried, at once


@pytest.mark.parametrize("augment_from", [0.1, 0.25])  # trials before the interruption, and after it
def test_a_resumed_run_ends_where_the_uninterrupted_run_ends_trials_and_all(tmp_path, augment_from):
    pl.seed_everything(0)
    straight = _trial_module(augment_from)
    small_trainer(tmp_path / "straight", max_epochs=4).fit(straight, digits())
    pl.seed_everything(0)
    first = _trial_module(augment_from)
    checkpoints = tmp_path / "interrupted"
    callbacks = [StopAtEpochEnd(), last_checkpoint(checkpoints)]
    small_trainer(checkpoints, max_epochs=4, callbacks=callbacks, enable_checkpointing=True).fit(first, digits())
    pl.seed_everything(123)
    resumed = _trial_module(augment_from)
    trainer = small_trainer(
        checkpoints, max_epochs=4, callbacks=[last_checkpoint(checkpoints)], enable_checkpointing=True
    )
    trainer.fit(resumed, digits(), ckpt_path=checkpoints / "checkpoints" / "last.ckpt")
    assert (first.objective.trial_losses is not None) == (augment_from == 0.1)
    assert resumed.objective.trial_losses == straight.objective.trial_losses is not None
    assert changed(cloned_state(straight.model), cloned_state(resumed.model)) == []
    assert changed(cloned_state(straight.meta), cloned_state(resumed.meta)) == []


def test_a_trial_draws_a_new_order_on_each_pass_so_drop_last_leaves_out_other_images():
    data = AugDataModule(dataset="digits", batch_size=64, train_subset=100)
    data.setup("fit")
    batches = _cycled(lambda: data.train_dataloader()["train"])
    passes = [next(batches)[0].flatten(1) for _ in range(2)]  # 100 images, batch 64, drop_last: one batch a pass
    assert not torch.equal(passes[0], passes[1])
    again = _cycled(lambda: data.train_dataloader()["train"])
    assert torch.equal(next(again)[0].flatten(1), passes[0])  # a fresh loader: the same batches for every candidate
