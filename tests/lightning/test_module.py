"""``AugMetaModule``: smoke runs of every method, the two optimisers of a meta run, policy export, resuming."""

from __future__ import annotations

import copy
import json
import math

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

import augmeta
from augmeta.lightning import FIXED_POLICIES, AugDataModule, AugMetaModule, resolve_policy
from augmeta.meta import MetaNetwork, MetaObjective, default_ops
from augmeta.policy.published import PUBLISHED

from .helpers import POLICY_DIR, changed, cloned_state, digits, exactly, small_module, small_trainer

GREY_OPS = default_ops(1)  # what a controller for digits offers: no `color`

FIXED = ["none", "randaugment", "trivialaugment", "autoaugment", str(POLICY_DIR / "autoaugment_svhn.json")]
NO_MAGNITUDE = {"identity", "auto_contrast", "equalize", "flip_x", "flip_y"}  # the ops of GREY_OPS without a magnitude
UNKNOWN_POLICY = (
    "`policy` should be 'augmeta', 'none', one of ['autoaugment', 'randaugment', 'trivialaugment', "
    "'autoaugment_cifar10', 'autoaugment_imagenet', 'autoaugment_svhn', 'randaugment_n2_m9', 'trivialaugment_wide'] "
    "or a policy file, but got 'nope' (no such file)."
)


class OptimizerSteps(pl.Callback):
    """Counts the steps of the base optimiser and records the controller's gradients just before each of its steps."""

    def __init__(self) -> None:
        self.base_steps = 0
        self.controller_grads: list[dict[str, torch.Tensor | None]] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: AugMetaModule) -> None:
        base, *controller = trainer.optimizers
        base.register_step_pre_hook(self._count_base_step)
        if controller:
            names = {id(parameter): name for name, parameter in pl_module.meta.named_parameters()}

            def record(optimizer, args, kwargs) -> None:
                self.controller_grads.append(
                    {
                        names[id(p)]: None if p.grad is None else p.grad.detach().clone()
                        for group in optimizer.param_groups
                        for p in group["params"]
                    }
                )

            controller[0].register_step_pre_hook(record)

    def _count_base_step(self, optimizer, args, kwargs) -> None:
        self.base_steps += 1


class StateAtTrainStart(pl.Callback):
    """What the module and the controller's optimiser hold when training (re)starts."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: AugMetaModule) -> None:
        self.epoch = trainer.current_epoch
        self.base_steps = pl_module.base_steps
        self.model = cloned_state(pl_module.model)
        self.meta = cloned_state(pl_module.meta)
        self.controller_state = copy.deepcopy(trainer.optimizers[1].state_dict()["state"])


class StopAtEpochEnd(pl.Callback):
    """Interrupt the run after its first epoch, as a crash or a time limit would."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: AugMetaModule) -> None:
        trainer.should_stop = True


def last_checkpoint(root) -> ModelCheckpoint:
    # save_top_k=0: only last.ckpt, so a resumed run sees no "directory exists and is not empty" warning
    return ModelCheckpoint(dirpath=root / "checkpoints", save_last=True, save_top_k=0)


@pytest.fixture(scope="module", params=["global", "adaptive"])
def trained(request, tmp_path_factory) -> AugMetaModule:
    """A meta module after a ``fast_dev_run`` fit (one joint step); tests must not change it."""
    module = small_module(meta_mode=request.param, meta_every=1)
    small_trainer(tmp_path_factory.mktemp(request.param), fast_dev_run=True).fit(module, digits())
    return module


# ------------------------------------------------------------------------------------------------- smoke runs


def test_fast_dev_run_with_the_meta_network(trained):
    assert trained.trainer.state.finished
    assert trained.base_steps == 1
    assert trained.fixed_policy is None
    assert math.isfinite(float(trained.trainer.callback_metrics["train_loss_epoch"]))
    assert "meta_entropy" in trained.trainer.callback_metrics


