"""The masked (fixed-shape) applier: the grouped applier's images bit for bit, no host sync, a draw-independent
number of ops, and the same gradients for the controller."""

from __future__ import annotations

import collections
import re

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from augmeta import Policy
from augmeta.meta import MetaNetwork
from augmeta.ops import OPS
from augmeta.policy import OP_NAMES, StepDraw, apply_draws, apply_step
from augmeta.policy.masked import pass_names
from augmeta.policy.published import PUBLISHED

from .helpers import every_op_choices, make_policy_dict, smooth_uint8_images

POLICIES = {
    "every_op_nearest_fill": lambda: Policy.from_dict(
        make_policy_dict(every_op_choices(), p=0.9, steps=2, fill=(0.25,))
    ),
    "every_op_bilinear_levels": lambda: Policy.from_dict(
        make_policy_dict(every_op_choices(levels=5), p=0.7, steps=3, interpolation="bilinear")
    ),
    "two_subpolicies_rgb_fill": lambda: Policy.from_dict(
        {
            **make_policy_dict(every_op_choices(), p=0.8, fill=(0.1, 0.5, 0.9)),
            "subpolicies": [
                {"weight": 1.0, "steps": [{"p": 0.8, "ops": every_op_choices()[:8]}]},
                {"weight": 3.0, "steps": [{"p": 0.6, "ops": every_op_choices()[8:]}] * 2},
            ],
        }
    ),
    **{name: make for name, make in PUBLISHED.items()},
}


def both_paths(policy: Policy, images: torch.Tensor, draws) -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(policy.apply_draws(images, draws, path=path) for path in ("grouped", "masked"))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_masked_path_gives_the_grouped_paths_images_bit_for_bit(name, channels):
    policy = POLICIES[name]()
    if channels == 1 and len(policy.fill) == 3:
        pytest.skip("a per-channel fill needs three channels")
    images = smooth_uint8_images(96, channels, 20, 28, seed=3)
    generator = torch.Generator().manual_seed(7)
    grouped = policy.apply(images, generator=generator, path="grouped")
    masked = policy.apply(images, generator=generator.manual_seed(7), path="masked")
    assert torch.equal(grouped, masked)  # uint8 out
    floats = images.float() / 255.0
    draws = policy.sample(96, generator=torch.Generator().manual_seed(8))
    grouped, masked = both_paths(policy, floats, draws)
    assert torch.equal(grouped, masked)  # float out, before rounding


@pytest.mark.parametrize("name", [name for name in OP_NAMES if name != "identity"])
@pytest.mark.parametrize("channels", [1, 3])
def test_each_op_alone_in_a_batch_of_identities_is_the_grouped_result(name, channels):
    """Every other image draws the op (with its own value and patch position), the rest the identity."""
    batch = 12
    spec = OPS[name]
    images = smooth_uint8_images(batch, channels, 16, 18, seed=1).float() / 255.0
    chosen = torch.arange(batch) % 2 == 0
    op = torch.where(chosen, OP_NAMES.index(name), OP_NAMES.index("identity"))
    magnitude = torch.linspace(0.1, 1.0, batch)
    lo, hi = spec.default_range or (0.0, 0.0)
    value = (lo + magnitude * (hi - lo)) * torch.where(torch.arange(batch) % 4 == 0, -1.0, 1.0)
    step = StepDraw(op, magnitude, value, torch.rand(batch, 2, generator=torch.Generator().manual_seed(2)))
    for interpolation in ("nearest", "bilinear"):
        grouped = apply_step(images, step, (0.3,), interpolation, path="grouped")
        masked = apply_step(images, step, (0.3,), interpolation, ops=("identity", name), path="masked")
        assert torch.equal(grouped, masked), interpolation
        assert torch.equal(masked[~chosen], images[~chosen])


