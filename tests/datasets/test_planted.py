"""Planted-structure data sets: made the same way every time, with labels that follow their rule."""

from __future__ import annotations

import pytest
import torch

from augmeta.datasets import load_dataset, planted
from augmeta.datasets.specs import (
    DIGITS_MIRRORED_CHIRAL,
    DIGITS_MIRRORED_SYMMETRIC,
    DIGITS_ORIENTED_ITEMS,
    DIGITS_ORIENTED_TURNED,
    DIGITS_TURNED_ITEMS,
    DIGITS_UPSIDE_DOWN_ITEMS,
)


def _asymmetric_images(count: int = 6, size: int = 16) -> torch.Tensor:
    """Bright top rows fading downwards, with a bright left column: every turn and flip changes them."""
    rows = torch.linspace(255, 0, size).view(size, 1).expand(size, size).clone()
    rows[:, :3] = 255
    return rows.to(torch.uint8).expand(count, 1, size, size).clone()


def test_rotate_images_by_quarter_turns_matches_rot90():
    images = _asymmetric_images()
    for degrees, turns in ((90.0, 1), (180.0, 2), (-90.0, -1)):
        turned = planted.rotate_images(images, torch.full((len(images),), degrees))
        assert torch.equal(turned, torch.rot90(images, turns, dims=(-2, -1)))
    assert torch.equal(planted.rotate_images(images, torch.zeros(len(images))), images)


@pytest.mark.parametrize(
    "name", ["rotated_digits", "upside_down_digits", "mirrored_digits", "turned_digits", "oriented_digits"]
)
def test_the_planted_data_set_is_the_same_every_time(name):
    first, second = load_dataset(name), load_dataset(name)
    assert torch.equal(first.train_images, second.train_images)
    assert torch.equal(first.train_labels, second.train_labels)


def test_rotated_digits_keep_their_labels_and_are_turned():
    base, rotated = load_dataset("digits"), load_dataset("rotated_digits")
    assert torch.equal(rotated.train_labels, base.train_labels)
    assert rotated.train_images.shape == base.train_images.shape
    changed = (rotated.train_images.float() - base.train_images.float()).abs().flatten(1).mean(dim=1) > 10
    assert changed.float().mean() > 0.8  # almost every image turned by a visible angle


