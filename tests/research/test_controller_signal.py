"""``research/controller_signal.py`` tells a gradient with a direction from noise, and records the controller's."""

import pytest
import torch

from .helpers import research_script


@pytest.fixture(scope="module")
def signal():
    with research_script("controller_signal") as module:
        yield module


def noise(steps: int = 400, numbers: int = 30, seed: int = 0) -> torch.Tensor:
    return torch.randn(steps, numbers, generator=torch.Generator().manual_seed(seed))


def test_noise_looks_like_its_null(signal):
    row = signal.summarise("p", noise(), torch.Generator().manual_seed(1))
    assert row["mean_abs_t"] == pytest.approx(0.8, abs=0.25)
    assert row["null_mean_abs_t"] == pytest.approx(0.8, abs=0.25)
    assert row["direction_share"] < 0.01


def test_a_direction_under_the_noise_stands_out_and_the_sign_flips_remove_it(signal):
    direction = torch.linspace(-1.0, 1.0, 30)
    row = signal.summarise("p", noise() + 0.5 * direction, torch.Generator().manual_seed(1))
    assert row["mean_abs_t"] > 3.0 and row["share_t_over_2"] > 0.5
    assert row["null_mean_abs_t"] < 1.2
    assert row["direction_share"] > 10 * row["null_direction_share"]


def test_the_recorder_keeps_one_gradient_per_backward_for_every_controller_parameter(signal):
    from augmeta.lightning import AugMetaModule

    module = AugMetaModule(width=4, in_channels=1)
    recorder = signal.GradientRecorder()
    recorder.on_fit_start(None, module)
    for _ in range(3):
        module.meta.augment(torch.rand(8, 1, 12, 12), torch.randint(0, 10, (8,))).images.sum().backward()
    assert set(recorder.steps) == {name for name, _ in module.meta.named_parameters()}
    for name, parameter in module.meta.named_parameters():
        assert len(recorder.steps[name]) == 3 and recorder.steps[name][0].shape == (parameter.numel(),)
