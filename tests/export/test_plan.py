"""The export plan: every op choice as the physical values it draws, with their probabilities."""

from __future__ import annotations

import pytest

from augmeta import Policy
from augmeta.export.plan import Variant, plan_policy

from .helpers import choice, policy_dict


def variants(*choices, weights=None):
    policy = Policy.from_dict(policy_dict([[{"p": 0.5, "ops": list(choices)}]], weights=weights))
    return plan_policy(policy).subpolicies[0].steps[0].choices


def test_signed_fixed_magnitude_is_two_values():
    (rotate,) = variants(choice("rotate", 0.5, signed=True))
    assert rotate.variants == (Variant(15.0, 15.0, 0.5), Variant(-15.0, -15.0, 0.5))
    assert rotate.path == "subpolicies[0].steps[0].ops[0]" and rotate.probability == 1.0


def test_zero_magnitude_merges_both_signs():
    (rotate,) = variants(choice("rotate", 0.0, signed=True))
    assert rotate.variants == (Variant(0.0, 0.0, 1.0),)


def test_levels_are_evenly_spaced_and_equally_likely():
    (posterize,) = variants(choice("posterize", {"low": 0.0, "high": 1.0, "levels": 3}))
    assert posterize.variants == (Variant(8.0, 8.0, 1 / 3), Variant(6.0, 6.0, 1 / 3), Variant(4.0, 4.0, 1 / 3))


def test_continuous_signed_magnitude_is_two_intervals():
    (brightness,) = variants(choice("brightness", {"low": 0.5, "high": 1.0}, signed=True))
    assert brightness.variants == (Variant(0.45, 0.9, 0.5), Variant(-0.9, -0.45, 0.5))
    assert not brightness.variants[0].fixed


def test_weights_are_normalised():
    invert, flip = variants(choice("invert", weight=1.0), choice("flip_x", weight=3.0))
    assert (invert.probability, flip.probability) == (0.25, 0.75)
    assert invert.variants == (Variant(0.0, 0.0, 1.0),)
    policy = Policy.from_dict(policy_dict([[{"p": 1.0, "ops": [choice("invert")]}]] * 2, weights=[1.0, 3.0]))
    assert [sub.probability for sub in plan_policy(policy).subpolicies] == pytest.approx([0.25, 0.75])