@pytest.mark.parametrize("policy", FIXED, ids=["none", "randaugment", "trivialaugment", "autoaugment", "file"])
def test_fast_dev_run_with_a_fixed_policy(tmp_path, policy):
    module = small_module(policy=policy)
    before = cloned_state(module.model)
    trainer = small_trainer(tmp_path, fast_dev_run=True)
    trainer.fit(module, digits())
    assert trainer.state.finished
    assert module.base_steps == 1
    assert module.meta is None
    assert module.fixed_policy == resolve_policy(policy)
    assert changed(before, cloned_state(module.model))
    assert math.isfinite(float(trainer.callback_metrics["train_loss_epoch"]))


@pytest.mark.parametrize(("max_epochs", "batches"), [(1, 4), (2, 2)])
def test_runs_of_four_steps_train(tmp_path, max_epochs, batches):
    """Any number of steps trains; OneCycleLR(total_steps=4, pct_start=0.25) divides by zero at its first step."""
    module = small_module(policy="none")
    small_trainer(tmp_path, max_epochs=max_epochs, limit_train_batches=batches).fit(module, digits())
    assert module.base_steps == 4


# ------------------------------------------------------------------------------------ batches on the device


def test_evaluation_batches_become_floats_in_unit_range():
    images = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(4)
    out_images, out_labels = small_module(policy="autoaugment").on_after_batch_transfer((images, labels), 0)
    assert out_images.dtype == torch.float32
    assert torch.equal(out_images, images.float() / 255.0)
    assert torch.equal(out_labels, labels)


@pytest.mark.parametrize("policy", ["augmeta", "none"])
def test_training_batches_without_crop_flip_or_fixed_policy_are_only_converted(policy):
    generator = torch.Generator().manual_seed(1)
    train = (torch.randint(0, 256, (8, 1, 8, 8), dtype=torch.uint8, generator=generator), torch.arange(8))
    meta = (torch.randint(0, 256, (8, 1, 8, 8), dtype=torch.uint8, generator=generator), torch.arange(8))
    module = small_module(policy=policy, crop_padding=0, flip=False)
    out = module.on_after_batch_transfer({"train": train, "meta": meta}, 0)
    assert out.keys() == {"train", "meta"}
    assert torch.equal(out["train"][0], train[0].float() / 255.0)
    assert torch.equal(out["meta"][0], meta[0].float() / 255.0)
    assert torch.equal(out["train"][1], train[1]) and torch.equal(out["meta"][1], meta[1])


def test_a_fixed_policy_augments_the_training_images_only():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(2)
    train = (torch.randint(0, 256, (64, 1, 8, 8), dtype=torch.uint8, generator=generator), torch.zeros(64).long())
    meta = (torch.randint(0, 256, (64, 1, 8, 8), dtype=torch.uint8, generator=generator), torch.zeros(64).long())
    module = small_module(policy="trivialaugment", crop_padding=0, flip=False)
    out = module.on_after_batch_transfer({"train": train, "meta": meta}, 0)
    assert out["train"][0].shape == train[0].shape and out["train"][0].dtype == torch.float32
    assert not torch.equal(out["train"][0], train[0].float() / 255.0)
    assert torch.equal(out["meta"][0], meta[0].float() / 255.0)


@pytest.mark.parametrize("policy", ["trivialaugment", "augmeta"])
def test_apply_path_changes_how_a_batch_is_augmented_not_what_it_becomes(policy):
    generator = torch.Generator().manual_seed(3)
    train = (torch.randint(0, 256, (48, 1, 10, 10), dtype=torch.uint8, generator=generator), torch.zeros(48).long())
    outs = []
    for path in ("grouped", "masked", "compiled"):
        module = small_module(policy=policy, crop_padding=1, apply_path=path)
        if module.meta is not None:
            assert module.meta.path == path
        torch.manual_seed(0)
        outs.append(module.on_after_batch_transfer({"train": train}, 0)["train"][0])
        if module.meta is not None:
            torch.manual_seed(1)
            with torch.no_grad():
                outs.append(module.meta.augment(outs[-1]).images)
    per_path = len(outs) // 3
    for later in (outs[per_path : 2 * per_path], outs[2 * per_path :]):
        assert all(torch.equal(a, b) for a, b in zip(outs[:per_path], later, strict=True))


