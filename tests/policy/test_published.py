"""The published policies (AutoAugment, RandAugment, TrivialAugmentWide) against torchvision's own definitions.

Checked: every file in ``policies/`` loads, applies and equals the factory that wrote it; the literal tables and the
ranges equal torchvision's; sampling frequencies match the ones torchvision's tables imply; a fixed draw gives
torchvision's image (geometric ops pixel-exact, colour ops within one grey level of its float kernels).
"""

from __future__ import annotations

import math
import re
from collections import Counter

import pytest
import torch
from torchvision.transforms.v2 import AutoAugment, AutoAugmentPolicy, RandAugment, TrivialAugmentWide
from torchvision.transforms.v2 import functional as F

from augmeta import Policy, load_policy
from augmeta.ops import as_float_batch, restore_layout
from augmeta.policy import OP_NAMES, Draws, StepDraw
from augmeta.policy.published import (
    AUTOAUGMENT_TABLES,
    PUBLISHED,
    STANDARD_OPS,
    autoaugment,
    randaugment,
    trivialaugment_wide,
)

from .helpers import POLICY_DIR, POLICY_FILES, smooth_uint8_images

DATASETS = ("cifar10", "svhn", "imagenet")
NEAREST = F.InterpolationMode.NEAREST
DRAWS = 20_000
SIGMAS = 5.0


def snake_case(name: str) -> str:
    """torchvision's ``"AutoContrast"`` -> augmeta's ``"auto_contrast"``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def torchvision_policies(dataset: str) -> list[tuple[tuple[str, float, int | None], ...]]:
    policies = AutoAugment()._get_policies(getattr(AutoAugmentPolicy, dataset.upper()))
    return [tuple((snake_case(op), p, bin_) for op, p, bin_ in sub) for sub in policies]


def load_published(name: str) -> Policy:
    return load_policy(POLICY_DIR / f"{name}.json")


def assert_binomial(count: int, n: int, prob: float, what: str) -> None:
    """``count`` successes of ``n`` agree with probability ``prob`` within SIGMAS standard deviations."""
    if prob in (0.0, 1.0):
        assert count == n * prob, f"{what}: {count} of {n}, expected exactly {n * prob:.0f}"
        return
    sigma = math.sqrt(n * prob * (1.0 - prob))
    assert abs(count - n * prob) <= SIGMAS * sigma, f"{what}: {count} of {n}, expected {n * prob:.1f} +/- {sigma:.1f}"


def op_counts(op: torch.Tensor) -> Counter[str]:
    return Counter({OP_NAMES[i]: c for i, c in enumerate(torch.bincount(op, minlength=len(OP_NAMES)).tolist())})


def as_torchvision_value(op_index: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """|value| as torchvision states it: posterize's bits rounded (torchvision rounds them per bin)."""
    return torch.where(op_index == OP_NAMES.index("posterize"), value.abs().round(), value.abs())


# --- every shipped file ---------------------------------------------------------------------------------------------


def test_policy_files_are_the_published_set():
    assert [path.stem for path in POLICY_FILES] == sorted(PUBLISHED)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_file_equals_its_factory(name):
    built = PUBLISHED[name]()
    path = POLICY_DIR / f"{name}.json"
    assert load_policy(path) == built
    assert path.read_text(encoding="utf-8") == built.to_json()
    assert built.name == name


