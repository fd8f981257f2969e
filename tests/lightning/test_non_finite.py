"""Non-finite steps: a NaN or inf in a controller step skips that step with a warning; a non-finite training loss
stops the run with one clear error, the files of the epochs before it kept as the last good ones."""

from __future__ import annotations

import math

import pytest
import torch

from augmeta.lightning import PolicyArtifacts
from augmeta.lightning.module import FINITE_CHECK_EVERY, NonFiniteLossError

from .helpers import cloned_state, digits, small_module, small_trainer


@pytest.mark.filterwarnings("ignore:augmeta. skipped a controller step")  # the NaN reaches the controller's step too
def test_a_nan_training_loss_stops_the_run_and_keeps_the_last_good_policy(tmp_path):
    module = small_module(policy="augmeta", objective="gradient_matching", meta_every=1)
    criterion = module.criterion

    def poisoned(logits, labels):  # the second epoch's second step is NaN
        loss = criterion(logits, labels)
        return loss * float("nan") if module.base_steps == 5 else loss

    module.criterion = poisoned
    trainer = small_trainer(tmp_path, max_epochs=4, limit_train_batches=4, callbacks=[PolicyArtifacts(plot=False)])
    with pytest.raises(NonFiniteLossError) as error:
        trainer.fit(module, digits())
    assert str(error.value).startswith("augmeta: the training loss became NaN or infinite by step 8 (epoch 1, batch 3)")
    assert "Lower the learning rate (`--model.lr`)" in str(error.value)
    written = sorted(path.name for path in (tmp_path / "policy").iterdir())
    assert written == ["epoch_000.json", "latest.json"]  # the poisoned epoch wrote nothing
    assert module.base_steps < 4 + FINITE_CHECK_EVERY


def test_an_inf_loss_between_checks_is_still_caught(tmp_path):
    module = small_module(policy="none")
    criterion = module.criterion
    module.criterion = lambda logits, labels: criterion(logits, labels) + (math.inf if module.base_steps == 1 else 0)
    with pytest.raises(NonFiniteLossError, match=r"by step 3 \(epoch 0, batch 2\)"):
        small_trainer(tmp_path, max_epochs=1, limit_train_batches=3).fit(module, digits())


def test_a_nan_controller_gradient_skips_that_step_only(tmp_path):
    module = small_module(policy="augmeta", objective="gradient_matching", meta_every=1)
    image_gradient = module.objective.image_gradient
    calls = {"n": 0}
    seen: dict[int, dict] = {}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        seen[calls["n"]] = cloned_state(module.meta)
        gradient = image_gradient(*args, **kwargs)
        return gradient * float("nan") if calls["n"] == 2 else gradient

    module.objective.image_gradient = poisoned
    with pytest.warns(UserWarning) as record:
        small_trainer(tmp_path, max_epochs=1, limit_train_batches=3).fit(module, digits())
    messages = [str(w.message) for w in record]
    assert any("skipped a controller step at base step 1: its loss or gradient was NaN" in m for m in messages)
    assert any(m.startswith("augmeta: 1 controller steps were skipped in this run") for m in messages)
    assert module.skipped_controller_steps == 1
    assert all(torch.isfinite(p).all() for p in module.meta.parameters())
    # the skipped step (the second) left the controller as it was; the others moved it
    assert all(torch.equal(seen[2][k], seen[3][k]) for k in seen[2] if isinstance(seen[2][k], torch.Tensor))
    assert any(not torch.equal(seen[1][k], seen[2][k]) for k in seen[1] if isinstance(seen[1][k], torch.Tensor))


def test_a_non_finite_probe_skips_an_affinity_step_and_measures_nothing(tmp_path):
    module = small_module(policy="augmeta", objective="affinity", meta_every=1)
    forward = module.model.forward
    state = {"probing": 0}

    def poisoned(images):
        out = forward(images)
        if not module.training or not torch.is_grad_enabled():  # the probes run in eval mode, without gradients
            state["probing"] += 1
            if state["probing"] <= 2:  # the first pull's two passes (clean and probed)
                return out * float("nan")
        return out

    module.model.forward = poisoned
    with pytest.warns(UserWarning) as record:
        small_trainer(tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=0).fit(module, digits())
    assert any("its probe of the model (its outputs) was NaN or infinite" in str(w.message) for w in record)
    assert module.skipped_controller_steps == 1
    assert torch.isfinite(module.objective.probed_sum).all() and int(module.objective.seen.sum()) > 0


def test_a_run_whose_controller_moved_a_few_times_says_how_many(tmp_path):
    import warnings

    module = small_module(policy="augmeta", objective="gradient_matching", meta_every=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small_trainer(tmp_path, max_epochs=1, limit_train_batches=3).fit(module, digits())
    said = [str(w.message) for w in caught if "the controller moved only" in str(w.message)]
    assert module.controller_updates == 3
    assert said == [
        "augmeta: the controller moved only 3 times in this run, so its policy is still near its start. Train for "
        "more epochs, or update it more often with `--model.meta_every 1`."
    ]


def test_a_frozen_controller_is_not_warned_about(tmp_path):
    import warnings

    module = small_module(policy="augmeta", objective="affinity", meta_lr=0.0, meta_every=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small_trainer(tmp_path, max_epochs=1, limit_train_batches=3).fit(module, digits())
    assert not [w for w in caught if "the controller" in str(w.message)] and module.controller_updates == 0
