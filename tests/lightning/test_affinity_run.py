"""A joint run with the affinity objective: a burn-in on the base recipe, then the policy its probes chose."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from augmeta.lightning import AugDataModule

from .helpers import exactly, small_module, small_trainer

HARMFUL_FOR_DIGITS = ["identity", "flip_x", "flip_y", "invert", "rotate", "translate_x", "brightness"]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"objective": "affinity"}, 0.25),  # the objective's burn-in
        ({"objective": "gradient_matching"}, 0.0),
        ({"objective": "affinity", "augment_from": 0.1}, 0.1),
        ({"policy": "trivialaugment", "objective": "affinity"}, 0.0),  # a fixed policy has no burn-in
    ],
)
def test_augment_from_defaults_to_the_objectives_burn_in(arguments, expected):
    assert small_module(**arguments).augment_from == expected


def test_augment_from_must_come_before_augment_until():
    message = "`augment_from` should be a fraction in [0, augment_until = 0.5), but got 0.5 instead."
    with pytest.raises(ValueError, match=exactly(message)):
        small_module(augment_from=0.5, augment_until=0.5)


def test_the_policy_is_off_during_the_burn_in():
    module = small_module(objective="affinity")
    module.total_steps = 100
    module.base_steps = 24
    assert module._burning_in() and not module._augmenting()
    module.base_steps = 25
    assert not module._burning_in() and module._augmenting()


def test_a_short_run_drops_the_ops_that_destroy_digits(tmp_path):
    """Digits' labels do not survive a flip or an inversion: the probes see it and the controller lets them go."""
    pl.seed_everything(0, verbose=False)
    module = small_module(objective="affinity", meta_ops=HARMFUL_FOR_DIGITS, meta_ranges={"rotate": [0.0, 180.0]})
    before = module.policy_summary()
    trainer = small_trainer(tmp_path, max_epochs=16, limit_train_batches=None)
    trainer.fit(module, AugDataModule(dataset="digits", batch_size=64))
    after = module.policy_summary()
    for op in ("flip_x", "flip_y", "invert"):
        assert after[f"policy/p_{op}"] < before[f"policy/p_{op}"] / 4, op
    assert after["policy/p_translate_x"] > before["policy/p_translate_x"]  # what digits do take
    assert module.objective.target(module.meta) is not None
    assert torch.isfinite(module.meta.op_logits).all()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"augment_from": 0.0},
            "`augment_from` should be > 0 for objective 'affinity' (it learns during the burn-in before the policy "
            "is applied), but got 0.0 instead.",
        ),
        (
            {"meta_mode": "adaptive"},
            "`meta_mode` should be 'global' or 'class' for objective 'affinity' (it sets the controller's tables, not "
            "an adaptive network), but got 'adaptive' instead. For a policy per class use 'class' (it writes a "
            "meta-tree too); an adaptive network learns with another objective (`--model.objective "
            "gradient_matching`).",
        ),
    ],
)
def test_settings_the_affinity_objective_cannot_learn_with_are_refused(arguments, message):
    with pytest.raises(ValueError, match=exactly(message)):
        small_module(objective="affinity", **arguments)


def test_meta_lr_zero_freezes_the_affinity_objective_too():
    assert small_module(objective="affinity", meta_lr=0.0).objective.rate == 0.0
    assert small_module(objective="affinity").objective.rate > 0.0


def test_the_resolved_op_set_is_saved_with_the_module():
    module = small_module(objective="affinity")
    assert module.hparams["meta_ops"] == list(module.meta.ops)