@pytest.mark.parametrize("name", sorted(PUBLISHED))
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("channels", [1, 3])
def test_file_applies(name, dtype, channels):
    policy = load_published(name)
    images = smooth_uint8_images(16, channels, 24, 32)
    if dtype != torch.uint8:
        images = images.to(dtype) / 255.0
    before = images.clone()
    out = policy.apply(images, generator=torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == dtype
    assert torch.equal(images, before)
    if dtype.is_floating_point:
        assert out.isfinite().all() and out.min() >= 0.0 and out.max() <= 1.0
    single = policy.apply(images[0], generator=torch.Generator().manual_seed(0))
    assert single.shape == images.shape[1:] and single.dtype == dtype


def test_factories_name_their_policies():
    assert randaugment(3, 5).name == "randaugment_n3_m5"
    assert len(randaugment(3, 5).subpolicies[0].steps) == 3
    with pytest.raises(ValueError, match=re.escape("`dataset` should be one of ['cifar10', 'imagenet', 'svhn'], ")):
        autoaugment("mnist")
    with pytest.raises(ValueError, match=re.escape("`magnitude` should be in [0, 30], but got 31 instead.")):
        randaugment(2, 31)
    with pytest.raises(ValueError, match=re.escape("`num_ops` should be an integer >= 1, but got 0 instead.")):
        randaugment(0, 9)


# --- tables, op lists and ranges against torchvision ----------------------------------------------------------------


@pytest.mark.parametrize("dataset", DATASETS)
def test_autoaugment_tables_equal_torchvision(dataset):
    assert list(AUTOAUGMENT_TABLES[dataset]) == torchvision_policies(dataset)


@pytest.mark.parametrize("dataset", DATASETS)
def test_autoaugment_files_follow_torchvision_policies(dataset):
    policy = load_published(f"autoaugment_{dataset}")
    expected = torchvision_policies(dataset)
    assert len(policy.subpolicies) == len(expected) == 25
    for sub, table in zip(policy.subpolicies, expected, strict=True):
        assert sub.weight == 1.0
        assert len(sub.steps) == len(table) == 2
        for step, (op, p, bin_) in zip(sub.steps, table, strict=True):
            (choice,) = step.ops
            assert (choice.op, step.p) == (op, p)
            assert choice.magnitude == pytest.approx(0.0 if bin_ is None else bin_ / 9.0, abs=1e-12)


def test_standard_ops_are_torchvisions_ops():
    randaugment_ops = tuple(snake_case(name) for name in RandAugment._AUGMENTATION_SPACE)
    trivial_ops = tuple(snake_case(name) for name in TrivialAugmentWide._AUGMENTATION_SPACE)
    autoaugment_ops = {snake_case(name) for name in AutoAugment._AUGMENTATION_SPACE}
    assert STANDARD_OPS == randaugment_ops == trivial_ops
    assert len(set(STANDARD_OPS)) == len(STANDARD_OPS) == 14
    assert autoaugment_ops == set(STANDARD_OPS) - {"identity"} | {"invert"}


def test_randaugment_and_trivialaugment_files_are_uniform_over_standard_ops():
    randaugment_policy = load_published("randaugment_n2_m9")
    (sub,) = randaugment_policy.subpolicies
    assert len(sub.steps) == 2
    for step in sub.steps:
        assert step.p == 1.0
        assert tuple(choice.op for choice in step.ops) == STANDARD_OPS
        assert {choice.weight for choice in step.ops} == {1.0}
        for choice in step.ops:
            assert choice.magnitude == pytest.approx(9 / 30 if choice.range is not None else 0.0, abs=1e-12)
    trivial = load_published("trivialaugment_wide")
    ((step,),) = [sub.steps for sub in trivial.subpolicies]
    assert step.p == 1.0 and tuple(choice.op for choice in step.ops) == STANDARD_OPS
    for choice in step.ops:
        if choice.range is not None:
            assert (choice.magnitude.low, choice.magnitude.high, choice.magnitude.levels) == (0.0, 1.0, 31)


# family -> (torchvision transform class, number of magnitude bins, the policy files written with its ranges)
FAMILIES = {
    "autoaugment": (AutoAugment, 10, ("autoaugment_cifar10", "autoaugment_svhn", "autoaugment_imagenet")),
    "randaugment": (RandAugment, 31, ("randaugment_n2_m9",)),
    "trivialaugment_wide": (TrivialAugmentWide, 31, ("trivialaugment_wide",)),
}
FAMILY_OPS = [(family, tid) for family, (cls, _, _) in FAMILIES.items() for tid in cls._AUGMENTATION_SPACE]
SIZE = 32  # torchvision's translate is in pixels: augmeta's fraction of the size times 32


def file_choices(family: str) -> dict[str, tuple[list[float] | None, bool]]:
    """op -> (range, signed) as written in the family's files (the same for every use of the op)."""
    found: dict[str, set[tuple[tuple[float, ...] | None, bool]]] = {}
    for name in FAMILIES[family][2]:
        for sub in load_published(name).subpolicies:
            for step in sub.steps:
                for choice in step.ops:
                    key = (None if choice.range is None else tuple(choice.range), choice.signed)
                    found.setdefault(choice.op, set()).add(key)
    assert all(len(keys) == 1 for keys in found.values()), found
    return {op: (None if rng is None else list(rng), signed) for op, ((rng, signed),) in found.items()}


def augmeta_value(range_: list[float], k: int, bins: int) -> float:
    lo, hi = range_
    return lo + (k / (bins - 1)) * (hi - lo)


def torchvision_value(family: str, tid: str, k: int) -> float:
    """torchvision's physical magnitude of bin ``k`` on 32x32 images (translate as a fraction of the size)."""
    cls, bins, _ = FAMILIES[family]
    magnitudes, _ = cls._AUGMENTATION_SPACE[tid]
    value = float(magnitudes(bins, SIZE, SIZE)[k])
    return value / SIZE if tid.startswith("Translate") else value


@pytest.mark.parametrize(("family", "tid"), FAMILY_OPS)
def test_ranges_and_signs_equal_torchvision_bins(family, tid):
    cls, bins, _ = FAMILIES[family]
    magnitudes, signed = cls._AUGMENTATION_SPACE[tid]
    op = snake_case(tid)
    range_, file_signed = file_choices(family)[op]
    if magnitudes(bins, SIZE, SIZE) is None:
        assert (range_, file_signed) == (None, False)
        return
    assert file_signed == signed
    for k in range(bins):
        expected = torchvision_value(family, tid, k)
        value = augmeta_value(range_, k, bins)
        if op == "posterize":  # torchvision rounds the bits of each bin; augmeta's kernel rounds the value
            assert round(value) == expected, k
        else:
            assert value == pytest.approx(expected, rel=1e-6, abs=1e-6), k


# --- sampling frequencies -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", DATASETS)
def test_autoaugment_frequencies_match_torchvision(dataset):
    policy = load_published(f"autoaugment_{dataset}")
    table = torchvision_policies(dataset)
    draws = policy.sample(DRAWS, generator=torch.Generator().manual_seed(1))
    counts = torch.bincount(draws.subpolicy, minlength=len(table)).tolist()
    for index, count in enumerate(counts):
        assert_binomial(count, DRAWS, 1.0 / len(table), f"sub-policy {index}")
    for j, step in enumerate(draws.steps):
        expected: Counter[str] = Counter()
        for sub in table:
            op, p, _ = sub[j]
            expected[op] += p / len(table)
            expected["identity"] += (1.0 - p) / len(table)
        counts = op_counts(step.op)
        for name in OP_NAMES:
            assert_binomial(counts[name], DRAWS, expected[name], f"step {j} op {name}")
        # each drawn op is its sub-policy's op at its bin, with torchvision's value and a fair sign
        table_op, table_m, table_value, table_signed = [], [], [], []
        for sub in table:
            op, _, bin_ = sub[j]
            tid = next(t for t in AutoAugment._AUGMENTATION_SPACE if snake_case(t) == op)
            table_op.append(OP_NAMES.index(op))
            table_m.append(0.0 if bin_ is None else bin_ / 9.0)
            table_value.append(0.0 if bin_ is None else torchvision_value("autoaugment", tid, bin_))
            table_signed.append(AutoAugment._AUGMENTATION_SPACE[tid][1])
        fired = step.op != OP_NAMES.index("identity")
        rows = draws.subpolicy[fired]
        assert torch.equal(step.op[fired], torch.tensor(table_op)[rows])
        torch.testing.assert_close(step.magnitude[fired], torch.tensor(table_m)[rows], rtol=0, atol=1e-6)
        value = as_torchvision_value(step.op[fired], step.value[fired])
        torch.testing.assert_close(value, torch.tensor(table_value)[rows], rtol=1e-5, atol=1e-6)
        nonzero = torch.tensor(table_signed)[rows] & (step.magnitude[fired] > 0)
        negative = int((step.value[fired][nonzero] < 0).sum())
        assert_binomial(negative, int(nonzero.sum()), 0.5, f"step {j} negative values")


def test_randaugment_frequencies_match_torchvision():
    policy = load_published("randaugment_n2_m9")
    draws = policy.sample(DRAWS, generator=torch.Generator().manual_seed(2))
    assert len(draws.steps) == 2
    for j, step in enumerate(draws.steps):
        counts = op_counts(step.op)
        for name in OP_NAMES:
            assert_binomial(counts[name], DRAWS, 1 / 14 if name in STANDARD_OPS else 0.0, f"step {j} op {name}")
        for tid, (magnitudes, signed) in RandAugment._AUGMENTATION_SPACE.items():
            mask = step.op == OP_NAMES.index(snake_case(tid))
            if magnitudes(31, SIZE, SIZE) is None:
                continue
            expected = torchvision_value("randaugment", tid, 9)
            assert torch.allclose(step.magnitude[mask], torch.tensor(9 / 30))
            value = as_torchvision_value(step.op[mask], step.value[mask])
            assert torch.allclose(value, torch.tensor(expected), rtol=1e-5, atol=1e-6), tid
            negative = int((step.value[mask] < 0).sum())
            assert_binomial(negative, int(mask.sum()), 0.5 if signed else 0.0, f"{tid} negative")
    # the two ops are drawn independently: all 14 x 14 pairs equally often
    pairs = Counter(zip(draws.steps[0].op.tolist(), draws.steps[1].op.tolist(), strict=True))
    assert len(pairs) == 14 * 14
    for pair, count in pairs.items():
        assert_binomial(count, DRAWS, 1 / 196, f"pair {pair}")


def test_trivialaugment_frequencies_match_torchvision():
    policy = load_published("trivialaugment_wide")
    (step,) = policy.sample(DRAWS, generator=torch.Generator().manual_seed(3)).steps
    counts = op_counts(step.op)
    for name in OP_NAMES:
        assert_binomial(counts[name], DRAWS, 1 / 14 if name in STANDARD_OPS else 0.0, f"op {name}")
    with_magnitude = torch.zeros_like(step.op, dtype=torch.bool)
    for tid, (magnitudes, signed) in TrivialAugmentWide._AUGMENTATION_SPACE.items():
        mask = step.op == OP_NAMES.index(snake_case(tid))
        if magnitudes(31, SIZE, SIZE) is None:
            assert (step.value[mask] == 0).all()
            continue
        with_magnitude |= mask
        bins = (step.magnitude[mask].double() * 30).round().long()
        assert torch.allclose(step.magnitude[mask].double() * 30, bins.double(), atol=1e-4)
        expected = torch.tensor([torchvision_value("trivialaugment_wide", tid, k) for k in range(31)])
        value = as_torchvision_value(step.op[mask], step.value[mask])
        assert torch.allclose(value, expected[bins], rtol=1e-5, atol=1e-6), tid
        nonzero = step.magnitude[mask] > 0
        negative = int((step.value[mask][nonzero] < 0).sum())
        assert_binomial(negative, int(nonzero.sum()), 0.5 if signed else 0.0, f"{tid} negative")
    bins = (step.magnitude[with_magnitude] * 30).round().long()
    total = int(with_magnitude.sum())
    for k, count in enumerate(torch.bincount(bins, minlength=31).tolist()):
        assert_binomial(count, total, 1 / 31, f"magnitude bin {k}")


def torchvision_draws(transform, count: int, seed: int) -> list[list[tuple[str, float]]]:
    """What torchvision's own ``forward`` draws for ``count`` 32x32 images: per image, ``(op, value)`` of each
    op it applies (translate as a fraction of the size), identity left out. Its kernels are replaced by a recorder."""
    calls: list[list[tuple[str, float]]] = []

    def record(image, transform_id, magnitude, interpolation, fill):
        value = magnitude / SIZE if transform_id.startswith("Translate") else magnitude
        if transform_id != "Identity":
            calls[-1].append((snake_case(transform_id), value))
        return image

    transform._apply_image_or_video_transform = record
    image = torch.zeros(3, SIZE, SIZE, dtype=torch.uint8)
    torch.manual_seed(seed)
    for _ in range(count):
        calls.append([])
        transform(image)
    return calls


def augmeta_draws(policy: Policy, count: int, seed: int) -> list[list[tuple[str, float]]]:
    """The same record from ``Policy.sample``; posterize's bits rounded as torchvision states them."""
    draws = policy.sample(count, generator=torch.Generator().manual_seed(seed))
    per_image: list[list[tuple[str, float]]] = [[] for _ in range(count)]
    for step in draws.steps:
        for i, (op_index, value) in enumerate(zip(step.op.tolist(), step.value.tolist(), strict=True)):
            op = OP_NAMES[op_index]
            if op != "identity":
                per_image[i].append((op, float(round(value)) if op == "posterize" else value))
    return per_image


def assert_same_mean(a: list[float], b: list[float], what: str) -> None:
    """Welch's z: the means of ``a`` and ``b`` agree within SIGMAS standard errors."""
    ta, tb = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    error = math.sqrt(ta.var(unbiased=True) / len(a) + tb.var(unbiased=True) / len(b))
    difference = abs(float(ta.mean() - tb.mean()))
    assert difference <= SIGMAS * error or difference < 1e-12, f"{what}: {float(ta.mean())} vs {float(tb.mean())}"


TORCHVISION_TRANSFORMS = {
    "autoaugment_cifar10": lambda: AutoAugment(AutoAugmentPolicy.CIFAR10),
    "autoaugment_svhn": lambda: AutoAugment(AutoAugmentPolicy.SVHN),
    "autoaugment_imagenet": lambda: AutoAugment(AutoAugmentPolicy.IMAGENET),
    "randaugment_n2_m9": lambda: RandAugment(num_ops=2, magnitude=9),
    "trivialaugment_wide": TrivialAugmentWide,
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_TRANSFORMS))
def test_draws_match_torchvisions_own_sampling(name):
    """Run torchvision's transform itself (its global-RNG draws, its p and sign tests) and compare per-image op
    counts, the values each op takes and how often each is negated."""
    theirs = torchvision_draws(TORCHVISION_TRANSFORMS[name](), 3000, seed=0)
    ours = augmeta_draws(load_published(name), DRAWS, seed=0)
    ops = sorted({op for image in theirs + ours for op, _ in image})
    for op in ops:
        assert_same_mean(
            [sum(o == op for o, _ in image) for image in theirs],
            [sum(o == op for o, _ in image) for image in ours],
            f"{op} per image",
        )
        their_values = [v for image in theirs for o, v in image if o == op]
        our_values = [v for image in ours for o, v in image if o == op]
        # every value torchvision drew, augmeta draws too (the reverse is checked bin by bin above)
        assert {round(abs(v), 4) for v in their_values} <= {round(abs(v), 4) for v in our_values}, op
        assert_same_mean([v < 0 for v in their_values], [v < 0 for v in our_values], f"{op} negated")


