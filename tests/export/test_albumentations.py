"""``to_albumentations`` / ``save_albumentations``: each op exact, approximate (warned) or refused, as documented."""

from __future__ import annotations

import json
import math
import re
import sys
import warnings

import albumentations as A
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from augmeta import Policy
from augmeta.export import (
    ExportError,
    op_frequencies,
    save_albumentations,
    seed_albumentations_worker,
    to_albumentations,
)
from tests.policy.helpers import LEARNED_FILES

from .helpers import (
    STANDARD_OPS,
    Recorder,
    as_uint8,
    assert_frequencies,
    choice,
    from_hwc,
    leaves,
    max_difference,
    one_op_policy,
    policy_dict,
    record_albumentations,
    to_hwc,
)
from .test_torchvision import STAT_POLICY, VALUES

#: Largest difference in grey levels from ``Policy.apply`` on uint8 images, per op (OPS.md's tolerances).
TOLERANCE = {"brightness": 1, "color": 1, "contrast": 1}
#: Ops albumentations only approximates: the start of the warning's reason.
APPROXIMATE = {
    "sharpness": "albumentations' Sharpen also filters the one-pixel border",
    "equalize": "albumentations 2.0.8's PIL-mode equalisation counts each grey level's own pixels",
    "cutout": "albumentations keeps the hole inside the image",
    "auto_contrast": "albumentations 2.0.8 leaves the value 255 out of its histogram",
}
REFUSED = {"sharpness"}  # below 1


def alb_apply(compose, images: torch.Tensor) -> torch.Tensor:
    return from_hwc([compose(image=image)["image"] for image in to_hwc(images)])


def export(policy, **options):
    """``to_albumentations`` that returns the warnings it gave too."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compose = to_albumentations(policy, **options)
    return compose, [str(w.message) for w in caught]


def approximate_message(op: str, reason: str) -> str:
    return f"albumentations export of op {op!r} is approximate: {reason}"


class TestParity:
    """One step, p = 1, a fixed value, on 24 x 32 colour images with ``image_size`` given."""

    @pytest.mark.parametrize("op", [op for op in STANDARD_OPS if op not in APPROXIMATE])
    @pytest.mark.parametrize("fill", [(0.0,), (0.5,)], ids=["black", "grey"])
    def test_exact_ops(self, colour_images, op, fill):
        images = as_uint8(colour_images)
        policy = one_op_policy(op, VALUES.get(op), fill=fill)
        compose, messages = export(policy, image_size=(24, 32))
        assert messages == []
        assert max_difference(alb_apply(compose, images), policy.apply(images)) <= TOLERANCE.get(op, 0)

    @pytest.mark.parametrize("op", ["rotate", "translate_x", "shear_y", "flip_x", "flip_y"])
    def test_bilinear_geometry_with_zero_fill(self, colour_images, op):
        images = as_uint8(colour_images)
        policy = one_op_policy(op, VALUES.get(op), interpolation="bilinear")
        compose, messages = export(policy, image_size=(24, 32))
        assert messages == []
        assert max_difference(alb_apply(compose, images), policy.apply(images)) <= 1

    @pytest.mark.parametrize("value", [0.3, 0.9, 2.0])
    def test_sharpness_matches_inside_the_border(self, colour_images, value):
        images = as_uint8(colour_images)
        policy = one_op_policy("sharpness", value)
        compose, messages = export(policy)
        assert messages[0].startswith(approximate_message("sharpness", APPROXIMATE["sharpness"]))
        difference = (alb_apply(compose, images).int() - policy.apply(images).int()).abs()
        assert int(difference[..., 1:-1, 1:-1].max()) <= 1

    def test_auto_contrast_matches_below_white(self, colour_images):
        policy = one_op_policy("auto_contrast")
        compose, messages = export(policy)
        assert messages[0].startswith(approximate_message("auto_contrast", APPROXIMATE["auto_contrast"]))
        images = as_uint8(colour_images).clamp(0, 254)
        assert max_difference(alb_apply(compose, images), policy.apply(images)) <= 1
        white = torch.tensor([10, 100, 200, 255], dtype=torch.uint8).view(1, 1, 1, 4).expand(1, 3, 1, 4)
        assert alb_apply(compose, white)[0, 0, 0].tolist() == [0, 121, 255, 255]  # augmeta: unchanged

    def test_equalize_is_close_on_full_histograms_only(self, digits_images):
        policy = one_op_policy("equalize")
        compose, messages = export(policy)
        assert messages[0].startswith(approximate_message("equalize", APPROXIMATE["equalize"]))
        noise = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        assert max_difference(alb_apply(compose, as_uint8(noise)), policy.apply(as_uint8(noise))) <= 4
        digits = as_uint8(digits_images).expand(-1, 3, -1, -1)  # 17 grey levels
        assert max_difference(alb_apply(compose, digits), policy.apply(digits)) > 100

    @pytest.mark.parametrize("size", [(24, 32), None])
    def test_cutout_erases_a_square_of_the_fill(self, colour_images, size):
        images = as_uint8(colour_images).clamp(1, 254)  # no pixel equals the fill before
        policy = one_op_policy("cutout", 0.25, fill=(1.0,))  # side 0.25 * 24 = 6 px
        compose, messages = export(policy, image_size=size)
        assert messages[0].startswith(approximate_message("cutout", APPROXIMATE["cutout"]))
        out = alb_apply(compose, images)
        erased = (out == 255).all(dim=1)
        assert torch.equal((out != images).any(dim=1), erased)
        rows, cols = erased.any(dim=2), erased.any(dim=1)
        expected = (6, 6) if size else (6, 8)  # without image_size: a fraction of each edge
        for k in range(images.shape[0]):
            assert (int(rows[k].sum()), int(cols[k].sum())) == expected and int(erased[k].sum()) == math.prod(expected)

    @pytest.mark.parametrize("op", ["shear_x", "shear_y", "translate_x", "translate_y"])
    def test_geometry_without_image_size_is_approximate(self, op):
        _, messages = export(one_op_policy(op, VALUES[op]))
        assert len(messages) == 1 and "pass image_size=(height, width)" in messages[0]

    def test_sub_pixel_anchor_is_approximate(self):
        _, messages = export(one_op_policy("shear_x", 0.3), image_size=(32, 32))  # 0.3 * 16 = 4.8 px
        assert messages == [
            approximate_message(
                "shear_x",
                "the top-left anchor needs a shift of shear * size / 2 px, which albumentations rounds to whole pixels",
            )
            + " (at subpolicies[0].steps[0].ops[0])."
        ]

    def test_sub_pixel_translation(self, colour_images):
        """9.6 px: nearest rounds it like augmeta's warp (exact); bilinear blends, albumentations cannot."""
        images = as_uint8(colour_images)
        policy = one_op_policy("translate_x", 0.3)
        compose, messages = export(policy, image_size=(24, 32))
        assert messages == [] and max_difference(alb_apply(compose, images), policy.apply(images)) == 0
        _, messages = export(one_op_policy("translate_x", 0.3, interpolation="bilinear"), image_size=(24, 32))
        assert messages == [
            approximate_message("translate_x", "sub-pixel shifts (bilinear) become whole-pixel shifts")
            + " (at subpolicies[0].steps[0].ops[0])."
        ]

    def test_bilinear_with_a_fill_is_approximate(self):
        _, messages = export(one_op_policy("rotate", 10.0, interpolation="bilinear", fill=(0.5,)))
        assert len(messages) == 1 and "blend the fill into the edge of the uncovered area" in messages[0]


