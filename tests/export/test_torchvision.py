"""``to_torchvision``: PolicyTransform equals ``Policy.apply``; stock compositions are exact or refused."""

from __future__ import annotations

import pickle
import re

import pytest
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from augmeta import Policy, load_policy
from augmeta.export import ExportError, PolicyTransform, op_frequencies, to_torchvision
from augmeta.ops import OPS
from tests.policy.helpers import LEARNED_FILES

from .helpers import (
    STANDARD_OPS,
    Recorder,
    as_uint8,
    assert_frequencies,
    choice,
    leaves,
    max_difference,
    one_op_policy,
    policy_dict,
    record_torchvision,
)

#: A physical value per op that each backend can reproduce exactly (whole-pixel shifts on 24 x 32 and 32 x 32).
VALUES = {
    "shear_x": 0.25, "shear_y": -0.25, "translate_x": 0.25, "translate_y": -0.125, "rotate": -20.0,
    "brightness": 0.6, "color": -0.5, "contrast": 0.7, "sharpness": 0.8, "posterize": 5.0, "solarize": 0.6,
    "cutout": 0.3,
}  # fmt: skip

#: Every op at 0.7 of its range, both signs: PolicyTransform vs Policy.apply with the same global seed.
SIGNED_POLICIES = [
    pytest.param(op, interpolation, fill, id=f"{op}-{interpolation}-{'grey' if fill[0] else 'black'}")
    for op in STANDARD_OPS
    for interpolation in ("nearest", "bilinear")
    for fill in ((0.0,), (0.5,))
    if interpolation == "nearest" or OPS[op].kind == "geometric"
]


def signed_policy(op: str, interpolation: str, fill: tuple[float, ...]) -> Policy:
    spec = OPS[op]
    magnitude = 0.7 if spec.has_magnitude else 0.0
    return Policy.from_dict(
        policy_dict(
            [[{"p": 1.0, "ops": [choice(op, magnitude, signed=spec.signed)]}]], fill=fill, interpolation=interpolation
        )
    )


def seeded(transform, inputs, seed: int):
    torch.manual_seed(seed)
    return transform(inputs)


class TestPolicyTransformParity:
    """Same global seed -> same draws -> the same images as ``Policy.apply`` (uint8 exact, float within 1e-4)."""

    @pytest.mark.parametrize(("op", "interpolation", "fill"), SIGNED_POLICIES)
    def test_uint8_and_float(self, colour_images, op, interpolation, fill):
        policy = signed_policy(op, interpolation, fill)
        transform = to_torchvision(policy)
        images = as_uint8(colour_images)
        for seed, image in enumerate(images):
            assert max_difference(seeded(transform, image, seed), seeded(policy.apply, image, seed)) == 0
            floats = colour_images[seed]
            expected = seeded(policy.apply, floats, seed)
            torch.testing.assert_close(seeded(transform, floats, seed), expected, atol=1e-4, rtol=0.0)

    @pytest.mark.parametrize("op", STANDARD_OPS)
    def test_pil_images(self, colour_images, op):
        """PIL kernels: nearest geometry exact, photometric ops within one grey level."""
        policy = signed_policy(op, "nearest", (0.5,))
        transform = to_torchvision(policy)
        for seed, image in enumerate(as_uint8(colour_images)):
            actual = F.pil_to_tensor(seeded(transform, F.to_pil_image(image), seed))
            assert max_difference(actual, seeded(policy.apply, image, seed)) <= 1

    def test_grey_images(self, digits_images):
        policy = signed_policy("rotate", "nearest", (0.5,))
        transform = to_torchvision(policy)
        images = as_uint8(digits_images)
        assert torch.equal(seeded(transform, images[0], 1), seeded(policy.apply, images[0], 1))

    @pytest.mark.parametrize("path", LEARNED_FILES, ids=lambda path: path.stem)
    def test_learned_policies(self, digits_images, path):
        """policies/learned/: uniform magnitudes, signed ops, two steps of 14 ops each, applied as learned."""
        policy, transform = load_policy(path), to_torchvision(path)
        pipeline = v2.Compose([transform, v2.ToDtype(torch.float32, scale=True)])
        changed = 0
        for seed, image in enumerate(as_uint8(digits_images)[:8]):
            expected = seeded(policy.apply, image, seed)
            assert torch.equal(seeded(transform, image, seed), expected)
            torch.testing.assert_close(seeded(pipeline, image, seed), expected / 255.0, atol=1e-7, rtol=0.0)
            changed += not torch.equal(expected, image)
        assert changed >= 4  # the policy augments most images