def test_an_unknown_apply_path_is_refused_by_name():
    message = "`apply_path` should be one of ['auto', 'grouped', 'masked', 'compiled'], but got 'fast' instead."
    with pytest.raises(ValueError, match=exactly(message)):
        AugMetaModule(apply_path="fast")


# -------------------------------------------------------------------------------------- the two optimisers


def test_a_meta_run_steps_both_optimisers(tmp_path):
    module = small_module(meta_every=1, num_subpolicies=2)
    model_before, meta_before = cloned_state(module.model), cloned_state(module.meta)
    steps = OptimizerSteps()
    small_trainer(tmp_path, limit_train_batches=2, callbacks=[steps]).fit(module, digits())
    assert module.base_steps == steps.base_steps == len(steps.controller_grads) == 2
    for grads in steps.controller_grads:
        assert grads.keys() == {"subpolicy_logits", "op_logits", "magnitude_logits"}
        for name, grad in grads.items():
            assert grad is not None, name
            assert torch.isfinite(grad).all(), name
            assert grad.abs().sum() > 0, name
    parameters = {name for name, _ in module.model.named_parameters()}
    assert parameters <= set(changed(model_before, cloned_state(module.model)))
    assert set(changed(meta_before, cloned_state(module.meta))) == {"subpolicy_logits", "op_logits", "magnitude_logits"}


CUDA = pytest.param(
    "cuda",
    marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")],
)


@pytest.mark.parametrize("accelerator", ["cpu", CUDA])
@pytest.mark.parametrize("objective", ["gradient_matching", "implicit", "teacher"])
def test_a_mixed_precision_meta_run_gives_the_controller_finite_gradients(tmp_path, accelerator, objective):
    """The GPU recipe (bf16-mixed): the augmentation, the base step and the objective run on the device."""
    module = small_module(meta_every=1, objective=objective)
    steps = OptimizerSteps()
    trainer = small_trainer(
        tmp_path, accelerator=accelerator, devices=1, precision="bf16-mixed", limit_train_batches=3, callbacks=[steps]
    )
    trainer.fit(module, digits())
    assert module.base_steps == len(steps.controller_grads) == 3
    for grads in steps.controller_grads[1:]:  # the teacher starts as the model: no signal in the first step
        assert all(torch.isfinite(grad).all() for grad in grads.values())
        assert grads["magnitude_logits"].abs().sum() > 0
    # where the controller stepped (after fit, Lightning moves the module back to the CPU)
    assert {grad.device.type for grads in steps.controller_grads for grad in grads.values()} == {accelerator}
    assert torch.isfinite(torch.tensor(list(module.policy_summary().values()))).all()


@pytest.mark.parametrize(("objective", "first_signal"), [("teacher", False), ("teacher_ns", True)])
def test_the_teacher_objective_trains_the_controller_against_an_ema_of_the_model(tmp_path, objective, first_signal):
    module = small_module(meta_every=1, objective=objective, teacher_decay=0.5)
    teacher_before = cloned_state(module.objective.teacher)
    steps = OptimizerSteps()
    small_trainer(tmp_path, limit_train_batches=3, callbacks=[steps]).fit(module, digits())
    assert len(steps.controller_grads) == 3
    first, *later = steps.controller_grads
    # the teacher starts as the model: with the cross-entropy term the two cancel, with the paper's term they do not
    assert (first["magnitude_logits"].abs().max() > 0) == first_signal
    for grads in later:
        assert grads["magnitude_logits"].abs().sum() > 0
    assert int(module.objective.updates) == 3
    assert changed(teacher_before, cloned_state(module.objective.teacher))
    assert all(not p.requires_grad for p in module.objective.teacher.parameters())
    teacher_keys = {key.removeprefix("objective.teacher.") for key in module.state_dict() if "teacher." in key}
    assert teacher_keys == set(module.model.state_dict())  # saved in checkpoints with the module