def test_colour_draws_on_grey_images_stay_as_they_are_beside_a_brightness_pass():
    """Saturation is the identity on one channel, so the blend pass must not turn it into a brightness change."""
    images = torch.rand(4, 1, 8, 8)
    op = torch.tensor([OP_NAMES.index(n) for n in ("color", "brightness", "color", "contrast")])
    step = StepDraw(op, torch.full((4,), 0.5), torch.full((4,), 0.5), torch.rand(4, 2))
    out = apply_step(images, step, (0.0,), "nearest", ops=("color", "brightness", "contrast"), path="masked")
    assert torch.equal(out[[0, 2]], images[[0, 2]])
    assert torch.equal(out, apply_step(images, step, (0.0,), "nearest", path="grouped"))
    assert set(pass_names(("color", "brightness", "rotate", "identity"), channels=1)) == {"geometric", "blend"}
    assert pass_names(("color",), channels=1) == ()
    assert sorted(pass_names(("invert", "solarize", "flip_x", "shear_y", "cutout"), channels=3)) == [
        "cutout", "geometric", "threshold"
    ]  # fmt: skip


def test_a_policy_of_the_identity_only_returns_its_images_unchanged():
    images = torch.rand(3, 3, 6, 6)
    step = StepDraw(torch.zeros(3, dtype=torch.long), torch.zeros(3), torch.zeros(3), torch.rand(3, 2))
    assert apply_step(images, step, (0.0,), "nearest", ops=("identity",), path="masked") is images


def test_an_unknown_path_is_refused_by_name():
    step = StepDraw(torch.zeros(2, dtype=torch.long), torch.zeros(2), torch.zeros(2), torch.rand(2, 2))
    message = "`path` should be one of ['auto', 'grouped', 'masked', 'compiled'], but got 'fused' instead."
    with pytest.raises(ValueError, match=re.escape(message)):
        apply_step(torch.rand(2, 1, 4, 4), step, (0.0,), "nearest", path="fused")


def top_level_ops(fn) -> collections.Counter:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return collections.Counter(
        event.name
        for event in prof.events()
        if event.name.startswith("aten::")
        and (event.cpu_parent is None or not event.cpu_parent.name.startswith("aten::"))
    )


def test_masked_path_dispatches_the_same_ops_whatever_the_draw_and_fewer_than_grouped_on_a_full_batch():
    policy = PUBLISHED["trivialaugment_wide"]()
    images = torch.rand(64, 3, 12, 12)
    identity = StepDraw(torch.zeros(64, dtype=torch.long), torch.zeros(64), torch.zeros(64), torch.rand(64, 2))
    mixed = policy.sample(64, generator=torch.Generator().manual_seed(0)).steps[0]
    counts = []
    for step in (identity, mixed):
        apply_step(images, step, (0.0,), "nearest", ops=policy.offered_ops(), path="masked")  # warm the caches
        counts.append(
            top_level_ops(
                lambda s=step: apply_step(images, s, (0.0,), "nearest", ops=policy.offered_ops(), path="masked")
            )
        )
    assert counts[0] == counts[1]
    grouped = top_level_ops(lambda: apply_step(images, mixed, (0.0,), "nearest", path="grouped"))
    assert sum(counts[1].values()) < sum(grouped.values())


def test_policy_apply_on_another_device_type_takes_the_masked_path(monkeypatch):
    taken = []
    import augmeta.policy.applier as applier

    real = applier.apply_step_masked
    monkeypatch.setattr(applier, "apply_step_masked", lambda *args: taken.append(args) or real(*args))
    images = torch.rand(4, 1, 8, 8)
    policy = PUBLISHED["trivialaugment_wide"]()
    policy.apply(images)
    assert not taken  # auto on the CPU: grouped
    policy.apply(images, path="masked")
    assert taken and set(taken[0][-1]) == set(policy.offered_ops())


