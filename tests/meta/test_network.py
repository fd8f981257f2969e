"""The meta-network: per-image differentiable sampling, gradients to every learned parameter, policy export."""

import re

import pytest
import torch

from augmeta import Policy
from augmeta.meta import DEFAULT_OPS, FEATURE_NAMES, MetaNetwork, default_ops, image_features
from augmeta.ops import OPS, apply_op


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(32, 3, 16, 16, generator=generator)
    labels = torch.randint(0, 10, (32,), generator=generator)
    return images, labels


@pytest.mark.parametrize("mode", ["global", "adaptive"])
def test_gradients_reach_every_learned_parameter(batch, mode):
    images, labels = batch
    net = MetaNetwork(mode=mode, num_subpolicies=2, num_steps=2)
    draw = net.augment(images, labels, generator=torch.Generator().manual_seed(1))
    target = torch.rand_like(images)
    ((draw.images - target) ** 2).mean().backward()
    for name, parameter in net.named_parameters():
        if name.startswith("adapter.body.0"):
            continue  # behind the zero-initialised last layer: no gradient at the first step, by design
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_each_image_draws_its_own_ops(batch):
    images, labels = batch
    net = MetaNetwork(num_steps=1, init_identity=0.1)
    draw = net.augment(images, labels, generator=torch.Generator().manual_seed(2))
    assert draw.images.shape == images.shape
    assert draw.ops.shape == (32, 1)
    assert len(set(draw.ops[:, 0].tolist())) > 5
    assert 0 <= int(draw.ops.min()) and int(draw.ops.max()) < len(DEFAULT_OPS)


def test_same_generator_same_augmentation(batch):
    images, labels = batch
    net = MetaNetwork()
    first = net.augment(images, labels, generator=torch.Generator().manual_seed(3)).images
    second = net.augment(images, labels, generator=torch.Generator().manual_seed(3)).images
    torch.testing.assert_close(first, second)


@pytest.mark.parametrize("mode", ["global", "adaptive"])
def test_without_gradients_the_same_draws_give_the_same_images(batch, mode):
    """Under ``no_grad`` (a base step) the network skips the relaxation and the straight-through blend: the same
    generator gives the same ops and, up to float rounding of the blend, the same images, and the input stays."""
    images, labels = batch
    net = MetaNetwork(mode=mode, num_steps=3)
    before = images.clone()
    with torch.no_grad():
        plain = net.augment(images, labels, generator=torch.Generator().manual_seed(5))
    relaxed = net.augment(images, labels, generator=torch.Generator().manual_seed(5))
    assert relaxed.images.requires_grad and not plain.images.requires_grad
    assert torch.equal(plain.ops, relaxed.ops) and torch.equal(plain.subpolicy, relaxed.subpolicy)
    torch.testing.assert_close(plain.images, relaxed.images.detach(), rtol=0.0, atol=1e-6)
    assert torch.equal(images, before)


def test_images_with_identity_ops_are_untouched(batch):
    images, labels = batch
    net = MetaNetwork(num_steps=1)
    with torch.no_grad():
        net.op_logits.fill_(-50.0)
        net.op_logits[..., net.ops.index("identity")] = 50.0
    draw = net.augment(images, labels)
    torch.testing.assert_close(draw.images, images)


def test_grey_images_are_not_offered_saturation():
    assert default_ops(3) == DEFAULT_OPS
    assert default_ops(1) == tuple(op for op in DEFAULT_OPS if op != "color")
    grey = torch.rand(6, 1, 8, 8)
    assert torch.equal(apply_op("color", grey, 1.0), grey)  # why: saturation is the identity on grey images


def test_init_identity_sets_the_starting_probability():
    net = MetaNetwork(init_identity=0.4, num_subpolicies=3)
    probability = torch.softmax(net.op_logits, dim=-1)[..., net.ops.index("identity")]
    torch.testing.assert_close(probability, torch.full_like(probability, 0.4))


@pytest.mark.parametrize("mode", ["global", "adaptive"])
def test_exported_policy_validates_and_reloads(tmp_path, batch, mode):
    images, labels = batch
    net = MetaNetwork(mode=mode, num_subpolicies=2)
    features = image_features(images) if mode == "adaptive" else None
    policy = net.to_policy("learned", features, labels if mode == "adaptive" else None)
    path = policy.save(tmp_path / "learned.json")
    again = Policy.from_dict(policy.to_dict())
    assert again == policy
    assert path.read_text() == policy.to_json()
    assert policy.provenance.method == f"augmeta-{mode}"
    assert len(policy.subpolicies) == 2
    out = policy.apply((images * 255).to(torch.uint8))
    assert out.dtype == torch.uint8 and out.shape == images.shape