def refusal(path: str, op: str, reason: str) -> str:
    return f"`{path}` (op {op!r}) cannot be exported to albumentations: {reason}."


class TestRefusals:
    def test_sharpness_below_one(self):
        policy = Policy.from_dict(policy_dict([[{"p": 0.5, "ops": [choice("sharpness", 0.5, signed=True)]}]]))
        reason = (
            "a sharpness factor below 1 (0.55) blurs, which albumentations' Sharpen cannot (its alpha is in [0, 1]) "
            "and no other albumentations transform does the same way"
        )
        with pytest.raises(
            ExportError, match=re.escape(refusal("subpolicies[0].steps[0].ops[0]", "sharpness", reason))
        ):
            to_albumentations(policy)

    def test_continuous_magnitude_without_levels(self):
        uniform = {"low": 0.0, "high": 1.0}
        policy = Policy.from_dict(policy_dict([[{"p": 1.0, "ops": [choice("invert"), choice("posterize", uniform)]}]]))
        reason = (
            "its magnitude is uniform over an interval and albumentations cannot draw a number of bits that way; "
            "give the magnitude `levels` to export it as a choice of fixed values"
        )
        with pytest.raises(
            ExportError, match=re.escape(refusal("subpolicies[0].steps[0].ops[1]", "posterize", reason))
        ):
            to_albumentations(policy)

    @pytest.mark.parametrize("path", LEARNED_FILES, ids=lambda path: path.stem)
    def test_the_learned_policies_are_refused(self, path):
        """As policies/README.md says: their first op with a magnitude, shear_x, is uniform over an interval."""
        reason = (
            "its magnitude is uniform over an interval and albumentations cannot draw a shear factor that way; "
            "give the magnitude `levels` to export it as a choice of fixed values"
        )
        with pytest.raises(ExportError, match=re.escape(refusal("subpolicies[0].steps[0].ops[1]", "shear_x", reason))):
            to_albumentations(path, image_size=(28, 28))

    def test_levels_become_a_choice_of_fixed_values(self):
        levels = {"low": 0.0, "high": 1.0, "levels": 5}
        policy = Policy.from_dict(policy_dict([[{"p": 0.5, "ops": [choice("posterize", levels)]}]]))
        step = to_albumentations(policy).transforms[0].transforms[0].transforms[0]
        assert type(step) is A.OneOf and step.p == 0.5
        assert [type(t).__name__ for t in step.transforms] == [
            "NoOp",
            "Posterize",
            "Posterize",
            "Posterize",
            "Posterize",
        ]
        assert [t.num_bits for t in step.transforms[1:]] == [(7, 7), (6, 6), (5, 5), (4, 4)]
        assert step.transforms_ps == pytest.approx([0.2] * 5)

    def test_uniform_rotation_and_brightness_are_ranges(self):
        uniform = {"low": 0.5, "high": 1.0}
        policy = Policy.from_dict(
            policy_dict([[{"p": 1.0, "ops": [choice("rotate", uniform), choice("brightness", uniform, signed=True)]}]])
        )
        step = to_albumentations(policy).transforms[0].transforms[0].transforms[0]
        rotate, brighter, darker = step.transforms
        assert rotate.rotate == (15.0, 30.0)
        assert brighter.brightness == pytest.approx((1.45, 1.9)) and darker.brightness == pytest.approx((0.1, 0.55))
        assert step.transforms_ps == pytest.approx([0.5, 0.25, 0.25])

    def test_uniform_solarize_and_sharpness_are_ranges(self):
        uniform = {"low": 0.5, "high": 1.0}
        solarize = Policy.from_dict(policy_dict([[{"p": 1.0, "ops": [choice("solarize", uniform)]}]]))
        assert leaves(to_albumentations(solarize))[0].threshold_range == (0.0, 0.5)
        sharpness = Policy.from_dict(policy_dict([[{"p": 1.0, "ops": [choice("sharpness", uniform)]}]]))
        with pytest.warns(UserWarning, match="albumentations' Sharpen also filters the one-pixel border"):
            sharpen = leaves(to_albumentations(sharpness))[0]
        assert sharpen.alpha == pytest.approx((0.45 / 13, 0.9 / 13))


