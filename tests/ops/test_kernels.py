"""Contracts every kernel keeps: identity at m = 0, no in-place edits, layout, batching, gradients, errors."""

from __future__ import annotations

import re

import pytest
import torch

from augmeta.ops import OPS, KernelContext, apply_op

from .checks import (
    ALL_OPS,
    CONSTANT_OPS,
    DIFFERENTIABLE_OPS,
    GEOMETRIC_OPS,
    IMAGE_FIXTURES,
    MAGNITUDE_OPS,
    apply_uniform,
    assert_close,
)

EXACT_COLOUR_OPS = tuple(
    name for name in DIFFERENTIABLE_OPS if OPS[name].gradient == "exact" and OPS[name].kind == "color"
)


def _context(name: str, batch: int, interpolation: str = "nearest") -> KernelContext:
    """Default fill; cutout gets spread-out positions, including ones that clip the patch at the border."""
    position = torch.stack([torch.linspace(0.0, 0.99, batch), torch.linspace(0.9, 0.05, batch)], dim=1)
    return KernelContext(interpolation=interpolation, position=position if name == "cutout" else None)


def _interpolations(names: tuple[str, ...]) -> list[object]:
    """``(name, interpolation)`` params: geometric ops with both modes, the others once."""
    params = []
    for name in names:
        for mode in ("nearest", "bilinear") if name in GEOMETRIC_OPS else ("nearest",):
            params.append(pytest.param(name, mode, id=f"{name}-{mode}" if name in GEOMETRIC_OPS else name))
    return params


def _zero_cases() -> list[object]:
    """``(name, interpolation, sign)`` for m = 0: ops with a magnitude (solarize apart), both signs if signed."""
    params = []
    for case in _interpolations(tuple(name for name in MAGNITUDE_OPS if name != "solarize")):
        name, interpolation = case.values
        for sign in (1.0, -1.0) if OPS[name].signed else (1.0,):
            params.append(pytest.param(name, interpolation, sign, id=f"{case.id}{'-neg' if sign < 0 else ''}"))
    return params


