"""The compiled path: the masked step under ``torch.compile`` gives its images bit for bit, in fewer dispatched ops,
and falls back to the masked step, with one warning, where compiling fails."""

from __future__ import annotations

import warnings

import pytest
import torch

import augmeta.policy.captured as captured
from augmeta.meta import MetaNetwork
from augmeta.policy import StepDraw, apply_step
from augmeta.policy.published import PUBLISHED

from .helpers import smooth_uint8_images
from .test_masked import POLICIES, top_level_ops

# every registered op, in the two interpolations and with a fill, on grey and colour images (each a compile)
CASES = [
    ("every_op_nearest_fill", 3),
    ("every_op_bilinear_levels", 1),
    ("two_subpolicies_rgb_fill", 3),
    ("trivialaugment_wide", 1),
]


@pytest.mark.parametrize(("name", "channels"), CASES)
def test_the_compiled_path_gives_the_masked_paths_images_bit_for_bit(name, channels):
    policy = POLICIES[name]()
    images = smooth_uint8_images(48, channels, 20, 28, seed=3)
    out = {path: policy.apply(images, generator=torch.Generator().manual_seed(7), path=path)
           for path in ("masked", "compiled")}  # fmt: skip
    assert torch.equal(out["masked"], out["compiled"])  # uint8 out
    floats = torch.rand(48, channels, 20, 28, generator=torch.Generator().manual_seed(4))
    draws = policy.sample(48, generator=torch.Generator().manual_seed(8))
    masked, compiled = (policy.apply_draws(floats, draws, path=path) for path in ("masked", "compiled"))
    assert torch.equal(masked, compiled)  # float out, before rounding
    assert not torch.equal(compiled, floats)


@pytest.mark.parametrize("channels", [1, 3])
def test_the_controllers_base_step_is_the_same_compiled(channels):
    torch.manual_seed(0)
    network = MetaNetwork(mode="class", num_classes=4)
    with torch.no_grad():
        network.op_logits.normal_()
        network.magnitude_logits.normal_()
    images = smooth_uint8_images(32, channels, 16, 16, seed=2).float() / 255.0
    labels = torch.arange(32) % 4
    outs = []
    for path in ("masked", "compiled"):
        network.path = path
        with torch.no_grad():
            outs.append(network.augment(images, labels, generator=torch.Generator().manual_seed(5)).images)
    assert torch.equal(*outs)


def test_a_step_that_autograd_records_runs_uncompiled_with_the_same_images_and_gradients():
    network = MetaNetwork(num_classes=3)
    images = torch.rand(24, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    results = []
    for path in ("masked", "compiled"):
        network.zero_grad()
        network.path = path
        draw = network.augment(images, generator=torch.Generator().manual_seed(2))
        (draw.images * torch.linspace(-1.0, 1.0, draw.images.numel()).view_as(draw.images)).sum().backward()
        results.append((draw.images.detach(), network.magnitude_logits.grad.clone()))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    assert results[1][1].abs().sum() > 0


def test_the_compiled_path_dispatches_fewer_ops_than_the_masked_one():
    policy = PUBLISHED["trivialaugment_wide"]()
    images = torch.rand(64, 1, 12, 12)
    step = policy.sample(64, generator=torch.Generator().manual_seed(0)).steps[0]
    counts = {}
    for path in ("masked", "compiled"):
        call = lambda p=path: apply_step(images, step, (0.0,), "nearest", ops=policy.offered_ops(), path=p)  # noqa: E731
        call()  # compiles, and warms the caches
        if captured._FAILED:
            pytest.skip("torch.compile cannot compile here (the fallback has its own test)")
        counts[path] = sum(top_level_ops(call).values())
    assert counts["compiled"] < counts["masked"] / 2, counts


def test_a_step_that_cannot_compile_runs_masked_with_one_warning(monkeypatch):
    def failing_compile(fn, **kwargs):
        def compiled(*args):
            raise RuntimeError("no compiler here")

        return compiled

    monkeypatch.setattr(captured, "_COMPILED", {})
    monkeypatch.setattr(captured, "_FAILED", set())
    monkeypatch.setattr(torch, "compile", failing_compile)
    images = torch.rand(8, 1, 10, 10)
    step = StepDraw(torch.full((8,), 6), torch.full((8,), 0.5), torch.full((8,), 0.4), torch.rand(8, 2))
    ops = ("identity", "brightness", "rotate")
    with pytest.warns(RuntimeWarning, match="could not compile the augmentation step .RuntimeError: no compiler here"):
        first = apply_step(images, step, (0.0,), "nearest", ops=ops, path="compiled")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = apply_step(images, step, (0.0,), "nearest", ops=ops, path="compiled")
    masked = apply_step(images, step, (0.0,), "nearest", ops=ops, path="masked")
    assert torch.equal(first, masked) and torch.equal(second, masked)
    assert captured.captured_functions() == 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["every_op_nearest_fill", "trivialaugment_wide"])
def test_on_cuda_the_compiled_path_gives_the_masked_paths_images(name):
    """On a GPU the compiler's kernels may round unlike eager CUDA kernels: within 1e-6, as the masked and grouped
    paths are there (``test_masked.py``)."""
    policy = POLICIES[name]()
    images = smooth_uint8_images(256, 3, 32, 32, seed=2).cuda().float() / 255.0
    draws = policy.sample(256, "cuda", torch.Generator(device="cuda").manual_seed(0))
    masked, compiled = (policy.apply_draws(images, draws, path=path) for path in ("masked", "compiled"))
    assert compiled.device == images.device and not captured._FAILED
    torch.testing.assert_close(compiled, masked, rtol=0.0, atol=1e-6)