class TestPolicyTransformInputs:
    def test_is_a_v2_transform_that_keeps_types_and_dtypes(self, colour_images):
        transform = to_torchvision(signed_policy("brightness", "nearest", (0.0,)))
        assert isinstance(transform, PolicyTransform) and isinstance(transform, v2.Transform)
        image = tv_tensors.Image(as_uint8(colour_images)[0])
        out = transform(image)
        assert type(out) is tv_tensors.Image and out.dtype == torch.uint8 and out.shape == image.shape
        assert transform(colour_images[0].double()).dtype == torch.float64

    def test_geometric_ops_move_boxes_and_masks(self, colour_images):
        policy = one_op_policy("translate_x", 0.25)  # 8 px on a 32 px wide image
        image = tv_tensors.Image(as_uint8(colour_images)[0])
        boxes = tv_tensors.BoundingBoxes([[2, 3, 10, 12]], format="XYXY", canvas_size=(24, 32))
        mask = tv_tensors.Mask(torch.zeros(24, 32, dtype=torch.uint8))
        mask[3:12, 2:10] = 1
        out = to_torchvision(policy)({"image": image, "boxes": boxes, "mask": mask, "label": 3})
        assert out["boxes"].tolist() == [[10, 3, 18, 12]]
        assert torch.equal(out["mask"], F.affine(mask, angle=0.0, translate=[8.0, 0.0], scale=1.0, shear=[0.0, 0.0]))
        assert out["label"] == 3
        assert torch.equal(out["image"], policy.apply(image.as_subclass(torch.Tensor)))

    def test_photometric_ops_and_cutout_leave_boxes_and_masks(self, colour_images):
        image = tv_tensors.Image(as_uint8(colour_images)[0])
        boxes = tv_tensors.BoundingBoxes([[2, 3, 10, 12]], format="XYXY", canvas_size=(24, 32))
        mask = tv_tensors.Mask(torch.ones(24, 32, dtype=torch.uint8))
        for op in ("invert", "cutout", "equalize"):
            out = to_torchvision(one_op_policy(op, 0.5))(image, boxes, mask)
            assert torch.equal(out[1], boxes) and torch.equal(out[2], mask)
            assert not torch.equal(out[0], image)

    def test_pickles_and_replays(self, colour_images):
        transform = to_torchvision(signed_policy("rotate", "bilinear", (0.5,)))
        copy = pickle.loads(pickle.dumps(transform))
        image = as_uint8(colour_images)[0]
        assert torch.equal(seeded(copy, image, 3), seeded(transform, image, 3))
        assert "policy='export-test'" in repr(transform)

    def test_accepts_a_policy_file(self, tmp_path):
        policy = one_op_policy("invert")
        path = policy.save(tmp_path / "p.json")
        assert to_torchvision(path).policy == policy

    def test_image_size_needs_stock_only(self):
        with pytest.raises(
            ValueError, match=re.escape("`image_size`, `dtype` and `strict` only apply with `stock_only=True`.")
        ):
            to_torchvision(one_op_policy("invert"), image_size=(32, 32))


class _SameImage(Dataset):
    def __init__(self, transform) -> None:
        self.image = torch.arange(64, dtype=torch.uint8).view(1, 8, 8) * 4
        self.transform = transform

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(self.image)


def epochs(loader: DataLoader, count: int) -> list[list[torch.Tensor]]:
    return [list(loader) for _ in range(count)]


