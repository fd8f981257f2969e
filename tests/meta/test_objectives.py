"""The objectives: their finite-difference image gradients match second-order autograd."""

import math
import re

import pytest
import torch
from torch import nn

from augmeta.meta import (
    OBJECTIVES,
    GradientMatchingObjective,
    ImplicitObjective,
    LookaheadObjective,
    MetaObjective,
    TeacherObjective,
    build_objective,
    full_precision,
    objective_arguments,
    preserved_batchnorm,
)
from augmeta.meta.objectives import _tf32_switches, non_saturating_loss, tensors_norm


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).double()


def training_and_validation_batches(seed: int):
    """8 training and 8 validation images (float64, 1x6x6) with labels in 0..2."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(8, 1, 6, 6, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 3, (8,), generator=generator)
    val_images = torch.rand(8, 1, 6, 6, generator=generator, dtype=torch.float64)
    val_labels = torch.randint(0, 3, (8,), generator=generator)
    return images, labels, val_images, val_labels


def test_matches_second_order_autograd():
    model = small_model()
    criterion = nn.functional.cross_entropy
    images, labels, val_images, val_labels = training_and_validation_batches(seed=1)
    step = 0.1

    got = LookaheadObjective(epsilon=1e-4).image_gradient(
        model, criterion, images, labels, val_images, val_labels, step
    )

    params = list(model.parameters())
    v = torch.autograd.grad(criterion(model(val_images), val_labels), params)
    x = images.clone().requires_grad_(True)
    grads = torch.autograd.grad(criterion(model(x), labels), params, create_graph=True)
    inner = sum((g * vi).sum() for g, vi in zip(grads, v, strict=True))
    (expected,) = torch.autograd.grad(-step * inner, x)
    relative_error = (got - expected).norm() / expected.norm()
    assert relative_error < 1e-3, relative_error  # one-sided finite difference: O(epsilon) error


@pytest.mark.parametrize("objective", [LookaheadObjective(), ImplicitObjective(terms=3)], ids=["look", "implicit"])
def test_weights_and_batchnorm_statistics_are_restored(objective):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images, labels = torch.rand(6, 1, 6, 6), torch.randint(0, 3, (6,))
    objective.image_gradient(model, nn.functional.cross_entropy, images, labels, images, labels, 0.1)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def test_preserved_batchnorm_restores_running_statistics():
    norm = nn.BatchNorm1d(3)
    with preserved_batchnorm(norm):
        norm(torch.randn(16, 3) + 5)
    torch.testing.assert_close(norm.running_mean, torch.zeros(3))
    assert int(norm.num_batches_tracked) == 0


def test_gradient_matching_matches_autograd_of_the_cosine():
    model = small_model()
    criterion = nn.functional.cross_entropy
    images, labels, val_images, val_labels = training_and_validation_batches(seed=2)

    got = GradientMatchingObjective(epsilon=1e-4).image_gradient(
        model, criterion, images, labels, val_images, val_labels, 0.1
    )

    params = list(model.parameters())
    v = torch.autograd.grad(criterion(model(val_images), val_labels), params)
    x = images.clone().requires_grad_(True)
    g = torch.autograd.grad(criterion(model(x), labels), params, create_graph=True)
    dot = sum((a * b).sum() for a, b in zip(g, v, strict=True))
    g_norm = torch.sqrt(sum((a**2).sum() for a in g))
    v_norm = torch.sqrt(sum((b**2).sum() for b in v))
    (expected,) = torch.autograd.grad(-dot / (g_norm * v_norm), x)
    relative_error = (got - expected).norm() / expected.norm()
    assert relative_error < 1e-3, relative_error


def test_gradient_matching_uses_the_base_steps_gradients_when_handed_in():
    """The module hands in grad_x and grad_w from its base step; the result is the one computed from scratch."""
    model = small_model()
    criterion = nn.functional.cross_entropy
    images, labels, val_images, val_labels = training_and_validation_batches(seed=3)
    objective = GradientMatchingObjective(epsilon=1e-4)
    computed = objective.image_gradient(model, criterion, images, labels, val_images, val_labels, 0.1)

    leaf = images.clone().requires_grad_(True)
    criterion(model(leaf), labels).backward()  # the base step's backward
    param_grads = tuple(p.grad.clone() for p in model.parameters())
    handed_in = objective.image_gradient(
        model, criterion, images, labels, val_images, val_labels, 0.1, leaf.grad, param_grads
    )
    assert torch.allclose(handed_in, computed, rtol=1e-9, atol=1e-12)


def test_the_implicit_objective_matches_autograd_through_the_neumann_series():
    """-alpha d/dx <grad_w L_t(w, x), p> with p = sum_j (I - alpha H_w)^j v from exact second-order products."""
    model = small_model()
    criterion = nn.functional.cross_entropy
    images, labels, val_images, val_labels = training_and_validation_batches(seed=5)
    alpha, terms = 0.5, 3

    got = ImplicitObjective(epsilon=1e-5, terms=terms, alpha=alpha).image_gradient(
        model, criterion, images, labels, val_images, val_labels, 0.1
    )

    params = list(model.parameters())
    v = torch.autograd.grad(criterion(model(val_images), val_labels), params)
    g = torch.autograd.grad(criterion(model(images), labels), params, create_graph=True)
    term, p = v, v
    for _ in range(terms):
        hessian_term = torch.autograd.grad(g, params, grad_outputs=term, retain_graph=True)
        term = tuple(t - alpha * h for t, h in zip(term, hessian_term, strict=True))
        p = tuple(a + b for a, b in zip(p, term, strict=True))
    assert tensors_norm(tuple(a - b for a, b in zip(p, v, strict=True))) > 0.05 * tensors_norm(
        v
    )  # the curvature matters here
    x = images.clone().requires_grad_(True)
    g_x = torch.autograd.grad(criterion(model(x), labels), params, create_graph=True)
    inner = sum((a * b.detach()).sum() for a, b in zip(g_x, p, strict=True))
    (expected,) = torch.autograd.grad(-alpha * inner, x)
    relative_error = (got - expected).norm() / expected.norm()
    assert relative_error < 1e-3, relative_error


def test_the_implicit_objective_without_terms_is_the_lookahead_at_its_step():
    model = small_model()
    criterion = nn.functional.cross_entropy
    batches = training_and_validation_batches(seed=6)
    implicit = ImplicitObjective(epsilon=1e-4, terms=0, alpha=0.3).image_gradient(model, criterion, *batches, 0.1)
    lookahead = LookaheadObjective(epsilon=1e-4).image_gradient(model, criterion, *batches, 0.3)
    torch.testing.assert_close(implicit, lookahead, rtol=1e-9, atol=1e-12)


def test_the_implicit_objective_rejects_bad_settings():
    with pytest.raises(ValueError, match=r"`terms` should be an integer >= 0, but got -1 instead\."):
        ImplicitObjective(terms=-1)
    with pytest.raises(ValueError, match=r"`terms` should be an integer >= 0, but got 2.0 instead\."):
        ImplicitObjective(terms=2.0)
    with pytest.raises(ValueError, match=r"`alpha` should be > 0, but got 0 instead\."):
        ImplicitObjective(alpha=0)


@pytest.mark.parametrize(
    "objective",
    [GradientMatchingObjective(), LookaheadObjective(), ImplicitObjective()],
    ids=["match", "look", "implicit"],
)
def test_finite_differences_stay_exact_under_bf16_autocast(objective):
    """Under mixed precision (the GPU recipe), the base step's bf16 gradients are handed in; the objective must
    recompute them and its finite difference at float32, or rounding swamps the weight perturbation."""
    model = small_model().float()
    criterion = nn.functional.cross_entropy
    images, labels, val_images, val_labels = (t.float() if t.is_floating_point() else t
                                              for t in training_and_validation_batches(seed=4))  # fmt: skip
    exact = objective.image_gradient(model, criterion, images, labels, val_images, val_labels, 0.1)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        leaf = images.clone().requires_grad_(True)
        criterion(model(leaf), labels).backward()  # the base step, in bf16
        param_grads = tuple(p.grad.clone() for p in model.parameters())
        mixed = objective.image_gradient(
            model, criterion, images, labels, val_images, val_labels, 0.1, leaf.grad, param_grads
        )
        assert torch.is_autocast_enabled("cpu")  # restored afterwards
    assert mixed.dtype == torch.float32
    relative_error = (mixed - exact).norm() / exact.norm()
    assert relative_error < 1e-5, relative_error


def test_full_precision_turns_off_autocast_and_cuda_tf32_and_restores_them():
    switches = _tf32_switches()
    before = [getattr(owner, name) for owner, name, _ in switches]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with full_precision(torch.device("cuda")):
            assert [getattr(owner, name) for owner, name, _ in switches] == [off for _, _, off in switches]
            assert not torch.is_autocast_enabled("cuda")
        with full_precision(torch.device("cpu")):
            assert not torch.is_autocast_enabled("cpu")
        assert torch.is_autocast_enabled("cpu")
    assert [getattr(owner, name) for owner, name, _ in switches] == before


# ------------------------------------------------------------------------------------------- TeachAugment


def _image_loss_grad(model, images, labels):
    x = images.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(nn.functional.cross_entropy(model(x), labels), x)
    return grad


def _teacher_and_moved_model(adversarial):
    model = small_model()
    objective = TeacherObjective(model, decay=0.9, adversarial=adversarial)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))  # the model moves away from its teacher
    return model, objective


def test_the_cross_entropy_teacher_objective_is_the_teacher_image_gradient_minus_the_model_one():
    model, objective = _teacher_and_moved_model("cross_entropy")
    images, labels, val_images, val_labels = training_and_validation_batches(seed=3)
    model_grad = _image_loss_grad(model, images, labels)
    teacher_grad = _image_loss_grad(objective.teacher, images, labels)
    expected = teacher_grad - model_grad

    computed = objective.image_gradient(model, nn.functional.cross_entropy, images, labels, val_images, val_labels, 0.1)
    handed_in = objective.image_gradient(
        model, nn.functional.cross_entropy, images, labels, val_images, val_labels, 0.1, train_image_grad=model_grad
    )
    assert expected.abs().sum() > 0
    torch.testing.assert_close(computed, expected)
    torch.testing.assert_close(handed_in, expected)


def test_the_non_saturating_teacher_objective_adds_the_gradient_of_minus_log_one_minus_p_y():
    """The paper's adversarial term, -log(1 - p_y) of the model, computed here from the softmax directly."""
    model, objective = _teacher_and_moved_model("non_saturating")
    images, labels, val_images, val_labels = training_and_validation_batches(seed=3)
    x = images.clone().requires_grad_(True)
    p_y = model(x).softmax(dim=1).gather(1, labels[:, None])
    (adversarial,) = torch.autograd.grad(-torch.log(1 - p_y).mean(), x)
    expected = _image_loss_grad(objective.teacher, images, labels) + adversarial

    model_grad = _image_loss_grad(model, images, labels)  # handed in by the base step, and not the term used here
    got = objective.image_gradient(
        model, nn.functional.cross_entropy, images, labels, val_images, val_labels, 0.1, train_image_grad=model_grad
    )
    assert adversarial.abs().sum() > 0
    torch.testing.assert_close(got, expected)


