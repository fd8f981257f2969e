"""Base models: ``SmallResNet`` on every image size the data sets serve, torchvision models by name."""

from __future__ import annotations

import pytest
import torch
import torchvision

from augmeta.lightning.models import SmallResNet, build_model

from .helpers import exactly


@pytest.mark.parametrize("size", [8, 28, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_small_resnet_classifies_every_size(size, channels):
    model = SmallResNet(in_channels=channels, num_classes=7, width=8)
    logits = model(torch.rand(4, channels, size, size, generator=torch.Generator().manual_seed(0)))
    assert logits.shape == (4, 7)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


def test_small_resnet_width():
    model = SmallResNet(in_channels=1, num_classes=10, width=12)
    assert model.stem[0].out_channels == 12
    assert model.head.in_features == 48  # 4 * width after the third stage


def test_build_small_resnet():
    model = build_model("small_resnet", 3, 5, width=8)
    assert isinstance(model, SmallResNet)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 5)


def test_build_a_torchvision_model_for_grey_images():
    model = build_model("resnet18", 1, 10).eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1)))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()


def test_build_a_torchvision_model_for_colour_images():
    model = build_model("resnet18", 3, 4)
    assert isinstance(model, torchvision.models.ResNet)
    assert model.fc.out_features == 4


@pytest.mark.parametrize("name", ["resnet_nope", "fasterrcnn_resnet50_fpn"])  # unknown, and not a classifier
def test_unknown_model_name(name):
    message = f"`model` should be 'small_resnet' or a torchvision classification model, but got {name!r}."
    with pytest.raises(ValueError, match=exactly(message)):
        build_model(name, 3, 10)