def test_dataloader_workers_and_epochs_draw_differently():
    policy = Policy.from_dict(
        policy_dict([[{"p": 1.0, "ops": [choice("brightness", {"low": 0.0, "high": 1.0}, signed=True)]}]])
    )
    torch.manual_seed(0)
    loader = DataLoader(_SameImage(to_torchvision(policy)), batch_size=2, num_workers=2, persistent_workers=False)
    first, second = epochs(loader, 2)
    assert not torch.equal(first[0], first[1])  # batch 0 from worker 0, batch 1 from worker 1
    assert not any(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    unique = {tuple(image.flatten().tolist()) for batch in first + second for image in batch}
    assert len(unique) >= 12


# ---------------------------------------------------------------------------------------------------------------
# stock_only


STOCK_EXACT = [op for op in STANDARD_OPS if op != "cutout"]


class TestStockParity:
    """Stock compositions on uint8 images: geometry exact, torchvision's uint8 colour kernels within one level."""

    @pytest.mark.parametrize("op", STOCK_EXACT)
    @pytest.mark.parametrize("images_fixture", ["colour_images", "digits_images"])
    def test_one_op(self, request, images_fixture, op):
        images = as_uint8(request.getfixturevalue(images_fixture))
        policy = one_op_policy(op, VALUES.get(op), fill=(0.5,))
        transform = to_torchvision(policy, stock_only=True, image_size=tuple(images.shape[-2:]))
        tolerance = 0 if OPS[op].kind == "geometric" or op in ("posterize", "solarize", "equalize", "invert") else 1
        for image in images:
            assert max_difference(transform(image), policy.apply(image)) <= tolerance
            pil = F.pil_to_tensor(transform(F.to_pil_image(image)))
            assert max_difference(pil, policy.apply(image)) <= 1

    @pytest.mark.parametrize("op", ["rotate", "shear_x", "shear_y", "translate_x"])
    @pytest.mark.parametrize("fill", [(0.0,), (0.5,)], ids=["black", "grey"])
    def test_bilinear_geometry(self, colour_images, op, fill):
        policy = one_op_policy(op, VALUES[op], fill=fill, interpolation="bilinear")
        transform = to_torchvision(policy, stock_only=True, image_size=(24, 32))
        for image in as_uint8(colour_images):
            assert max_difference(transform(image), policy.apply(image)) <= 1

    def test_sub_pixel_translation_with_nearest(self, colour_images):
        policy = one_op_policy("translate_x", 0.3)  # 9.6 px, which nearest sampling rounds to 10
        transform = to_torchvision(policy, stock_only=True, image_size=(24, 32))
        for image in as_uint8(colour_images):
            assert max_difference(transform(image), policy.apply(image)) == 0

    @pytest.mark.parametrize("op", ["rotate", "brightness", "solarize", "invert"])
    def test_float_images_with_float_dtype(self, colour_images, op):
        policy = one_op_policy(op, VALUES.get(op))
        transform = to_torchvision(policy, stock_only=True, dtype=torch.float32)
        torch.testing.assert_close(transform(colour_images), policy.apply(colour_images), atol=1.5 / 255, rtol=0.0)

    def test_structure(self):
        policy = Policy.from_dict(
            policy_dict(
                [[{"p": 0.3, "ops": [choice("rotate", 0.5, signed=True)]}], [{"p": 1.0, "ops": [choice("invert")]}]],
                weights=[3.0, 1.0],
            )
        )
        transform = to_torchvision(policy, stock_only=True)
        assert type(transform) is v2.RandomChoice and transform.p == [0.75, 0.25]
        step = transform.transforms[0].transforms[0]
        assert type(step) is v2.RandomApply and step.p == 0.3
        signs = step.transforms[0]
        assert type(signs) is v2.RandomChoice and [t.degrees for t in signs.transforms] == [
            [15.0, 15.0],
            [-15.0, -15.0],
        ]

    def test_uniform_rotation_is_a_range(self):
        policy = Policy.from_dict(policy_dict([[{"p": 1.0, "ops": [choice("rotate", {"low": 0.5, "high": 1.0})]}]]))
        rotation = to_torchvision(policy, stock_only=True).transforms[0].transforms[0].transforms[0]
        assert rotation.degrees == [15.0, 30.0]


def refusal(path: str, op: str, reason: str) -> str:
    return f"`{path}` (op {op!r}) cannot be written with stock torchvision transforms: {reason}."


class TestStockRefusals:
    """``strict`` refuses what stock classes only approximate, every field in one error; by default they
    approximate it and one warning lists every field."""

    def test_cutout(self):
        policy = Policy.from_dict(policy_dict([[{"p": 1.0, "ops": [choice("invert"), choice("cutout", 1.0)]}]]))
        reason = (
            "v2.RandomErasing keeps its box inside the image, while augmeta's cutout is a square centred on a uniform "
            "pixel and clipped at the border"
        )
        with pytest.raises(ExportError, match=re.escape(refusal("subpolicies[0].steps[0].ops[1]", "cutout", reason))):
            to_torchvision(policy, stock_only=True, strict=True)
        with pytest.warns(UserWarning, match="v2.RandomErasing keeps the square inside the image"):
            transform = to_torchvision(policy, stock_only=True, image_size=(10, 10))
        erasing = transform.transforms[0].transforms[0].transforms[0].transforms[1]
        assert type(erasing) is v2.RandomErasing and erasing.scale == (0.25, 0.25) and erasing.ratio == (1.0, 1.0)
        images = torch.full((50, 3, 10, 10), 200, dtype=torch.uint8)
        erased = [int((erasing(image) == 0).all(dim=0).sum()) for image in images]
        assert set(erased) == {25}  # a 5 x 5 square: half the side, as augmeta's cutout at magnitude 1 (0.5)

    def test_uniform_shear(self):
        policy = Policy.from_dict(policy_dict([[{"p": 1.0, "ops": [choice("shear_x", {"low": 0.0, "high": 1.0})]}]]))
        reason = "its magnitude is uniform over an interval and no stock transform draws a shear factor that way"
        with pytest.raises(ExportError, match=re.escape(refusal("subpolicies[0].steps[0].ops[0]", "shear_x", reason))):
            to_torchvision(policy, stock_only=True, strict=True)
        with pytest.warns(UserWarning, match="drawn from 31 evenly spaced values of its interval"):
            transform = to_torchvision(policy, stock_only=True)
        shears = transform.transforms[0].transforms[0].transforms[0].transforms
        assert len(shears) == 31 and all(type(t) is v2.RandomAffine for t in shears)

    def test_translation_without_image_size(self):
        with pytest.raises(ExportError, match=re.escape("pass image_size=(height, width)")):
            to_torchvision(one_op_policy("translate_x", 0.25), stock_only=True)

    def test_sub_pixel_translation_with_bilinear(self):
        policy = one_op_policy("translate_x", 0.3, interpolation="bilinear")
        with pytest.raises(ExportError, match=re.escape("the shift of 9.6 px is not a whole number of pixels")):
            to_torchvision(policy, stock_only=True, image_size=(32, 32), strict=True)
        with pytest.warns(UserWarning, match=re.escape("sub-pixel shifts (bilinear) become whole-pixel shifts")):
            to_torchvision(policy, stock_only=True, image_size=(32, 32))

    def test_posterize_on_float_images(self):
        with pytest.raises(ExportError, match="torchvision posterizes float images to 2\\*\\*bits levels"):
            to_torchvision(one_op_policy("posterize", 5.0), stock_only=True, dtype=torch.float32)


STAT_POLICY = policy_dict(
    [
        [
            {"p": 0.6, "ops": [choice("invert"), choice("flip_x", weight=3.0)]},
            {"p": 0.5, "ops": [choice("solarize", 0.5)]},
        ],
        [
            {"p": 0.9, "ops": [choice("rotate", 0.5, signed=True)]},
            {"p": 0.3, "ops": [choice("invert", weight=0.5), choice("flip_x")]},
        ],
        [
            {
                "p": 0.7,
                "ops": [
                    choice("posterize", 0.5),
                    choice("brightness", {"low": 0.2, "high": 1.0, "levels": 3}, signed=True, weight=2.0),
                ],
            },
            {"p": 0.4, "ops": [choice("invert")]},
        ],
    ],
    weights=[3.0, 1.0, 2.0],
)
STOCK_LABELS = {
    v2.RandomInvert: "invert", v2.RandomHorizontalFlip: "flip_x", v2.RandomSolarize: "solarize",
    v2.RandomRotation: "rotate", v2.RandomPosterize: "posterize",
    v2.ColorJitter: "brightness",
}  # fmt: skip


def test_stock_op_frequencies_match_the_policy():
    policy = Policy.from_dict(STAT_POLICY)
    transform = to_torchvision(policy, stock_only=True)
    recorder = Recorder()
    record_torchvision(transform, lambda leaf: STOCK_LABELS[type(leaf)], recorder)
    signs = Recorder()
    rotations = [leaf for leaf in leaves(transform) if type(leaf) is v2.RandomRotation]
    record_torchvision(rotations[1], lambda leaf: "negative", signs)
    image = torch.zeros(1, 8, 8, dtype=torch.uint8)
    torch.manual_seed(0)
    for _ in range(4000):
        transform(image)
        recorder.end_call()
        signs.end_call()
    expected = op_frequencies(policy)
    assert_frequencies(recorder.counts, recorder.calls, expected)
    assert_frequencies(signs.counts, signs.calls, {"negative": expected["rotate"] / 2})


def test_policy_transform_op_frequencies_match_the_policy():
    policy = Policy.from_dict(STAT_POLICY)
    transform = to_torchvision(policy)
    recorder = Recorder()
    torch.manual_seed(0)
    for _ in range(4000):
        for name, _, _ in transform.make_params([torch.zeros(1, 8, 8)])["ops"]:
            recorder.mark(name)
        recorder.end_call()
    assert_frequencies(recorder.counts, recorder.calls, op_frequencies(policy))
