"""``AugMetaModule(objective_args=...)``: the objective's own settings from the module, its checkpoints and the command
line; and ``update``, which the module calls after every base step whatever the objective."""

from __future__ import annotations

import pytest
import torch
import yaml
from pytorch_lightning.callbacks import ModelCheckpoint

from augmeta.lightning import AugMetaModule, cli
from augmeta.meta import ImplicitObjective, MetaObjective

from .helpers import changed, cloned_state, digits, exactly, small_module, small_trainer
from .test_cli import IN_PROCESS_WARNINGS, TINY_RUN

UNKNOWN_KEY = (
    "`objective_args` key 'term' (value 3) is not a setting of objective 'implicit': "
    "expected one of ['alpha', 'terms']."
)
WRONG_TYPE = "`objective_args` key 'terms' of objective 'implicit' should be an int, but got '3' (str) instead."


def test_objective_args_reach_the_implicit_objective():
    module = small_module(objective="implicit", epsilon=0.002, objective_args={"terms": 2, "alpha": 0.05})
    assert isinstance(module.objective, ImplicitObjective)
    assert (module.objective.terms, module.objective.alpha, module.objective.epsilon) == (2, 0.05, 0.002)
    assert module.hparams.objective_args == {"terms": 2, "alpha": 0.05}
    default = small_module(objective="implicit")
    assert (default.objective.terms, default.objective.alpha) == (5, 0.01)
    assert default.hparams.objective_args is None


def test_epsilon_and_teacher_decay_still_reach_the_objectives_that_take_them():
    assert small_module(objective="lookahead", epsilon=0.003).objective.epsilon == 0.003
    teacher = small_module(objective="teacher_ns", teacher_decay=0.5).objective
    assert (teacher.decay, teacher.adversarial) == (0.5, "non_saturating")


@pytest.mark.parametrize(("objective_args", "message"), [({"term": 3}, UNKNOWN_KEY), ({"terms": "3"}, WRONG_TYPE)])
def test_the_module_rejects_objective_args_the_objective_does_not_take(objective_args, message):
    with pytest.raises(ValueError, match=exactly(message)):
        small_module(objective="implicit", objective_args=objective_args)


def test_a_fixed_policy_ignores_objective_args_as_it_ignores_the_objective():
    assert small_module(policy="none", objective_args={"term": 3}).meta is None


def test_a_checkpoint_with_objective_args_loads_with_weights_only(tmp_path):
    module = small_module(meta_every=1, objective="implicit", objective_args={"terms": 1, "alpha": 0.02})
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True, save_top_k=0)
    small_trainer(tmp_path, callbacks=[checkpoint], enable_checkpointing=True).fit(module, digits())
    path = tmp_path / "checkpoints" / "last.ckpt"
    saved = torch.load(path, weights_only=True)
    assert saved["hyper_parameters"]["objective_args"] == {"terms": 1, "alpha": 0.02}
    loaded = AugMetaModule.load_from_checkpoint(path, weights_only=True)
    assert (loaded.objective.terms, loaded.objective.alpha) == (1, 0.02)
    assert loaded.hparams == module.hparams
    assert changed(cloned_state(module.meta), cloned_state(loaded.meta)) == []


class ZeroObjective(MetaObjective):
    """An objective of its own without ``update``: no push on the images (the controller follows its entropy bonus)."""

    def __init__(self) -> None:
        self.calls = 0

    def image_gradient(self, model, criterion, images, labels, val_images, val_labels, step_size, *args, **kwargs):
        self.calls += 1
        return torch.zeros_like(images)


class CountingObjective(ZeroObjective):
    def __init__(self) -> None:
        super().__init__()
        self.updates = 0

    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1


def test_an_objective_without_its_own_update_trains(tmp_path):
    module = small_module(meta_every=1)
    module.objective = ZeroObjective()
    meta_before = cloned_state(module.meta)
    small_trainer(tmp_path).fit(module, digits())
    assert module.base_steps == module.objective.calls == 3
    assert changed(meta_before, cloned_state(module.meta))  # the controller stepped


def test_update_follows_every_base_step_the_controller_steps_or_not(tmp_path):
    module = small_module(meta_every=2)
    module.objective = CountingObjective()
    small_trainer(tmp_path).fit(module, digits())
    assert module.base_steps == module.objective.updates == 3
    assert module.objective.calls == 2  # at base steps 0 and 2


@pytest.mark.filterwarnings(*IN_PROCESS_WARNINGS)
def test_the_command_line_takes_objective_args_as_json(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["train.py"])  # LightningCLI warns when pytest's arguments are there too
    arguments = ["--model.objective", "implicit", "--model.objective_args", '{"terms": 2, "alpha": 0.02}']
    run = cli.main([*TINY_RUN, *arguments, "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])
    assert (run.model.objective.terms, run.model.objective.alpha) == (2, 0.02)
    assert run.trainer.state.finished and run.model.base_steps == 2
    folder = tmp_path / "runs" / "augmeta"
    saved = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["hyper_parameters"]["objective_args"] == {"terms": 2, "alpha": 0.02}
    config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    assert config["model"]["objective_args"] == {"terms": 2, "alpha": 0.02}  # the run's config repeats it


@pytest.mark.filterwarnings(*IN_PROCESS_WARNINGS)
def test_the_command_line_reports_an_unknown_objective_setting(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["train.py"])
    arguments = ["--model.objective", "implicit", "--model.objective_args", '{"term": 3}']
    with pytest.raises(ValueError, match=exactly(UNKNOWN_KEY)):
        cli.main([*TINY_RUN, *arguments, "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])