def test_the_non_saturating_loss_fades_on_images_the_model_gets_wrong():
    labels = torch.tensor([0, 0, 0])
    logits = torch.tensor([[20.0, 0.0], [0.0, 0.0], [-20.0, 0.0]], requires_grad=True)
    per_image = [non_saturating_loss(logits[i : i + 1], labels[i : i + 1]) for i in range(3)]
    assert all(torch.isfinite(loss) for loss in per_image)  # sure and right: -log(1 - p_y) clamped, not inf
    torch.testing.assert_close(per_image[1], torch.tensor(math.log(2.0)))
    (grad,) = torch.autograd.grad(non_saturating_loss(logits, labels), logits)
    assert grad[2].abs().max() < 1e-8 < grad[1].abs().max()  # wrong already: no push left


@pytest.mark.parametrize(("adversarial", "zero"), [("cross_entropy", True), ("non_saturating", False)])
def test_a_fresh_teacher_gives_no_gradient_with_the_cross_entropy_term_only(adversarial, zero):
    model = small_model()
    images, labels, val_images, val_labels = training_and_validation_batches(seed=4)
    got = TeacherObjective(model, adversarial=adversarial).image_gradient(
        model, nn.functional.cross_entropy, images, labels, val_images, val_labels, 0.1
    )
    assert (got.abs().max() == 0) == zero