def test_export_prunes_rare_ops_and_keeps_probabilities():
    net = MetaNetwork(num_steps=1, magnitude_sampling="fixed")
    with torch.no_grad():
        net.op_logits.fill_(-20.0)
        net.op_logits[0, 0, net.ops.index("rotate")] = 1.0
        net.op_logits[0, 0, net.ops.index("identity")] = 1.0
        net.magnitude_logits.fill_(0.0)
    step = net.to_policy().subpolicies[0].steps[0]
    assert [choice.op for choice in step.ops] == ["identity", "rotate"]
    assert step.ops[0].weight == pytest.approx(0.5, abs=1e-6)
    rotate = step.ops[1]
    assert rotate.magnitude == pytest.approx(0.5)
    assert rotate.range == [0.0, 45.0] and rotate.signed is True


def test_export_keeps_rare_augmentation_as_often_as_the_network_applies_it():
    """Near identity every op is rare; pruning by absolute weight would export no augmentation at all."""
    net = MetaNetwork(num_steps=1, init_identity=0.95)
    step = net.to_policy().subpolicies[0].steps[0]
    assert [choice.op for choice in step.ops] == net.ops
    assert step.ops[0].weight == pytest.approx(0.95, abs=1e-6)


def test_export_gives_the_probability_of_pruned_ops_to_identity():
    net = MetaNetwork(ops=["identity", "rotate", "cutout"], num_steps=1)
    with torch.no_grad():  # augmentation mass 0.5: rotate 0.499, cutout 0.001 (0.2 % of it, under min_weight)
        net.op_logits[0, 0] = torch.tensor([0.5, 0.499, 0.001]).log()
    step = net.to_policy(min_weight=0.01).subpolicies[0].steps[0]
    assert [choice.op for choice in step.ops] == ["identity", "rotate"]
    assert [choice.weight for choice in step.ops] == pytest.approx([0.501, 0.499], abs=1e-6)


