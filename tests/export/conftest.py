"""Fixtures of the export tests. One intra-op thread: tiny images, and a busy machine."""

from __future__ import annotations

import os

import torch

torch.set_num_threads(1)
os.environ["NO_ALBUMENTATIONS_UPDATE"] = "1"  # albumentations 2.0.8 asks PyPI for updates on import otherwise
