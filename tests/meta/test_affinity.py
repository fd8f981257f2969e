"""The affinity objective: costs measured on held-out images become a target policy the controller moves to."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from augmeta.meta import AffinityObjective, MetaNetwork, build_objective, objective_arguments
from augmeta.policy import OP_NAMES, StepDraw, apply_step

OPS = ["identity", "flip_y", "rotate", "brightness"]


def _objective(**settings) -> AffinityObjective:
    return AffinityObjective(levels=4, min_probes=1, **settings)


def _set_costs(objective: AffinityObjective, meta: MetaNetwork, costs: dict[str, list[float]], change: float = 0.1):
    """Pretend the probes measured ``costs`` per op (one per probed level)."""
    ops, _ = objective._probe_cells(meta)
    cost = torch.tensor([costs[meta.ops[op]][sum(o == op for o in ops[:c])] for c, op in enumerate(ops)])
    objective.clean_sum, objective.probed_sum = torch.ones_like(cost), 1.0 - cost
    objective.change_sum, objective.count, objective.seen = torch.full_like(cost, change), *torch.ones(2, len(cost))


def _class_costs(objective: AffinityObjective, cost: torch.Tensor, change: torch.Tensor) -> None:
    """Pretend many probes measured ``cost`` per class and cell and ``change`` per cell (so the shrinkage towards all
    classes is negligible)."""
    many = 1000.0
    classes, cells = cost.shape
    objective.clean_sum, objective.probed_sum = torch.full((classes, cells), many), many * (1.0 - cost)
    objective.change_sum = (many * change).expand(classes, cells).clone()
    objective.count = objective.seen = torch.full((classes, cells), many)


def test_the_target_drops_costly_ops_and_bounds_ranges():
    meta = MetaNetwork(ops=OPS, ranges={"rotate": [0.0, 180.0]})
    objective = _objective(tolerance=0.05, augment_probability=0.5, weighting="diversity")
    # flip_y costs too much; rotate is fine up to the second level (1/4 of 180: 45 degrees) only; brightness everywhere
    _set_costs(objective, meta, {"flip_y": [0.6], "rotate": [0.01, 0.04, 0.3, 0.5], "brightness": [0, 0, 0, 0.01]})
    probabilities, magnitudes = objective.target(meta)
    assert probabilities.tolist() == pytest.approx([0.5, 0.0, 0.25, 0.25])
    assert magnitudes.tolist() == pytest.approx([0.0, 0.0, 0.25, 1.0])


def test_invariance_weighting_favours_the_ops_that_cost_nothing():
    """rotate is kept at a cost of 0.04 of 0.05 (slack 0.2), brightness at 0.01 (slack 0.8): 1 to 4."""
    meta = MetaNetwork(ops=OPS)
    objective = _objective(tolerance=0.05, weighting="invariance")
    _set_costs(objective, meta, {"flip_y": [0.6], "rotate": [0.01, 0.04, 0.3, 0.5], "brightness": [0, 0, 0, 0.01]})
    probabilities, _ = objective.target(meta)
    assert probabilities.tolist() == pytest.approx([0.5, 0.0, 0.1, 0.4], abs=1e-6)


def test_with_contiguous_levels_a_costly_small_magnitude_drops_the_op_whatever_larger_ones_cost():
    meta = MetaNetwork(ops=OPS)
    objective = _objective(contiguous=True)
    _set_costs(objective, meta, {"flip_y": [0.0], "rotate": [0.2, 0.0, 0.0, 0.0], "brightness": [0.3, 0, 0, 0]})
    probabilities, _ = objective.target(meta)
    assert probabilities.tolist() == pytest.approx([0.5, 0.5, 0.0, 0.0])


def test_by_default_an_op_is_kept_up_to_its_largest_tolerated_level():
    """rotate fails at 1/8 and 1/4 (the blur of resampling) but passes at 1/2 and 1 (90 and 180 degrees, exact):
    kept at the whole range; brightness passes at 1/4 only, above a failed 1/8: kept at 1/4; flip_y still fails."""
    meta = MetaNetwork(ops=OPS, ranges={"rotate": [0.0, 180.0]})
    costs = {"flip_y": [0.6], "rotate": [0.2, 0.2, 0.0, 0.01], "brightness": [0.2, 0.04, 0.3, 0.5]}
    leading, gaps = _objective(weighting="diversity", contiguous=True), _objective(weighting="diversity")
    for objective in (leading, gaps):
        _set_costs(objective, meta, costs)
    assert leading.target(meta)[0].tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0])
    probabilities, magnitudes = gaps.target(meta)
    assert probabilities.tolist() == pytest.approx([0.5, 0.0, 0.25, 0.25])
    assert magnitudes.tolist() == pytest.approx([0.0, 0.0, 1.0, 0.25])
    with pytest.raises(ValueError, match=r"^`contiguous` should be True or False, but got 'no' instead\.$"):
        _objective(contiguous="no")


def test_averaged_judges_a_range_by_the_mean_cost_of_what_it_draws():
    """Levels 1/8, 1/4, 1/2, 1; rotate costs 0.08 at 1/8: above the tolerance alone, but the policy that keeps 1/8
    draws magnitudes uniform from 0, whose mean cost is 0.04; at 1/4 the mean is (1/8 * 0.04 + 1/8 * 0.09) / (1/4)."""
    meta = MetaNetwork(ops=OPS)
    costs = {"flip_y": [0.6], "rotate": [0.08, 0.10, 0.3, 0.5], "brightness": [0.2, 0.2, 0.2, 0.2]}
    level_rule, averaged = _objective(weighting="diversity"), _objective(weighting="diversity", averaged=True)
    for objective in (level_rule, averaged):
        _set_costs(objective, meta, costs)
    assert level_rule.target(meta)[0].tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0])  # nothing passes
    probabilities, magnitudes = averaged.target(meta)
    assert probabilities.tolist() == pytest.approx([0.5, 0.0, 0.5, 0.0])  # brightness: 0.1 mean cost at 1/8
    assert magnitudes.tolist() == pytest.approx([0.0, 0.0, 0.125, 0.0])  # 1/4 averages 0.065: over 0.05
    mean = AffinityObjective._averaged(torch.tensor([[0.08, 0.10, 0.3, 0.5]]), torch.tensor([[0.125, 0.25, 0.5, 1]]))
    assert mean[0, :2].tolist() == pytest.approx([0.04, 0.065])


def test_the_levels_halve_from_the_whole_range():
    meta = MetaNetwork(ops=OPS)
    ops, magnitudes = _objective()._probe_cells(meta)
    assert [meta.ops[op] for op in ops] == ["flip_y", *["rotate"] * 4, *["brightness"] * 4]
    assert magnitudes == [0.0, 0.125, 0.25, 0.5, 1.0, 0.125, 0.25, 0.5, 1.0]


def test_no_target_until_every_cell_is_probed():
    meta = MetaNetwork(ops=OPS)
    objective = AffinityObjective(levels=4, min_probes=3)
    assert objective.target(meta) is None
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    images, labels = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    before = meta.op_logits.detach().clone()
    objective.pull(meta, model, images, labels)  # 8 images over 9 cells: not enough
    assert objective.target(meta) is None and torch.equal(meta.op_logits, before)


def test_pull_moves_the_controller_towards_the_target():
    meta = MetaNetwork(ops=OPS, ranges={"rotate": [0.0, 180.0]})
    objective = _objective(rate=0.5, weighting="diversity")
    _set_costs(objective, meta, {"flip_y": [0.6], "rotate": [0.01, 0.04, 0.3, 0.5], "brightness": [0, 0, 0, 0.01]})
    objective.observe = lambda *args: True  # keep the pretended costs
    for _ in range(30):
        objective.pull(meta, None, None, None)
    probabilities = torch.softmax(meta.op_logits.detach(), dim=-1)[0, 0]
    assert probabilities[OPS.index("flip_y")] < 1e-3
    assert probabilities.tolist() == pytest.approx([0.5, 0.0, 0.25, 0.25], abs=2e-3)
    assert torch.sigmoid(meta.magnitude_logits.detach()[0, 0, OPS.index("rotate")]) == pytest.approx(0.25, abs=1e-3)


def test_observe_measures_what_the_model_cannot_read():
    """A model that reads the top half only: a vertical flip costs it everything, brightness +/- nothing much."""

    class TopHalf(nn.Module):
        def forward(self, images):  # class 1 if the top half is brighter than the bottom half, else 0
            top, bottom = images[:, :, :4].mean(dim=(1, 2, 3)), images[:, :, 4:].mean(dim=(1, 2, 3))
            return torch.stack([bottom - top, top - bottom], dim=1) * 50

    images = torch.zeros(512, 1, 8, 8)
    images[:, :, :4] = 0.8
    labels = torch.ones(512, dtype=torch.long)
    meta = MetaNetwork(ops=["identity", "flip_y", "flip_x"])
    objective = AffinityObjective(min_probes=1)
    objective.observe(meta, TopHalf(), images, labels)
    cost = objective.costs()
    assert cost.tolist() == pytest.approx([1.0, 0.0], abs=1e-3)  # flip_y, flip_x


def test_its_state_round_trips_through_the_state_dict():
    meta = MetaNetwork(ops=OPS)
    objective = _objective()
    _set_costs(objective, meta, {"flip_y": [0.6], "rotate": [0.0] * 4, "brightness": [0.0] * 4})
    restored = _objective()
    restored.load_state_dict(objective.state_dict())
    assert torch.equal(restored.probed_sum, objective.probed_sum) and torch.equal(restored.seen, objective.seen)
    per_class = MetaNetwork(ops=["identity", "invert"], mode="class", num_classes=3)
    probed = AffinityObjective(min_probes=1)
    probed.observe(per_class, _BrightIsOne(), torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2]))
    again = AffinityObjective(min_probes=1)
    again.load_state_dict(probed.state_dict())
    assert torch.equal(again.read_sum, probed.read_sum) and torch.equal(again.clean_read, probed.clean_read)


def test_it_is_built_by_name_with_its_settings():
    assert set(objective_arguments("affinity")) == {
        "levels", "tolerance", "augment_probability", "forgetting", "min_probes", "rate", "weighting", "grow",
        "readmit", "probes", "averaged", "measure", "reference", "contiguous", "max_leak", "drawn_change",
    }  # fmt: skip
    objective = build_objective("affinity", nn.Linear(2, 2), objective_args={"tolerance": 0.1, "levels": 3})
    assert isinstance(objective, AffinityObjective) and (objective.tolerance, objective.levels) == (0.1, 3)
    with pytest.raises(ValueError, match=r"^`tolerance` should be in \(0.0, 1.0\], but got 0.0 instead\.$"):
        AffinityObjective(tolerance=0.0)


def test_once_the_policy_is_on_dropped_ops_stay_dropped_and_ranges_only_grow():
    meta = MetaNetwork(ops=OPS, ranges={"rotate": [0.0, 180.0]})
    objective = _objective(rate=1.0, weighting="diversity")
    _set_costs(objective, meta, {"flip_y": [0.6], "rotate": [0.01, 0.04, 0.3, 0.5], "brightness": [0, 0, 0.2, 0.3]})
    objective.observe = lambda *args: True
    objective.pull(meta, None, None, None)  # burn-in: flip_y dropped, rotate to 1/4, brightness to 1/4
    objective.pull(meta, None, None, None, policy_on=True)  # the verdict is kept
    assert objective.kept_ops.tolist() == [False, False, True, True]
    # the model learned the kept ops: everything is cheap now, flip_y included
    _set_costs(objective, meta, {"flip_y": [0.0], "rotate": [0.0] * 4, "brightness": [0.0, 0.0, 0.0, 0.3]})
    objective.kept_ops, objective.floor = torch.tensor([False, False, True, True]), torch.tensor([0.0, 0.0, 0.25, 0.25])
    probabilities, magnitudes = objective.target(meta)
    assert probabilities[OPS.index("flip_y")] == 0.0
    assert magnitudes.tolist() == pytest.approx([0.0, 0.0, 1.0, 0.5])  # rotate grew to all of it, brightness to 1/2


def test_without_grow_nothing_moves_once_the_policy_is_on():
    meta = MetaNetwork(ops=OPS)
    objective = _objective(rate=0.5, grow=False)
    _set_costs(objective, meta, {"flip_y": [0.6], "rotate": [0.0] * 4, "brightness": [0.0] * 4})
    objective.observe = lambda *args: True
    objective.pull(meta, None, None, None)  # burn-in
    objective.pull(meta, None, None, None, policy_on=True)  # the verdict
    before = meta.op_logits.detach().clone()
    objective.pull(meta, None, None, None, policy_on=True)
    assert torch.equal(meta.op_logits, before) and objective.moves == 2


def test_a_burn_in_too_short_for_a_verdict_gives_it_once_the_probes_suffice():
    """Probes that come after the burn-in still count: the first pull with enough of them moves the controller."""
    meta = MetaNetwork(ops=OPS)
    objective = AffinityObjective(levels=4, min_probes=2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    images, labels = torch.rand(9, 1, 8, 8), torch.randint(0, 10, (9,))
    before = meta.op_logits.detach().clone()
    objective.pull(meta, model, images, labels)  # the burn-in: 9 probes over 9 cells, not enough
    assert objective.moves == 0 and objective.kept_ops is None
    objective.pull(meta, model, images, labels, policy_on=True)  # the second probe of every cell: a verdict
    assert objective.moves == 1 and objective.kept_ops is not None
    assert not torch.equal(meta.op_logits, before)


def test_per_class_costs_give_each_class_its_own_target_and_pull_moves_its_offsets():
    """Class 0 cannot take flip_y, class 1 can: a controller in class mode drops it for class 0 only."""
    meta = MetaNetwork(ops=["identity", "flip_y", "brightness"], mode="class", num_classes=2)
    objective = AffinityObjective(levels=2, min_probes=1, rate=1.0, weighting="diversity", drawn_change=False)
    cells = len(objective._probe_cells(meta)[0])  # flip_y, brightness x 2 levels
    _class_costs(objective, torch.tensor([[0.9, 0.0, 0.0], [0.0, 0.0, 0.0]]), torch.full((cells,), 0.1))
    probabilities, _ = objective.target(meta)
    expected = torch.tensor([[0.5, 0.0, 0.5], [0.5, 0.25, 0.25]])
    torch.testing.assert_close(probabilities, expected, atol=1e-4, rtol=0)
    objective.observe = lambda *args: True
    objective.pull(meta, None, None, None)
    _, ops, _ = meta.distribution(labels=torch.tensor([0, 1]))
    torch.testing.assert_close(torch.softmax(ops[:, 0, 0], dim=-1), expected, atol=3e-4, rtol=0)


def test_a_class_probed_a_few_times_reads_as_all_classes_do():
    objective = AffinityObjective()
    objective.clean_sum = torch.tensor([[1.0], [100.0]])
    objective.probed_sum = torch.tensor([[0.0], [100.0]])  # class 0: one probe that cost everything
    objective.count = torch.tensor([[1.0], [100.0]])
    cost = objective.costs()
    # alone: 1.0 and 0.0; all classes: 1 / 101; class 0 with 2 probes' worth of it: (1 + 2 / 101) / 3
    assert cost[0, 0] == pytest.approx((1 + 2 / 101) / 3, abs=1e-4) and 0.0 < cost[1, 0] < 1e-3


def test_observe_in_class_mode_counts_each_probe_in_its_class():
    meta = MetaNetwork(ops=["identity", "flip_y"], mode="class", num_classes=3)
    objective = AffinityObjective(min_probes=1)  # probes 0: two per image in class mode
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    objective.observe(meta, model, torch.rand(6, 1, 8, 8), torch.tensor([0, 0, 0, 2, 2, 1]))
    assert objective.seen.tolist() == [[6.0], [2.0], [4.0]]
    once = AffinityObjective(min_probes=1, probes=1)
    once.observe(meta, model, torch.rand(6, 1, 8, 8), torch.tensor([0, 0, 0, 2, 2, 1]))
    assert once.seen.tolist() == [[3.0], [1.0], [2.0]]


class _BrightIsOne(nn.Module):
    """Reads an image whose mean is over 0.5 (an inverted dark-on-light image) as class 1, whatever it shows, and
    any other image by its top row: class 0 if it is lit, else class 2."""

    def forward(self, images):
        bright = images.mean(dim=(1, 2, 3)) > 0.5
        top = images[:, 0, 0].mean(dim=1) > 0.5
        logits = torch.stack([top.float(), torch.zeros_like(top.float()), (~top).float()], dim=1) * 8
        return torch.where(bright[:, None], torch.tensor([0.0, 8.0, 0.0]), logits)


def test_in_class_mode_an_op_whose_images_all_read_as_one_class_is_not_kept_for_that_class():
    """Inverted images read as class 1 whatever they show, so class 1 alone pays nothing for an inversion: the
    probes see its images leak into class 1 from every class, and class 1 does not keep it (it would otherwise
    learn the inversion as a cue of its label). A flip, which leaks nowhere, class 1 keeps."""
    torch.manual_seed(0)
    images = torch.zeros(90, 1, 8, 8)
    labels = torch.arange(90) % 3
    images[labels == 0, :, 0] = 1.0  # class 0: the top row lit; class 1: the middle rows; class 2: the bottom row
    images[labels == 1, :, 3:5] = 1.0
    images[labels == 2, :, 7] = 1.0
    meta = MetaNetwork(ops=["identity", "invert", "flip_x"], mode="class", num_classes=3)
    objective = AffinityObjective(levels=1, min_probes=1, tolerance=0.05)
    for _ in range(4):
        objective.observe(meta, _BrightIsOne(), images, labels)
    cells, _ = objective._probe_cells(meta)
    invert, flip = cells.index(meta.ops.index("invert")), cells.index(meta.ops.index("flip_x"))
    leaks = objective.leaks()
    assert leaks[1, invert] > 2.5 and leaks[:, flip].tolist() == pytest.approx([1.0, 1.0, 1.0], abs=0.05)
    assert objective.costs()[1, invert] < 0.05  # the screen alone would keep it for class 1
    probabilities, _ = objective.target(meta)
    assert probabilities[1, meta.ops.index("invert")] == 0.0 and probabilities[1, meta.ops.index("flip_x")] > 0.4
    unchecked = AffinityObjective(levels=1, min_probes=1, tolerance=0.05, max_leak=0)
    for _ in range(4):
        unchecked.observe(meta, _BrightIsOne(), images, labels)
    assert unchecked.read_sum is None
    assert unchecked.target(meta)[0][1, meta.ops.index("invert")] > 0.1


def test_in_class_mode_a_kept_op_weighs_what_the_policy_draws_of_it():
    """rotate is kept over its whole range and brightness up to 1/2 of it, each changing the images by 0.2 at its
    kept magnitude. The policy draws magnitudes uniform from 0 to the kept one, and what those draws change, read
    linearly from none at 0, is 0.15 for rotate and 0.1 for brightness: class mode shares by that, 3 to 2; without
    ``drawn_change``, and for a global controller, they share by the kept magnitude's change, 1 to 1."""
    meta = MetaNetwork(ops=["identity", "rotate", "brightness"], mode="class", num_classes=2)
    objective = AffinityObjective(levels=2, min_probes=1, weighting="diversity", max_leak=0)
    change = torch.tensor([0.2, 0.2, 0.2, 0.4])  # rotate at 1/2 and 1; brightness at 1/2 and 1
    cost = torch.tensor([0.0, 0.0, 0.0, 0.5]).expand(2, 4)  # brightness passes at 1/2 only
    _class_costs(objective, cost, change)
    probabilities, magnitudes = objective.target(meta)
    assert probabilities[0].tolist() == pytest.approx([0.5, 0.3, 0.2], abs=1e-4)
    assert magnitudes[0].tolist() == pytest.approx([0.0, 1.0, 0.5])
    at_kept = AffinityObjective(levels=2, min_probes=1, weighting="diversity", max_leak=0, drawn_change=False)
    _class_costs(at_kept, cost, change)
    assert at_kept.target(meta)[0][0].tolist() == pytest.approx([0.5, 0.25, 0.25], abs=1e-4)
    one = MetaNetwork(ops=["identity", "rotate", "brightness"])
    global_objective = AffinityObjective(levels=2, min_probes=1, weighting="diversity")
    _set_costs(global_objective, one, {"rotate": [0.0, 0.0], "brightness": [0.0, 0.5]})
    global_objective.change_sum = change.clone()
    assert global_objective.target(one)[0].tolist() == pytest.approx([0.5, 0.25, 0.25], abs=1e-4)