# --- images: a fixed draw gives torchvision's image -----------------------------------------------------------------

ENHANCE_OPS = ("Brightness", "Color", "Contrast", "Sharpness", "AutoContrast")
# torchvision's uint8 kernels truncate after each operation (and Color truncates its grey image before blending),
# while augmeta works in float and rounds once: Color can land two grey levels from torchvision's uint8 result.
UINT8_TOLERANCE = {"Brightness": 1, "Color": 2, "Contrast": 1, "Sharpness": 1, "AutoContrast": 1}


def apply_one_op(policy: Policy, images: torch.Tensor, op: str, magnitudes: list[float], values: list[float]):
    """Apply ``op`` to uint8 ``images[i]`` with the draw ``(magnitudes[i], values[i])``, as ``Policy.apply`` would."""
    batch, dtype, _ = as_float_batch(images)
    size = batch.shape[0]
    step = StepDraw(
        op=torch.full((size,), OP_NAMES.index(op), dtype=torch.long),
        magnitude=torch.tensor(magnitudes, dtype=torch.float32),
        value=torch.tensor(values, dtype=torch.float32),
        position=torch.zeros(size, 2),
    )
    return restore_layout(policy.apply_draws(batch, Draws(torch.zeros(size, dtype=torch.long), (step,))), dtype, False)


