"""Parity of every op with ``torchvision.transforms.v2.functional`` on real images (OPS.md tolerances)."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from augmeta.ops import OPS, KernelContext, apply_op
from augmeta.ops.erase import cutout_box

from .checks import (
    COLOUR_ATOL,
    FLOAT_OPS,
    GEOMETRIC_ATOL,
    GEOMETRIC_OPS,
    IMAGE_FIXTURES,
    UINT8_OPS,
    apply_uniform,
    assert_close,
    magnitude_cases,
    physical_value,
    to_uint8,
    torchvision_cutout,
    torchvision_float,
    torchvision_geometric,
    torchvision_uint8,
)

CUTOUT_POSITIONS = ((0.5, 0.5), (0.0, 0.0), (0.99, 0.99), (0.1, 0.8), (0.7, 0.3), (0.25, 0.6), (0.9, 0.05), (0.4, 0.4))


def test_every_op_has_a_parity_test():
    covered = set(GEOMETRIC_OPS) | set(FLOAT_OPS) | set(UINT8_OPS) | {"cutout"}
    assert covered == set(OPS)


@pytest.mark.parametrize("images_fixture", IMAGE_FIXTURES)
class TestGeometricParity:
    """Shared warp vs ``F.affine`` / ``F.rotate`` / ``F.horizontal_flip`` (fill 0, torchvision's default)."""

    @pytest.mark.parametrize(("name", "magnitude", "sign"), magnitude_cases(GEOMETRIC_OPS))
    @pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
    def test_matches_torchvision(self, request, images_fixture, name, magnitude, sign, interpolation, dtype):
        images = request.getfixturevalue(images_fixture).to(dtype)
        context = KernelContext(interpolation=interpolation)
        actual = apply_uniform(name, images, magnitude, sign, context)
        expected = torchvision_geometric(name, images, physical_value(name, magnitude, sign), interpolation, (0.0,))
        assert_close(actual, expected, atol=GEOMETRIC_ATOL[interpolation])


class TestRightAngles:
    """Rotations torchvision takes by a fast path (``torch.rot90``) or by the warp at large angles."""

    @pytest.mark.parametrize("degrees", [90.0, 180.0, 135.0])
    @pytest.mark.parametrize("sign", [1.0, -1.0], ids=["pos", "neg"])
    def test_rotate_matches_torchvision(self, digits_images, degrees, sign):
        signs = torch.full((digits_images.shape[0],), sign)
        actual = apply_op("rotate", digits_images, 1.0, value_range=(0.0, degrees), sign=signs)
        expected = torchvision_geometric("rotate", digits_images, sign * degrees, "nearest", (0.0,))
        assert_close(actual, expected, atol=GEOMETRIC_ATOL["nearest"])


@pytest.mark.parametrize("fill", [(0.5,), (1.0,), (0.2, 0.5, 0.8)], ids=["grey", "white", "per-channel"])
class TestFillParity:
    """Geometric ops with a non-zero fill vs torchvision's masked fill."""

    @pytest.mark.parametrize(("name", "magnitude", "sign"), magnitude_cases(GEOMETRIC_OPS, (0.3, 1.0)))
    @pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
    def test_matches_torchvision(self, colour_images, fill, name, magnitude, sign, interpolation):
        context = KernelContext(fill=fill, interpolation=interpolation)
        actual = apply_uniform(name, colour_images, magnitude, sign, context)
        value = physical_value(name, magnitude, sign)
        expected = torchvision_geometric(name, colour_images, value, interpolation, fill)
        assert_close(actual, expected, atol=GEOMETRIC_ATOL[interpolation])


class TestFillPlacement:
    """The fill lands exactly where the warp uncovers the image, and nowhere else."""

    @pytest.mark.parametrize("fill", [0.5, 1.0 / 255.0])
    @pytest.mark.parametrize("name", ["rotate", "shear_x", "shear_y", "translate_x", "translate_y"])
    def test_only_uncovered_pixels_get_the_fill(self, name, fill):
        ones = torch.ones(2, 1, 16, 16)
        actual = apply_uniform(name, ones, 1.0, 1.0, KernelContext(fill=(fill,)))
        torch.testing.assert_close(actual.unique(), torch.tensor([fill, 1.0]), atol=0.0, rtol=0.0)


@pytest.mark.parametrize("images_fixture", IMAGE_FIXTURES)
class TestFloatParity:
    """Photometric ops on float images vs torchvision's float kernels, within one grey level."""

    @pytest.mark.parametrize(("name", "magnitude", "sign"), magnitude_cases(FLOAT_OPS))
    def test_matches_torchvision(self, request, images_fixture, name, magnitude, sign):
        images = request.getfixturevalue(images_fixture)
        actual = apply_uniform(name, images, magnitude, sign)
        expected = torchvision_float(name, images, physical_value(name, magnitude, sign))
        assert_close(actual, expected, atol=COLOUR_ATOL)


@pytest.mark.parametrize("images_fixture", IMAGE_FIXTURES)
class TestUint8Parity:
    """Posterize and equalize, rounded to uint8, equal torchvision's uint8 kernels exactly."""

    @pytest.mark.parametrize(("name", "magnitude", "sign"), magnitude_cases(UINT8_OPS, (0.0, 0.25, 0.3, 0.5, 0.7, 1.0)))
    def test_matches_torchvision(self, request, images_fixture, name, magnitude, sign):
        images = request.getfixturevalue(images_fixture)
        actual = to_uint8(apply_uniform(name, images, magnitude, sign))
        expected = torchvision_uint8(name, to_uint8(images), physical_value(name, magnitude, sign))
        torch.testing.assert_close(actual, expected, atol=0, rtol=0)


class TestCutoutParity:
    """Cutout vs ``F.erase`` on the box :func:`cutout_box` places, and the box's geometry."""

    @pytest.mark.parametrize("magnitude", [0.0, 0.3, 0.7, 1.0])
    @pytest.mark.parametrize("fill", [(0.0,), (0.5,)], ids=["black", "grey"])
    @pytest.mark.parametrize("images_fixture", IMAGE_FIXTURES)
    def test_matches_torchvision(self, request, images_fixture, magnitude, fill):
        images = request.getfixturevalue(images_fixture)
        position = torch.tensor(CUTOUT_POSITIONS[: images.shape[0]])
        actual = apply_op("cutout", images, magnitude, context=KernelContext(fill=fill, position=position))
        expected = torchvision_cutout(images, physical_value("cutout", magnitude), position, fill)
        assert_close(actual, expected, atol=0.0)

    @pytest.mark.parametrize("value", [0.0, 0.1, 0.25, 0.5, 1.0])
    def test_box_is_a_centred_square_of_the_requested_side(self, value):
        height, width = 24, 32
        box = cutout_box(torch.tensor([value]), torch.tensor([[0.5, 0.5]]), height, width)[0].tolist()
        side = round(value * min(height, width))
        top, left, bottom, right = box
        assert (bottom - top, right - left) == (side, side)
        assert top + side // 2 == height // 2 and left + side // 2 == width // 2

    def test_box_is_clipped_at_the_border(self):
        box = cutout_box(torch.tensor([0.5]), torch.tensor([[0.0, 0.99]]), 24, 32)[0].tolist()
        assert box == [0, 25, 6, 32]

    def test_without_position_the_patch_is_centred(self, digits_images):
        actual = apply_op("cutout", digits_images, 1.0)  # side 0.5 * 32 = 16
        expected = digits_images.clone()
        expected[..., 8:24, 8:24] = 0.0
        assert_close(actual, expected, atol=0.0)


class TestValueRange:
    """``value_range`` replaces the registered range: magnitude 1 reaches its end."""

    def test_rotate_with_a_custom_range(self, digits_images):
        actual = apply_op("rotate", digits_images, 1.0, value_range=(0.0, 135.0))
        assert_close(actual, torchvision_geometric("rotate", digits_images, 135.0, "nearest", (0.0,)), atol=1e-6)

    def test_brightness_with_a_custom_range_and_sign(self, colour_images):
        signs = torch.full((colour_images.shape[0],), -1.0)
        actual = apply_op("brightness", colour_images, 0.5, value_range=(0.0, 0.99), sign=signs)
        assert_close(actual, torchvision_float("brightness", colour_images, -0.495), atol=COLOUR_ATOL)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_equalize_gives_torchvisions_float_kernel_bit_for_bit(dtype):
    """Our equalize is torchvision's algorithm in fewer ops: the same numbers on float images of every kind, flat
    ones (left as they are), images of one level per channel, of a few levels, of one pixel and of none."""
    generator = torch.Generator().manual_seed(0)
    few_levels = torch.randint(0, 3, (16, 1, 9, 9), generator=generator) / 2.0
    half_flat = torch.rand(6, 1, 10, 10, generator=generator)
    half_flat[:3] = 0.3
    cases = [
        torch.rand(32, 3, 20, 24, generator=generator),
        torch.randint(0, 256, (16, 3, 16, 16), generator=generator) / 255.0,
        torch.zeros(2, 1, 5, 5),
        torch.ones(2, 3, 5, 5),
        few_levels,
        half_flat,
        torch.rand(2, 3, 1, 1, generator=generator),
        torch.rand(0, 3, 4, 4),
    ]
    for images in cases:
        images = images.to(dtype)
        ours = OPS["equalize"].kernel(images, torch.zeros(len(images)), KernelContext())
        assert ours.dtype == dtype and torch.equal(ours, F.equalize(images)), tuple(images.shape)