def test_a_class_mode_controller_forgets_more_slowly_by_default():
    """Its probes are shared among the classes, so each class's costs average over more steps: what one step
    measured weighs 0.99375 after the next in class mode, 0.95 for a global controller, unless ``forgetting`` says."""
    images, labels = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    for mode, expected in (("class", 0.99375), ("global", 0.95)):
        meta = MetaNetwork(ops=["identity", "flip_y"], mode=mode, num_classes=2)
        for forgetting, weight in ((0.0, expected), (0.5, 0.5)):
            objective = AffinityObjective(min_probes=1, probes=1, forgetting=forgetting)
            objective.observe(meta, model, images, labels)
            objective.observe(meta, model, images, labels)
            assert float(objective.count.sum()) == pytest.approx(4 * weight + 4)
    with pytest.raises(ValueError, match=r"^`forgetting` should be in \[0.0, 1.0\] \(0: chosen by the mode\), "):
        AffinityObjective(forgetting=1.5)


def test_the_class_mode_guards_are_checked():
    for value in (0.5, True, "2", float("inf"), -1):
        with pytest.raises(ValueError, match=r"^`max_leak` should be 0 \(no check\) or a number >= 1, but got "):
            AffinityObjective(max_leak=value)
    with pytest.raises(ValueError, match=r"^`drawn_change` should be True or False, but got 1 instead\.$"):
        AffinityObjective(drawn_change=1)
    with pytest.raises(RuntimeError, match="needs the reads of a class-mode controller"):
        AffinityObjective().leaks()


