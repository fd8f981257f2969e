"""``from_albumentations``: files that ``save_albumentations`` and AutoAlbument write, read back into policies."""

from __future__ import annotations

import json
import re
import warnings

import albumentations as A
import pytest

from augmeta import Policy
from augmeta.export import ExportError, from_albumentations, op_frequencies, save_albumentations, to_albumentations

from .helpers import choice, one_op_policy, policy_dict
from .test_torchvision import STAT_POLICY


def autoalbument_file(path, extra_ops=()):
    """A file shaped like AutoAlbument's output (albumentations 0.5 names): OneOf of Sequential of OneOf."""
    ops = [
        {"__class_fullname__": "albumentations.augmentations.transforms.Solarize", "p": 0.3, "threshold": [51, 51]},
        {"__class_fullname__": "albumentations.augmentations.transforms.HorizontalFlip", "p": 0.1},
        {"__class_fullname__": "albumentations.core.transforms_interface.NoOp", "p": 0.4},
        *extra_ops,
    ]
    rotate = {
        "__class_fullname__": "albumentations.augmentations.transforms.ShiftScaleRotate",
        "p": 0.5,
        "shift_limit_x": [0, 0],
        "shift_limit_y": [0, 0],
        "scale_limit": [0.0, 0.0],
        "rotate_limit": [-40.0, -40.0],
        "interpolation": 1,
        "border_mode": 0,
        "value": None,
    }
    data = {
        "__version__": "0.5.1",
        "transform": {
            "__class_fullname__": "albumentations.core.composition.Compose",
            "p": 1.0,
            "transforms": [
                {
                    "__class_fullname__": "albumentations.core.composition.OneOf",
                    "p": 1,
                    "transforms": [
                        {
                            "__class_fullname__": "albumentations.core.composition.Sequential",
                            "p": 0.25,
                            "transforms": [
                                {
                                    "__class_fullname__": "albumentations.core.composition.OneOf",
                                    "p": 1,
                                    "transforms": ops,
                                }
                            ],
                        },
                        {
                            "__class_fullname__": "albumentations.core.composition.Sequential",
                            "p": 0.75,
                            "transforms": [rotate],
                        },
                    ],
                },
                {"__class_fullname__": "albumentations.augmentations.transforms.Normalize", "p": 1.0},
                {"__class_fullname__": "albumentations.pytorch.transforms.ToTensorV2", "p": 1.0},
            ],
        },
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


class TestRoundTrip:
    def test_save_then_read_gives_the_same_pipeline(self, tmp_path):
        policy = Policy.from_dict(STAT_POLICY)
        read = from_albumentations(save_albumentations(policy, tmp_path / "policy.json"))
        assert A.to_dict(to_albumentations(read)) == A.to_dict(to_albumentations(policy))
        assert op_frequencies(read) == pytest.approx(op_frequencies(policy))
        assert read.provenance.method == "albumentations" and read.name == "policy"

    def test_fill_interpolation_and_anchored_shear(self, tmp_path):
        policy = one_op_policy("shear_x", 0.25, fill=(0.2, 0.4, 0.6), interpolation="bilinear")
        with pytest.warns(UserWarning, match="blend the fill into the edge of the uncovered area"):
            path = save_albumentations(policy, tmp_path / "policy.yaml", image_size=(32, 32))
        read = from_albumentations(path, image_size=(32, 32))
        assert read.fill == pytest.approx([51 / 255, 102 / 255, 153 / 255]) and read.interpolation == "bilinear"
        (op,) = read.subpolicies[0].steps[0].ops
        assert (op.op, op.magnitude, op.signed) == ("shear_x", 1.0, False) and op.range == pytest.approx([0.0, 0.25])

    def test_a_pixel_translation_needs_the_image_size(self, tmp_path):
        path = save_albumentations(one_op_policy("translate_x", 0.25), tmp_path / "p.json", image_size=(32, 32))
        with pytest.raises(ExportError, match=re.escape("a translation in pixels needs image_size=(height, width)")):
            from_albumentations(path)
        (op,) = from_albumentations(path, image_size=(32, 32)).subpolicies[0].steps[0].ops
        assert (op.op, op.range) == ("translate_x", [0.0, 0.25])

    def test_symmetric_ranges_become_signed_uniform_magnitudes(self, tmp_path):
        policy = Policy.from_dict(policy_dict([[{"p": 1.0, "ops": [choice("rotate", {"low": 0.0, "high": 1.0})]}]]))
        path = save_albumentations(policy, tmp_path / "p.json")
        data = json.loads(path.read_text(encoding="utf-8"))
        affine = data["transform"]["transforms"][0]["transforms"][0]["transforms"][0]
        affine["rotate"] = [-30.0, 30.0]
        path.write_text(json.dumps(data), encoding="utf-8")
        (op,) = from_albumentations(path).subpolicies[0].steps[0].ops
        assert (op.op, op.signed, op.range, op.magnitude.low, op.magnitude.high) == ("rotate", True, [0.0, 30.0], 0, 1)


class TestAutoAlbument:
    def test_reads_sub_policies_weights_and_old_argument_names(self, tmp_path):
        with pytest.warns(UserWarning, match=re.escape("transforms not augmentations, left out: ")):
            policy = from_albumentations(autoalbument_file(tmp_path / "policy.json"))
        assert [sub.weight for sub in policy.subpolicies] == [0.25, 0.75]
        step = policy.subpolicies[0].steps[0]
        assert step.p == 1 and [c.op for c in step.ops] == ["solarize", "flip_x", "identity"]
        assert [c.weight for c in step.ops] == pytest.approx([0.375, 0.125, 0.5])
        assert step.ops[0].range == pytest.approx([1.0, 0.2])
        (rotate,) = policy.subpolicies[1].steps[0].ops
        assert (rotate.op, rotate.range, policy.subpolicies[1].steps[0].p) == ("rotate", [0.0, -40.0], 0.5)
        assert policy.interpolation == "bilinear"

    def test_lists_every_transform_that_does_not_map(self, tmp_path):
        extra = [
            {"__class_fullname__": "albumentations.augmentations.transforms.RGBShift", "p": 0.1, "r_shift_limit": 9},
            {"__class_fullname__": "Rotate", "p": 0.1, "limit": [5, 5], "border_mode": 4},
        ]
        path = autoalbument_file(tmp_path / "policy.json", extra)
        unmapped = [
            "transform.transforms[0].transforms[0].transforms[0].transforms[3] (RGBShift: no augmeta op does what "
            "RGBShift does)",
            "transform.transforms[0].transforms[0].transforms[0].transforms[4] (Rotate: border_mode 4 is not "
            "constant (0); augmeta fills uncovered areas)",
        ]
        message = f"{str(path)!r} has transforms with no augmeta op:\n  " + "\n  ".join(unmapped)
        with pytest.raises(ExportError, match=re.escape(message)):
            from_albumentations(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            policy = from_albumentations(path, strict=False)
        assert str(caught[0].message) == f"{str(path)!r}: transforms left out: " + "; ".join(unmapped)
        weights = [(c.op, c.weight) for c in policy.subpolicies[0].steps[0].ops]
        assert weights[-2:] == [("identity", pytest.approx(0.1 / 1.0)), ("identity", pytest.approx(0.1 / 1.0))]

    def test_not_a_pipeline(self, tmp_path):
        path = tmp_path / "list.json"
        path.write_text("[1, 2]", encoding="utf-8")
        with pytest.raises(ExportError, match=re.escape(f"{str(path)!r} is not an albumentations pipeline file")):
            from_albumentations(path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.json", None, "No such file"),
        ("broken.json", '{"transform": ', "not valid JSON"),
        ("list.json", "[1, 2]", "is not an albumentations pipeline file (expected an object)"),
        ("no_class.json", '{"transform": {"transforms": [{"p": 1}]}}', "has transforms with no augmeta op"),
        (
            "oneof_p0.json",
            '{"transform": {"__class_fullname__": "Compose", "p": 1, "transforms": [{"__class_fullname__": "OneOf",'
            ' "p": 0, "transforms": []}]}}',
            "",
        ),
        ("deep.json", "[" * 2000 + "]" * 2000, "nested more than 32 levels deep"),
        ("bomb.yaml", "a: &a [1, 2]\nb: [*a, *a]\n", "YAML aliases (*a, line 2) are not allowed"),
        ("bad.yaml", "transform: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_file_is_one_export_error(name, text, message, tmp_path):
    path = tmp_path / name
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ExportError) as info:
        from_albumentations(path)
    assert message in str(info.value)
