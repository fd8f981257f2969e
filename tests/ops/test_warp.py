"""The closed-form matrices of the geometric ops agree with a general port of torchvision's matrix."""

import math
import re

import pytest
import torch

from augmeta.ops import OPS, KernelContext, geometric_warp, warp
from augmeta.ops import context as ops_context
from augmeta.ops.affine import inverse_matrices


def inverse_affine_matrix(  # reference: torchvision's formula, all parameters at once
    *,
    angle: torch.Tensor,
    translate: tuple[torch.Tensor, torch.Tensor],
    shear_tan: tuple[torch.Tensor, torch.Tensor],
    center: tuple[float, float] = (0.0, 0.0),
) -> torch.Tensor:
    """Batched port of torchvision's ``_get_inverse_affine_matrix`` with scale 1.

    Args:
        angle: ``[B]`` rotation in degrees, as ``F.affine`` takes it (clockwise on screen).
        translate: ``([B], [B])`` shift in pixels.
        shear_tan: ``([B], [B])`` tangents of the x and y shear angles.
        center: rotation/shear centre relative to the image centre, in pixels.

    Returns:
        ``[B, 2, 3]`` inverse matrices.
    """
    # float64 like torchvision's Python-float matrices, so nearest sampling breaks ties the same way
    angle = angle.double()
    rot = angle * (math.pi / 180.0)
    tan_x, tan_y = (t.double() for t in shear_tan)
    cos_y = torch.rsqrt(1.0 + tan_y * tan_y)  # cos(atan(t))
    sin_y = tan_y * cos_y
    cos_ry = torch.cos(rot) * cos_y + torch.sin(rot) * sin_y  # cos(rot - sy)
    sin_ry = torch.sin(rot) * cos_y - torch.cos(rot) * sin_y  # sin(rot - sy)
    a = cos_ry / cos_y
    b = -cos_ry * tan_x / cos_y - torch.sin(rot)
    c = sin_ry / cos_y
    d = -sin_ry * tan_x / cos_y + torch.cos(rot)
    cx, cy = center
    tx, ty = (t.double() for t in translate)
    m2 = d * (-cx - tx) + b * (cy + ty) + cx
    m5 = -c * (-cx - tx) + a * (-cy - ty) + cy
    row0 = torch.stack([d, -b, m2], dim=-1)
    row1 = torch.stack([-c, a, m5], dim=-1)
    return torch.stack([row0, row1], dim=-2)


HEIGHT, WIDTH = 24, 32
VALUES = torch.tensor([-0.7, -0.1, 0.0, 0.25, 0.9], dtype=torch.float64)


def general(name: str, value: torch.Tensor) -> torch.Tensor:
    zero = torch.zeros_like(value)
    top_left = (-0.5 * WIDTH, -0.5 * HEIGHT)
    if name == "shear_x":
        return inverse_affine_matrix(angle=zero, translate=(zero, zero), shear_tan=(value, zero), center=top_left)
    if name == "shear_y":
        return inverse_affine_matrix(angle=zero, translate=(zero, zero), shear_tan=(zero, value), center=top_left)
    if name == "translate_x":
        return inverse_affine_matrix(angle=zero, translate=(value * WIDTH, zero), shear_tan=(zero, zero))
    if name == "translate_y":
        return inverse_affine_matrix(angle=zero, translate=(zero, value * HEIGHT), shear_tan=(zero, zero))
    if name == "rotate":
        return inverse_affine_matrix(angle=-value * 100.0, translate=(zero, zero), shear_tan=(zero, zero))
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["shear_x", "shear_y", "translate_x", "translate_y", "rotate"])
def test_closed_form_matches_general_matrix(name):
    value = VALUES * (100.0 if name == "rotate" else 1.0)
    closed = OPS[name].inverse_affine(value, HEIGHT, WIDTH)
    torch.testing.assert_close(closed, general(name, VALUES), rtol=0, atol=1e-12)


def test_general_matrix_of_a_rotation_is_orthonormal():
    angle = torch.tensor([37.0])
    zero = torch.zeros(1)
    theta = inverse_affine_matrix(angle=angle, translate=(zero, zero), shear_tan=(zero, zero))[0, :, :2]
    torch.testing.assert_close(theta @ theta.T, torch.eye(2, dtype=theta.dtype), rtol=0, atol=1e-12)
    assert math.isclose(float(torch.linalg.det(theta)), 1.0, abs_tol=1e-12)


def test_a_warp_first_run_in_inference_mode_leaves_autograd_working_after():
    """The warp's device constants (scale, fill) are made once and shared; made under ``inference_mode`` they must
    still be usable by a later warp that autograd records."""
    ops_context._CONSTANTS.clear()
    images = torch.rand(4, 1, 8, 8)
    theta = torch.tensor([[1.0, 0.1, 0.5], [0.0, 1.0, 0.0]]).repeat(4, 1, 1)
    context = KernelContext(fill=(0.5,), interpolation="bilinear")
    with torch.inference_mode():
        expected = warp(images, theta, context)
    theta.requires_grad_(True)
    out = warp(images, theta, context)
    out.sum().backward()
    assert torch.equal(out.detach(), expected)
    assert theta.grad.abs().sum() > 0