def test_the_accuracy_measure_counts_right_choices_not_probabilities():
    objective = AffinityObjective(measure="accuracy")
    logits = torch.tensor([[2.0, 1.0], [0.1, 0.2], [5.0, -5.0]])
    assert objective._score(logits, torch.tensor([0, 0, 1])).tolist() == [1.0, 0.0, 0.0]
    assert torch.isnan(objective._score(torch.tensor([[float("nan"), 0.0]]), torch.tensor([0])))[0]
    probability = AffinityObjective()._score(logits, torch.tensor([0, 0, 1]))
    assert probability.tolist() == pytest.approx(torch.softmax(logits, dim=1)[[0, 1, 2], [0, 0, 1]].tolist())
    with pytest.raises(
        ValueError, match=r"^`measure` should be 'probability' or 'accuracy', but got 'loss' instead\.$"
    ):
        AffinityObjective(measure="loss")


class _Sharpness(nn.Module):
    """Class 1 the sharper an image is (its mean absolute difference between neighbouring pixels): a model that
    pays for the blur of resampling, as one trained on crisp small images does."""

    def forward(self, images):
        edges = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(edges), 40 * (edges - 0.3)], dim=1)


def _probed_costs(reference: str, ops: list[str]) -> dict[str, float]:
    torch.manual_seed(0)
    images = (torch.rand(256, 1, 16, 16) > 0.5).float()  # crisp: every pixel 0 or 1
    labels = torch.ones(256, dtype=torch.long)
    meta = MetaNetwork(ops=ops, ranges={"rotate": [0.0, 30.0]})
    objective = AffinityObjective(levels=1, min_probes=1, reference=reference)
    objective.observe(meta, _Sharpness(), images, labels)
    cells, _ = objective._probe_cells(meta)
    return {meta.ops[op]: cost for op, cost in zip(cells, objective.costs().tolist(), strict=True)}


