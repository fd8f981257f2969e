"""The affinity objective: the controller learns which ops, and how strong, the model can take on held-out images.

At every controller step the model, in evaluation mode and without gradients, classifies a batch of held-out images
twice: clean, and with each image given one probe, an (op, magnitude) cell of the controller's op set and ranges.
The relative drop of the true class's probability, summed over every probe of a cell so far with an exponential
forgetting, is the cell's cost, so each step adds a few images per cell and the estimate averages thousands over a run.
This is affinity (Gontijo-Lopes et al., ICLR 2021) and the density matching of Fast AutoAugment (Lim et al.,
NeurIPS 2019): an op whose images the model cannot read is one the data never holds (a vertical flip of upright
items, an inversion of dark-on-light digits) or one that changes the label (a rotation past an upside-down boundary).

The target policy keeps each op up to the largest probed magnitude whose cost, and every smaller one's, is at most
``tolerance``, weights the kept ops by how much they change the images there (their diversity, as the affinity
paper pairs with affinity), and augments a fraction ``augment_probability`` of the images per step. Each controller
step moves the meta-network's parameters a fraction ``rate`` of the way to that target (an exponential average of
targets, so a single noisy estimate cannot throw it); no gradient flows through the model, and the controller's
optimiser is not used.

In ``class`` mode each class keeps its own ops and ranges from its own probes, with two guards a per-class screen
needs. A cell passes for a class only if the probed images of every class do not read as that class much more often
than clean images do (``max_leak``): a model unsure of images it never saw (inverted digits) calls them all one
class, and that class would otherwise keep the op, learn it as a cue of its label and keep it ever after. And a kept
op's change is the mean over the magnitudes the policy draws (``drawn_change``), so an op kept over its whole range
(a turn of a class whose images lie at every angle) outweighs ops kept at a sliver of theirs.

The screen ranks nothing by usefulness: it keeps what the model can read, not what helps it. Where a run can afford
held-out trials (``AugMetaModule(policy_trials=...)``), the verdict at the burn-in's end is the winner of a few
candidates (:meth:`AffinityObjective.candidates`: no augmentation, the screen's policy, and its leading ops alone),
each trained on a copy of the model and judged by its held-out loss; :meth:`AffinityObjective.settle` keeps it.
"""

from __future__ import annotations

import torch
from torch import nn

from augmeta.meta.network import MetaNetwork
from augmeta.meta.objective_protocol import MetaObjective
from augmeta.ops import OPS, device_constant
from augmeta.policy import OP_NAMES, StepDraw, apply_step

__all__ = ["PRIOR_PROBES", "AffinityObjective"]

#: Per class, the probes' worth of all classes' rate each class's cost starts from (:meth:`AffinityObjective.costs`).
PRIOR_PROBES = 2.0
#: Per registered op (by index into :data:`OP_NAMES`), whether it is geometric (a warp its value negated undoes).
_GEOMETRIC = tuple(OPS[name].kind == "geometric" for name in OP_NAMES)
_IDENTITY = OP_NAMES.index("identity")


def _processes() -> int:
    """How many processes train together (DDP's world size; 1 without a process group)."""
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return torch.distributed.get_world_size() if distributed else 1


