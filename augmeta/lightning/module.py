"""``AugMetaModule``: trains a base model and, in the same run, the meta-network that augments its training images.

The same module trains with a fixed policy (``none``, ``randaugment``, ``trivialaugment``, ``autoaugment``, a
published name, a policy file or a meta-tree file) so every method runs under one recipe: the same model, optimiser,
schedule, base crop/flip and data, with augmentation batched on the device.
"""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as nnf
from pytorch_lightning.utilities import rank_zero_warn

from augmeta.lightning.base_augment import random_crop_flip
from augmeta.lightning.checkpoint_io import require_weights_only
from augmeta.lightning.models import build_model
from augmeta.lightning.policy_trials import chosen, trial_losses
from augmeta.meta import (
    OBJECTIVE_BURN_IN,
    MetaNetwork,
    MetaTree,
    build_objective,
    default_ops,
    fit_meta_tree,
    image_features,
    objective_settings,
)
from augmeta.meta.tree import load_policy_or_meta_tree
from augmeta.ops import OPS
from augmeta.policy import PATHS, Policy
from augmeta.policy.published import PUBLISHED

__all__ = [
    "FINITE_CHECK_EVERY",
    "FIXED_POLICIES",
    "AugMetaModule",
    "ConfigurationError",
    "NonFiniteLossError",
    "resolve_policy",
]

#: Fewer controller updates than this in a run get a warning: the policy is still near its start.
FEW_CONTROLLER_UPDATES = 10
#: Base steps between the checks that the training loss stayed finite (a check is one host sync; the last batch of
#: every epoch is checked too, before the epoch's policy files are written).
FINITE_CHECK_EVERY = 8


class ConfigurationError(ValueError):
    """A setting the model, data or trainer refused (from the command line, one line: :mod:`augmeta.lightning.cli`);
    the message says which and what was expected."""


class NonFiniteLossError(RuntimeError):
    """The base model's training loss became NaN or infinite: the run stops, and the files written before (the
    previous epoch's policy and checkpoint) are the last good ones."""


#: Short names of the fixed policies, besides the names of ``policies/*.json`` and paths to policy files.
FIXED_POLICIES = {
    "randaugment": "randaugment_n2_m9",
    "trivialaugment": "trivialaugment_wide",
    "autoaugment": "autoaugment_cifar10",
}


def resolve_policy(policy: str) -> Policy | MetaTree | None:
    """``none`` -> None; a short or published name -> that policy; anything else is read as a policy file, or as a
    meta-tree file when it is JSON with ``nodes`` (a policy per class or image, :mod:`augmeta.meta.tree`)."""
    if policy == "none":
        return None
    name = FIXED_POLICIES.get(policy, policy)
    if name in PUBLISHED:
        return PUBLISHED[name]()
    if not Path(policy).is_file():
        raise ValueError(
            f"`policy` should be 'augmeta', 'none', one of {sorted(FIXED_POLICIES) + sorted(PUBLISHED)} or a policy "
            f"file, but got {policy!r} (no such file)."
        )
    return load_policy_or_meta_tree(policy)


