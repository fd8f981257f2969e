"""Batched per-sample application: ``Policy.apply``, ``Policy.apply_draws``, ``apply_step`` and the module wrapper."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re

import pytest
import torch

from augmeta import Policy, PolicyAugmentation
from augmeta.ops import OPS
from augmeta.policy import OP_NAMES, StepDraw, applier, apply_draws, apply_step
from augmeta.policy.published import autoaugment, trivialaugment_wide

from .helpers import every_op_choices, make_policy_dict, smooth_uint8_images


def float_images(batch: int = 8, channels: int = 3, height: int = 24, width: int = 32, seed: int = 0) -> torch.Tensor:
    return smooth_uint8_images(batch, channels, height, width, seed).float() / 255.0


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


POLICIES = {
    "every_op_nearest": lambda: Policy.from_dict(make_policy_dict(every_op_choices(), p=0.9, steps=2, fill=(0.25,))),
    "every_op_bilinear_levels": lambda: Policy.from_dict(
        make_policy_dict(every_op_choices(levels=5), p=0.7, steps=3, fill=(0.1, 0.5, 0.9), interpolation="bilinear")
    ),
    "autoaugment_cifar10": lambda: autoaugment("cifar10"),
    "trivialaugment_wide": trivialaugment_wide,
}


# --- per-sample semantics -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_batched_equals_per_sample(name):
    policy = POLICIES[name]()
    images = float_images(32)
    draws = policy.sample(32, generator=seeded(0))
    batched = policy.apply_draws(images, draws)
    for i in range(images.shape[0]):
        alone = policy.apply_draws(images[i : i + 1], draws.select(slice(i, i + 1)))
        torch.testing.assert_close(batched[i : i + 1], alone, rtol=0.0, atol=1e-6, msg=f"image {i}")
    permutation = torch.randperm(32, generator=seeded(1))
    permuted = policy.apply_draws(images[permutation], draws.select(permutation))
    torch.testing.assert_close(permuted, batched[permutation], rtol=0.0, atol=1e-6)


def test_draws_select_keeps_every_field():
    draws = trivialaugment_wide().sample(6, generator=seeded(0))
    index = torch.tensor([4, 0, 4])
    part = draws.select(index)
    assert torch.equal(part.subpolicy, draws.subpolicy[index])
    for step, whole in zip(part.steps, draws.steps, strict=True):
        for field in ("op", "magnitude", "value", "position"):
            assert torch.equal(getattr(step, field), getattr(whole, field)[index])


def test_draws_to_moves_every_field():
    draws = trivialaugment_wide().sample(6, generator=seeded(0))
    moved = draws.to("meta")  # a device every machine has: shapes and dtypes, no data
    assert moved.subpolicy.device.type == "meta" and moved.subpolicy.shape == draws.subpolicy.shape
    for step, whole in zip(moved.steps, draws.steps, strict=True):
        for field in ("op", "magnitude", "value", "position"):
            assert getattr(step, field).device.type == "meta"
            assert getattr(step, field).dtype == getattr(whole, field).dtype
    back = draws.to("cpu")
    assert torch.equal(back.subpolicy, draws.subpolicy) and torch.equal(back.steps[0].value, draws.steps[0].value)


def test_same_generator_seed_gives_same_output(every_op_policy):
    images = float_images(16)
    first = every_op_policy.apply(images, generator=seeded(7))
    again = every_op_policy.apply(images, generator=seeded(7))
    other = every_op_policy.apply(images, generator=seeded(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_global_seed_drives_draws_without_generator(every_op_policy):
    images = float_images(16)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        first = every_op_policy.apply(images)
        torch.manual_seed(3)
        assert torch.equal(every_op_policy.apply(images), first)


def test_sample_is_apply(every_op_policy):
    images = float_images(16)
    draws = every_op_policy.sample(16, generator=seeded(5))
    assert torch.equal(every_op_policy.apply(images, generator=seeded(5)), every_op_policy.apply_draws(images, draws))


def test_each_image_gets_its_own_op():
    policy = trivialaugment_wide()
    image = float_images(1)
    images = image.expand(64, -1, -1, -1)
    draws = policy.sample(64, generator=seeded(0))
    out = policy.apply_draws(images, draws)
    (step,) = draws.steps
    assert len(set(step.op.tolist())) >= 10
    distinct = {tuple(x.flatten().tolist()) for x in (out * 255).round().to(torch.uint8)}
    assert len(distinct) >= 20
    for i in range(64):
        alone = policy.apply_draws(image, draws.select([i]))
        torch.testing.assert_close(out[i : i + 1], alone, rtol=0.0, atol=1e-6)
    identity = step.op == OP_NAMES.index("identity")
    assert identity.any() and torch.equal(out[identity], images[identity])


# --- input, dtype, device and shape ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("batched", [True, False], ids=["BCHW", "CHW"])
def test_keeps_dtype_device_shape_and_input(every_op_policy, dtype, channels, batched):
    images = smooth_uint8_images(6, channels, 20, 28)
    images = images if dtype == torch.uint8 else (images.float() / 255.0).to(dtype)
    images = images if batched else images[0]
    before = images.clone()
    out = every_op_policy.apply(images, generator=seeded(0))
    assert torch.equal(images, before)
    assert (out.shape, out.dtype, out.device) == (images.shape, images.dtype, images.device)
    assert out.data_ptr() != images.data_ptr()
    if dtype.is_floating_point:
        assert out.isfinite().all() and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_cuda_images_stay_on_the_device(every_op_policy, dtype):
    images = smooth_uint8_images(8, 3).cuda()
    images = images if dtype == torch.uint8 else images.float() / 255.0
    generator = torch.Generator(device="cuda")
    first = every_op_policy.apply(images, generator=generator.manual_seed(0))
    assert (first.shape, first.dtype, first.device) == (images.shape, images.dtype, images.device)
    assert torch.equal(every_op_policy.apply(images, generator=generator.manual_seed(0)), first)
    assert every_op_policy.apply(images, generator=seeded(0)).device == images.device  # a CPU generator draws on CPU


def test_chw_image_is_the_first_image_of_a_batch(every_op_policy):
    images = float_images(1)
    single = every_op_policy.apply(images[0], generator=seeded(2))
    torch.testing.assert_close(single, every_op_policy.apply(images, generator=seeded(2))[0], rtol=0.0, atol=0.0)


def test_output_is_a_new_tensor_even_when_nothing_fires():
    policy = Policy.from_dict(make_policy_dict([{"op": "invert", "range": None, "signed": False}], p=0.0))
    for images in (float_images(4), smooth_uint8_images(4, 3)):
        before = images.clone()
        out = policy.apply(images)
        assert torch.equal(out, images)
        out.zero_()
        assert torch.equal(images, before)


def test_apply_draws_and_apply_step_leave_input_alone(every_op_policy):
    images = float_images(16)
    before = images.clone()
    draws = every_op_policy.sample(16, generator=seeded(0))
    apply_draws(images, draws, (0.25,), "nearest")
    for step in draws.steps:
        out = apply_step(images, step, (0.25,), "bilinear")
        assert out.data_ptr() != images.data_ptr()
    assert torch.equal(images, before)


def test_non_contiguous_input(every_op_policy):
    images = float_images(8)
    channels_last = images.contiguous(memory_format=torch.channels_last)
    strided = torch.cat([images, images], dim=-1)[..., ::2]
    expected = every_op_policy.apply(images, generator=seeded(4))
    assert torch.equal(every_op_policy.apply(channels_last, generator=seeded(4)), expected)
    assert every_op_policy.apply(strided, generator=seeded(4)).shape == strided.shape


@pytest.mark.parametrize(
    ("op", "interpolation"), [("rotate", "nearest"), ("rotate", "bilinear"), ("cutout", "nearest")]
)
def test_three_value_fill_on_single_channel_images(op, interpolation):
    """A policy may have a per-channel fill; on 1-channel images it must fail clearly (as torchvision does),
    not with an internal shape error (or silently return 3 channels)."""
    choice = {"op": op, "magnitude": 1.0, "range": list(OPS[op].default_range), "signed": False}
    policy = Policy.from_dict(make_policy_dict([choice], fill=(0.2, 0.4, 0.6), interpolation=interpolation))
    assert policy.apply(float_images(4, 3), generator=seeded(0)).shape == (4, 3, 24, 32)
    with pytest.raises(ValueError, match=r"`fill`"):
        policy.apply(float_images(4, 1), generator=seeded(0))


BAD_IMAGES = [
    ([[0.0]], TypeError, "`images` should be a torch.Tensor, but got list instead."),
    (
        torch.rand(8, 8),
        ValueError,
        "`images` should have shape [C, H, W] or [B, C, H, W], but got shape (8, 8) instead.",
    ),
    (
        torch.rand(1, 1, 3, 8, 8),
        ValueError,
        "`images` should have shape [C, H, W] or [B, C, H, W], but got shape (1, 1, 3, 8, 8) instead.",
    ),
    (
        torch.zeros(2, 3, 8, 8, dtype=torch.int64),
        TypeError,
        "`images` should be uint8 in [0, 255] or float in [0, 1], but got dtype torch.int64 instead.",
    ),
    (
        torch.zeros(3, 8, 8, dtype=torch.bool),
        TypeError,
        "`images` should be uint8 in [0, 255] or float in [0, 1], but got dtype torch.bool instead.",
    ),
    (
        torch.rand(2, 4, 8, 8),
        ValueError,
        "`images` should have 1 or 3 channels (dimension -3 of [C, H, W] or [B, C, H, W]), "
        "but got 4 in shape (2, 4, 8, 8) instead.",
    ),
    (
        torch.zeros(5, 2, 8, 8, dtype=torch.uint8),
        ValueError,
        "`images` should have 1 or 3 channels (dimension -3 of [C, H, W] or [B, C, H, W]), "
        "but got 2 in shape (5, 2, 8, 8) instead.",
    ),
    (
        torch.zeros(2, 3, 0, 0, dtype=torch.uint8),
        ValueError,
        "`images` should be at least 1x1 pixels, but got shape (2, 3, 0, 0) (H x W = 0x0) instead.",
    ),
    (
        torch.full((2, 1, 4, 4), float("nan")),
        ValueError,
        "`images` should hold finite values in [0, 1], but got 32 NaN or infinite values in shape (2, 1, 4, 4) "
        "instead.",
    ),
]


def test_empty_batch_gives_an_empty_batch(every_op_policy):
    out = every_op_policy.apply(torch.zeros(0, 3, 8, 8, dtype=torch.uint8))
    assert out.shape == (0, 3, 8, 8) and out.dtype == torch.uint8


@pytest.mark.parametrize(("images", "error", "message"), BAD_IMAGES)
def test_bad_images_raise_with_full_message(every_op_policy, images, error, message):
    with pytest.raises(error) as info:
        every_op_policy.apply(images)
    assert str(info.value) == message


def test_bad_channels_of_a_single_image_name_the_shape_given(every_op_policy):
    """A ``[C, H, W]`` image with 4 channels: the message should quote the shape the caller passed."""
    with pytest.raises(ValueError) as info:
        every_op_policy.apply(torch.zeros(4, 8, 8))
    assert re.fullmatch(
        r"`images` should have 1 or 3 channels .*but got 4 in shape \(4, 8, 8\) instead\.", str(info.value)
    )


# --- the nn.Module wrapper ------------------------------------------------------------------------------------------


def test_module_forward_is_policy_apply(every_op_policy):
    module = PolicyAugmentation(every_op_policy)
    images = smooth_uint8_images(8, 3)
    assert isinstance(module, torch.nn.Module)
    assert list(module.parameters()) == [] and module.state_dict() == {}
    assert torch.equal(module(images, generator=seeded(1)), every_op_policy.apply(images, generator=seeded(1)))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        in_sequential = torch.nn.Sequential(module)(images)
        torch.manual_seed(0)
        assert torch.equal(in_sequential, every_op_policy.apply(images))
    assert repr(module) == "PolicyAugmentation(policy='test', subpolicies=1)"


def test_module_train_only_is_identity_in_eval(every_op_policy):
    images = float_images(8)
    module = PolicyAugmentation(every_op_policy, train_only=True)
    assert not torch.equal(module(images, generator=seeded(1)), images)
    module.eval()
    assert torch.equal(module(images), images)
    always = PolicyAugmentation(every_op_policy).eval()
    assert torch.equal(always(images, generator=seeded(1)), every_op_policy.apply(images, generator=seeded(1)))


def test_module_and_policy_pickle_and_deepcopy(every_op_policy):
    images = float_images(8)
    module = PolicyAugmentation(every_op_policy)
    expected = module(images, generator=seeded(3))  # compiles the policy first: the cache must travel too
    for clone in (pickle.loads(pickle.dumps(module)), copy.deepcopy(module)):
        assert torch.equal(clone(images, generator=seeded(3)), expected)


# --- cost: each op runs only on the images that drew it -------------------------------------------------------------


@pytest.fixture
def kernel_calls(monkeypatch):
    """Record ``(op, images, values)`` of every kernel call and ``("warp", images, values)`` of every shared warp."""
    calls: list[tuple[str, torch.Tensor, torch.Tensor]] = []

    def recording(name, kernel):
        def wrapper(images, value, context):
            calls.append((name, images.clone(), value.clone()))
            return kernel(images, value, context)

        return wrapper

    patched = {name: dataclasses.replace(spec, kernel=recording(name, spec.kernel)) for name, spec in OPS.items()}
    monkeypatch.setattr(applier, "OPS", patched)
    real_warp = applier.geometric_warp

    def geometric_warp(images, names, op, value, context):
        calls.append(("warp", images.clone(), value.clone()))
        return real_warp(images, names, op, value, context)

    monkeypatch.setattr(applier, "geometric_warp", geometric_warp)
    return calls


def crafted_step(ops: list[str], values: list[float]) -> StepDraw:
    size = len(ops)
    return StepDraw(
        op=torch.tensor([OP_NAMES.index(op) for op in ops]),
        magnitude=torch.full((size,), 0.5),
        value=torch.tensor(values),
        position=torch.rand(size, 2, generator=seeded(0)),
    )


def test_each_kernel_sees_only_the_images_that_drew_it(kernel_calls):
    ops = ["brightness", "identity", "brightness", "rotate", "contrast", "shear_x", "identity", "brightness"]
    values = [0.5, 0.0, -0.3, 20.0, 0.4, 0.2, 0.0, 0.1]
    images = float_images(len(ops))
    out = apply_step(images, crafted_step(ops, values), (0.0,), "nearest")
    called = {name: (x, v) for name, x, v in kernel_calls if name != "identity"}
    assert sorted(name for name, _, _ in kernel_calls if name != "identity") == ["brightness", "contrast", "warp"]
    brightness_x, brightness_v = called["brightness"]
    assert torch.equal(brightness_x, images[[0, 2, 7]]) and torch.equal(brightness_v, torch.tensor([0.5, -0.3, 0.1]))
    assert torch.equal(called["contrast"][0], images[[4]])
    assert torch.equal(called["warp"][0], images[[3, 5]]) and called["warp"][1].shape[0] == 2
    for name in ("identity",):  # an identity may run its kernel, but only on the images that drew it
        for _, x, _ in (call for call in kernel_calls if call[0] == name):
            assert torch.equal(x, images[[1, 6]])
    assert torch.equal(out[[1, 6]], images[[1, 6]])
    expected = OPS["brightness"].kernel(images[[0, 2, 7]], torch.tensor([0.5, -0.3, 0.1]), None)
    torch.testing.assert_close(out[[0, 2, 7]], expected, rtol=0.0, atol=0.0)


def test_absent_ops_never_run(kernel_calls):
    images = float_images(4)
    out = apply_step(images, crafted_step(["identity"] * 4, [0.0] * 4), (0.0,), "nearest")
    assert torch.equal(out, images) and out.data_ptr() != images.data_ptr()
    assert all(name == "identity" for name, _, _ in kernel_calls)
    kernel_calls.clear()
    apply_step(images, crafted_step(["invert", "invert", "identity", "invert"], [0.0] * 4), (0.0,), "nearest")
    assert [(name, x.shape[0]) for name, x, _ in kernel_calls if name != "identity"] == [("invert", 3)]


def test_policy_apply_runs_each_drawn_op_once_per_step(kernel_calls, every_op_policy):
    images = float_images(48)
    draws = every_op_policy.sample(48, generator=seeded(0))
    every_op_policy.apply_draws(images, draws)
    geometric = {name for name, spec in OPS.items() if spec.kind == "geometric"}
    expected: list[tuple[str, int]] = []
    for step in draws.steps:
        counts: dict[str, int] = {}
        for index in step.op.tolist():
            name = "warp" if OP_NAMES[index] in geometric else OP_NAMES[index]
            counts[name] = counts.get(name, 0) + 1
        expected += [(name, count) for name, count in counts.items() if name != "identity"]
    seen = [(name, x.shape[0]) for name, x, _ in kernel_calls if name != "identity"]
    assert sorted(seen) == sorted(expected)
    assert sum(count for _, count in seen) < 2 * 48  # some images drew identity or did not fire