def _alternating_signs(batch: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.tensor([1.0, -1.0], dtype=dtype).repeat((batch + 1) // 2)[:batch]


@pytest.mark.parametrize("images_fixture", IMAGE_FIXTURES)
class TestIdentityAtZero:
    """Magnitude 0 of the registered range leaves the images unchanged."""

    @pytest.mark.parametrize(("name", "interpolation", "sign"), _zero_cases())
    def test_zero_magnitude_is_the_identity(self, request, images_fixture, name, interpolation, sign):
        images = request.getfixturevalue(images_fixture)
        context = _context(name, images.shape[0], interpolation)
        actual = apply_op(name, images, 0.0, sign=torch.full((images.shape[0],), sign), context=context)
        # a bilinear warp by the identity matrix is exact up to float32 rounding of the sampling grid
        assert_close(actual, images, atol=1e-6 if interpolation == "bilinear" else 0.0)

    def test_solarize_at_zero_keeps_values_below_one(self, request, images_fixture):
        images = request.getfixturevalue(images_fixture).clamp(max=254.0 / 255.0)
        assert_close(apply_op("solarize", images, 0.0), images, atol=0.0)

    def test_solarize_at_zero_inverts_pure_white(self, request, images_fixture):
        """Threshold 1.0 inverts exactly the pixels equal to 1.0 (pixels >= t are inverted)."""
        images = request.getfixturevalue(images_fixture)
        white = images == 1.0
        assert white.any()
        expected = torch.where(white, torch.zeros_like(images), images)
        assert_close(apply_op("solarize", images, 0.0), expected, atol=0.0)


@pytest.mark.parametrize(("name", "interpolation"), _interpolations(ALL_OPS))
class TestNoInPlaceEdit:
    """Neither the images nor the context's positions are modified."""

    def test_inputs_are_not_modified(self, colour_images, name, interpolation):
        batch = colour_images.shape[0]
        context = _context(name, batch, interpolation)
        position = None if context.position is None else context.position.clone()
        images = colour_images.clone()
        magnitude = torch.linspace(0.2, 1.0, batch)
        apply_op(name, images, magnitude.clone(), sign=_alternating_signs(batch), context=context)
        assert_close(images, colour_images, atol=0.0)
        assert_close(magnitude, torch.linspace(0.2, 1.0, batch), atol=0.0)
        if position is not None:
            assert_close(context.position, position, atol=0.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "interpolation"), _interpolations(ALL_OPS))
class TestLayoutKept:
    """dtype, device and shape of the output are those of the input."""

    @pytest.mark.parametrize("images_fixture", IMAGE_FIXTURES)
    def test_dtype_device_shape(self, request, images_fixture, name, interpolation, dtype):
        images = request.getfixturevalue(images_fixture).to(dtype)
        batch = images.shape[0]
        context = _context(name, batch, interpolation)
        out = apply_op(name, images, torch.linspace(0.0, 1.0, batch, dtype=dtype), context=context)
        assert (out.dtype, out.device, out.shape) == (images.dtype, images.device, images.shape)

    def test_values_stay_in_unit_range(self, colour_images, name, interpolation, dtype):
        images = colour_images.to(dtype)
        batch = images.shape[0]
        context = _context(name, batch, interpolation)
        out = apply_op(name, images, 1.0, sign=_alternating_signs(batch, dtype), context=context)
        assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("images_fixture", IMAGE_FIXTURES)
@pytest.mark.parametrize(("name", "interpolation"), _interpolations(ALL_OPS))
class TestBatchedEqualsPerSample:
    """One call with per-sample magnitudes, signs and positions equals one call per image."""

    def test_batched_equals_per_sample(self, request, images_fixture, name, interpolation):
        images = request.getfixturevalue(images_fixture)
        batch = images.shape[0]
        magnitude = torch.linspace(0.0, 1.0, batch)
        signs = _alternating_signs(batch)
        context = _context(name, batch, interpolation)
        batched = apply_op(name, images, magnitude, sign=signs, context=context)
        singles = []
        for i in range(batch):
            index = torch.tensor([i])
            sub = context.subset(index)
            singles.append(apply_op(name, images[index], magnitude[index], sign=signs[index], context=sub))
        assert_close(batched, torch.cat(singles), atol=1e-6)

    def test_float_magnitude_equals_a_full_tensor(self, request, images_fixture, name, interpolation):
        images = request.getfixturevalue(images_fixture)
        context = _context(name, images.shape[0], interpolation)
        from_float = apply_op(name, images, 0.6, context=context)
        from_tensor = apply_op(name, images, torch.full((images.shape[0],), 0.6), context=context)
        assert_close(from_float, from_tensor, atol=0.0)


class TestGradients:
    """Ops with ``gradient`` exact or straight_through pass finite, non-zero gradients to every magnitude."""

    @pytest.mark.parametrize(("name", "interpolation"), _interpolations(DIFFERENTIABLE_OPS))
    @pytest.mark.parametrize("magnitude", [0.0, 0.3, 0.8, 1.0])
    def test_gradient_is_finite_and_non_zero(self, colour_images, name, interpolation, magnitude):
        batch = colour_images.shape[0]
        weights = torch.rand(colour_images.shape, generator=torch.Generator().manual_seed(1))
        magnitudes = torch.full((batch,), magnitude, requires_grad=True)
        context = _context(name, batch, interpolation)
        out = apply_op(name, colour_images, magnitudes, sign=_alternating_signs(batch), context=context)
        (grad,) = torch.autograd.grad((out * weights).sum(), magnitudes)
        assert torch.isfinite(grad).all()
        assert (grad != 0).all(), f"zero gradient for some samples: {grad.tolist()}"

    @pytest.mark.parametrize(("name", "interpolation"), _interpolations(DIFFERENTIABLE_OPS))
    def test_forward_does_not_depend_on_requires_grad(self, colour_images, name, interpolation):
        """The gradient path changes values by float rounding at most (nearest warps add and remove a bilinear one)."""
        batch = colour_images.shape[0]
        magnitudes = torch.linspace(0.0, 1.0, batch)
        context = _context(name, batch, interpolation)
        plain = apply_op(name, colour_images, magnitudes, context=context)
        tracked = apply_op(name, colour_images, magnitudes.clone().requires_grad_(), context=context)
        assert tracked.requires_grad
        assert_close(tracked.detach(), plain, atol=1e-6)
        assert tracked.min() >= 0.0 and tracked.max() <= 1.0

    @pytest.mark.parametrize("name", EXACT_COLOUR_OPS)
    def test_exact_colour_gradients_match_finite_differences(self, colour_images, name):
        images = colour_images[:2, :, :8, :8].double()
        signs = torch.tensor([1.0, -1.0], dtype=torch.float64)
        magnitudes = torch.tensor([0.35, 0.65], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda m: apply_op(name, images, m, sign=signs), (magnitudes,))

    @pytest.mark.parametrize("name", [n for n in DIFFERENTIABLE_OPS if OPS[n].gradient == "straight_through"])
    def test_straight_through_passes_one_per_pixel(self, colour_images, name):
        """d(output)/d(value) = 1 per pixel, so d(sum)/dm = (hi - lo) * C * H * W."""
        batch = colour_images.shape[0]
        magnitudes = torch.full((batch,), 0.5, requires_grad=True)
        out = apply_op(name, colour_images, magnitudes, context=_context(name, batch))
        (grad,) = torch.autograd.grad(out.sum(), magnitudes)
        lo, hi = OPS[name].default_range
        assert_close(grad, torch.full((batch,), (hi - lo) * colour_images[0].numel()), atol=1e-2)


@pytest.mark.parametrize(("name", "interpolation"), _interpolations(CONSTANT_OPS))
class TestConstantOps:
    """Ops with ``gradient`` none ignore the magnitude and its sign, and carry no graph to it."""

    @pytest.mark.parametrize("images_fixture", IMAGE_FIXTURES)
    def test_magnitude_is_ignored(self, request, images_fixture, name, interpolation):
        images = request.getfixturevalue(images_fixture)
        context = KernelContext(interpolation=interpolation)
        reference = apply_uniform(name, images, 0.0, 1.0, context)
        for magnitude, sign in ((1.0, 1.0), (0.5, -1.0), (0.9, 1.0)):
            assert_close(apply_uniform(name, images, magnitude, sign, context), reference, atol=0.0)

    def test_no_graph_to_the_magnitude(self, colour_images, name, interpolation):
        magnitudes = torch.full((colour_images.shape[0],), 0.5, requires_grad=True)
        out = apply_op(name, colour_images, magnitudes, context=KernelContext(interpolation=interpolation))
        assert not out.requires_grad


@pytest.mark.parametrize("name", ALL_OPS)
class TestBadInputs:
    """Invalid images and magnitudes raise with messages that say what was expected and what was received."""

    @pytest.mark.parametrize("shape", [(1, 8, 8), (2, 1, 1, 8, 8), (8, 8)], ids=["3d", "5d", "2d"])
    def test_wrong_ndim(self, name, shape):
        message = f"`images` should have shape [B, C, H, W], but got shape {shape} instead."
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            apply_op(name, torch.rand(shape), 0.5)

    @pytest.mark.parametrize("channels", [2, 4])
    def test_wrong_channel_count(self, name, channels):
        message = (
            f"`images` should have 1 or 3 channels (dimension 1 of [B, C, H, W]), but got {channels} "
            f"in shape (2, {channels}, 8, 8) instead."
        )
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            apply_op(name, torch.rand(2, channels, 8, 8), 0.5)

    @pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
    def test_integer_images(self, name, dtype):
        message = f"`images` should be a float tensor with values in [0, 1], but got dtype {dtype} instead."
        with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
            apply_op(name, torch.zeros(2, 3, 8, 8, dtype=dtype), 0.5)

    def test_not_a_tensor(self, name):
        message = "`images` should be a torch.Tensor, but got list instead."
        with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
            apply_op(name, [[[[0.0]]]], 0.5)

    @pytest.mark.parametrize("shape", [(3,), (1,), (2, 1), (1, 2)])
    def test_wrong_magnitude_shape(self, name, shape):
        message = f"`magnitude` should have shape [2], but got shape {shape} instead."
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            apply_op(name, torch.rand(2, 3, 8, 8), torch.full(shape, 0.5))

    @pytest.mark.parametrize("magnitude", [float("nan"), -0.5, 1e30, float("inf")])
    def test_magnitude_outside_the_unit_interval(self, name, magnitude):
        with pytest.raises(ValueError, match=r"^`magnitude` should be normalised magnitudes in \[0, 1\]") as error:
            apply_op(name, torch.rand(2, 3, 8, 8), magnitude)
        assert "got 2 outside it" in str(error.value)

    def test_magnitude_checked_per_sample(self, name):
        with pytest.raises(ValueError, match=r"got 1 outside it \(for example -0\.25\)"):
            apply_op(name, torch.rand(2, 3, 8, 8), torch.tensor([0.5, -0.25]))

    @pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
    def test_non_finite_pixels(self, name, bad):
        images = torch.rand(2, 3, 8, 8)
        images[1, 2, 3, 4] = bad
        message = (
            "`images` should hold finite values in [0, 1], but got 1 NaN or infinite values in shape (2, 3, 8, 8) "
            "instead."
        )
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            apply_op(name, images, 0.5)

    @pytest.mark.parametrize("size", [(0, 0), (0, 8), (8, 0)])
    def test_empty_images(self, name, size):
        message = f"`images` should be at least 1x1 pixels, but got shape (2, 3, {size[0]}, {size[1]})"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
            apply_op(name, torch.rand(2, 3, *size), 0.5)

    def test_empty_batch_is_returned_empty(self, name):
        assert apply_op(name, torch.rand(0, 3, 8, 8), 0.5).shape == (0, 3, 8, 8)
