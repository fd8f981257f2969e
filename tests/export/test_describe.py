"""``describe_policy``, ``op_frequencies``, ``expected_strength`` and ``diff_policies``."""

from __future__ import annotations

import math

import pytest
import torch

from augmeta import Policy, load_policy
from augmeta.export import describe_policy, diff_policies, expected_strength, op_frequencies
from augmeta.policy import OP_NAMES
from tests.policy.helpers import POLICY_FILES

from .helpers import choice, policy_dict
from .test_torchvision import STAT_POLICY

DRAWS = 100_000


def sampled(policy: Policy) -> tuple[dict[str, float], float, float]:
    """Op frequencies, ops per image and strength from augmeta's own sampler."""
    draws = policy.sample(DRAWS, generator=torch.Generator().manual_seed(0))
    ops = torch.stack([step.op for step in draws.steps], dim=1)  # [B, L]
    magnitudes = torch.stack([step.magnitude for step in draws.steps], dim=1)
    frequencies = {name: float((ops == index).any(dim=1).double().mean()) for index, name in enumerate(OP_NAMES)}
    applied = ops != OP_NAMES.index("identity")
    has_magnitude = torch.tensor([policy_op_has_magnitude(name) for name in OP_NAMES])[ops]
    strength = float((magnitudes.double() * (applied & has_magnitude)).sum(dim=1).mean())
    return frequencies, float(applied.double().sum(dim=1).mean()), strength


def policy_op_has_magnitude(name: str) -> bool:
    from augmeta.ops import OPS

    return OPS[name].has_magnitude


@pytest.mark.parametrize("path", [*POLICY_FILES[:2], None], ids=["aa-cifar10", "aa-imagenet", "stat"])
def test_frequencies_and_strength_match_sampling(path):
    policy = load_policy(path) if path else Policy.from_dict(STAT_POLICY)
    frequencies, ops, strength = sampled(policy)
    expected = op_frequencies(policy)
    for name, p in expected.items():
        assert abs(frequencies[name] - p) <= 5 * math.sqrt(p * (1 - p) / DRAWS) + 1e-9, name
    assert all(frequencies[name] == 0.0 for name in OP_NAMES if name not in expected and name != "identity")
    expected_ops, expected_strength_ = expected_strength(policy)
    assert ops == pytest.approx(expected_ops, abs=0.02) and strength == pytest.approx(expected_strength_, abs=0.01)


def test_describe_text():
    policy = Policy.from_dict(
        policy_dict(
            [
                [{"p": 0.5, "ops": [choice("rotate", 0.5, signed=True)]}, {"p": 1.0, "ops": [choice("invert")]}],
                [{"p": 0.2, "ops": [choice("posterize", 1.0), choice("solarize", {"low": 0.0, "high": 0.5})]}],
            ],
            weights=[3.0, 1.0],
        )
    )
    assert describe_policy(policy) == (
        "policy 'export-test': 2 sub-policies, fill [0.0], nearest\n"
        "expected ops per image: 1.175; expected strength (sum of magnitudes applied): 0.219\n"
        "\n"
        "  #  weight  steps (m = normalised magnitude, physical values in brackets)\n"
        "  0   0.750  p=0.50 rotate m=0.50 (±15) | p=1.00 invert\n"
        "  1   0.250  p=0.20 posterize m=1.00 (+4) w=0.50 / solarize m=[0.00,0.50] ([0.5, 1]) w=0.50\n"
        "\n"
        "op              P(applied)  mean m   physical values drawn   (P: probability that an image gets the op)\n"
        "invert              0.7500       -   -\n"
        "rotate              0.3750   0.500   ±15 (degrees, counter-clockwise)\n"
        "posterize           0.0250   1.000   4 (bits kept)\n"
        "solarize            0.0250   0.250   [0.5, 1] (threshold, fraction of full scale)\n"
    )


class TestDiff:
    def test_same_policies(self):
        a = load_policy(POLICY_FILES[0])
        b = Policy.from_dict({**a.to_dict(), "name": "renamed", "description": "other"})
        assert diff_policies(a, b) == []

    def test_lists_each_difference(self):
        a = Policy.from_dict(STAT_POLICY)
        data = a.to_dict()
        data["interpolation"] = "bilinear"
        data["subpolicies"][0]["steps"][1]["ops"][0]["magnitude"] = 0.75
        data["subpolicies"][1]["steps"][0]["p"] = 0.8
        del data["subpolicies"][2]
        assert diff_policies(a, Policy.from_dict(data)) == [
            "interpolation: 'nearest' in A, 'bilinear' in B",
            "subpolicies: 3 in A, 2 in B",
            "subpolicies[0].steps[1].ops[0] (solarize).magnitude: 0.5 in A, 0.75 in B",
            "subpolicies[1].steps[0].p: 0.9 in A, 0.8 in B",
            "subpolicies[2]: only in A",
        ]