def max_difference(a: torch.Tensor, b: torch.Tensor) -> int:
    return int((a.int() - b.int()).abs().max())


def check_against_torchvision(family: str, tid: str, image: torch.Tensor, out: torch.Tensor, k: int, sign: int):
    """Compare augmeta's ``out`` for bin ``k`` and ``sign`` with torchvision's op on the uint8 ``image``."""
    cls, bins, _ = FAMILIES[family]
    transform = cls()
    magnitudes, _ = cls._AUGMENTATION_SPACE[tid]
    table = magnitudes(bins, SIZE, SIZE)
    magnitude = 0.0 if table is None else float(table[k]) * sign
    label = f"{family} {tid} bin {k} sign {sign}"

    def torchvision(img: torch.Tensor) -> torch.Tensor:
        return transform._apply_image_or_video_transform(
            img, tid, magnitude, interpolation=NEAREST, fill=transform._fill
        )

    if tid.startswith("Translate"):
        # torchvision truncates its pixel shift (int(magnitude)); augmeta shifts by the exact value, which
        # F.affine takes as it is. Both agree wherever torchvision's shift is a whole number of pixels.
        pixels = sign * float(magnitudes(bins, SIZE, SIZE)[-1]) * k / (bins - 1)
        shift = [pixels, 0.0] if tid == "TranslateX" else [0.0, pixels]
        expected = F.affine(image, angle=0.0, translate=shift, scale=1.0, shear=[0.0, 0.0], interpolation=NEAREST)
        assert torch.equal(out, expected), label
        if magnitude == int(magnitude):
            assert torch.equal(out, torchvision(image)), label
    elif tid == "Solarize":
        # the threshold is 255 * (1 - k / (bins - 1)) exactly; torchvision's float32 linspace puts some thresholds
        # a hair above a whole grey level, so its AutoAugment spares pixels that sit exactly on it
        threshold = 255.0 * (bins - 1 - k) / (bins - 1)
        assert torch.equal(out, F.solarize(image, threshold=threshold)), label
    elif tid in ENHANCE_OPS:
        in_float = (torchvision(image.float() / 255.0) * 255.0).round().clamp(0, 255).to(torch.uint8)
        assert max_difference(out, in_float) <= 1, label
        assert max_difference(out, torchvision(image)) <= UINT8_TOLERANCE[tid], label
    else:  # geometric ops other than translate, posterize, equalize, invert, identity: pixel-exact
        assert torch.equal(out, torchvision(image)), label