def test_the_controller_steps_once_every_meta_every_base_steps(tmp_path):
    module = small_module(meta_every=2)
    steps = OptimizerSteps()
    small_trainer(tmp_path, limit_train_batches=3, callbacks=[steps]).fit(module, digits())
    assert steps.base_steps == 3
    assert len(steps.controller_grads) == 2  # at base steps 0 and 2


def test_the_controller_waits_for_meta_start_epoch(tmp_path):
    module = small_module(meta_every=1, meta_start_epoch=2)
    model_before, meta_before = cloned_state(module.model), cloned_state(module.meta)
    steps = OptimizerSteps()
    trainer = small_trainer(tmp_path, max_epochs=2, limit_train_batches=1, callbacks=[steps])
    trainer.fit(module, digits())
    assert steps.base_steps == module.base_steps == 2
    assert steps.controller_grads == []
    assert changed(meta_before, cloned_state(module.meta)) == []
    assert trainer.optimizers[1].state_dict()["state"] == {}
    assert changed(model_before, cloned_state(module.model))


@pytest.mark.parametrize(
    "arguments", [{"policy": "none"}, {"objective": "teacher"}, {"objective": "gradient_matching"}]
)
def test_every_method_trains_as_many_steps_per_epoch_the_longer_stream_decides(tmp_path, arguments):
    """One recipe: fixed policies and objectives that ignore the held-out "meta" stream still load it, so every
    method's epoch has the same steps. Lightning's ``max_size_cycle`` ends an epoch with the longer stream: with a
    validation split larger than the training split (reduced Fashion-MNIST: 6,000 against 4,000 images), "train"
    cycles too."""
    data = AugDataModule(dataset="digits", batch_size=64, val_size=0.6, train_subset=300)
    module = small_module(meta_every=4, **arguments)
    small_trainer(tmp_path, limit_train_batches=None, limit_val_batches=1).fit(module, data)
    train, val = (len(loader) for loader in data.train_dataloader().values())
    assert (train, val) == (4, 12)  # batches of 64, the last partial one dropped
    assert module.base_steps == 12


def test_augment_until_stops_the_learned_policy_and_the_controller_after_that_fraction(tmp_path):
    module = small_module(meta_every=1, augment_until=0.5)
    augmented_at: list[int] = []
    augment = module.meta.augment

    def counted(*args, **kwargs):
        augmented_at.append(module.base_steps)
        return augment(*args, **kwargs)

    module.meta.augment = counted
    steps = OptimizerSteps()
    small_trainer(tmp_path, max_epochs=2, limit_train_batches=3, callbacks=[steps]).fit(module, digits())
    assert steps.base_steps == 6
    assert augmented_at == [0, 1, 2]  # half of the 6 steps; the rest train on the base crop/flip only
    assert len(steps.controller_grads) == 3


def test_augment_until_stops_a_fixed_policy_too(tmp_path):
    module = small_module(policy="trivialaugment", augment_until=0.4)
    applied_at: list[int] = []
    policy = module.fixed_policy

    class Counted:  # a policy (a frozen pydantic model) whose draws record the step they are made at
        def sample(self, *args, **kwargs):
            applied_at.append(module.base_steps)
            return policy.sample(*args, **kwargs)

        def apply_draws(self, *args, **kwargs):
            return policy.apply_draws(*args, **kwargs)

    module.fixed_policy = Counted()
    small_trainer(tmp_path, max_epochs=2, limit_train_batches=3).fit(module, digits())
    assert applied_at == [0, 1, 2]  # steps below 0.4 * 6 = 2.4; validation batches are never augmented


