"""The closed-form matrices of the geometric ops agree with the general port of torchvision's matrix."""

import math

import pytest
import torch

from augmeta.ops import OPS, inverse_affine_matrix

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