@pytest.mark.parametrize(("family", "tid"), FAMILY_OPS)
def test_fixed_draws_give_torchvisions_image(family, tid):
    cls, bins, files = FAMILIES[family]
    policy = load_published(files[0])
    op = snake_case(tid)
    range_, signed = file_choices(family)[op]
    cases = [(k, sign) for k in range(bins) for sign in ((1, -1) if signed else (1,))]
    if range_ is None:
        cases = [(0, 1)]
    for channels in (3, 1):
        images = smooth_uint8_images(1, channels, seed=channels)
        repeated = images.expand(len(cases), -1, -1, -1)
        magnitudes = [k / (bins - 1) for k, _ in cases]
        values = [0.0 if range_ is None else sign * augmeta_value(range_, k, bins) for k, sign in cases]
        out = apply_one_op(policy, repeated, op, magnitudes, values)
        for (k, sign), image_out in zip(cases, out, strict=True):
            check_against_torchvision(family, tid, images[0], image_out, k, sign)


def test_sampled_trivialaugment_draws_give_torchvisions_images():
    policy = trivialaugment_wide()
    images = smooth_uint8_images(8, 3, seed=5).repeat(12, 1, 1, 1)
    draws = policy.sample(images.shape[0], generator=torch.Generator().manual_seed(4))
    batch, dtype, _ = as_float_batch(images)
    out = restore_layout(policy.apply_draws(batch, draws), dtype, False)
    (step,) = draws.steps
    seen = set()
    for i in range(images.shape[0]):
        op = OP_NAMES[int(step.op[i])]
        tid = next(t for t in TrivialAugmentWide._AUGMENTATION_SPACE if snake_case(t) == op)
        k = round(float(step.magnitude[i]) * 30)
        sign = -1 if float(step.value[i]) < 0 else 1
        check_against_torchvision("trivialaugment_wide", tid, images[i], out[i], k, sign)
        seen.add(op)
    assert len(seen) >= 12  # the batch covers (nearly) every op