@pytest.mark.parametrize("fraction", [0.0, 1.5, -0.1])
def test_augment_until_outside_zero_to_one_is_rejected(fraction):
    message = f"`augment_until` should be a fraction in (0, 1], but got {fraction!r} instead."
    with pytest.raises(ValueError, match=exactly(message)):
        AugMetaModule(augment_until=fraction)


@pytest.mark.parametrize(("channels", "offers_color"), [(1, False), (3, True)])
def test_the_controller_offers_color_to_colour_images_only(channels, offers_color):
    ops = small_module(in_channels=channels).meta.ops
    assert ("color" in ops) is offers_color and len(ops) == len(GREY_OPS) + offers_color


def test_meta_every_below_one_is_rejected():
    with pytest.raises(ValueError, match=exactly("`meta_every` should be an integer >= 1 or None, but got 0 instead.")):
        AugMetaModule(meta_every=0)


@pytest.mark.parametrize("size", [0, 2.5, "64"])
def test_a_meta_batch_size_that_is_not_a_positive_integer_is_rejected(size):
    expected = f"`meta_batch_size` should be an integer >= 1 or None, but got {size!r} instead."
    with pytest.raises(ValueError, match=exactly(expected)):
        AugMetaModule(meta_batch_size=size)


class ObjectiveInputs(MetaObjective):
    """Wraps an objective and records the batch sizes and handed-in gradients of its calls, and every held-out image
    it was given (as uint8 rows)."""

    def __init__(self, objective) -> None:
        self.objective, self.calls, self.held_out = objective, [], set()

    def update(self, model) -> None:
        self.objective.update(model)

    def image_gradient(self, model, criterion, images, labels, val_images, val_labels, step_size, **given):
        self.calls.append((len(images), len(labels), len(val_images), len(val_labels), given))
        self.held_out |= image_rows(val_images)
        return self.objective.image_gradient(
            model, criterion, images, labels, val_images, val_labels, step_size, **given
        )


@pytest.mark.parametrize(("meta_batch_size", "used"), [(8, 8), (None, 64), (500, 64)])
def test_the_controller_step_runs_on_meta_batch_size_images(tmp_path, meta_batch_size, used):
    """Of a batch of 64: the first ``meta_batch_size`` training and validation images (all of them at None or
    more); the base step's gradients are handed in only where they are the objective's batch's."""
    module = small_module(meta_every=1, meta_batch_size=meta_batch_size, num_subpolicies=2)
    module.objective = spy = ObjectiveInputs(module.objective)
    steps = OptimizerSteps()
    small_trainer(tmp_path, limit_train_batches=2, callbacks=[steps]).fit(module, digits())
    assert [call[:4] for call in spy.calls] == [(used, used, used, used)] * 2
    handed_in = used == 64
    for *_, given in spy.calls:
        assert (given["train_image_grad"] is not None) is handed_in
        assert (given["train_param_grads"] is not None) is handed_in
    for grads in steps.controller_grads:  # the subset's gradient reaches every learned parameter
        assert all(torch.isfinite(grad).all() and grad.abs().sum() > 0 for grad in grads.values())


def image_rows(images: torch.Tensor) -> set[bytes]:
    return {row.tobytes() for row in (images * 255).round().to(torch.uint8).flatten(1).numpy()}


@pytest.mark.parametrize("meta_size", [None, 300])
def test_the_controller_learns_from_the_data_modules_meta_split(tmp_path, meta_size):
    """With ``meta_size`` the controller never sees the validation split, so ``val_*`` stays held out."""
    module = small_module(meta_every=1)
    module.objective = spy = ObjectiveInputs(module.objective)
    data = AugDataModule(dataset="digits", batch_size=64, train_subset=500, meta_size=meta_size)
    small_trainer(tmp_path, limit_train_batches=3).fit(module, data)
    meta, val = image_rows(data.meta_images.float() / 255), image_rows(data.val_images.float() / 255)
    assert len(spy.held_out) > 64 and spy.held_out <= meta
    assert not (spy.held_out & val) if meta_size else spy.held_out <= val


