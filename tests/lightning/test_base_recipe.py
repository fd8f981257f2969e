"""The base recipe per run: a learned run leaves flips to its controller; a fixed policy flips as the data set does."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from augmeta.datasets import specs
from augmeta.lightning import cli
from augmeta.meta import DEFAULT_OPS, AffinityObjective

from .helpers import exactly, small_module
from .test_cli import IN_PROCESS_WARNINGS, TINY_RUN


@pytest.mark.parametrize(
    ("policy", "flip", "data_flip", "expected"),
    [
        ("augmeta", None, True, False),  # learned: the controller decides, whatever the data set's convention
        ("augmeta", None, False, False),
        ("augmeta", True, False, True),  # asked for
        ("none", None, True, True),  # fixed: the data set's convention
        ("trivialaugment", None, False, False),
        ("none", False, True, False),  # asked for
    ],
)
def test_the_base_flip_follows_the_run_and_the_data_set(policy, flip, data_flip, expected):
    module = small_module(policy=policy, flip=flip, data_flip=data_flip)
    assert module.base_flip is expected


def test_a_learned_run_offers_both_flips_to_its_controller():
    assert {"flip_x", "flip_y"} <= set(DEFAULT_OPS)
    assert {"flip_x", "flip_y"} <= set(small_module().meta.ops)


def test_the_base_recipe_of_a_learned_run_is_the_crop_only():
    """With no crop padding and no base flip, the images reach the policy step unchanged."""
    module = small_module(crop_padding=0, augment_until=0.5)
    module.total_steps, module.base_steps = 10, 10  # past augment_until: the base recipe only
    images = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8)
    batch = {"train": (images, torch.zeros(16, dtype=torch.long))}
    out = module.on_after_batch_transfer(batch, 0)["train"][0]
    assert torch.equal(out, images.float() / 255.0)


def test_meta_ranges_reach_the_controller():
    module = small_module(meta_ranges={"rotate": [0.0, 180.0], "translate_x": [0.0, 0.5]})
    assert module.meta.ranges["rotate"] == (0.0, 180.0)
    assert module.meta.ranges["translate_x"] == (0.0, 0.5)
    assert module.meta.ranges["shear_x"] == (0.0, 0.5)  # DEFAULT_RANGES otherwise


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        (
            {"rotate": [0.0, 270.0]},
            "`ranges['rotate']` should be [value at m = 0, value at m = 1] within [-180.0, 180.0] "
            "(degrees, counter-clockwise, for both signs), but got [0.0, 270.0] instead.",
        ),
        (
            {"rotate": [0.0]},
            "`ranges['rotate']` should be [value at m = 0, value at m = 1] within [-180.0, 180.0] "
            "(degrees, counter-clockwise, for both signs), but got [0.0] instead.",
        ),
    ],
)
def test_meta_ranges_out_of_the_op_limits_are_refused(ranges, message):
    with pytest.raises(ValueError, match=exactly(message)):
        small_module(meta_ranges=ranges)


def test_meta_ranges_of_an_op_without_a_magnitude_are_refused():
    with pytest.raises(
        ValueError, match="`ranges` key 'flip_y' should be one of the controller's ops with a magnitude"
    ):
        small_module(meta_ranges={"flip_y": [0.0, 1.0]})


@pytest.mark.filterwarnings(*IN_PROCESS_WARNINGS)
@pytest.mark.parametrize("convention", [True, False])
def test_train_py_links_the_data_sets_flip_convention(tmp_path, monkeypatch, convention):
    digits = dataclasses.replace(specs.DATASET_SPECS["digits"], base_flip=convention)
    monkeypatch.setitem(specs.DATASET_SPECS, "digits", digits)
    monkeypatch.setattr("sys.argv", ["train.py"])
    args = [*TINY_RUN, "--model.policy", "none", "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    module = cli.main(args).model
    assert module.base_flip is convention
    learned = cli.main([*TINY_RUN, "--trainer.logger.init_args.save_dir", str(tmp_path / "runs2")]).model
    assert learned.base_flip is False
    assert isinstance(learned.objective, AffinityObjective)  # train.py's default: the controller decides on flips
