"""Use augmeta policies in other libraries: torchvision transforms v2 and albumentations 2.0.x.

albumentations is optional: it is imported inside the functions that need it.
"""

from augmeta.export.albumentations import save_albumentations, seed_albumentations_worker, to_albumentations
from augmeta.export.albumentations_reader import from_albumentations
from augmeta.export.describe import describe_policy, diff_policies, expected_strength, op_frequencies
from augmeta.export.errors import ExportError
from augmeta.export.torchvision import PolicyTransform, to_torchvision
from augmeta.export.torchvision_code import save_torchvision_stock, stock_python_code

__all__ = [
    "ExportError",
    "PolicyTransform",
    "describe_policy",
    "diff_policies",
    "expected_strength",
    "from_albumentations",
    "op_frequencies",
    "save_albumentations",
    "save_torchvision_stock",
    "seed_albumentations_worker",
    "stock_python_code",
    "to_albumentations",
    "to_torchvision",
]