@pytest.mark.parametrize(
    ("objective", "meta_every", "expected"),
    [("gradient_matching", None, 16), ("lookahead", None, 8), ("teacher", None, 8), ("teacher_ns", None, 8),
     ("implicit", None, 16), ("teacher", 16, 16), ("gradient_matching", 3, 3)],
)  # fmt: skip
def test_meta_every_defaults_to_the_objectives_own(objective, meta_every, expected):
    assert small_module(objective=objective, meta_every=meta_every).meta_every == expected


@pytest.mark.parametrize(
    ("objective", "given", "identity", "magnitude"),
    [("gradient_matching", {}, 0.5, 0.3), ("teacher", {}, 0.95, 0.1), ("lookahead", {}, 0.95, 0.1),
     ("implicit", {}, 0.5, 0.3), ("gradient_matching", {"init_identity": 0.9}, 0.9, 0.3),
     ("teacher", {"init_magnitude": 0.2}, 0.95, 0.2)],
)  # fmt: skip
def test_the_controller_starts_from_the_objectives_own_policy_unless_told(objective, given, identity, magnitude):
    summary = small_module(objective=objective, **given).policy_summary()
    assert summary["policy/p_identity"] == pytest.approx(identity, abs=1e-6)
    assert summary["policy/m_rotate"] == pytest.approx(magnitude, abs=1e-6)


# ---------------------------------------------------------------------------------------- the policy


def test_current_policy_validates_and_saves_byte_identically(trained, tmp_path):
    policy = trained.current_policy()
    assert isinstance(policy, augmeta.Policy)
    assert augmeta.Policy.from_dict(policy.to_dict()) == policy
    assert policy.name == "learned"
    assert policy.provenance.method == f"augmeta-{trained.meta.mode}"
    assert ", 1 base steps; applied to the first 80% of the training steps" in policy.provenance.notes
    assert "train_loss_epoch" in policy.provenance.metrics
    first = policy.save(tmp_path / "first.json")
    assert augmeta.load_policy(first) == policy
    second = augmeta.load_policy(first).save(tmp_path / "second.json")
    assert first.read_bytes() == second.read_bytes() == policy.to_json().encode("utf-8")
    assert trained.current_policy(name="digits").name == "digits"


def test_current_policy_needs_no_trainer():
    """A module outside a Trainer (fresh, or loaded with ``load_from_checkpoint``) exports its policy."""
    module = small_module()
    policy = module.current_policy()
    assert augmeta.Policy.from_dict(policy.to_dict()) == policy
    assert policy.subpolicies == module.meta.to_policy().subpolicies
    assert policy.provenance.notes.startswith("epoch 0, 0 base steps; applied to the first 80% ")
    always = small_module(augment_until=1.0).current_policy()
    assert always.provenance.notes == "epoch 0, 0 base steps"  # no schedule to mention
    assert policy.provenance.metrics == {}


def test_current_policy_of_a_fixed_policy_is_that_policy():
    assert small_module(policy="randaugment").current_policy() == PUBLISHED["randaugment_n2_m9"]()


def test_current_policy_without_augmentation_is_an_error():
    message = "`policy='none'` trains without augmentation: there is no policy to export."
    with pytest.raises(ValueError, match=exactly(message)):
        small_module(policy="none").current_policy()


def test_policy_summary_names_every_op_and_its_magnitude(trained):
    summary = trained.policy_summary()
    with_magnitude = [op for op in GREY_OPS if op not in NO_MAGNITUDE]
    assert list(summary) == [f"policy/p_{op}" for op in GREY_OPS] + [f"policy/m_{op}" for op in with_magnitude]
    assert all(type(value) is float for value in summary.values())
    assert sum(summary[f"policy/p_{op}"] for op in GREY_OPS) == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 < summary[f"policy/m_{op}"] < 1.0 for op in with_magnitude)
    assert set(summary) <= set(trained.trainer.callback_metrics)  # logged at the end of every epoch