def test_upside_down_labels_follow_the_orientation():
    """An image whose label says upside down is, after undoing the jitter, the base image turned by 180 degrees."""
    base = load_dataset("digits")
    keep = torch.isin(base.train_labels, torch.tensor(DIGITS_UPSIDE_DOWN_ITEMS))
    zero_jitter_images, zero_jitter_labels = planted.upside_down(
        base.train_images, base.train_labels, "train", DIGITS_UPSIDE_DOWN_ITEMS, jitter=0.0
    )
    originals = base.train_images[keep]
    upside_down = zero_jitter_labels % 2 == 1
    assert 0.35 < upside_down.float().mean() < 0.65
    assert torch.equal(zero_jitter_images[upside_down], torch.rot90(originals[upside_down], 2, dims=(-2, -1)))
    assert torch.equal(zero_jitter_images[~upside_down], originals[~upside_down])
    items = torch.tensor(DIGITS_UPSIDE_DOWN_ITEMS)[zero_jitter_labels // 2]
    assert torch.equal(items, base.train_labels[keep])  # label 2k (+1) is item k of the task's items


def test_upside_down_digits_as_loaded():
    loaded = load_dataset("upside_down_digits")
    assert loaded.class_names[:2] == ("2 (upright)", "2 (upside down)")
    assert set(loaded.train_labels.tolist()) == set(range(10)) and loaded.test_images is None


def test_mirrored_labels_follow_the_rule():
    """Symmetric items keep one label either way; a chiral item's label says whether its image is mirrored."""
    base = load_dataset("digits")
    symmetric, chiral = DIGITS_MIRRORED_SYMMETRIC, DIGITS_MIRRORED_CHIRAL
    images, labels = planted.mirrored(base.train_images, base.train_labels, "train", symmetric, chiral)
    originals = base.train_images[torch.isin(base.train_labels, torch.tensor((*symmetric, *chiral)))]
    flipped = (images != originals).flatten(1).any(dim=1)
    assert 0.35 < flipped.float().mean() < 0.65
    assert torch.equal(images[flipped], originals[flipped].flip(-1))
    is_chiral = labels >= len(symmetric)
    assert torch.equal(is_chiral & ((labels - len(symmetric)) % 2 == 1), is_chiral & flipped)  # odd: mirrored
    symmetric_flipped = flipped[~is_chiral].float().mean()
    assert 0.35 < symmetric_flipped < 0.65  # the symmetric classes hold both sides


def test_mirrored_digits_as_loaded():
    loaded = load_dataset("mirrored_digits")
    assert loaded.class_names[5:8] == ("8", "2 (as written)", "2 (mirrored)")
    assert set(loaded.train_labels.tolist()) == set(range(10))


def test_mirrored_fashion_mnist_from_idx_files(tmp_path, monkeypatch):
    """Built from Fashion-MNIST's files (fake ones here): clothes one class each, sneakers and ankle boots two."""
    from tests.datasets.helpers import move_system_fashion_mnist, write_fake_mnist

    move_system_fashion_mnist(monkeypatch, tmp_path / "nowhere")
    arrays = write_fake_mnist(tmp_path / "fashion")
    loaded = load_dataset("mirrored_fashion_mnist", tmp_path / "fashion")
    assert loaded.class_names[5:] == (
        "Shirt", "Sneaker (as written)", "Sneaker (mirrored)", "Ankle boot (as written)", "Ankle boot (mirrored)"
    )  # fmt: skip
    kept = sum(int((arrays["train-labels-idx1-ubyte"] == item).sum()) for item in (0, 1, 2, 3, 4, 6, 7, 9))
    assert len(loaded.train_labels) == kept and int(loaded.train_labels.max()) <= 9
    again = load_dataset("mirrored_fashion_mnist", tmp_path / "fashion")
    assert torch.equal(again.train_images, loaded.train_images) and torch.equal(again.test_labels, loaded.test_labels)


def test_turned_digits_turn_their_items_only_and_keep_every_label():
    base, turned = load_dataset("digits"), load_dataset("turned_digits")
    assert torch.equal(turned.train_labels, base.train_labels)
    is_item = torch.isin(base.train_labels, torch.tensor(DIGITS_TURNED_ITEMS))
    same = (turned.train_images == base.train_images).flatten(1).all(dim=1)
    assert torch.equal(same[~is_item], torch.ones_like(same[~is_item]))  # the upright classes as they were
    changed = (turned.train_images.float() - base.train_images.float()).abs().flatten(1).mean(dim=1) > 10
    assert changed[is_item].float().mean() > 0.8  # almost every image of a turned item turned by a visible angle
    assert set(DIGITS_TURNED_ITEMS) == {0, 1, 3, 8, 9} and 6 not in DIGITS_TURNED_ITEMS  # a turned 6 reads as a 9


def test_turned_matches_rotate_images_with_its_own_angles():
    images, labels = _asymmetric_images(8), torch.arange(8) % 2
    out, same_labels = planted.turned(images, labels, "train", items=(1,))
    angles = torch.rand(8, generator=torch.Generator().manual_seed(planted.PLANTED_SEED)) * 360.0 - 180.0
    assert torch.equal(same_labels, labels)
    assert torch.equal(out[labels == 0], images[labels == 0])
    assert torch.equal(out[labels == 1], planted.rotate_images(images[labels == 1], angles[labels == 1]))


def test_oriented_labels_follow_the_rule():
    """Turned items keep one label whatever the angle; an oriented item's label says upright or upside down, and
    with no jitter its image is the base image or that image turned by 180 degrees."""
    base = load_dataset("digits")
    turned, oriented = DIGITS_ORIENTED_TURNED, DIGITS_ORIENTED_ITEMS
    images, labels = planted.oriented(base.train_images, base.train_labels, "train", turned, oriented, jitter=0.0)
    keep = torch.isin(base.train_labels, torch.tensor((*turned, *oriented)))
    originals, items = base.train_images[keep], base.train_labels[keep]
    assert images.shape == originals.shape and set(labels.tolist()) == set(range(10))
    is_turned = labels < len(turned)
    assert torch.equal(torch.tensor(turned)[labels[is_turned]], items[is_turned])  # label k is turned[k]
    position = (labels[~is_turned] - len(turned)) // 2
    assert torch.equal(torch.tensor(oriented)[position], items[~is_turned])  # label T + 2k (+1) is oriented[k]
    upside_down = torch.zeros_like(is_turned)
    upside_down[~is_turned] = (labels[~is_turned] - len(turned)) % 2 == 1
    assert 0.35 < upside_down[~is_turned].float().mean() < 0.65
    assert torch.equal(images[upside_down], torch.rot90(originals[upside_down], 2, dims=(-2, -1)))
    upright = ~is_turned & ~upside_down
    assert torch.equal(images[upright], originals[upright])
    changed = (images.float() - originals.float()).abs().flatten(1).mean(dim=1) > 10
    assert changed[is_turned].float().mean() > 0.8  # almost every turned item's image turned by a visible angle


def test_oriented_digits_as_loaded():
    loaded = load_dataset("oriented_digits")
    assert loaded.class_names[5:8] == ("8", "4 (upright)", "4 (upside down)")
    assert set(loaded.train_labels.tolist()) == set(range(10)) and loaded.test_images is None
    assert not set(DIGITS_ORIENTED_TURNED) & set(DIGITS_ORIENTED_ITEMS) and not {6, 9} <= set(DIGITS_ORIENTED_TURNED)