def test_the_teacher_is_an_exponential_moving_average_with_a_warm_up():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    objective = TeacherObjective(model, decay=0.5)
    start = [p.detach().clone() for p in objective.teacher.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.fill_(7.0)
    objective.update(model)  # first update: decay min(0.5, 1/10) = 0.1
    for teacher, begin, now in zip(objective.teacher.parameters(), start, model.parameters(), strict=True):
        torch.testing.assert_close(teacher, 0.1 * begin + 0.9 * now)
        assert not teacher.requires_grad
    torch.testing.assert_close(objective.teacher[1].running_mean, torch.full((2,), 7.0))
    before = [p.detach().clone() for p in objective.teacher.parameters()]
    objective.update(model)  # second: min(0.5, 2/11)
    for teacher, begin, now in zip(objective.teacher.parameters(), before, model.parameters(), strict=True):
        torch.testing.assert_close(teacher, 2 / 11 * begin + 9 / 11 * now)
    assert int(objective.updates) == 2
    assert set(objective.state_dict()) >= {"updates", "teacher.0.weight", "teacher.1.running_mean"}


def test_the_teacher_leaves_batchnorm_statistics_alone():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    objective = TeacherObjective(model)
    before = {k: v.clone() for k, v in objective.teacher.state_dict().items()}
    images, labels = torch.rand(6, 1, 6, 6), torch.randint(0, 3, (6,))
    objective.image_gradient(model, nn.functional.cross_entropy, images, labels, images, labels, 0.1)
    for key, value in objective.teacher.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("lookahead", LookaheadObjective),
        ("gradient_matching", GradientMatchingObjective),
        ("implicit", ImplicitObjective),
        ("teacher", TeacherObjective),
        ("teacher_ns", TeacherObjective),
    ],
)
def test_build_objective(name, kind):
    assert isinstance(build_objective(name, small_model()), kind)


