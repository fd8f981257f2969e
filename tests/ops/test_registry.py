"""The op registry: names, frozen specs, unique registration, read-only mapping, lookups."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, MutableMapping

import pytest
import torch

from augmeta.ops import OPS, KernelContext, OpSpec, apply_op, register_op

from .checks import ALL_OPS, EXPECTED_OPS, GEOMETRIC_OPS, MAGNITUDE_OPS

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
UNKNOWN_OP_MESSAGE = f"Unknown op 'nope'; expected one of {sorted(EXPECTED_OPS)}."


def _kernel(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
    return images


class TestNames:
    def test_names_are_complete(self):
        assert set(OPS) == EXPECTED_OPS

    def test_names_are_unique(self):
        names = list(OPS)
        assert len(names) == len(set(names)) == len(OPS) == len(EXPECTED_OPS)

    @pytest.mark.parametrize("name", ALL_OPS)
    def test_name_is_snake_case(self, name):
        assert SNAKE_CASE.fullmatch(name)

    @pytest.mark.parametrize("name", ALL_OPS)
    def test_key_is_the_spec_name(self, name):
        assert OPS[name].name == name


@pytest.mark.parametrize("name", ALL_OPS)
class TestSpecs:
    def test_spec_is_frozen(self, name):
        spec = OPS[name]
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.default_range = (0.0, 1.0)
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.kernel = _kernel
        assert isinstance(spec, OpSpec)

    def test_fields_are_consistent(self, name):
        spec = OPS[name]
        assert spec.kind in ("identity", "geometric", "color", "erase")
        assert spec.gradient in ("exact", "straight_through", "none")
        assert spec.has_magnitude == (spec.default_range is not None) == (spec.limits is not None)
        assert spec.has_magnitude or (spec.gradient == "none" and not spec.signed)
        assert callable(spec.kernel)

    def test_geometric_ops_have_an_inverse_affine(self, name):
        spec = OPS[name]
        assert (spec.kind == "geometric") == (name in GEOMETRIC_OPS)
        assert (spec.inverse_affine is not None) == (name in GEOMETRIC_OPS)


@pytest.mark.parametrize("name", MAGNITUDE_OPS)
def test_default_range_lies_within_limits(name):
    spec = OPS[name]
    lo, hi = spec.limits
    assert all(lo <= v <= hi for v in spec.default_range)
    if spec.signed:
        assert all(lo <= -v <= hi for v in spec.default_range)


@pytest.mark.parametrize("name", [name for name in GEOMETRIC_OPS if OPS[name].has_magnitude])
def test_inverse_affine_is_the_identity_at_zero(name):
    spec = OPS[name]
    theta = spec.inverse_affine(spec.value(torch.zeros(3)), 24, 32)
    assert theta.shape == (3, 2, 3)
    expected = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=theta.dtype).expand(3, 2, 3)
    torch.testing.assert_close(theta, expected, atol=1e-12, rtol=0.0)


class TestValue:
    """``OpSpec.value``: ``lo + m * (hi - lo)``, times the sign; zeros without a magnitude."""

    def test_maps_magnitude_onto_the_default_range(self):
        spec = OPS["posterize"]
        actual = spec.value(torch.tensor([0.0, 0.5, 1.0]))
        torch.testing.assert_close(actual, torch.tensor([8.0, 6.0, 4.0]))

    def test_value_range_and_sign(self):
        actual = OPS["rotate"].value(torch.tensor([0.0, 0.5, 1.0]), (10.0, 20.0), torch.tensor([1.0, -1.0, -1.0]))
        torch.testing.assert_close(actual, torch.tensor([10.0, -15.0, -20.0]))

    def test_zeros_without_magnitude(self):
        torch.testing.assert_close(OPS["invert"].value(torch.tensor([0.3, 1.0])), torch.zeros(2))


class TestRegistration:
    """A second registration of a name fails and leaves the registry as it was."""

    @pytest.mark.parametrize("name", ["rotate", "identity", "cutout"])
    def test_register_op_twice_raises(self, name):
        before = OPS[name]
        message = f"Op {name!r} is already registered; op names must be unique."
        decorate = register_op(name, kind="color", default_range=(0.0, 1.0), signed=False, gradient="exact", unit="x")
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            decorate(_kernel)
        assert OPS[name] is before
        assert set(OPS) == EXPECTED_OPS

    def test_add_existing_spec_raises(self):
        spec = OPS["invert"]
        message = "Op 'invert' is already registered; op names must be unique."
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            OPS.add(dataclasses.replace(spec, unit="something else"))
        assert OPS["invert"] is spec


class TestReadOnly:
    def test_is_a_mapping_but_not_mutable(self):
        assert isinstance(OPS, Mapping)
        assert not isinstance(OPS, MutableMapping)

    def test_item_assignment_and_deletion_fail(self):
        with pytest.raises(TypeError):
            OPS["invert"] = OPS["identity"]
        with pytest.raises(TypeError):
            del OPS["invert"]
        assert OPS["invert"].name == "invert"

    @pytest.mark.parametrize("method", ["pop", "popitem", "clear", "update", "setdefault"])
    def test_no_mutating_methods(self, method):
        assert not hasattr(OPS, method)


class TestLookup:
    def test_unknown_op_lists_the_ops(self):
        with pytest.raises(KeyError) as excinfo:
            OPS["nope"]
        assert excinfo.value.args == (UNKNOWN_OP_MESSAGE,)

    def test_apply_unknown_op(self):
        with pytest.raises(KeyError) as excinfo:
            apply_op("nope", torch.rand(1, 1, 4, 4), 0.5)
        assert excinfo.value.args == (UNKNOWN_OP_MESSAGE,)

    def test_membership_and_get(self):
        assert "rotate" in OPS and "nope" not in OPS
        assert OPS.get("nope") is None
        assert OPS.get("rotate") is OPS["rotate"]

    def test_repr_lists_the_ops(self):
        assert repr(OPS) == f"OPS({sorted(EXPECTED_OPS)})"