def test_an_adaptive_policy_needs_the_training_images():
    message = "adaptive mode needs the data module's `train_images` to export its marginal policy."
    module = small_module(meta_mode="adaptive")
    with pytest.raises(ValueError, match=exactly(message)):
        module.policy_summary()
    with pytest.raises(ValueError, match=exactly(message)):
        module.current_policy()


def test_policy_summary_of_a_fresh_network():
    """At initialisation identity has ``init_identity`` and every op magnitude ``init_magnitude``."""
    summary = small_module(init_identity=0.4, init_magnitude=0.2).policy_summary()
    assert summary["policy/p_identity"] == pytest.approx(0.4)
    others = [value for key, value in summary.items() if key.startswith("policy/p_") and key != "policy/p_identity"]
    assert others == pytest.approx([0.6 / (len(GREY_OPS) - 1)] * (len(GREY_OPS) - 1))
    magnitudes = [value for key, value in summary.items() if key.startswith("policy/m_")]
    assert magnitudes == pytest.approx([0.2] * (len(GREY_OPS) - len(NO_MAGNITUDE)))


# ------------------------------------------------------------------------------------------ resolve_policy


def test_resolve_policy_rejects_an_unknown_name():
    with pytest.raises(ValueError, match=exactly(UNKNOWN_POLICY)):
        resolve_policy("nope")
    with pytest.raises(ValueError, match=exactly(UNKNOWN_POLICY)):
        AugMetaModule(policy="nope")


def test_resolve_policy_names():
    assert resolve_policy("none") is None
    for short, name in FIXED_POLICIES.items():
        assert resolve_policy(short) == PUBLISHED[name]()
    for name, build in PUBLISHED.items():
        assert resolve_policy(name) == build()


@pytest.mark.parametrize("path", sorted(POLICY_DIR.glob("*.json")), ids=lambda path: path.name)
def test_resolve_policy_loads_a_published_file(path):
    assert resolve_policy(str(path)) == augmeta.load_policy(path)


def test_resolve_policy_loads_any_policy_file(tmp_path):
    data = json.loads((POLICY_DIR / "randaugment_n2_m9.json").read_text(encoding="utf-8"))
    data["name"] = "mine"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    policy = resolve_policy(str(path))
    assert policy.name == "mine"
    assert policy == augmeta.Policy.from_dict(data)


# ------------------------------------------------------------------------------------------------ resuming


def test_resume_continues_an_interrupted_run(tmp_path):
    first = small_module(meta_every=2)
    callbacks = [StopAtEpochEnd(), last_checkpoint(tmp_path)]
    small_trainer(tmp_path, max_epochs=2, callbacks=callbacks, enable_checkpointing=True).fit(first, digits())
    assert first.base_steps == 3
    path = tmp_path / "checkpoints" / "last.ckpt"
    saved = torch.load(path, weights_only=True)
    assert saved["augmeta_state"]["base_steps"] == 3

    resumed, start = small_module(meta_every=2), StateAtTrainStart()
    trainer = small_trainer(
        tmp_path, max_epochs=2, callbacks=[start, last_checkpoint(tmp_path)], enable_checkpointing=True
    )
    trainer.fit(resumed, digits(), ckpt_path=path)
    assert (start.epoch, start.base_steps) == (1, 3)
    saved_meta = {name.removeprefix("meta."): v for name, v in saved["state_dict"].items() if name.startswith("meta.")}
    saved_model = {
        name.removeprefix("model."): v for name, v in saved["state_dict"].items() if name.startswith("model.")
    }
    assert changed(saved_meta, start.meta) == []
    assert changed(saved_model, start.model) == []
    assert start.controller_state[0]["step"] == saved["optimizer_states"][1]["state"][0]["step"] == 2
    assert trainer.current_epoch == 2
    assert resumed.base_steps == 6