class TestStructure:
    def test_autoaugment_shape_with_every_p_written(self):
        policy = Policy.from_dict(STAT_POLICY)
        compose = to_albumentations(policy)
        assert type(compose) is A.Compose and compose.strict and compose.p == 1.0
        (one_of,) = compose.transforms
        assert type(one_of) is A.OneOf and one_of.p == 1.0
        assert [type(s) for s in one_of.transforms] == [A.Sequential] * 3
        assert [s.p for s in one_of.transforms] == pytest.approx([0.5, 1 / 6, 1 / 3])
        first = one_of.transforms[0].transforms[0]
        assert type(first) is A.OneOf and first.p == 0.6 and first.transforms_ps == pytest.approx([0.25, 0.75])

    def test_fill_and_interpolation_are_written(self):
        policy = one_op_policy("rotate", 10.0, fill=(0.2, 0.5, 1.0), interpolation="bilinear")
        affine = leaves(export(policy)[0])[0]
        assert (affine.fill, affine.interpolation, affine.border_mode) == ((51.0, 128.0, 255.0), 1, 0)

    def test_op_frequencies_match_the_policy(self):
        policy = Policy.from_dict(STAT_POLICY)
        compose = to_albumentations(policy)
        labels = {
            "InvertImg": "invert", "HorizontalFlip": "flip_x", "Solarize": "solarize",
            "Posterize": "posterize", "ColorJitter": "brightness",
        }  # fmt: skip
        recorder, signs = Recorder(), Recorder()
        record_albumentations(compose, lambda leaf: labels.get(type(leaf).__name__, "rotate"), recorder)
        negative = [leaf for leaf in leaves(compose) if type(leaf) is A.Affine and leaf.rotate[0] < 0]
        record_albumentations(negative[0], lambda leaf: "negative", signs)
        compose.set_random_seed(0)
        image = np.zeros((8, 8, 3), dtype=np.uint8)
        for _ in range(4000):
            compose(image=image)
            recorder.end_call()
            signs.end_call()
        expected = op_frequencies(policy)
        assert_frequencies(recorder.counts, recorder.calls, expected)
        assert_frequencies(signs.counts, signs.calls, {"negative": expected["rotate"] / 2})