def test_the_resampled_reference_judges_a_turn_by_more_than_its_blur():
    """A turn blurs crisp images, which this model pays for; against the image turned and turned back (the same
    blur, no turn) it costs nothing. Ops without a resampling keep the clean image as their reference."""
    ops = ["identity", "rotate", "flip_y", "brightness"]
    clean, resampled = _probed_costs("clean", ops), _probed_costs("resampled", ops)
    assert clean["rotate"] > 0.3
    assert resampled["rotate"] < 0.05
    assert resampled["flip_y"] == pytest.approx(clean["flip_y"], abs=1e-6)  # a flip's round trip is exact
    assert resampled["brightness"] == pytest.approx(clean["brightness"], abs=1e-6)
    with pytest.raises(ValueError, match=r"^`reference` should be 'clean' or 'resampled', but got 'x' instead\.$"):
        AffinityObjective(reference="x")


def _warp(images: torch.Tensor, ops: tuple[str, ...], values: list[float]) -> torch.Tensor:
    """Image ``i`` through op ``ops[i]`` at ``values[i]``, bilinear."""
    op = torch.tensor([OP_NAMES.index(name) for name in ops])
    draw = StepDraw(op, torch.ones(len(ops)), torch.tensor(values), torch.zeros(len(ops), 2))
    return apply_step(images, draw, (0.0,), "bilinear")