def test_teacher_and_teacher_ns_differ_in_the_adversarial_term_only():
    assert build_objective("teacher", small_model()).adversarial == "cross_entropy"
    assert build_objective("teacher_ns", small_model(), teacher_decay=0.5).adversarial == "non_saturating"


def test_build_objective_rejects_unknown_names_and_bad_decays():
    names = "['affinity', 'gradient_matching', 'implicit', 'lookahead', 'teacher', 'teacher_ns']"
    expected = f"`objective` should be one of {names}, but got 'nope' instead."
    with pytest.raises(ValueError, match=expected.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        build_objective("nope", small_model())
    with pytest.raises(ValueError, match=r"`decay` should be in \[0, 1\), but got 1.0 instead\."):
        TeacherObjective(small_model(), decay=1.0)
    message = "`adversarial` should be one of ['cross_entropy', 'non_saturating'], but got 'hinge'."
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        TeacherObjective(small_model(), adversarial="hinge")


# ------------------------------------------------------------------------------------ settings: objective_args


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def test_the_settings_objective_args_may_give_are_the_constructors_others():
    assert objective_arguments("implicit") == {"terms": int, "alpha": float}
    for name in ("lookahead", "gradient_matching", "teacher", "teacher_ns"):  # epsilon, decay: their own arguments
        assert objective_arguments(name) == {}, name


def test_objective_args_reach_the_implicit_objectives_terms_and_alpha():
    objective = build_objective("implicit", small_model(), epsilon=0.002, objective_args={"terms": 3, "alpha": 0.02})
    assert (objective.terms, objective.alpha, objective.epsilon) == (3, 0.02, 0.002)
    whole = build_objective("implicit", small_model(), objective_args={"alpha": 1})
    assert type(whole.alpha) is float and whole.alpha == 1.0  # an int where a float is due: JSON writes 1.0 as 1
    assert whole.terms == 5  # what is not given keeps its default
    default = build_objective("implicit", small_model(), objective_args={})
    assert (default.terms, default.alpha) == (5, 0.01)


def test_objective_args_and_epsilon_give_the_gradient_of_the_objective_built_directly():
    model = small_model()
    batches = training_and_validation_batches(seed=7)
    built = build_objective("implicit", model, epsilon=1e-4, objective_args={"terms": 2, "alpha": 0.05})
    direct = ImplicitObjective(epsilon=1e-4, terms=2, alpha=0.05)
    got = built.image_gradient(model, nn.functional.cross_entropy, *batches, 0.1)
    expected = direct.image_gradient(model, nn.functional.cross_entropy, *batches, 0.1)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("name", "objective_args", "message"),
    [
        (
            "implicit",
            {"term": 3},
            "`objective_args` key 'term' (value 3) is not a setting of objective 'implicit': expected one of "
            "['alpha', 'terms'].",
        ),
        (
            "implicit",
            {"epsilon": 0.1},
            "`objective_args` key 'epsilon' (value 0.1) is not a setting of objective 'implicit': expected one of "
            "['alpha', 'terms']; `epsilon` is set by the argument `epsilon`.",
        ),
        (
            "teacher",
            {"decay": 0.5},
            "`objective_args` key 'decay' (value 0.5) is not a setting of objective 'teacher': it has none; `decay` is "
            "set by the argument `teacher_decay`.",
        ),
        (
            "teacher_ns",
            {"adversarial": "cross_entropy"},  # the name fixes it
            "`objective_args` key 'adversarial' (value 'cross_entropy') is not a setting of objective 'teacher_ns': "
            "it has none.",
        ),
        (
            "lookahead",
            {"terms": 3},
            "`objective_args` key 'terms' (value 3) is not a setting of objective 'lookahead': it has none.",
        ),
    ],
    ids=["misspelt", "epsilon", "decay", "fixed-by-name", "no-settings"],
)
def test_objective_args_with_a_key_the_objective_does_not_take_are_rejected(name, objective_args, message):
    with pytest.raises(ValueError, match=exactly(message)):
        build_objective(name, small_model(), objective_args=objective_args)