@pytest.mark.parametrize("objective", ["gradient_matching", "teacher", "affinity"])
def test_a_resumed_run_ends_exactly_where_the_uninterrupted_run_ends(tmp_path, objective):
    """Same weights, controller and step count, bit for bit: data order, RNG and optimisers all resume."""
    pl.seed_everything(0)
    straight = small_module(meta_every=2, objective=objective)
    small_trainer(tmp_path / "straight", max_epochs=2).fit(straight, digits())

    pl.seed_everything(0)
    first = small_module(meta_every=2, objective=objective)
    checkpoints = tmp_path / "interrupted"
    callbacks = [StopAtEpochEnd(), last_checkpoint(checkpoints)]
    small_trainer(checkpoints, max_epochs=2, callbacks=callbacks, enable_checkpointing=True).fit(first, digits())
    pl.seed_everything(123)  # a new process: other RNG state, other initial weights
    resumed = small_module(meta_every=2, objective=objective)
    trainer = small_trainer(
        checkpoints, max_epochs=2, callbacks=[last_checkpoint(checkpoints)], enable_checkpointing=True
    )
    trainer.fit(resumed, digits(), ckpt_path=checkpoints / "checkpoints" / "last.ckpt")

    assert resumed.base_steps == straight.base_steps == 6
    assert changed(cloned_state(straight.model), cloned_state(resumed.model)) == []
    assert changed(cloned_state(straight.meta), cloned_state(resumed.meta)) == []
    if objective in ("teacher", "affinity"):
        assert changed(cloned_state(straight.objective), cloned_state(resumed.objective)) == []


def test_resume_a_finished_run_for_more_epochs(tmp_path):
    """Fit one epoch, then resume from last.ckpt with ``max_epochs=2``: the run trains one more epoch."""
    first = small_module(meta_every=1)
    small_trainer(tmp_path, callbacks=[last_checkpoint(tmp_path)], enable_checkpointing=True).fit(first, digits())
    path = tmp_path / "checkpoints" / "last.ckpt"
    resumed, start = small_module(meta_every=1), StateAtTrainStart()
    trainer = small_trainer(
        tmp_path, max_epochs=2, callbacks=[start, last_checkpoint(tmp_path)], enable_checkpointing=True
    )
    trainer.fit(resumed, digits(), ckpt_path=path)
    assert (start.epoch, start.base_steps) == (1, 3)
    assert changed(cloned_state(first.meta), start.meta) == []
    assert trainer.current_epoch == 2
    assert resumed.base_steps == 6


def test_a_checkpoint_loads_with_weights_only_and_exports_the_learned_policy(tmp_path):
    module = small_module(meta_every=1)
    small_trainer(tmp_path, callbacks=[last_checkpoint(tmp_path)], enable_checkpointing=True).fit(module, digits())
    loaded = AugMetaModule.load_from_checkpoint(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert loaded.base_steps == 3
    assert changed(cloned_state(module.meta), cloned_state(loaded.meta)) == []
    assert isinstance(loaded.meta, MetaNetwork)
    assert loaded.hparams == module.hparams


class _TwoProcesses:  # what setup() reads of a Trainer under DDP
    world_size, global_rank = 2, 1


def test_a_gradient_objective_is_refused_under_ddp_and_ranks_draw_apart():
    module = small_module(objective="gradient_matching")
    module._trainer = _TwoProcesses()
    with pytest.raises(ValueError, match=r"^`objective` should be 'affinity' .* under DDP \(2 processes\), but got"):
        module.setup("fit")
    torch.manual_seed(0)
    first = torch.rand(3)
    torch.manual_seed(0)
    pulling = small_module(objective="affinity")
    pulling._trainer = _TwoProcesses()
    pulling.setup("fit")  # rank 1: its RNG moves away from rank 0's
    assert not torch.equal(torch.rand(3), first)
    assert not any(p.requires_grad for p in pulling.meta.parameters())  # nothing for DDP to reduce
