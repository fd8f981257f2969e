"""Exported files work where augmeta is not installed, and ``augmeta.export`` imports no optional dependency."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import albumentations as A
import numpy as np
import torch

from augmeta import Policy, load_policy
from augmeta.export import save_albumentations, save_torchvision_stock, to_albumentations, to_torchvision
from tests.policy.helpers import POLICY_DIR

from .test_torchvision import STAT_POLICY

#: Loads the exported files with augmeta blocked and writes what they do to one image, seeded.
WITHOUT_AUGMETA = """
import sys
sys.modules["augmeta"] = None  # `import augmeta` now fails
import runpy
import albumentations as A
import numpy as np
import torch

folder = sys.argv[1]
image = np.load(folder + "/image.npy")
outputs = {}
for name, data_format in (("policy.json", "json"), ("policy.yaml", "yaml")):
    pipeline = A.load(folder + "/" + name, data_format=data_format)
    pipeline.set_random_seed(7)
    outputs[name] = np.stack([pipeline(image=image)["image"] for _ in range(20)])
transform = runpy.run_path(folder + "/policy.py")["transform"]
torch.manual_seed(7)
tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
outputs["policy.py"] = np.stack([transform(tensor).permute(1, 2, 0).numpy() for _ in range(20)])
np.savez(folder + "/outputs.npz", **outputs)
print(sorted(m for m in sys.modules if m.startswith("augmeta")))
"""

IMPORTS = """
import json, sys
import augmeta.export
heavy = ("albumentations", "pytorch_lightning", "lightning", "augmeta.meta", "augmeta.lightning")
print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))
"""


def start(code: str, *args: str, cwd) -> subprocess.Popen:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = [sys.executable, "-c", code, *args]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_files_load_without_augmeta_and_imports_stay_light(tmp_path):
    """Both subprocesses run at once (each start imports torch, which takes seconds)."""
    alb_policy = Policy.from_dict(STAT_POLICY)  # the published policies have sharpness below 1: refused
    tv_policy = load_policy(POLICY_DIR / "autoaugment_cifar10.json")
    save_albumentations(alb_policy, tmp_path / "policy.json")
    save_albumentations(alb_policy, tmp_path / "policy.yaml")
    save_torchvision_stock(tv_policy, tmp_path / "policy.py", image_size=(24, 32))
    image = (np.arange(24 * 32 * 3) % 251).astype(np.uint8).reshape(24, 32, 3)
    np.save(tmp_path / "image.npy", image)

    loader = start(WITHOUT_AUGMETA, str(tmp_path), cwd=tmp_path)
    imports = start(IMPORTS, cwd=tmp_path)
    out, err = loader.communicate(timeout=180)
    assert loader.returncode == 0, err
    assert out.strip() == "['augmeta']"  # only the blocked entry
    imports_out, imports_err = imports.communicate(timeout=180)
    assert imports.returncode == 0, imports_err
    assert json.loads(imports_out.strip().splitlines()[-1]) == []

    outputs = np.load(tmp_path / "outputs.npz")
    pipeline = to_albumentations(alb_policy)
    pipeline.set_random_seed(7)
    expected = np.stack([pipeline(image=image)["image"] for _ in range(20)])
    np.testing.assert_array_equal(outputs["policy.json"], expected)
    np.testing.assert_array_equal(outputs["policy.yaml"], expected)
    transform = to_torchvision(tv_policy, stock_only=True, image_size=(24, 32))
    torch.manual_seed(7)
    tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
    expected_tv = np.stack([transform(tensor).permute(1, 2, 0).numpy() for _ in range(20)])
    np.testing.assert_array_equal(outputs["policy.py"], expected_tv)
    assert len({a.tobytes() for a in expected_tv}) > 5  # the draws differ: the comparison means something
    for name in ("policy.json", "policy.yaml", "policy.py"):
        assert "augmeta." not in (tmp_path / name).read_text(encoding="utf-8")
    assert A.__version__.startswith("2.0.")