WRONG_TYPE = "`objective_args` key {key!r} of objective 'implicit' should be {expected}, but got {got} instead."


@pytest.mark.parametrize(
    ("key", "value", "expected", "got"),
    [
        ("terms", "3", "an int", "'3' (str)"),
        ("terms", 2.0, "an int", "2.0 (float)"),
        ("terms", True, "an int", "True (bool)"),
        ("alpha", "0.1", "a float (or an int)", "'0.1' (str)"),
        ("alpha", [0.1], "a float (or an int)", "[0.1] (list)"),
        ("alpha", False, "a float (or an int)", "False (bool)"),
    ],
)
def test_objective_args_of_the_wrong_type_are_rejected(key, value, expected, got):
    message = WRONG_TYPE.format(key=key, expected=expected, got=got)
    with pytest.raises(ValueError, match=exactly(message)):
        build_objective("implicit", small_model(), objective_args={key: value})


def test_objective_args_that_are_not_a_dict_are_rejected():
    message = "`objective_args` should be a dict of the objective's settings or None, but got [('terms', 3)] instead."
    with pytest.raises(ValueError, match=exactly(message)):
        build_objective("implicit", small_model(), objective_args=[("terms", 3)])


def test_the_objectives_own_checks_still_apply_to_objective_args():
    with pytest.raises(ValueError, match=exactly("`terms` should be an integer >= 0, but got -1 instead.")):
        build_objective("implicit", small_model(), objective_args={"terms": -1})


# ------------------------------------------------------------------------------------- the protocol's update


def test_update_is_part_of_the_protocol_and_does_nothing_by_default():
    """The module calls ``update`` after every base step; objectives that keep no state inherit the no-op."""
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for name, (cls, _) in OBJECTIVES.items():
        assert MetaObjective in cls.__mro__, name  # subclassed explicitly, so they inherit its default
        objective = build_objective(name, model)
        if "update" in vars(cls):
            continue
        assert objective.update(model) is None, name
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    assert "update" not in vars(ImplicitObjective) and "update" in vars(TeacherObjective)


def test_an_objective_of_its_own_inherits_update_but_must_give_its_image_gradient():
    class Unfinished(MetaObjective):
        pass

    objective = Unfinished()
    assert objective.update(small_model()) is None
    batches = training_and_validation_batches(seed=8)
    with pytest.raises(NotImplementedError):
        objective.image_gradient(small_model(), nn.functional.cross_entropy, *batches, 0.1)
