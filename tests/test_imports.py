"""Imports flow one way: the core packages load without Lightning or albumentations (checked in a fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("pytorch_lightning", "lightning", "lightning_fabric", "albumentations")

PROBE = f"""
import json, sys
import augmeta, augmeta.ops, augmeta.policy, augmeta.policy.published, augmeta.utils, augmeta.cli
heavy = {HEAVY!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_core_imports_leave_out_lightning_and_albumentations():
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