class AffinityObjective(nn.Module, MetaObjective):
    """Pull the controller towards the policy of the largest changes the model tolerates on held-out images.

    Args:
        levels: magnitudes probed per op with a magnitude, halving from 1: ``2 ** (k - levels)`` for k = 1..levels
            (4: 1/8, 1/4, 1/2, 1), finer where a bounded range ends (rotations past an upside-down boundary).
        tolerance: the largest relative drop of the true class's probability an (op, magnitude) may cost.
        augment_probability: the target's probability that a step applies an op other than ``identity``.
        forgetting: per controller step, the weight of what earlier steps measured (recent models count more); 0:
            0.95 for a global controller, 0.99375 for one in ``class`` mode (its probes are shared among the
            classes, so each class's costs average over a longer stretch of the run).
        min_probes: images a cell needs before there is a target; until every cell has them nothing moves.
        rate: the fraction of the way to the target the controller moves per controller step (0: it stays at its
            start, the frozen-start ablation).
        weighting: how the kept ops share ``augment_probability``: ``diversity`` (by how much each changes the
            images at its kept magnitude) or ``invariance`` (the same, times the share of the tolerance it leaves
            unused: an op the data already varies by costs nothing and gets the most).
        grow: once the policy is on, keep probing and let the kept ops' ranges grow as far as the model tolerates
            (:meth:`pull`); False: the burn-in's policy stays as it is.
        readmit: while growing, an op the burn-in dropped comes back once the model, trained with the kept ops,
            tolerates one of its magnitudes (with ``contiguous``, its smallest): an op whose images it could not read
            yet, not one it never will.
        probes: cells probed per held-out image at each controller step (each a forward pass of the batch); 0:
            1 for a global controller, 2 for one in ``class`` mode, whose every class needs its own probes.
        measure: what a probe compares on an image, clean and probed: ``probability`` (of the true class) or
            ``accuracy`` (whether the model's choice is the true class, as the affinity paper measures): the cost is
            its relative drop, summed over the cell's probes.
        averaged: judge keeping an op up to a magnitude by the mean cost of the magnitudes the policy then draws
            (uniform from 0 to it, where the controller samples magnitudes so; the cost read linearly between the
            probed levels, from none at 0), not by the cost of that largest magnitude alone.
        reference: what a probed image is compared with: the ``clean`` image, or for a geometric op the
            ``resampled`` one (the op and then its inverse: the same resampling, twice, and no change of pose), so
            that a turn or a shear is judged by what it changes, not by the blur of resampling a small image, which
            a model trained with it learns to read (other ops are compared with the clean image either way).
        contiguous: False (the default): an op is kept up to its largest tolerated level, whatever the levels
            below it cost, so a pose the data holds is kept even where the sizes between it and none blur a small
            image (a turn of 90 or 180 degrees moves pixels exactly; those between resample them, which costs a
            model that never saw such blur and which a model trained with the op learns to read). True: up to the
            largest of its *leading* tolerated levels only (a magnitude is kept only if every smaller one is).
        max_leak: ``class`` mode: a cell passes for a class only if its probed images, of all classes, read as that
            class (the model's mean probability of it) at most this many times as often as clean images do; above
            it the op's images carry a cue of the class that is not the class's content. 0: no such check.
        drawn_change: ``class`` mode: weight a kept op by its change averaged over the magnitudes the policy draws
            (uniform from 0 to the kept one, where the controller samples magnitudes so; read linearly between the
            probed levels) rather than at the kept magnitude alone. A global controller always weighs the kept
            magnitude's change (its weighting was chosen on the global tasks, before this option).
    """

    #: the module calls :meth:`pull` at a controller step instead of descending along an image gradient
    pulls_controller = True

    def __init__(
        self,
        levels: int = 5,
        tolerance: float = 0.05,
        augment_probability: float = 0.5,
        forgetting: float = 0.0,
        min_probes: int = 8,
        rate: float = 0.2,
        weighting: str = "invariance",
        grow: bool = True,
        readmit: bool = False,
        probes: int = 0,
        averaged: bool = False,
        measure: str = "probability",
        reference: str = "clean",
        contiguous: bool = False,
        max_leak: float = 2.0,
        drawn_change: bool = True,
    ) -> None:
        for name, value, low, high in (
            ("tolerance", tolerance, 0.0, 1.0),
            ("augment_probability", augment_probability, 0.0, 1.0),
        ):
            if not low < value <= high:
                raise ValueError(f"`{name}` should be in ({low}, {high}], but got {value!r} instead.")
        if not 0.0 <= forgetting <= 1.0:
            raise ValueError(
                f"`forgetting` should be in [0.0, 1.0] (0: chosen by the mode), but got {forgetting!r} instead."
            )
        if measure not in ("probability", "accuracy"):
            raise ValueError(f"`measure` should be 'probability' or 'accuracy', but got {measure!r} instead.")
        self.measure = measure
        if reference not in ("clean", "resampled"):
            raise ValueError(f"`reference` should be 'clean' or 'resampled', but got {reference!r} instead.")
        self.reference = reference
        if weighting not in ("diversity", "invariance"):
            raise ValueError(f"`weighting` should be 'diversity' or 'invariance', but got {weighting!r} instead.")
        self.weighting, self.grow, self.readmit, self.averaged = weighting, grow, readmit, averaged
        if not isinstance(contiguous, bool):
            raise ValueError(f"`contiguous` should be True or False, but got {contiguous!r} instead.")
        self.contiguous = contiguous
        number = isinstance(max_leak, (int, float)) and not isinstance(max_leak, bool)
        if not (number and (max_leak == 0 or 1.0 <= max_leak < float("inf"))):
            raise ValueError(f"`max_leak` should be 0 (no check) or a number >= 1, but got {max_leak!r} instead.")
        if not isinstance(drawn_change, bool):
            raise ValueError(f"`drawn_change` should be True or False, but got {drawn_change!r} instead.")
        self.max_leak, self.drawn_change = float(max_leak), drawn_change
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"`rate` should be in [0, 1] (0: the controller never moves), but got {rate!r} instead.")
        for name, value in (("levels", levels), ("min_probes", min_probes)):
            if type(value) is not int or value < 1:
                raise ValueError(f"`{name}` should be an integer >= 1, but got {value!r} instead.")
        if type(probes) is not int or probes < 0:
            raise ValueError(f"`probes` should be an integer >= 0 (0: chosen by the mode), but got {probes!r} instead.")
        super().__init__()
        self.levels, self.tolerance, self.augment_probability = levels, tolerance, augment_probability
        self.forgetting, self.min_probes, self.rate, self.probes = forgetting, min_probes, rate, probes
        self._cells: tuple[list[int], list[float]] | None = None
        self._table_cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self.clean_sum = self.probed_sum = self.change_sum = self.count = self.seen = None
        #: ``class`` mode with ``max_leak``: per cell, the summed class probabilities of its probed images
        #: ``[cells, classes]``, and of the clean images with their count ``[classes + 1]`` (:meth:`leaks`)
        self.read_sum = self.clean_read = None
        self.kept_ops = self.floor = None  # the burn-in's verdict, fixed when the policy starts (:meth:`pull`)
        #: also measure every probe against the other reference (``other_sum``), so that trials can take their
        #: single-op candidates from the resampled screen (:meth:`candidates`); the module sets it for trials
        self.both_references = False
        self.other_sum = None
        self.moves = 0  # pulls that moved the controller
        # where trials chose the verdict (:meth:`settle`): per candidate, [held-out loss, gain over the screen's
        # policy, its standard error]
        self.trial_losses = None
        self.trial_winner = None  # the candidate the trials kept (its name)

    def image_gradient(self, *args, **kwargs) -> torch.Tensor:
        raise NotImplementedError("the affinity objective moves the controller with `pull`, not an image gradient.")

    _STATE = (
        "clean_sum", "probed_sum", "change_sum", "count", "seen", "kept_ops", "floor", "other_sum", "read_sum",
        "clean_read",
    )  # fmt: skip

    def get_extra_state(self) -> dict:
        """What the probes measured so far, so that a resumed run continues from it (tensors: ``weights_only``)."""
        state = {name: getattr(self, name) for name in self._STATE if getattr(self, name) is not None}
        trials = {"trial_losses": self.trial_losses, "trial_winner": self.trial_winner}
        return {**state, "moves": self.moves, **trials, "reference": self.reference}

    def set_extra_state(self, state: dict) -> None:
        for name in self._STATE:
            setattr(self, name, state.get(name))
        self.moves = int(state.get("moves", 0))
        reference, winner = state.get("reference", self.reference), state.get("trial_winner")
        if reference not in ("clean", "resampled"):  # trials may have chosen the other; a file says which
            raise ValueError(
                f"the checkpoint's affinity state `reference` should be 'clean' or 'resampled', but got "
                f"{str(reference)[:80]!r} instead."
            )
        if winner is not None and not (winner in ("", "none", "screen") or winner.removeprefix("only_") in OPS):
            raise ValueError(
                "the checkpoint's affinity state `trial_winner` should be 'none', 'screen' or 'only_<op>' with an op "
                f"from {sorted(OPS)}, but got {str(winner)[:80]!r} instead."
            )
        self.reference, self.trial_losses, self.trial_winner = reference, state.get("trial_losses"), winner

    # ------------------------------------------------------------------------------------------------ the probes
    def _probe_cells(self, meta: MetaNetwork) -> tuple[list[int], list[float]]:
        """(op index in ``meta.ops``, magnitude) per cell: every op but identity; ops with a magnitude at each level."""
        if self._cells is None:
            ops, magnitudes = [], []
            for index, name in enumerate(meta.ops):
                if name == "identity":
                    continue
                steps = (
                    [2.0 ** (k - self.levels) for k in range(1, self.levels + 1)] if OPS[name].has_magnitude else [0.0]
                )
                ops += [index] * len(steps)
                magnitudes += steps
            self._cells = (ops, magnitudes)
        return self._cells

    def _table(self, meta: MetaNetwork, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``[n, levels]`` cell index of each op's probes in level order (-1 where the op has fewer), and the
        probed magnitudes in the same layout; made once per device."""
        if self._table_cache is None or self._table_cache[0].device != device:
            ops, magnitudes = self._probe_cells(meta)
            cells = torch.full((len(meta.ops), self.levels), -1, dtype=torch.long)
            levels = torch.zeros(len(meta.ops), self.levels)
            for cell, (op, magnitude) in enumerate(zip(ops, magnitudes, strict=True)):
                slot = int((cells[op] >= 0).sum())
                cells[op, slot], levels[op, slot] = cell, magnitude
            self._table_cache = (cells.to(device), levels.to(device))
        return self._table_cache

    @torch.no_grad()
    def observe(self, meta: MetaNetwork, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> bool:
        """Probe every cell on a share of the float ``[B, C, H, W]`` held-out ``images`` and accumulate the costs
        (per cell; per class and cell for a controller in ``class`` mode). False, and nothing accumulated, when the
        model's outputs were not finite (one host sync)."""
        device, cells = images.device, len(self._probe_cells(meta)[0])
        if self.count is None:
            shape = (meta.num_classes, cells) if meta.mode == "class" else (cells,)
            state = (torch.zeros(shape, device=device) for _ in range(5))
            self.clean_sum, self.probed_sum, self.change_sum, self.count, self.seen = state
            self.other_sum = torch.zeros_like(self.count) if self.both_references else None
        elif self.count.device != device:  # restored from a checkpoint on another device
            for name in self._STATE:
                if getattr(self, name) is not None:
                    setattr(self, name, getattr(self, name).to(device))
        if self._tracks_reads(meta) and self.read_sum is None:  # first probes, or a checkpoint from before it
            self.read_sum = torch.zeros(cells, meta.num_classes, device=device)
            self.clean_read = torch.zeros(meta.num_classes + 1, device=device)
        repeats = self.probes or (2 if meta.mode == "class" else 1)
        forgetting = self._forgetting(meta)
        clean_images, clean_labels = images, labels
        images, labels = images.repeat(repeats, 1, 1, 1), labels.repeat(repeats)
        batch = images.shape[0]
        cell = torch.randperm(cells, device=device).repeat(batch // cells + 1)[:batch]
        table, levels = self._table(meta, device)
        op = torch.arange(len(meta.ops), device=device).repeat_interleave((table >= 0).sum(dim=1))[cell]
        magnitude = levels[table >= 0][cell].to(images.dtype)
        sign = torch.where(meta.signed[op] & (torch.rand(batch, device=device) < 0.5), -1.0, 1.0).to(images.dtype)
        value = (meta.range_lo[op] + magnitude * (meta.range_hi[op] - meta.range_lo[op])).to(images.dtype) * sign
        draw = StepDraw(meta.op_index[op], magnitude, value, torch.rand(batch, 2, device=device, dtype=images.dtype))
        augmented = apply_step(images, draw, (0.0,), meta.interpolation, ops=meta.ops)
        scores = {}  # per reference measured: the score of the image each probe is compared with
        was_training = model.training
        model.eval()
        try:
            if self.reference == "clean" or self.other_sum is not None or self.read_sum is not None:
                clean_logits = model(clean_images).float()
                scores["clean"] = self._score(clean_logits, clean_labels).repeat(repeats)
            if self.reference == "resampled" or self.other_sum is not None:
                resampled = self._resampled(meta, images, augmented, draw)
                scores["resampled"] = self._score(model(resampled).float(), labels)
            probed_logits = model(augmented).float()
            probed = self._score(probed_logits, labels)
        finally:
            model.train(was_training)
        clean = scores[self.reference]
        change = (augmented - images).abs().flatten(1).mean(dim=1).float()
        slot = cell + labels.long() * cells if self.count.dim() == 2 else cell  # the (class, cell) of each probe
        totals = [self.clean_sum, self.probed_sum, self.change_sum, self.count]
        samples = [clean, probed, change, torch.ones_like(clean)]
        if self.other_sum is not None:
            totals.append(self.other_sum)
            samples.append(scores[self._other_reference()])
        bad = sum((~torch.isfinite(sample)).sum() for sample in samples)
        reads = None
        if self.read_sum is not None:  # per cell, how often its probed images read as each class; clean likewise
            probed_reads = torch.zeros_like(self.read_sum).index_add_(0, cell, torch.softmax(probed_logits, dim=1))
            clean_reads = torch.softmax(clean_logits, dim=1).sum(dim=0)
            count = torch.full((1,), float(clean_logits.shape[0]), device=device)
            reads = torch.cat((probed_reads.view(-1), clean_reads, count))
            bad = bad + (~torch.isfinite(reads)).sum()
        if _processes() > 1:  # DDP: every process adds what all measured, so all controllers stay the same
            increments = torch.zeros(len(totals), self.count.numel() + 1, device=device)
            for row, sample in zip(increments, samples, strict=True):
                row[:-1].index_add_(0, slot, torch.nan_to_num(sample))
            increments[0, -1] = bad
            if reads is None:
                torch.distributed.all_reduce(increments)
            else:  # one collective for both
                flat = torch.cat((increments.view(-1), torch.nan_to_num(reads)))
                torch.distributed.all_reduce(flat)
                increments, reads = flat[: increments.numel()].view_as(increments), flat[increments.numel() :]
            if bool(increments[0, -1] > 0):  # one host sync
                return False
            for total, row in zip(totals, increments, strict=True):
                total.mul_(forgetting).view(-1).add_(row[:-1])
            self.seen.view(-1).add_(increments[3, :-1])  # the count's row
            self._add_reads(reads, forgetting)
            return True
        if bool(bad > 0):  # one host sync
            return False
        for total, sample in zip(totals, samples, strict=True):
            total.mul_(forgetting).view(-1).index_add_(0, slot, sample)
        self.seen.view(-1).index_add_(0, slot, torch.ones_like(clean))
        self._add_reads(reads, forgetting)
        return True

    def _tracks_reads(self, meta: MetaNetwork) -> bool:
        """Whether the probes keep what every probed image reads as (``class`` mode with ``max_leak``)."""
        return meta.mode == "class" and self.max_leak > 0

    def _forgetting(self, meta: MetaNetwork) -> float:
        """The weight per controller step of what earlier steps measured: ``forgetting``, or the mode's own."""
        return self.forgetting or (0.99375 if meta.mode == "class" else 0.95)

    def _add_reads(self, reads: torch.Tensor | None, forgetting: float) -> None:
        """Fold one step's reads (:meth:`observe`) into :attr:`read_sum` and :attr:`clean_read`, forgetting as the
        costs do."""
        if reads is None:
            return
        cells = self.read_sum.numel()
        self.read_sum.mul_(forgetting).view(-1).add_(reads[:cells])
        self.clean_read.mul_(forgetting).add_(reads[cells:])

    def _resampled(
        self, meta: MetaNetwork, images: torch.Tensor, augmented: torch.Tensor, draw: StepDraw
    ) -> torch.Tensor:
        """Where a probe's op is geometric, the probed image taken back by its inverse (the op at its value negated:
        every geometric op's inverse); elsewhere the clean image."""
        geometric = device_constant(_GEOMETRIC, torch.bool, augmented.device).index_select(0, draw.op)
        back = StepDraw(torch.where(geometric, draw.op, _IDENTITY), draw.magnitude, -draw.value, draw.position)
        restored = apply_step(augmented, back, (0.0,), meta.interpolation, ops=meta.ops)
        return torch.where(geometric[:, None, None, None], restored, images)

    def _score(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per image, what the probes compare: the true class's probability, or 1 where the model's choice is right
        (``measure``)."""
        if self.measure == "accuracy":
            return (logits.argmax(dim=1) == labels).float() + 0.0 * logits[:, 0]  # NaN logits stay NaN
        return torch.softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)

    def _other_reference(self) -> str:
        return "clean" if self.reference == "resampled" else "resampled"

    def costs(self, other: bool = False) -> torch.Tensor:
        """Per cell, the relative drop of the true class's probability: ``1 - sum(probed) / sum(clean)``, against
        the ``reference`` (``other``: against the other one, where :attr:`both_references` measured it).

        Per class (``[classes, cells]``), each class's sums are shrunk towards the rate of all classes by
        :data:`PRIOR_PROBES` probes' worth, so a class probed once or twice reads mostly as the others do until
        its own probes say otherwise."""
        clean, probed = (self.other_sum if other else self.clean_sum), self.probed_sum
        if clean.dim() == 2:
            count = self.count.sum(dim=0).clamp_min(1e-12)
            clean = clean + PRIOR_PROBES * clean.sum(dim=0) / count
            probed = probed + PRIOR_PROBES * probed.sum(dim=0) / count
        return 1.0 - probed / clean.clamp_min(1e-12)

    def leaks(self) -> torch.Tensor:
        """Per class and cell ``[classes, cells]``: how many times as often the cell's probed images, of every
        class, read as the class (the model's mean probability of it) as clean images do. Inverted digits that a
        model reads as one class all alike leak into it; a turn of a class whose images lie at every angle barely
        does. Needs :attr:`read_sum` (``class`` mode with ``max_leak``)."""
        if self.read_sum is None:
            raise RuntimeError("`leaks` needs the reads of a class-mode controller with `max_leak`: probe first.")
        read = self.read_sum / self.count.sum(dim=0).clamp_min(1e-12)[:, None]  # [cells, classes]
        clean = self.clean_read[:-1] / self.clean_read[-1].clamp_min(1e-12)  # [classes]
        return (read / clean.clamp_min(1e-12)).t()

    # ------------------------------------------------------------------------------------------------ the target
    def target(self, meta: MetaNetwork, other: bool = False) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Target op probabilities and magnitudes over ``meta.ops``, ``[n]`` (``[classes, n]`` per class); None
        until every cell is probed (by all classes together). ``other``: from the costs against the other reference
        (:meth:`costs`)."""
        return self._target(meta, other, self.kept_ops, self.floor)

    def _target(
        self, meta: MetaNetwork, other: bool, kept_ops: torch.Tensor | None, floor: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """:meth:`target` with the verdict's ops and magnitudes given (None: no verdict yet)."""
        if self.seen is None:
            return None
        per_class = self.seen.dim() == 2
        seen = self.seen.sum(dim=0) if per_class else self.seen
        if bool((seen < self.min_probes).any()):  # one host sync per controller step
            return None
        table, levels = self._table(meta, self.count.device)
        padded = table.clamp_min(0)
        cost = self.costs(other)
        cost = cost[:, padded] if per_class else cost[padded][None]  # [G, n, levels]
        change_sum, count = (
            (self.change_sum.sum(dim=0), self.count.sum(dim=0)) if per_class else (self.change_sum, self.count)
        )
        change = (change_sum / count.clamp_min(1e-12))[padded].expand_as(cost)  # what an op does is the same for all
        valid = (table >= 0).expand_as(cost)
        if self.averaged and meta.magnitude_sampling == "uniform":
            cost = self._averaged(cost, levels.expand_as(cost))
        passed = cost <= self.tolerance
        if per_class and self.read_sum is not None and self.max_leak > 0:  # no reads yet: no leak
            passed = passed & (self.leaks()[:, padded] <= self.max_leak)
        passed = (passed & valid).long()
        if self.contiguous:
            tolerated = passed.cumprod(dim=-1).sum(dim=-1)  # leading levels, [G, n]
        else:  # the number of levels up to the largest tolerated one
            tolerated = (passed * torch.arange(1, passed.shape[-1] + 1, device=passed.device)).amax(dim=-1)
        last = (tolerated - 1).clamp_min(0)[..., None]
        kept = tolerated > 0
        if kept_ops is not None:  # growing: the burn-in's ops, never below the burn-in's magnitudes
            kept = (kept_ops.view_as(kept) | kept) if self.readmit else kept_ops.view_as(kept)
        slack = 1.0 - cost.gather(-1, last).squeeze(-1).clamp_min(0.0) / self.tolerance
        if per_class and self.drawn_change and meta.magnitude_sampling == "uniform":  # what the draws change
            change = self._averaged(change, levels.expand_as(cost))
        weight = change.gather(-1, last).squeeze(-1) * (slack if self.weighting == "invariance" else 1.0)
        weight = torch.where(kept, weight.clamp_min(1e-6), torch.zeros_like(weight))
        kept_magnitude = levels.expand_as(cost).gather(-1, last).squeeze(-1)
        kept_magnitude = torch.where(kept, kept_magnitude, torch.zeros_like(weight))
        if floor is not None:
            kept_magnitude = torch.maximum(kept_magnitude, floor.view_as(kept_magnitude))
        identity = torch.nn.functional.one_hot(torch.tensor(meta.ops.index("identity")), len(meta.ops))
        identity = identity.to(weight.device, weight.dtype)
        total = weight.sum(dim=-1, keepdim=True)
        augmenting = self.augment_probability * weight / total.clamp_min(1e-12)
        share = torch.where(total > 0, 1.0 - self.augment_probability, torch.ones_like(total))
        probabilities = augmenting + share * identity
        if per_class:
            return probabilities, kept_magnitude
        return probabilities[0], kept_magnitude[0]

    @staticmethod
    def _averaged(values: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """Per level, the mean of ``values`` (costs or changes) over magnitudes uniform from 0 to it: the trapezoids
        of them read linearly between the probed levels from none at 0, over the level (an op without a magnitude
        keeps its value)."""
        zero = torch.zeros_like(values[..., :1])
        below, below_values = torch.cat((zero, levels[..., :-1]), -1), torch.cat((zero, values[..., :-1]), -1)
        area = ((levels - below) * (values + below_values) / 2).cumsum(dim=-1)
        return torch.where(levels > 0, area / levels.clamp_min(1e-12), values)

    @torch.no_grad()
    def pull(
        self,
        meta: MetaNetwork,
        model: nn.Module,
        images: torch.Tensor,
        labels: torch.Tensor,
        policy_on: bool = False,
    ) -> bool:
        """Probe on the held-out ``images`` (float ``[B, C, H, W]``) and move ``meta`` a fraction ``rate`` of the way
        to the target: op logits towards the target's log-probabilities, magnitudes (as logits) towards its
        magnitudes, in every sub-policy and step. Nothing moves until every cell has been probed.

        With ``policy_on`` (the module applies the policy now: the burn-in is over) and ``grow``, the burn-in's
        verdict is kept: the ops it dropped stay dropped, and a kept op's magnitude may only grow, as far as the
        model, now trained with it, tolerates (an invariance it learns widens its range, a label boundary stops
        it). Without ``grow`` nothing moves once the policy is on. A burn-in too short to probe every cell
        ``min_probes`` times gives its verdict later, at the first pull that has them (:attr:`moves` counts the
        pulls that moved the controller, so a run can say that it never learned). Returns False when the model's
        outputs on the probes were not finite: the step is skipped, nothing measured or moved.
        """
        if policy_on and not self.grow and self.kept_ops is not None:
            return True
        if not self.observe(meta, model, images, labels):
            return False
        target = self.target(meta)
        if target is None:
            return True
        if policy_on and self.kept_ops is None:  # the verdict: at the burn-in's end, or later if its probes were few
            self.kept_ops, self.floor = self._verdict(target, meta), target[1]  # [n] or [classes, n]
        self.moves += 1
        self.move_to(meta, target, self.rate)
        return True

    def move_to(self, meta: MetaNetwork, target: tuple[torch.Tensor, torch.Tensor], rate: float) -> None:
        """Move ``meta`` a fraction ``rate`` of the way to ``target`` (op probabilities, magnitudes)."""
        probabilities, magnitudes = target
        log_q = torch.log(probabilities.clamp_min(1e-4)).to(meta.op_logits.dtype)
        log_q = log_q - log_q.mean(dim=-1, keepdim=True)
        kept = (probabilities > 1e-4) & (meta.range_lo != meta.range_hi)  # kept ops that have a magnitude
        goal = torch.logit(magnitudes.clamp(0.02, 0.98)).to(meta.magnitude_logits.dtype)
        if meta.mode == "class":  # [classes, n]: each class's offsets move its own table
            self._pull_classes(meta, log_q, goal, kept, rate)
            return
        logits = meta.op_logits - meta.op_logits.mean(dim=-1, keepdim=True)
        meta.op_logits.copy_(logits + rate * (log_q - logits))
        moved = meta.magnitude_logits + rate * (goal - meta.magnitude_logits)
        meta.magnitude_logits.copy_(torch.where(kept, moved, meta.magnitude_logits))

    # ------------------------------------------------------------------------------------------------ the trials
    def candidates(self, meta: MetaNetwork, single_ops: int) -> list[tuple[str, torch.Tensor, str]]:
        """The policies held-out trials compare once the verdict is in, as ``(name, kept ops, reference)`` (kept
        ops: a bool ``[n]`` over ``meta.ops``; reference: the costs its ranges come from, :meth:`costs`):

        - ``none``;
        - ``screen``, the verdict's own ops;
        - each of the ``single_ops`` ops with the largest share alone (``only_<op>``), at its kept range and the
          whole of ``augment_probability``, from the ``resampled`` screen where :attr:`both_references` measured it
          (it judges a turn by the turn, not by the blur of resampling it: rotated digits from a few hundred images
          need turns the clean screen drops).

        The screen finds what the model can read; a trial finds what helps it (a needed invariance, or nothing).
        """
        if self.kept_ops is None or self.kept_ops.dim() != 1:
            raise RuntimeError("`candidates` needs a global controller's verdict: call it once `pull` has given one.")
        empty = torch.zeros_like(self.kept_ops)
        found = [("none", empty, self.reference), ("screen", self.kept_ops.clone(), self.reference)]
        singles = "resampled" if self.other_sum is not None else self.reference
        screen = self._verdict(self.candidate_target(meta, None, singles), meta)
        probabilities, _ = self.candidate_target(meta, screen, singles)
        ranked = sorted(
            (index for index in range(len(meta.ops)) if bool(screen[index])),
            key=lambda index: -float(probabilities[index]),
        )
        for index in ranked[:single_ops]:
            alone = empty.clone()
            alone[index] = True
            found.append((f"only_{meta.ops[index]}", alone, singles))
        return found

    @staticmethod
    def _verdict(target: tuple[torch.Tensor, torch.Tensor], meta: MetaNetwork) -> torch.Tensor:
        """The ops a target keeps (identity aside)."""
        identity = torch.arange(len(meta.ops), device=target[0].device) == meta.ops.index("identity")
        return (target[0] > 1e-4) & ~identity

    @torch.no_grad()
    def candidate_target(
        self, meta: MetaNetwork, kept: torch.Tensor | None, reference: str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The target policy were ``kept`` the verdict's ops (None: no verdict yet, the ops the costs tolerate), its
        ranges read off the costs against ``reference`` (None: the objective's own) as they stand now."""
        return self._target(meta, reference not in (None, self.reference), kept, None)

    @torch.no_grad()
    def settle(
        self, meta: MetaNetwork, kept: torch.Tensor, reference: str, record: dict[str, list[float]], winner: str = ""
    ) -> None:
        """Make ``kept`` the verdict, with ``reference`` the objective's from here on (the trials' winner; what
        they measured, by candidate name, is kept as :attr:`trial_losses`). Where the screen's own verdict won,
        nothing changes (the pulls go on moving the controller towards it at ``rate``); another winner is applied
        as it was tried: the controller moves all the way to its target at once. ``winner``: its name, for the
        record (:attr:`trial_winner`)."""
        if reference not in ("clean", "resampled"):
            raise ValueError(f"`reference` should be 'clean' or 'resampled', but got {reference!r} instead.")
        self.trial_losses, self.trial_winner = dict(record), winner
        kept = kept.to(self.kept_ops.device)
        if reference == self.reference and torch.equal(kept, self.kept_ops):
            return
        if reference != self.reference:
            if self.other_sum is None:
                raise ValueError(f"`reference` {reference!r} was not measured: set `both_references` before probing.")
            self.clean_sum, self.other_sum, self.reference = self.other_sum, self.clean_sum, reference
        target = self.candidate_target(meta, kept)
        self.kept_ops, self.floor = kept, target[1]
        self.move_to(meta, target, 1.0)

    def _pull_classes(
        self, meta: MetaNetwork, log_q: torch.Tensor, goal: torch.Tensor, kept: torch.Tensor, rate: float
    ) -> None:
        """Move each class's table (the shared one plus its offsets) towards its own target, by its offsets."""
        table = meta.adapter.table  # [classes, K + 2 * K * L * n]: sub-policy, op and magnitude offsets
        k, shape = meta.num_subpolicies, meta.op_logits.shape
        size = meta.op_logits.numel()
        ops = table[:, k : k + size].view(-1, *shape)
        mags = table[:, k + size :].view(-1, *shape)
        logits = meta.op_logits[None] + ops
        logits = logits - logits.mean(dim=-1, keepdim=True)
        moved = logits + rate * (log_q[:, None, None] - logits)
        ops.copy_(moved - meta.op_logits[None])
        current = meta.magnitude_logits[None] + mags
        moved = current + rate * (goal[:, None, None] - current)
        mags.copy_(torch.where(kept[:, None, None], moved, current) - meta.magnitude_logits[None])