@pytest.mark.parametrize(("fill", "zero"), [((0.0,), True), ((0.0, 0.0, 0.0), True), ((0.0, 0.5, 0.0), False),
                                            ((1e-50,), True)])  # fmt: skip
def test_fills_with_zero_is_decided_on_the_host_as_the_fill_tensor_holds_it(fill, zero):
    context = KernelContext(fill=fill)
    assert context.fills_with_zero(torch.float32) is zero
    assert bool(context.fill_tensor(torch.zeros(1, 3, 2, 2)).any()) is not zero


def test_a_zero_fill_of_the_wrong_length_is_still_rejected_by_the_warp():
    """The zero test runs on the host, but the fill is still checked against the images' channels."""
    expected = "`fill` should have 1 value or one per channel (3), but got [0.0, 0.0] for images of shape (2, 3, 4, 4)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        warp(torch.rand(2, 3, 4, 4), torch.eye(2, 3).repeat(2, 1, 1), KernelContext(fill=(0.0, 0.0)))


def test_the_closed_forms_give_each_geometric_op_its_own_matrix_in_a_mixed_batch():
    """One lookup of the forms gives every sample the matrix of the op it drew: the same numbers, bit for bit, as
    that op's ``inverse_affine`` alone (the terms of the other ops add exact zeros)."""
    names = [name for name in OPS if OPS[name].kind == "geometric"]
    height, width = 24, 32
    ops = torch.arange(len(names)).repeat(5)
    value = torch.linspace(-1.0, 1.0, len(ops))
    forms = torch.tensor([OPS[name].affine_form(height, width).row() for name in names], dtype=torch.float64)
    mixed = inverse_matrices(forms[ops], value)
    for i, op in enumerate(ops.tolist()):
        alone = OPS[names[op]].inverse_affine(value[i : i + 1], height, width)[0]
        assert torch.equal(mixed[i], alone), names[op]


def test_the_cache_of_size_dependent_tensors_stays_bounded():
    """Grids and masks are cached per image size; images of many sizes (a per-image pipeline) evict the oldest."""
    ops_context._CONSTANTS.clear()
    context = KernelContext(fill=(0.5,))
    theta = torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]])[None]
    for size in range(4, 4 + 2 * ops_context.CACHE_SIZE):
        warp(torch.rand(1, 1, size, size), theta, context)
    assert len(ops_context._CONSTANTS) == ops_context.CACHE_SIZE
    images, thetas = torch.rand(2, 1, 5, 7), theta.expand(2, 2, 3)
    with_evictions = warp(images, thetas, context)
    ops_context._CONSTANTS.clear()
    assert torch.equal(with_evictions, warp(images, thetas, context))


def _caller_numbering() -> tuple[str, ...]:
    """Every op, in reverse registry order: a caller's own numbering, with non-geometric names among the others."""
    return tuple(reversed(list(OPS)))


@pytest.mark.parametrize(
    "context", [KernelContext(), KernelContext(fill=(0.25, 0.5, 0.75), interpolation="bilinear")], ids=["zero", "fill"]
)
def test_geometric_warp_is_one_warp_with_each_samples_own_matrix(context):
    """A batch mixing geometric ops warps bit for bit as one ``warp`` with each sample's own op's matrix."""
    names = _caller_numbering()
    geometric = [index for index, name in enumerate(names) if OPS[name].kind == "geometric"]
    op = torch.tensor(geometric).repeat(3)
    value = torch.linspace(-0.8, 0.8, len(op))
    images = torch.rand(len(op), 3, 12, 16, generator=torch.Generator().manual_seed(0))
    theta = torch.cat(
        [OPS[names[index]].inverse_affine(value[i : i + 1], 12, 16) for i, index in enumerate(op.tolist())]
    )
    out = geometric_warp(images, names, op, value, context)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert torch.equal(out, warp(images, theta, context))
    for i, index in enumerate(op.tolist()):  # and as each op's own kernel, up to the batch's rounding
        alone = OPS[names[index]].kernel(images[i : i + 1], value[i : i + 1], context)
        torch.testing.assert_close(out[i : i + 1], alone, rtol=0.0, atol=1e-6)


def test_geometric_warp_defaults_to_a_zero_fill_and_nearest_and_differentiates_in_the_value():
    names = ("rotate", "translate_x")
    images = torch.rand(2, 1, 9, 9, generator=torch.Generator().manual_seed(1))
    op, value = torch.tensor([0, 1]), torch.tensor([20.0, 0.25], requires_grad=True)
    out = geometric_warp(images, names, op, value)
    assert torch.equal(out.detach(), geometric_warp(images, names, op, value.detach(), KernelContext()))
    out.sum().backward()
    assert value.grad is not None and bool((value.grad != 0).all())


def test_geometric_warp_tables_are_made_per_numbering():
    """The cached table of forms belongs to one list of names: another numbering of the same ops gets its own."""
    images = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    value = torch.tensor([0.3, 0.3])
    first = geometric_warp(images, ("shear_x", "shear_y"), torch.tensor([0, 1]), value)
    swapped = geometric_warp(images, ("shear_y", "shear_x"), torch.tensor([1, 0]), value)
    assert torch.equal(first, swapped)
    assert not torch.equal(first[0], geometric_warp(images, ("shear_y",), torch.tensor([0, 0]), value)[0])