def test_the_resampled_reference_is_the_round_trip_for_geometric_ops_and_the_clean_image_otherwise():
    torch.manual_seed(0)
    images = torch.rand(3, 1, 8, 8)
    ops, values = ("rotate", "flip_x", "brightness"), [20.0, 0.0, 0.5]
    augmented = _warp(images, ops, values)
    op = torch.tensor([OP_NAMES.index(name) for name in ops])
    draw = StepDraw(op, torch.ones(3), torch.tensor(values), torch.zeros(3, 2))
    meta = MetaNetwork(ops=["identity", *ops])
    reference = AffinityObjective(reference="resampled")._resampled(meta, images, augmented, draw)
    assert torch.equal(reference[0], _warp(augmented[:1], ("rotate",), [-20.0])[0])  # turned, then turned back
    assert not torch.equal(reference[0], images[0])  # the round trip blurs
    assert torch.equal(reference[1:], images[1:])  # a flip's round trip is exact; brightness keeps the clean image


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reference", "x" * 200, "`reference` should be 'clean' or 'resampled', but got '" + "x" * 80 + "' instead."),
        ("trial_winner", "only_nothing", "`trial_winner` should be 'none', 'screen' or 'only_<op>'"),
    ],
)
def test_a_checkpoint_s_reference_and_trial_winner_are_checked_on_load(field, value, message):
    objective = AffinityObjective()
    state = {**objective.get_extra_state(), field: value}
    with pytest.raises(ValueError, match=re.escape(message)):
        objective.set_extra_state(state)
