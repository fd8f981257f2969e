"""Fixtures of the policy tests: a minimal valid policy dict, a policy over every op, a policy-file writer."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from augmeta import Policy

from .helpers import MINIMAL_POLICY, every_op_choices, make_policy_dict


@pytest.fixture
def minimal_policy_dict() -> dict[str, Any]:
    """A fresh copy of a small valid policy (one sub-policy, one step, one signed rotate)."""
    return copy.deepcopy(MINIMAL_POLICY)


@pytest.fixture
def every_op_policy() -> Policy:
    """Two steps (p = 0.9) over every registered op, magnitudes uniform over [0.2, 1], fill 0.25."""
    return Policy.from_dict(make_policy_dict(every_op_choices(), p=0.9, steps=2, fill=(0.25,)))


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[..., Path]:
    """``write_policy(data, name="policy.json")``: dump ``data`` (JSON, or the text as it is) into ``tmp_path``."""

    def write(data: Any, name: str = "policy.json") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2), encoding="utf-8")
        return path

    return write