@pytest.mark.parametrize("mode", ["global", "class"])
def test_controller_images_and_gradients_are_the_same_on_both_paths(mode):
    torch.manual_seed(0)
    network = MetaNetwork(mode=mode, num_classes=3, interpolation="bilinear")
    with torch.no_grad():
        network.op_logits.normal_()
        network.magnitude_logits.normal_()
    images = smooth_uint8_images(32, 1, 12, 12, seed=4).float() / 255.0
    labels = torch.arange(32) % 3
    results = []
    for path in ("grouped", "masked"):
        network.zero_grad()
        network.path = path
        draw = network.augment(images, labels, generator=torch.Generator().manual_seed(5))
        (draw.images * torch.linspace(-1.0, 1.0, draw.images.numel()).view_as(draw.images)).sum().backward()
        grads = [p.grad.clone() for p in (network.op_logits, network.magnitude_logits)]
        results.append((draw.images.detach(), draw.ops, grads))
    (images_a, ops_a, grads_a), (images_b, ops_b, grads_b) = results
    assert torch.equal(ops_a, ops_b)
    torch.testing.assert_close(images_a, images_b, rtol=0.0, atol=1e-6)
    for a, b in zip(grads_a, grads_b, strict=True):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def fake_run(fn):
    """Run ``fn`` on fake tensors (shapes and dtypes, no data): an op whose output depends on the data (a host read
    such as ``.tolist()``, a shape decided by values) raises there. The device-constant cache is emptied around it, so
    no fake tensor outlives the run."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from augmeta.ops import context

    context._CONSTANTS.clear()
    try:
        with FakeTensorMode(allow_non_fake_inputs=True):
            return fn()
    finally:
        context._CONSTANTS.clear()


@pytest.mark.parametrize("path", ["masked", "grouped"])
def test_the_masked_path_never_depends_on_the_data_and_the_grouped_one_does(path):
    """Draws and augmentation, for a policy and the controller's base step, with fixed shapes and no host read:
    traceable without data (what capture needs). The grouped path reads its group sizes back."""
    policy = PUBLISHED["trivialaugment_wide"]()  # a fresh one: its sampling tables are built in the fake run
    network = MetaNetwork(mode="class", num_classes=4)
    network.path = path

    def augment():
        images, labels = torch.rand(64, 3, 10, 10), torch.arange(64) % 4
        with torch.no_grad():
            return policy.apply_draws(images, policy.sample(64), path=path), network.augment(images, labels).images

    if path == "grouped":
        with pytest.raises(Exception, match="bincount"):
            fake_run(augment)
        return
    augmented, by_controller = fake_run(augment)
    assert augmented.shape == by_controller.shape == (64, 3, 10, 10)


def test_controller_draws_on_both_paths_without_gradients_are_identical():
    network = MetaNetwork()
    images = torch.rand(40, 1, 10, 10)
    outs = []
    for path in ("grouped", "masked"):
        network.path = path
        with torch.no_grad():
            outs.append(network.augment(images, generator=torch.Generator().manual_seed(1)).images)
    assert torch.equal(*outs)


def test_apply_draws_passes_the_path_to_every_step():
    policy = POLICIES["every_op_nearest_fill"]()
    images = torch.rand(16, 3, 9, 9)
    draws = policy.sample(16, generator=torch.Generator().manual_seed(3))
    fill = tuple(policy.fill)
    out = apply_draws(images, draws, fill, policy.interpolation, ops=policy.offered_ops(), path="masked")
    assert torch.equal(out, apply_draws(images, draws, fill, policy.interpolation, path="grouped"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["every_op_nearest_fill", "trivialaugment_wide", "autoaugment_cifar10"])
def test_on_cuda_both_paths_give_the_same_images(name):
    policy = POLICIES[name]()
    images = smooth_uint8_images(256, 3, 32, 32, seed=2).cuda()
    draws = policy.sample(256, "cuda", torch.Generator(device="cuda").manual_seed(0))
    grouped, masked = both_paths(policy, images.float() / 255.0, draws)
    assert masked.device == images.device
    torch.testing.assert_close(grouped, masked, rtol=0.0, atol=1e-6)