class AugMetaModule(pl.LightningModule):
    """Base model + augmentation policy, learned jointly (``policy="augmeta"``) or fixed.

    Args:
        policy: ``augmeta`` (learn it), ``none``, ``randaugment``, ``trivialaugment``, ``autoaugment``, the name of a
            published policy, the path of a policy file or of a meta-tree file (each image augmented by the policy of
            the leaf its label and features reach).
        model: ``small_resnet`` or a torchvision classification model name.
        width: width of ``small_resnet``.
        num_classes, in_channels: set from the data module by the command line.
        lr, momentum, weight_decay, label_smoothing: base SGD (Nesterov) with a one-cycle schedule peaking at ``lr``.
        crop_padding: the base recipe's random crop (zero padding in pixels), applied on the device to every method.
        flip: the base recipe's random horizontal flip. None (default): a learned run has none (``flip_x`` and
            ``flip_y`` are among the controller's ops, so it learns whether flipping suits the data) and a fixed
            policy follows the data set's convention, ``data_flip``.
        data_flip: the data set's flip convention (:attr:`augmeta.datasets.DatasetSpec.base_flip`); set from the
            data module by the command line.
        meta_mode: ``global`` (one policy), ``class`` (a policy per class) or ``adaptive`` (per image) meta-network.
        meta_every: one controller update every this many base steps.
        meta_batch_size: the controller step's objective runs on at most this many of the batch's training images
            (and as many validation images); None: all of them. Its passes run at full precision (the finite
            differences need it), several times the cost of a bf16 pass, so at a GPU's large batches this bounds
            the controller's share of the run.
        meta_lr: Adam learning rate of the controller.
        entropy_weight: weight of the op-entropy bonus against collapse.
        meta_start_epoch: first epoch with controller updates (the policy is still applied before).
        augment_until: fraction of the training steps during which the policy (learned or fixed) is applied; the
            steps after it train on the base crop/flip only, with no controller updates (1.0: always). The default
            0.8 is the "refined data augmentation" schedule (He et al., 2019): the last steps, at a low learning
            rate, close the gap between augmented and clean images (measurements: research/README.md). A learned
            policy's file says so in its provenance notes.
        augment_from: fraction of the training steps before the policy is first applied; until then the base recipe
            trains alone. None: the objective's burn-in (:data:`augmeta.meta.OBJECTIVE_BURN_IN`: ``affinity`` learns
            its policy from the model trained so far without one, 0.25), 0 for the others and for fixed policies.
        meta_ops: op names the controller chooses from (default :func:`augmeta.meta.default_ops`: the standard 14,
            cutout and both flips, without ``color`` for single-channel images).
        meta_ranges: physical ``[lo, hi]`` per op the controller learns within, overriding
            :data:`augmeta.meta.DEFAULT_RANGES` (e.g. ``{"rotate": [0, 180]}``), within each op's limits.
        num_subpolicies: sub-policies of the controller (each a sequence of ``num_steps`` steps, chosen per image by
            a learned weight).
        num_steps: steps per sub-policy (each applies one op, or none, to every image).
        init_identity: the controller's starting probability of no op per step; None: the objective's own
            (:data:`augmeta.meta.OBJECTIVE_DEFAULTS`: affinity 0.5, gradient matching and implicit 0.5, the others
            0.95; ``meta_every`` left None likewise takes 4, 16 and 8).
        init_magnitude: the starting magnitude of every op, as a fraction of its range; None: the objective's own
            (affinity, gradient matching, implicit: 0.3; the others: 0.1).
        magnitude_sampling: ``uniform`` (each image draws m ~ U(0, m_max), as TrivialAugment does) or ``fixed``
            (every image gets m_max).
        epsilon: finite-difference step of the objective's Hessian-vector products.
        objective: ``gradient_matching`` (DeepAA-style cosine; the default, as the best on the validation split;
            measurements: research/README.md), ``lookahead`` (one-step lookahead, DARTS/DADA), ``implicit`` (the
            validation loss at the base model's optimum by the implicit function theorem, Lorraine et al. 2020: the
            lookahead through a Neumann series; see :class:`augmeta.meta.ImplicitObjective`), ``teacher``
            (TeachAugment: adversarial against an EMA teacher of the model; uses no held-out data) or ``teacher_ns``
            (the same with the paper's non-saturating adversarial term; see :class:`augmeta.meta.TeacherObjective`),
            or ``affinity`` (what the model trained so far cannot read on held-out images, probed during the burn-in
            before ``augment_from``, sets which ops and ranges the controller keeps; its ``rate`` takes ``meta_lr``'s
            part; see :class:`augmeta.meta.AffinityObjective`).
        teacher_decay: EMA decay of the ``teacher`` objective's teacher.
        objective_args: the objective's other settings, by name (:func:`augmeta.meta.objective_arguments`), e.g.
            ``{"terms": 3, "alpha": 0.02}`` for ``implicit`` (command line: ``--model.objective_args '{"terms": 3}'``);
            None: its defaults. Values are bools, ints, floats or strings, so that checkpoints, which hold the
            module's arguments, load with ``weights_only=True``. A key the objective does not take, or a value of
            another type, is a ValueError (``epsilon`` and ``teacher_decay`` are set by their own arguments).
        apply_path: how the policy's draws are applied to a batch: ``masked`` (fixed shapes, no host sync: every
            offered op runs on the whole batch), ``compiled`` (the masked step under ``torch.compile``: fewer kernel
            launches, a compile of seconds to a minute per image shape at the start), ``grouped`` (each op on the
            images that drew it) or ``auto`` (masked on a GPU, grouped on the CPU). The images are the same; only
            the time differs (:mod:`augmeta.policy.applier`; ``bench/augment_dispatch.py`` times all three).
        policy_trials: ``affinity`` only: at the burn-in's end, train a copy of the model this fraction of the run
            (of its base steps) under each of a few candidate policies (no augmentation, the screen's, and its
            ``trial_ops`` leading ops alone; :meth:`augmeta.meta.AffinityObjective.candidates`), and keep the
            screen's unless a candidate's held-out loss is lower by more than two paired standard errors
            (:mod:`augmeta.lightning.policy_trials`). Each candidate costs this fraction of a run more; 0: no
            trials, the screen's verdict stands.
        trial_ops: how many of the screen's ops (those with the largest shares) are tried alone.
    """

    #: The arguments that only the learned policy depends on (a fixed policy's run is the same whatever they are).
    CONTROLLER_ARGUMENTS: tuple[str, ...] = (
        "meta_mode", "meta_every", "meta_batch_size", "meta_lr", "entropy_weight", "meta_start_epoch", "meta_ops",
        "num_subpolicies", "num_steps", "init_identity", "init_magnitude", "magnitude_sampling", "epsilon",
        "objective", "teacher_decay",
    )  # fmt: skip

    def __init__(
        self,
        policy: str = "augmeta",
        model: str = "small_resnet",
        width: int = 32,
        num_classes: int = 10,
        in_channels: int = 1,
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        label_smoothing: float = 0.0,
        crop_padding: int = 2,
        flip: bool | None = None,
        data_flip: bool = False,
        meta_mode: str = "global",
        meta_every: int | None = None,
        meta_batch_size: int | None = 128,
        meta_lr: float = 0.05,
        entropy_weight: float = 0.001,
        meta_start_epoch: int = 0,
        augment_until: float = 0.8,
        augment_from: float | None = None,
        meta_ops: list[str] | None = None,
        meta_ranges: dict[str, list[float]] | None = None,
        num_subpolicies: int = 1,
        num_steps: int = 2,
        init_identity: float | None = None,
        init_magnitude: float | None = None,
        magnitude_sampling: str = "uniform",
        epsilon: float = 0.01,
        objective: str = "gradient_matching",
        teacher_decay: float = 0.99,
        objective_args: dict | None = None,
        apply_path: str = "auto",
        policy_trials: float = 0.0,
        trial_ops: int = 3,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        for name, value in (("meta_every", meta_every), ("meta_batch_size", meta_batch_size)):
            if value is not None and (type(value) is not int or value < 1):
                raise ValueError(f"`{name}` should be an integer >= 1 or None, but got {value!r} instead.")
        if not 0.0 < augment_until <= 1.0:
            raise ValueError(f"`augment_until` should be a fraction in (0, 1], but got {augment_until!r} instead.")
        if augment_from is None:
            augment_from = OBJECTIVE_BURN_IN.get(objective, 0.0) if policy == "augmeta" else 0.0
        if not 0.0 <= augment_from < augment_until:
            raise ValueError(
                f"`augment_from` should be a fraction in [0, augment_until = {augment_until!r}), but got "
                f"{augment_from!r} instead."
            )
        self.augment_from = float(augment_from)
        if apply_path not in PATHS:
            raise ValueError(f"`apply_path` should be one of {list(PATHS)}, but got {apply_path!r} instead.")
        self.model = build_model(model, in_channels, num_classes, width)
        self.meta: MetaNetwork | None = None
        self.fixed_policy: Policy | MetaTree | None = None
        if policy == "augmeta":
            given = {"meta_every": meta_every, "init_identity": init_identity, "init_magnitude": init_magnitude}
            settings = objective_settings(objective, given)  # those left None: the objective's own
            self.meta = MetaNetwork(
                ops=meta_ops or default_ops(in_channels),
                ranges=meta_ranges,
                num_subpolicies=num_subpolicies,
                num_steps=num_steps,
                mode=meta_mode,
                num_classes=num_classes,
                init_identity=settings["init_identity"],
                init_magnitude=settings["init_magnitude"],
                magnitude_sampling=magnitude_sampling,
            )
            self.objective = build_objective(objective, self.model, epsilon, teacher_decay, objective_args)
            self.meta_every = int(settings["meta_every"])
            self.meta.path = apply_path
            self.hparams["meta_ops"] = list(self.meta.ops)  # as resolved: a checkpoint outlives a change of default
            if self.objective.pulls_controller:
                self._check_pulling_objective(objective, meta_mode, meta_lr)
                # moved by the objective, never by a gradient: DDP then has no controller gradients to reduce
                self.meta.requires_grad_(False)
        else:
            self.fixed_policy = resolve_policy(policy)
        self._check_trials(policy_trials, trial_ops, meta_mode)
        if policy_trials:  # single-op candidates come from the resampled screen (AffinityObjective.candidates)
            self.objective.both_references = True
        self.base_flip = flip if flip is not None else (data_flip if self.meta is None else False)
        self.base_steps = 0
        self.skipped_controller_steps = 0  # controller steps skipped for a non-finite loss, gradient or probe
        self.controller_updates = 0  # controller steps that changed its parameters
        self._loss_finite: torch.Tensor | None = None  # all training losses since the last check finite (on device)

    def _check_trials(self, policy_trials: float, trial_ops: int, meta_mode: str) -> None:
        if isinstance(policy_trials, bool) or not (isinstance(policy_trials, (int, float)) and 0 <= policy_trials < 1):
            raise ValueError(f"`policy_trials` should be a fraction in [0, 1), but got {policy_trials!r} instead.")
        if type(trial_ops) is not int or trial_ops < 0:
            raise ValueError(f"`trial_ops` should be an integer >= 0, but got {trial_ops!r} instead.")
        if policy_trials and (self.meta is None or not hasattr(self.objective, "candidates") or meta_mode != "global"):
            raise ValueError(
                "`policy_trials` should be 0 unless the policy is learned by objective 'affinity' in meta_mode "
                f"'global' (the trials compare the candidates of its verdict), but got policy_trials={policy_trials!r} "
                f"with policy {self.hparams.policy!r}, objective {self.hparams.objective!r}, meta_mode {meta_mode!r}."
            )

    def _check_pulling_objective(self, objective: str, meta_mode: str, meta_lr: float) -> None:
        """An objective that moves the controller itself learns during the burn-in, into the global table only; its
        ``rate`` plays ``meta_lr``'s part, so ``meta_lr`` 0 freezes it as it freezes the others."""
        if self.augment_from <= 0.0:
            raise ValueError(
                f"`augment_from` should be > 0 for objective {objective!r} (it learns during the burn-in before the "
                f"policy is applied), but got {self.augment_from!r} instead."
            )
        if meta_mode not in ("global", "class"):
            raise ValueError(
                f"`meta_mode` should be 'global' or 'class' for objective {objective!r} (it sets the controller's "
                f"tables, not an adaptive network), but got {meta_mode!r} instead. For a policy per class use 'class' "
                "(it writes a meta-tree too); an adaptive network learns with another objective (`--model.objective "
                "gradient_matching`)."
            )
        if meta_lr == 0.0:
            self.objective.rate = 0.0

    # ----------------------------------------------------------------------------------------------- data on device
    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if isinstance(batch, dict):  # training: {"train": ..., "meta": ...}
            images, labels = batch["train"]
            images = random_crop_flip(_to_float(images), self.hparams.crop_padding, self.base_flip)
            if isinstance(self.fixed_policy, MetaTree) and self._augmenting():
                images = self.fixed_policy.apply(images, labels)
            elif self.fixed_policy is not None and self._augmenting():  # no finiteness check: no host sync
                draws = self.fixed_policy.sample(len(images), images.device)
                images = self.fixed_policy.apply_draws(images, draws, path=self.hparams.apply_path)
            out = {"train": (images, labels)}
            if "meta" in batch:
                out["meta"] = (_to_float(batch["meta"][0]), batch["meta"][1])
            return out
        images, labels = batch
        return _to_float(images), labels

    def criterion(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nnf.cross_entropy(logits, labels, label_smoothing=self.hparams.label_smoothing)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    # -------------------------------------------------------------------------------------------------- training
    def configure_optimizers(self):
        base = torch.optim.SGD(
            self.model.parameters(),
            lr=self.hparams.lr,
            momentum=self.hparams.momentum,
            weight_decay=self.hparams.weight_decay,
            nesterov=True,
        )
        self.total_steps = max(1, int(self.trainer.estimated_stepping_batches))
        # a closure, so checkpoints keep the step count but not the total: resuming with more epochs stretches it
        schedule = torch.optim.lr_scheduler.LambdaLR(base, lambda step: one_cycle_factor(step, self.total_steps))
        if self.meta is None:
            return [base], [schedule]
        controller = torch.optim.Adam(self.meta.parameters(), lr=self.hparams.meta_lr, betas=(0.5, 0.999))
        return [base, controller], [schedule]

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch["train"]
        optimizers = self.optimizers()
        base_opt = optimizers[0] if isinstance(optimizers, list) else optimizers
        pulls = self.meta is not None and self.objective.pulls_controller
        if self.meta is not None and self._augmenting() and self._is_meta_step() and not pulls:
            loss, logits = self._joint_step(images, labels, batch["meta"], base_opt, optimizers[1])
        else:
            if self.meta is not None and self._augmenting():
                with torch.no_grad():
                    images = self.meta.augment(images, labels).images
            logits = self.model(images)
            loss = self.criterion(logits, labels)
            base_opt.zero_grad()
            self.manual_backward(loss)
            base_opt.step()
            if pulls and (self._burning_in() or self._augmenting()) and self._is_meta_step():
                self._pull_step(batch["meta"])
        self._check_finite_loss(loss, batch_idx)
        if self.meta is not None:
            self.objective.update(self.model)
        self.lr_schedulers().step()
        self.base_steps += 1
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        self.log_dict({"train_loss": loss.detach(), "train_acc": accuracy}, prog_bar=True, on_step=True, on_epoch=True)
        return loss.detach()

    def _check_finite_loss(self, loss: torch.Tensor, batch_idx: int) -> None:
        """Stop the run with :class:`NonFiniteLossError` once a training loss was NaN or infinite (checked every
        :data:`FINITE_CHECK_EVERY` steps and at each epoch's last batch, so that no host sync is made per step)."""
        finite = torch.isfinite(loss.detach())
        self._loss_finite = finite if self._loss_finite is None else self._loss_finite & finite
        last = self._trainer is not None and bool(getattr(self.trainer, "is_last_batch", False))
        if (self.base_steps + 1) % FINITE_CHECK_EVERY and not last:
            return
        ok, self._loss_finite = bool(self._loss_finite), None
        if not ok:
            raise NonFiniteLossError(
                f"augmeta: the training loss became NaN or infinite by step {self.base_steps + 1} (epoch "
                f"{self.current_epoch}, batch {batch_idx}), so the run stops here; the policy files and checkpoints "
                "written before it are the last good ones. Lower the learning rate (`--model.lr`), or check the "
                "data for NaN or infinite values."
            )

    def _skip_controller_step(self, what: str) -> None:
        """Count a controller step skipped for a non-finite ``what``; warn the first time (the end of the run
        says how many)."""
        self.skipped_controller_steps += 1
        if self.skipped_controller_steps == 1:
            rank_zero_warn(
                f"augmeta: skipped a controller step at base step {self.base_steps}: its {what} was NaN or "
                "infinite, so the controller kept its parameters (the run goes on; its end says how many)."
            )

    def _augmenting(self) -> bool:
        """Whether this training step applies the policy (from ``augment_from`` to ``augment_until``; always outside
        ``fit``)."""
        total = getattr(self, "total_steps", None)
        return total is None or self.augment_from * total <= self.base_steps < self.hparams.augment_until * total

    def _burning_in(self) -> bool:
        """Whether this training step is before ``augment_from``: the base recipe alone (never outside ``fit``)."""
        total = getattr(self, "total_steps", None)
        return total is not None and self.base_steps < self.augment_from * total

    def _is_meta_step(self) -> bool:
        return self.current_epoch >= self.hparams.meta_start_epoch and self.base_steps % self.meta_every == 0

    def _joint_step(self, images, labels, meta_batch, base_opt, meta_opt):
        """One base step on controller-augmented images, then one controller step on the objective."""
        draw = self.meta.augment(images, labels)
        leaf = draw.images.detach().requires_grad_(True)
        logits = self.model(leaf)
        loss = self.criterion(logits, labels)
        base_opt.zero_grad()
        self.manual_backward(loss)
        val_images, val_labels = meta_batch
        n = len(labels) if self.hparams.meta_batch_size is None else min(len(labels), self.hparams.meta_batch_size)
        # the base step's gradients are the whole batch's (and, where the loss was scaled, not the loss's)
        reuse = n == len(labels) and not self._loss_is_scaled()
        image_grad = self.objective.image_gradient(  # the first n images: a random sample of a shuffled batch
            self.model,
            self.criterion,
            leaf.detach()[:n],
            labels[:n],
            val_images[:n],
            val_labels[:n],
            step_size=base_opt.param_groups[0]["lr"],
            train_image_grad=leaf.grad if reuse else None,
            train_param_grads=self._parameter_grads() if reuse else None,
        )
        base_opt.step()
        meta_opt.zero_grad()
        meta_loss = (draw.images[:n] * image_grad.to(draw.images.dtype)).sum() - (
            self.hparams.entropy_weight * draw.entropy
        )
        self.manual_backward(meta_loss)
        finite = torch.isfinite(meta_loss.detach())
        for parameter in self.meta.parameters():
            if parameter.grad is not None:
                finite = finite & torch.isfinite(parameter.grad).all()
        if bool(finite):  # one host sync per controller step
            meta_opt.step()
            self.controller_updates += 1
        else:
            meta_opt.zero_grad()
            self._skip_controller_step("loss or gradient")
        self.log("meta_entropy", draw.entropy.detach(), on_step=False, on_epoch=True)
        return loss, logits

    def _pull_step(self, meta_batch) -> None:
        """A controller step of an objective that moves the controller itself, from the held-out images."""
        images, labels = meta_batch
        n = len(labels) if self.hparams.meta_batch_size is None else min(len(labels), self.hparams.meta_batch_size)
        if self._world()[0] > 1:  # every process probes the model rank 0 holds (and checkpoints): its BN statistics
            buffers = [b for b in self.model.buffers() if b.is_floating_point() or b.dtype == torch.long]
            for buffer in buffers:
                torch.distributed.broadcast(buffer, 0)
        moves, verdict = self.objective.moves, getattr(self.objective, "kept_ops", None)
        if not self.objective.pull(self.meta, self.model, images[:n], labels[:n], policy_on=self._augmenting()):
            self._skip_controller_step("probe of the model (its outputs)")
        self.controller_updates += self.objective.moves - moves
        if self.hparams.policy_trials and verdict is None and self.objective.kept_ops is not None:
            self._settle_by_trials()

    def _settle_by_trials(self) -> None:
        """The verdict was just given: train a copy of the model under each candidate policy and keep the screen's,
        or a candidate clearly better on the held-out split (:mod:`augmeta.lightning.policy_trials`)."""
        data = getattr(self.trainer, "datamodule", None)
        if data is None or not hasattr(data, "meta_dataloader"):
            raise ConfigurationError(
                "`policy_trials` needs an AugDataModule (or a data module with `train_dataloader()['train']` and "
                f"`meta_dataloader()`) to draw its trial batches from, but the trainer has "
                f"{type(data).__name__ if data is not None else 'no data module (loaders passed to fit?)'}."
            )
        candidates = self.objective.candidates(self.meta, self.hparams.trial_ops)
        policies = []
        for _, kept, reference in candidates:
            policy = copy.deepcopy(self.meta)
            self.objective.move_to(policy, self.objective.candidate_target(self.meta, kept, reference), 1.0)
            policies.append(policy)
        # each trial is the rest of the run in brief: the schedule from here to its end over ``steps`` steps, so
        # that a copy is judged where the run would end with its policy, at a low learning rate
        start, total = self.base_steps, self.total_steps
        steps = max(1, round(self.hparams.policy_trials * total))

        def at(step: int) -> int:  # the run's step that a trial's ``step`` stands for
            return start + 1 + (total - start - 1) * step // steps

        optimizers = self.optimizers()
        base = optimizers[0] if isinstance(optimizers, list) else optimizers

        def prepare(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            # what a training batch goes through before the policy: the run's own hook (crop and flip)
            return self.on_after_batch_transfer({"train": (images.to(self.device), labels.to(self.device))}, 0)["train"]

        def held_out():  # the held-out batches as the run's hook hands them over (float, on the device)
            for images, labels in data.meta_dataloader():
                yield self.on_after_batch_transfer((images.to(self.device), labels.to(self.device)), 0)

        incumbent = [name for name, _, _ in candidates].index("screen")
        scores = trial_losses(
            self.model,
            getattr(base, "optimizer", base),
            policies,
            lambda: data.train_dataloader()["train"],
            prepare,
            held_out,
            steps,
            lambda step: one_cycle_factor(at(step), total),
            self.criterion,
            average=self._averaged if self._world()[0] > 1 else None,
            augmenting=lambda step: at(step) < self.hparams.augment_until * total,
            reference=incumbent,
        )
        record = {
            name: [float(loss), float(gain), float(error)]
            for (name, _, _), loss, gain, error in zip(
                candidates, scores.losses, scores.gains, scores.errors, strict=True
            )
        }
        winner, kept, reference = candidates[chosen(scores, incumbent)]
        self.objective.settle(self.meta, kept, reference, record, winner)

    def _averaged(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of ``values`` over the processes."""
        values = values.to(self.device).clone()
        torch.distributed.all_reduce(values)
        return values / self._world()[0]

    def _loss_is_scaled(self) -> bool:
        """fp16 training scales the loss before backward, so the base step's gradients are not the loss's."""
        return self._trainer is not None and getattr(self.trainer.precision_plugin, "scaler", None) is not None

    def _parameter_grads(self) -> tuple[torch.Tensor, ...]:
        """The base step's ``grad_w`` of the training loss (before the optimiser's weight decay), copied."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        return tuple(torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params)

    # ----------------------------------------------------------------------------------------------- evaluation
    def _evaluate(self, batch, stage: str) -> None:
        images, labels = batch
        logits = self.model(images)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        metrics = {f"{stage}_loss": self.criterion(logits, labels), f"{stage}_acc": accuracy}
        self.log_dict(metrics, prog_bar=True, sync_dist=True)  # over every process's share under DDP

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    # ----------------------------------------------------------------------------------------------- the policy
    def on_train_epoch_end(self) -> None:
        if self.meta is not None:
            # the same in every process (one controller); sync_dist only says so to Lightning under DDP
            self.log_dict(self.policy_summary(), on_step=False, on_epoch=True, sync_dist=True)

    def on_train_end(self) -> None:
        """Say so when controller steps were skipped, when a learning controller moved only a few times (its
        policy is then near its start), and when it never moved: its policy is the start, whatever the run's
        length."""
        if self.skipped_controller_steps:
            rank_zero_warn(
                f"augmeta: {self.skipped_controller_steps} controller steps were skipped in this run for NaN or "
                "infinite values (the controller kept its parameters at each)."
            )
        if self.meta is None or not self._learns():
            return
        if 0 < self.controller_updates < FEW_CONTROLLER_UPDATES:
            rank_zero_warn(
                f"augmeta: the controller moved only {self.controller_updates} times in this run, so its policy is "
                "still near its start. Train for more epochs, or update it more often with `--model.meta_every 1`."
            )
        if getattr(self.objective, "moves", None) != 0:
            return
        seen = self.objective.seen
        probes = 0 if seen is None else int(seen.sum())
        cells = len(self.objective._probe_cells(self.meta)[0])
        rank_zero_warn(
            f"augmeta: the controller never moved in this run, so its policy is its start: objective "
            f"{self.hparams.objective!r} needs each of its {cells} (op, magnitude) cells probed "
            f"{self.objective.min_probes} times on held-out images, and this run made {probes} probes in all. "
            "Train for more epochs, or probe more often with `--model.meta_every 1`."
        )

    def _learns(self) -> bool:
        """Whether the controller is meant to move (not frozen by ``meta_lr`` 0 or an objective's ``rate`` 0)."""
        return self.hparams.meta_lr > 0.0 and getattr(self.objective, "rate", 1.0) > 0.0

    def _marginal_inputs(self, limit: int = 2048):
        """Features and labels of (up to ``limit``) training images, over which a class or adaptive controller's
        policy is averaged into one; None, None for a global one."""
        if self.meta is None or self.meta.mode == "global":
            return None, None
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is None or getattr(datamodule, "train_images", None) is None:
            raise ValueError(
                f"{self.meta.mode} mode needs the data module's `train_images` to export its marginal policy."
            )
        labels = datamodule.train_labels[:limit].to(self.device)
        if self.meta.mode == "class":
            return None, labels
        return image_features(_to_float(datamodule.train_images[:limit].to(self.device))), labels

    def policy_summary(self) -> dict[str, float]:
        """Probability of each op (averaged over steps and sub-policies) and its learned magnitude."""
        features, labels = self._marginal_inputs()
        sub_w, op_p, mags = self.meta.marginals(features, labels)
        probability = (op_p * sub_w[:, None, None]).sum(dim=0).mean(dim=0)
        magnitude = (mags * op_p * sub_w[:, None, None]).sum(dim=(0, 1)) / (op_p * sub_w[:, None, None]).sum(
            dim=(0, 1)
        ).clamp_min(1e-12)
        summary = {f"policy/p_{op}": float(probability[i]) for i, op in enumerate(self.meta.ops)}
        with_magnitude = [i for i, op in enumerate(self.meta.ops) if OPS[op].default_range is not None]
        summary.update({f"policy/m_{self.meta.ops[i]}": float(magnitude[i]) for i in with_magnitude})
        return summary

    def current_policy(self, name: str | None = None) -> Policy:
        """The policy the meta-network has learned so far (or the fixed policy)."""
        if self.meta is None:
            if self.fixed_policy is None:
                raise ValueError("`policy='none'` trains without augmentation: there is no policy to export.")
            return self.fixed_policy
        features, labels = self._marginal_inputs()
        notes = f"epoch {self.current_epoch}, {self.base_steps} base steps"
        if self.hparams.augment_until < 1.0:
            notes += f"; applied to the first {self.hparams.augment_until:.0%} of the training steps (augment_until)"
        if self.augment_from > 0.0:
            notes += f"; not applied to the first {self.augment_from:.0%} (augment_from)"
        if getattr(self.objective, "trial_winner", None):
            trials = self.hparams.policy_trials
            notes += f"; held-out trials ({trials:g} of the run each) kept {self.objective.trial_winner!r}"
        provenance = {"notes": notes}
        logged = self._trainer.callback_metrics if self._trainer is not None else {}
        provenance["metrics"] = {k: float(v) for k, v in logged.items() if k.startswith(("val_", "train_"))}
        learned_on = self._learned_on()
        if learned_on is not None:
            provenance["learned_on"] = learned_on
        return self.meta.to_policy(name or "learned", features, labels, provenance=provenance)

    def _learned_on(self) -> dict | None:
        """The data set, channels and image size of the data module's training images (None without one)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        try:
            images = datamodule.train_images if datamodule is not None else None
        except RuntimeError:  # its splits are not made yet
            return None
        if images is None:
            return None
        name = str(getattr(datamodule, "dataset", type(datamodule).__name__))
        return {"dataset": name, "channels": int(images.shape[1]), "image_size": [*map(int, images.shape[-2:])]}

    def meta_tree(self, name: str = "meta_tree", limit: int = 4096, **settings) -> MetaTree | None:
        """The meta-tree distilled from a ``class`` or ``adaptive`` controller over (up to ``limit``) training
        images of the data module, its fidelity measured on the validation images; None for a global controller or
        a fixed policy. ``settings``: :func:`augmeta.meta.fit_meta_tree`'s ``max_depth``, ``max_leaves``,
        ``min_samples_leaf``."""
        if self.meta is None or self.meta.mode == "global":
            return None
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is None or getattr(datamodule, "train_images", None) is None:
            raise ValueError(f"{self.meta.mode} mode needs the data module's images to distil its meta-tree.")
        provenance = {"notes": f"epoch {self.current_epoch}, {self.base_steps} base steps"}
        return fit_meta_tree(
            self.meta,
            datamodule.train_images[:limit],
            datamodule.train_labels[:limit],
            datamodule.val_images[:limit],
            datamodule.val_labels[:limit],
            name=name,
            provenance=provenance,
            **settings,
        )

    # ------------------------------------------------------------------------------------------- resumable state
    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path,
        map_location=None,
        hparams_file=None,
        strict: bool | None = None,
        weights_only: bool | None = None,
        **kwargs,
    ) -> AugMetaModule:
        """Lightning's ``load_from_checkpoint``, always with ``weights_only=True`` (URLs included), so that loading
        a tampered checkpoint cannot run code; ``weights_only=False`` is refused."""
        require_weights_only(weights_only)
        return super().load_from_checkpoint(
            checkpoint_path, map_location, hparams_file, strict, weights_only=True, **kwargs
        )

    # ------------------------------------------------------------------------------------ processes and resuming
    def setup(self, stage: str) -> None:
        """Under DDP, each process draws its own augmentations: its RNG is offset by its rank (after the model and
        controller were made alike in every process, before a checkpoint's own RNG states are restored)."""
        trainer = self._trainer
        if stage == "fit" and trainer is not None and trainer.world_size > 1:
            if self.meta is not None and not self.objective.pulls_controller:
                raise ConfigurationError(
                    f"`objective` should be 'affinity' (or the policy a fixed one) under DDP ({trainer.world_size} "
                    f"processes), but got {self.hparams.objective!r}: its controller steps backpropagate outside "
                    "DDP's gradient reduction, so they do not run there yet. Use one device for it."
                )
            seed = (torch.initial_seed() + 1_000_003 * trainer.global_rank) % 2**63
            torch.manual_seed(seed)
            random.seed(seed)

    def _world(self) -> tuple[int, int]:
        trainer = self._trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """The step count and the RNG states, every process's under DDP (this hook runs in each), so that a resumed
        run draws what the uninterrupted one would have."""
        world, _ = self._world()
        torch_rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        if world > 1:
            torch_rng = self._gathered(torch_rng, world)
            cuda_rng = self._gathered(cuda_rng, world) if cuda_rng is not None else None
        elif cuda_rng is not None:
            cuda_rng = [cuda_rng]
        checkpoint["augmeta_state"] = {
            "base_steps": self.base_steps,
            "controller_updates": self.controller_updates,
            "world_size": world,
            "torch_rng": torch_rng,
            "cuda_rng": cuda_rng if cuda_rng is not None else [],
            "python_rng": random.getstate(),
        }

    def _gathered(self, state: torch.Tensor, world: int) -> list[torch.Tensor]:
        """Every process's ``state`` (a uint8 RNG state), gathered through this process's device."""
        local = state.to(self.device)
        parts = [torch.empty_like(local) for _ in range(world)]
        torch.distributed.all_gather(parts, local)
        return [part.cpu() for part in parts]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("augmeta_state")
        if state is None:
            return
        self.base_steps = int(state["base_steps"])
        self.controller_updates = int(state.get("controller_updates", 0))
        world, rank = self._world()
        saved_world = int(state.get("world_size", 1))
        torch_rng, cuda_rng = state["torch_rng"], state["cuda_rng"]
        if saved_world != world:
            rank_zero_warn(
                f"augmeta: this checkpoint was written by {saved_world} processes and is resumed by {world}: the run "
                "goes on, but its augmentations are not the ones the uninterrupted run would have drawn."
            )
            rank = 0
        if isinstance(torch_rng, list):  # one per process (or a one-element list)
            torch_rng = torch_rng[min(rank, len(torch_rng) - 1)]
        torch.set_rng_state(torch_rng)
        if cuda_rng and torch.cuda.is_available():
            if isinstance(cuda_rng, list) and len(cuda_rng) and isinstance(cuda_rng[0], torch.Tensor):
                device = self.device if self.device.type == "cuda" else torch.device("cuda")
                torch.cuda.set_rng_state(cuda_rng[min(rank, len(cuda_rng) - 1)], device)
        if saved_world != world:
            self.setup("fit")  # a fresh offset per process
        random.setstate(state["python_rng"])


def one_cycle_factor(step: int, total: int, warmup_fraction: float = 0.25) -> float:
    """One-cycle learning-rate factor: cosine warm-up from 1/25 over the first quarter, cosine decay to 1e-4."""
    start, end = 1.0 / 25.0, 1e-4
    warmup = max(1, round(warmup_fraction * total))
    if step < warmup:
        return start + (1.0 - start) * (1.0 - math.cos(math.pi * step / warmup)) / 2.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return end + (1.0 - end) * (1.0 + math.cos(math.pi * progress)) / 2.0


def _to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images
