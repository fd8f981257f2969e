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
from tests.policy.helpers import LEARNED_FILES, SHIPPED_FILES

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
    """``to_albumentations`` that returns the approximations it warned about too, one sentence each (one warning
    lists them all when there are several)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compose = to_albumentations(policy, **options)
    assert len(caught) <= 1  # every approximation in one warning
    messages = [str(w.message) for w in caught]
    return compose, [line for m in messages for line in (m.split("\n  - ")[1:] if "\n  - " in m else [m])]


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
    """``strict`` refuses what albumentations can only approximate, every field in one error; by default the
    export approximates and one warning lists every field."""

    def test_sharpness_below_one(self):
        policy = Policy.from_dict(policy_dict([[{"p": 0.5, "ops": [choice("sharpness", 0.5, signed=True)]}]]))
        reason = (
            "a sharpness factor below 1 (0.55) blurs, which albumentations' Sharpen cannot (its alpha is in [0, 1]) "
            "and no other albumentations transform does the same way"
        )
        with pytest.raises(
            ExportError, match=re.escape(refusal("subpolicies[0].steps[0].ops[0]", "sharpness", reason))
        ):
            to_albumentations(policy, strict=True)
        compose, messages = export(policy)
        assert any("becomes a 3x3 box blur applied with probability 1 - f" in m for m in messages)
        step = compose.transforms[0].transforms[0].transforms[0]
        blur = [t for t in step.transforms if type(t).__name__ == "Sequential"][0].transforms[0]
        assert type(blur).__name__ == "Blur" and blur.p == pytest.approx(0.45)

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
            to_albumentations(policy, strict=True)
        compose, messages = export(policy)
        assert messages == [
            approximate_message(
                "posterize",
                "its uniform magnitude is drawn from 31 evenly spaced values of its interval (albumentations takes "
                "one value for it; `strict` refuses instead) (at subpolicies[0].steps[0].ops[1]).",
            )
        ]

    @pytest.mark.parametrize("path", LEARNED_FILES, ids=lambda path: path.stem)
    def test_the_learned_policies_export_by_default_and_strict_lists_every_refusal(self, path):
        compose, messages = export(path, image_size=(28, 28))
        assert type(compose).__name__ == "Compose" and len(messages) > 3
        with pytest.raises(ExportError) as error:
            to_albumentations(path, image_size=(28, 28), strict=True)
        text = str(error.value)
        assert re.match(r"^\d+ op choices cannot be exported:\n  - ", text)
        for op in ("shear_x", "shear_y", "posterize", "cutout"):
            assert f"(op {op!r}) cannot be exported to albumentations" in text

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
            save_albumentations(one_op_policy("sharpness", -0.5), path, strict=True)
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


class TestApproximationBounds:
    """The documented bounds of the default export's approximations (docs/use_a_policy.md), measured on the smooth
    colour test images: the blur stand-in for sharpness below 1 and 31 fixed values for a uniform shear."""

    @pytest.mark.parametrize("factor", [0.1, 0.5, 0.9])
    def test_the_blur_stand_in_matches_on_average_within_2_5_levels(self, colour_images, factor):
        from augmeta.ops import OPS, KernelContext

        images = as_uint8(colour_images)
        x = images.float() / 255.0
        ours = OPS["sharpness"].kernel(x, torch.full((len(x),), factor - 1.0), KernelContext())
        policy = one_op_policy("sharpness", factor - 1.0)
        compose, _ = export(policy)
        blur = [t for t in compose.transforms[0].transforms[0].transforms][0].transforms[0]
        assert type(blur).__name__ == "Blur" and blur.p == pytest.approx(1.0 - factor)
        boxed = alb_apply(A.Compose([A.Blur(blur_limit=(3, 3), p=1.0)]), images).float() / 255.0
        expected = factor * x + (1.0 - factor) * boxed  # the stand-in's mean over its draws
        assert float((ours - expected).abs().mean()) * 255.0 < 2.5
        inside = (ours - expected)[..., 1:-1, 1:-1].abs().max() * 255.0  # the border: augmeta keeps it
        assert float(inside) < (1.0 - factor) * 60.0

    def test_31_values_of_a_shear_interval_stay_within_about_one_level(self, colour_images):
        from augmeta.ops import OPS, KernelContext

        x = as_uint8(colour_images).float() / 255.0
        grid = torch.linspace(0.0, 0.3, 31)
        context = KernelContext(interpolation="bilinear")
        worst = 0.0
        for value in torch.linspace(0.0, 0.3, 121):
            nearest = grid[(grid - value).abs().argmin()]
            a = OPS["shear_x"].kernel(x, torch.full((len(x),), float(value)), context)
            b = OPS["shear_x"].kernel(x, torch.full((len(x),), float(nearest)), context)
            worst = max(worst, float((a - b).abs().mean()) * 255.0)
        assert worst < 1.5


@pytest.mark.parametrize("path", [*SHIPPED_FILES, *LEARNED_FILES], ids=lambda path: path.stem)
def test_every_shipped_and_learned_policy_exports_to_both_libraries(path, tmp_path):
    from augmeta.export import save_albumentations
    from augmeta.export.torchvision_code import stock_python_code

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the approximations are listed in one warning; tested above
        saved = save_albumentations(path, tmp_path / "a.json", image_size=(32, 32))
        code = stock_python_code(path, image_size=(32, 32))
    image = np.full((32, 32, 3), 128, dtype=np.uint8)
    assert A.load(saved)(image=image)["image"].shape == (32, 32, 3)
    namespace: dict = {}
    exec(compile(code, str(tmp_path / "policy.py"), "exec"), namespace)  # our own generated code, tested as such
    assert namespace["transform"](torch.full((3, 32, 32), 128, dtype=torch.uint8)).shape == (3, 32, 32)