class TestFiles:
    def test_json_is_albumentations_own_and_strict(self, tmp_path):
        path = save_albumentations(Policy.from_dict(STAT_POLICY), tmp_path / "policy.json")
        text = path.read_text(encoding="utf-8")
        assert "augmeta" not in text
        data = json.loads(text)
        assert data["transform"]["__class_fullname__"] == "Compose" and data["transform"]["strict"] is True
        assert all(leaf["strict"] is True for leaf in _json_leaves(data["transform"]))
        assert A.to_dict(A.load(path)) == A.to_dict(to_albumentations(Policy.from_dict(STAT_POLICY)))

    def test_yaml_by_suffix(self, tmp_path):
        policy = Policy.from_dict(STAT_POLICY)
        path = save_albumentations(policy, tmp_path / "policy.yaml")
        assert path.read_text(encoding="utf-8").startswith("__version__:")
        assert A.to_dict(A.load(path, data_format="yaml")) == A.to_dict(to_albumentations(policy))

    def test_a_renamed_argument_fails_the_load(self, tmp_path):
        path = save_albumentations(one_op_policy("rotate", 10.0), tmp_path / "policy.json")
        data = json.loads(path.read_text(encoding="utf-8"))
        (affine,) = _json_leaves(data["transform"])
        affine["angle"] = affine.pop("rotate")
        path.write_text(json.dumps(data), encoding="utf-8")
        with pytest.raises(ValueError, match=re.escape("Argument(s) 'angle' are not valid for transform Affine")):
            A.load(path)

    def test_without_strict_albumentations_only_warns(self, tmp_path):
        """Why every transform carries ``strict``: albumentations 2.0.8 otherwise drops unknown arguments."""
        path = save_albumentations(one_op_policy("rotate", 10.0), tmp_path / "policy.json")
        data = json.loads(path.read_text(encoding="utf-8"))
        (affine,) = _json_leaves(data["transform"])
        affine["angle"] = affine.pop("rotate")
        del affine["strict"], data["transform"]["strict"]
        path.write_text(json.dumps(data), encoding="utf-8")
        with pytest.warns(UserWarning, match=re.escape("Argument(s) 'angle' are not valid for transform Affine")):
            loaded = A.load(path)
        assert leaves(loaded)[0].rotate == (0.0, 0.0)  # the angle silently became the default

    def test_a_refused_policy_leaves_the_old_file(self, tmp_path):
        path = tmp_path / "policy.json"
        path.write_text("old", encoding="utf-8")
        with pytest.raises(ExportError):
            save_albumentations(one_op_policy("sharpness", -0.5), path)
        assert path.read_text(encoding="utf-8") == "old"
        assert [p.name for p in tmp_path.iterdir()] == ["policy.json"]


def _json_leaves(node):
    if "transforms" not in node:
        return [node]
    return [leaf for child in node["transforms"] for leaf in _json_leaves(child)]


class TestInstall:
    def test_missing_albumentations(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "albumentations", None)
        with pytest.raises(ImportError, match=re.escape('install it with: pip install "augmeta[albumentations]"')):
            to_albumentations(one_op_policy("invert"))

    def test_albumentationsx_is_refused(self, monkeypatch):
        monkeypatch.setattr(A, "__version__", "2.1.2")
        with pytest.raises(ImportError, match=re.escape("albumentations 2.1.2 is AlbumentationsX (2.1+)")):
            to_albumentations(one_op_policy("invert"))


class _SameImage(Dataset):
    def __init__(self, compose) -> None:
        self.image = (np.arange(64, dtype=np.uint8) * 4).reshape(8, 8, 1).repeat(3, axis=2)
        self.compose = compose

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.compose(image=self.image)["image"])


def test_worker_seeding():
    policy = Policy.from_dict(
        policy_dict([[{"p": 1.0, "ops": [choice("brightness", {"low": 0.0, "high": 1.0}, signed=True)]}]])
    )
    dataset = _SameImage(to_albumentations(policy))
    torch.manual_seed(0)
    plain = list(DataLoader(dataset, batch_size=2, num_workers=2, persistent_workers=False))
    assert torch.equal(plain[0], plain[1])  # albumentations 2.0.8: both workers draw the same
    loader = DataLoader(
        dataset, batch_size=2, num_workers=2, persistent_workers=False, worker_init_fn=seed_albumentations_worker
    )
    first, second = list(loader), list(loader)
    assert not torch.equal(first[0], first[1])
    assert not any(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_seeding_outside_a_worker_needs_pipelines():
    with pytest.raises(RuntimeError, match=re.escape("runs in DataLoader workers (as worker_init_fn) only")):
        seed_albumentations_worker(0)
    compose = to_albumentations(one_op_policy("invert"))
    seed_albumentations_worker(0, [compose])
    assert all(leaf.random_generator is compose.random_generator for leaf in leaves(compose))