@pytest.mark.parametrize("op", ["rotate", "translate_y", "contrast", "solarize", "cutout"])
def test_the_exported_policy_augments_as_the_network_did(op):
    """A retrained model sees what the joint run's model saw: applied with `Policy.apply`, the exported policy changes
    images as often and as much as the network's own draws (per image mean |change|, within 4 standard errors)."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(16, 1, 12, 12, generator=generator).repeat(128, 1, 1, 1)  # 2,048 draws
    net = MetaNetwork(ops=["identity", op], num_steps=2, init_identity=0.3, init_magnitude=0.6)
    with torch.no_grad():
        network = (net.augment(images, generator=generator).images - images).abs().mean(dim=(1, 2, 3))
        exported = (net.to_policy().apply(images, generator=generator) - images).abs().mean(dim=(1, 2, 3))
    error = (network.var() / len(network) + exported.var() / len(exported)).sqrt()
    assert abs(network.mean() - exported.mean()) < 4 * error, (float(network.mean()), float(exported.mean()))
    changed = [float((change > 1e-6).float().mean()) for change in (network, exported)]
    assert changed[0] == pytest.approx(changed[1], abs=0.05)


def test_adaptive_mode_depends_on_label(batch):
    images, labels = batch
    net = MetaNetwork(mode="adaptive").eval()  # one image: use the running feature statistics
    with torch.no_grad():
        net.adapter.body[-1].weight.normal_()
    features = image_features(images)
    _, logits_a, _ = net.distribution(features[:1], torch.tensor([0]))
    _, logits_b, _ = net.distribution(features[:1], torch.tensor([1]))
    assert not torch.allclose(logits_a, logits_b)


def test_adaptive_mode_needs_features():
    with pytest.raises(ValueError, match="adaptive mode needs `features` and `labels` for every image, but got None."):
        MetaNetwork(mode="adaptive").distribution()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"ops": ["rotate"]},
            "`ops` should be unique, include 'identity' and at least one other op, but got ['rotate'] instead.",
        ),
        (
            {"ops": ["identity"]},
            "`ops` should be unique, include 'identity' and at least one other op, but got ['identity'] instead.",
        ),
        ({"ranges": [["rotate", 0, 30]]}, "`ranges` should map op names to [lo, hi], but got [['rotate', 0, 30]]"),
        ({"ops": ["identity", "warp"]}, "but got unknown ['warp'] instead."),
        ({"mode": "local"}, "`mode` should be one of ['global', 'class', 'adaptive'], but got 'local' instead."),
        ({"num_classes": 0}, "`num_classes` should be an integer in [1, 10000], but got 0 instead."),
        ({"init_identity": 1.0}, "`init_identity` should be in (0, 1), but got 1.0 instead."),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as info:
        MetaNetwork(**kwargs)
    assert message in str(info.value)


def test_features_are_model_free_and_named():
    images = torch.zeros(2, 1, 8, 8)
    images[1, :, :, 4:] = 1.0
    features = image_features(images)
    assert features.shape == (2, len(FEATURE_NAMES))
    named = dict(zip(FEATURE_NAMES, features[1].tolist(), strict=True))
    assert named["mean"] == pytest.approx(0.5)
    assert named["centroid_x"] > 0.1 and named["colourfulness"] == 0.0
    assert not features.requires_grad


def test_every_default_op_is_registered():
    assert set(DEFAULT_OPS) <= set(OPS)


@pytest.mark.parametrize("mode", ["global", "adaptive"])
def test_a_saved_state_dict_rebuilds_the_same_network(mode, tmp_path):
    network = MetaNetwork(ops=["identity", "rotate", "cutout"], num_steps=3, mode=mode, num_classes=4, hidden=8)
    with torch.no_grad():
        network.op_logits.normal_()
    torch.save(network.state_dict(), tmp_path / "meta_network.pt")
    rebuilt = MetaNetwork.from_state_dict(torch.load(tmp_path / "meta_network.pt", weights_only=True))
    assert rebuilt.config == network.config
    tensors = [name for name in network.state_dict() if name != "_extra_state"]
    assert all(torch.equal(rebuilt.state_dict()[name], network.state_dict()[name]) for name in tensors)


def test_a_state_dict_of_another_shape_names_what_differs():
    state = MetaNetwork(ops=["identity", "rotate"]).state_dict()
    message = (
        "The state dict should come from a MetaNetwork built the same way, but it differs in: `ops` saved "
        "['identity', 'rotate'], here ['identity', 'cutout']; `ranges` saved {'identity': [0.0, 0.0], 'rotate': "
        "[0.0, 45.0]}, here {'identity': [0.0, 0.0], 'cutout': [0.0, 0.5]}. Build it with "
        "`MetaNetwork.from_state_dict(state)`."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        MetaNetwork(ops=["identity", "cutout"]).load_state_dict(state)


def test_a_state_dict_without_its_config_is_refused():
    state = {name: value for name, value in MetaNetwork().state_dict().items() if name != "_extra_state"}
    with pytest.raises(ValueError, match="should hold `_extra_state.config`"):
        MetaNetwork.from_state_dict(state)


def test_class_mode_gives_each_class_its_own_policy_from_its_offsets():
    meta = MetaNetwork(ops=["identity", "flip_x", "rotate"], mode="class", num_classes=3)
    _, ops, _ = meta.distribution(labels=torch.tensor([0, 1, 2]))
    assert torch.equal(ops[0], ops[1]) and torch.equal(ops[1], ops[2])  # zero offsets: the shared table
    with torch.no_grad():
        size = meta.op_logits.numel()
        meta.adapter.table[1, 1 : 1 + size].view_as(meta.op_logits)[..., 1] = 10.0  # class 1: flip_x
    _, ops, _ = meta.distribution(labels=torch.tensor([0, 1, 1]))
    assert torch.softmax(ops[1, 0, 0], dim=-1)[1] > 0.99 and torch.softmax(ops[0, 0, 0], dim=-1)[1] < 0.5
    images = torch.rand(2, 1, 8, 8)
    out = meta.augment(images, torch.tensor([1, 1]), generator=torch.Generator().manual_seed(0))
    assert (out.ops == 1).float().mean() > 0.9  # both images, both steps: flipped
    with pytest.raises(ValueError, match="class mode needs `labels` for every image"):
        meta.distribution()
    policy = meta.to_policy("per_class", labels=torch.tensor([1, 1, 1, 0]))  # the marginal over these labels
    flip = next(c for c in policy.subpolicies[0].steps[0].ops if c.op == "flip_x")
    assert flip.weight == pytest.approx((3 * 1.0 + 0.25) / 4, abs=0.01)  # class 0 starts at 0.25


def test_class_mode_round_trips_through_its_state_dict():
    meta = MetaNetwork(ops=["identity", "flip_x"], mode="class", num_classes=4)
    with torch.no_grad():
        meta.adapter.table.normal_()
    rebuilt = MetaNetwork.from_state_dict(meta.state_dict())
    assert rebuilt.mode == "class" and torch.equal(rebuilt.adapter.table, meta.adapter.table)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_subpolicies": 10**6}, "`num_subpolicies` should be an integer in [1, 1024], but got 1000000 instead."),
        ({"hidden": 10**9}, "`hidden` should be an integer in [1, 4096], but got 1000000000 instead."),
        (
            {"num_subpolicies": 1024, "num_steps": 32, "mode": "class", "num_classes": 10_000},
            "The controller's tables should hold at most 10000000 entries",
        ),
        ({"surprise": 1}, "The state dict's `_extra_state.config` is not a MetaNetwork's"),
    ],
)
def test_a_saved_network_asking_for_huge_sizes_is_refused_before_it_is_built(change, message):
    state = MetaNetwork(ops=["identity", "flip_x"]).state_dict()
    state["_extra_state"] = {"config": {**state["_extra_state"]["config"], **change}}
    with pytest.raises(ValueError) as info:
        MetaNetwork.from_state_dict(state)
    assert message in str(info.value)
