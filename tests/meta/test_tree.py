"""The meta-tree: fitted to a network's choices, written and read strictly, applied batched and per image."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from augmeta import PolicyError, load_meta_tree, load_policy
from augmeta.meta import FEATURE_NAMES, MetaNetwork, MetaTree, MetaTreeAugmentation, fit_meta_tree, image_features
from augmeta.policy.published import trivialaugment_wide

OPS = ["identity", "flip_x", "brightness"]


def _policy(name: str, flip: float) -> dict:
    """A one-step policy: a horizontal flip with probability ``flip``."""
    ops = [{"op": "identity", "weight": 1.0 - flip, "range": None, "signed": False}] if flip < 1 else []
    ops.append({"op": "flip_x", "weight": flip, "range": None, "signed": False})
    return {
        "schema_version": 1,
        "name": name,
        "subpolicies": [{"steps": [{"p": 1.0, "ops": ops}]}],
        "provenance": {"source": "test", "method": "hand-made"},
    }


def _tree(**changes) -> dict:
    """Label 0 or 1 and dark images: flip always; other labels never; bright images of labels 0, 1: never."""
    data = {
        "schema_version": 1,
        "name": "hand-made",
        "num_classes": 4,
        "nodes": [
            {"kind": "split", "feature": "label", "classes": [0, 1], "left": 1, "right": 4},
            {"kind": "split", "feature": "mean", "threshold": 0.5, "left": 2, "right": 3},
            {"kind": "leaf", "policy": 0, "samples": 10},
            {"kind": "leaf", "policy": 1, "samples": 5},
            {"kind": "leaf", "policy": 1, "samples": 20},
        ],
        "policies": [_policy("flip", 1.0), _policy("keep", 0.0)],
        "fidelity": 0.9,
        "provenance": {"source": "test", "method": "hand-made"},
    }
    data.update(changes)
    return data


def _images(count: int, level: float) -> torch.Tensor:
    images = torch.zeros(count, 1, 8, 8)
    images[..., :4] = level  # left half lit: a flip moves it right
    return images


def test_routing_follows_the_label_and_the_features():
    tree = MetaTree.from_dict(_tree())
    images = torch.cat([_images(2, 0.6), _images(2, 1.0)])  # means 0.3 (dark) and 0.5 (at the threshold: left)
    images = torch.cat([images, _images(1, 1.0) + 0.2])  # mean 0.7: right
    leaves = tree.route(image_features(images), torch.tensor([0, 3, 1, 2, 1]))
    assert leaves.tolist() == [2, 4, 2, 4, 3]


def test_apply_gives_each_image_its_leafs_policy_uint8_and_float():
    tree = MetaTree.from_dict(_tree())
    images = _images(6, 0.6)
    labels = torch.tensor([0, 1, 2, 3, 0, 2])
    out = tree.apply(images, labels)
    flipped = [torch.equal(out[i], images[i].flip(-1)) for i in range(6)]
    assert flipped == [True, True, False, False, True, False]
    as_uint8 = (images * 255).round().to(torch.uint8)
    out8 = tree.apply(as_uint8, labels)
    assert (
        out8.dtype == torch.uint8 and torch.equal(out8[0], as_uint8[0].flip(-1)) and torch.equal(out8[2], as_uint8[2])
    )
    single = tree.apply(as_uint8[0], 0)
    assert single.shape == (1, 8, 8) and torch.equal(single, as_uint8[0].flip(-1))
    with pytest.raises(
        ValueError, match=r"`labels` should be in \[0, 4\) \(the tree's classes\), but got values from 0 to 7"
    ):
        tree.apply(images, torch.tensor([0, 1, 2, 3, 0, 7]))


def test_the_torchvision_path_picks_the_same_leaf_as_the_batched_path():
    from PIL import Image

    tree = MetaTree.from_dict(_tree())
    transform = MetaTreeAugmentation(tree)
    generator = torch.Generator().manual_seed(0)
    images = (torch.rand(16, 1, 8, 8, generator=generator) * 255).to(torch.uint8)
    labels = torch.randint(0, 4, (16,), generator=generator)
    batched = tree.route(image_features(images.float() / 255), labels)
    for image, label, leaf in zip(images, labels, batched.tolist(), strict=True):
        assert tree.route(image_features(image[None].float() / 255), label[None]).item() == leaf
        out, same_label = transform(image, int(label))
        expected = image.flip(-1) if leaf == 2 else image
        assert torch.equal(out, expected) and same_label == int(label)
    pil, _ = transform(Image.fromarray(images[0, 0].numpy()), 0)
    assert isinstance(pil, Image.Image)


def test_features_per_image_match_the_batch():
    images = torch.rand(32, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    batched = image_features(images)
    single = torch.cat([image_features(image[None]) for image in images])
    torch.testing.assert_close(single, batched, rtol=1e-5, atol=1e-6)


def test_a_round_trip_through_the_file_is_byte_identical(tmp_path):
    tree = MetaTree.from_dict(_tree(policies=[trivialaugment_wide().to_dict(), _policy("keep", 0.0)]))
    path = tree.save(tmp_path / "meta_tree.json")
    text = path.read_text()
    again = load_meta_tree(path)
    assert again == tree and again.save(tmp_path / "again.json").read_text() == text
    assert again.leaf_policy(2) == trivialaugment_wide()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schema_version": 2}, "`schema_version` should be 1 (the newest meta-tree version this augmeta reads)"),
        ({"nodes": []}, "`nodes` List should have at least 1 item"),
        ({"num_classes": 0}, "`num_classes` should be in [1, 10000], but got 0 instead."),
        ({"fidelity": 1.5}, "`fidelity` should be in [0, 1] or null, but got 1.5 instead."),
        ({"bonus": 1}, "`bonus` is not a field"),
        (
            {"nodes": [{"kind": "split", "feature": "hue", "threshold": 0.5, "left": 1, "right": 2}]},
            "`nodes[0].split.feature` should be 'label' or one of",
        ),
        (
            {"nodes": [{"kind": "split", "feature": "mean", "classes": [1], "left": 1, "right": 2}]},
            "a split on feature 'mean' should give a `threshold` and no `classes`",
        ),
        (
            {"nodes": [{"kind": "split", "feature": "label", "threshold": 0.5, "left": 1, "right": 2}]},
            "a split on `label` should give a non-empty `classes` list and no `threshold`",
        ),
        ({"nodes": [{"kind": "leaf", "policy": 2}]}, "`nodes[0].policy` should index `policies` (0 to 1), but got 2"),
        ({"nodes": [{"kind": "leaf", "policy": -1}]}, "`nodes[0].leaf.policy` should be >= 0, but got -1 instead."),
        (
            {
                "nodes": [
                    {"kind": "split", "feature": "label", "classes": [0], "left": 1, "right": 1},
                    {"kind": "leaf", "policy": 0},
                ]
            },
            "node 1 is the child of 2 splits",
        ),
        (
            {
                "nodes": [
                    {"kind": "split", "feature": "label", "classes": [0], "left": 0, "right": 1},
                    {"kind": "leaf", "policy": 0},
                ]
            },
            "`nodes[0].left` should be a later node's index (1 to 1), but got 0 instead.",
        ),
        (
            {
                "nodes": [
                    {"kind": "split", "feature": "label", "classes": [9], "left": 1, "right": 2},
                    {"kind": "leaf", "policy": 0},
                    {"kind": "leaf", "policy": 0},
                ]
            },
            "`nodes[0].classes` should be labels below num_classes = 4, but got [9] instead.",
        ),
        (
            {"nodes": [{"kind": "leaf", "policy": 0}, {"kind": "leaf", "policy": 0}]},
            "node 1 is the child of 0 splits",
        ),
        ({"nodes": [{"kind": "branch", "policy": 0}]}, "`nodes[0]`"),
        ({"policies": [{**_policy("bad", 1.0), "schema_version": 7}]}, "`policies[0].schema_version` should be 1"),
    ],
)
def test_malformed_trees_are_refused_with_their_field(changes, message):
    with pytest.raises(PolicyError) as info:
        MetaTree.from_dict(_tree(**changes), source="in the test")
    assert str(info.value).startswith("Invalid meta-tree in the test: ")
    assert message in str(info.value)


def test_a_tree_deeper_than_the_limit_is_refused():
    nodes = []
    for depth in range(9):  # a chain of 9 splits, each with a leaf on its right
        nodes += [{"kind": "split", "feature": "mean", "threshold": 0.5, "left": 2 * depth + 2, "right": 2 * depth + 1}]
        nodes += [{"kind": "leaf", "policy": 0}]
    nodes[-2]["left"] = len(nodes)
    nodes.append({"kind": "leaf", "policy": 0})
    ordered = [nodes[0]] + nodes[1:]
    with pytest.raises(PolicyError, match="should be at most 8 splits deep, but is 9 deep"):
        MetaTree.from_dict(_tree(nodes=ordered))


def test_load_names_the_file_and_never_executes_anything(tmp_path):
    with pytest.raises(PolicyError, match="does not exist"):
        load_meta_tree(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": NaN}')
    with pytest.raises(PolicyError, match=r"NaN is not a valid number in JSON \(line 1\)"):
        load_meta_tree(bad)


def test_describe_prints_the_path_to_each_leaf_and_its_top_ops():
    text = MetaTree.from_dict(_tree()).describe()
    assert text.splitlines() == [
        "meta-tree 'hand-made': 5 nodes, depth 2, 4 classes, fidelity 0.900",
        "label in [0, 1]?",
        "  yes: mean <= 0.5?",
        "    yes: leaf 2: 'flip': flip_x 1.00",
        "    no:  leaf 3: 'keep': no augmentation",
        "  no:  leaf 4: 'keep': no augmentation",
    ]


def _chance(policy, op: str) -> float:
    step = policy.subpolicies[0].steps[0]
    return sum(c.weight for c in step.ops if c.op == op) / sum(c.weight for c in step.ops)


def _class_network(flip_classes: list[int], num_classes: int = 4) -> MetaNetwork:
    """A network in class mode whose classes ``flip_classes`` flip and the others do not."""
    meta = MetaNetwork(ops=OPS, mode="class", num_classes=num_classes, num_steps=1)
    size = meta.op_logits.numel()
    with torch.no_grad():
        offsets = meta.adapter.table[:, 1 : 1 + size].view(num_classes, *meta.op_logits.shape)
        offsets[..., 0] = 6.0  # identity everywhere ...
        offsets[flip_classes, ..., 1] = 12.0  # ... but the flip classes flip
    return meta


def test_a_tree_fitted_to_a_class_network_recovers_its_split():
    meta = _class_network([1, 3])
    generator = torch.Generator().manual_seed(0)
    images, held_out = torch.rand(200, 1, 8, 8, generator=generator), torch.rand(80, 1, 8, 8, generator=generator)
    labels, held_out_labels = torch.arange(200) % 4, torch.arange(80) % 4
    tree = fit_meta_tree(meta, images, labels, held_out, held_out_labels, max_depth=3, min_samples_leaf=5)
    assert tree.fidelity == 1.0
    leaves = tree.route(image_features(held_out), held_out_labels)
    flips = {
        label: tree.leaf_policy(int(leaf)).subpolicies[0].steps[0]
        for label, leaf in zip(held_out_labels.tolist(), leaves, strict=True)
    }
    chance = {label: sum(c.weight for c in step.ops if c.op == "flip_x") for label, step in flips.items()}
    assert chance[1] > 0.99 and chance[3] > 0.99 and chance[0] < 0.01 and chance[2] < 0.01
    assert all(node.feature == "label" for node in tree.nodes if node.kind == "split")


def test_a_tree_fitted_to_an_adaptive_network_recovers_a_feature_split():
    """An adaptive network that flips bright images only: the tree splits on brightness, not on the label."""
    meta = MetaNetwork(ops=OPS, mode="adaptive", num_classes=3, num_steps=1)

    class Bright(torch.nn.Module):
        def forward(self, features, labels):
            out = torch.zeros(features.shape[0], 1 + 2 * len(OPS))
            out[:, 1 + 1] = torch.where(features[:, FEATURE_NAMES.index("mean")] > 0.5, 12.0, -12.0)
            return out

    meta.adapter = Bright()
    generator = torch.Generator().manual_seed(0)
    levels = torch.rand(300, 1, 1, 1, generator=generator)
    images = levels.expand(300, 1, 8, 8).clone()
    labels = torch.randint(0, 3, (300,), generator=generator)
    tree = fit_meta_tree(meta, images[:200], labels[:200], images[200:], labels[200:], min_samples_leaf=5)
    assert tree.nodes[0].kind == "split" and tree.nodes[0].feature != "label"  # uniform images: several features
    assert tree.fidelity > 0.95  # tell the brightness apart, any of them may hold the split
    leaves = tree.route(image_features(images[200:]), labels[200:])
    flip = torch.tensor([_chance(tree.leaf_policy(int(leaf)), "flip_x") for leaf in leaves])
    bright = levels[200:].flatten() > 0.5
    assert ((flip > 0.9) == bright).float().mean() > 0.95


def test_a_global_network_gives_a_single_leaf():
    meta = MetaNetwork(ops=OPS)
    images, labels = torch.rand(50, 1, 8, 8), torch.arange(50) % 10
    tree = fit_meta_tree(meta, images, labels, images, labels)
    assert len(tree.nodes) == 1 and tree.fidelity == 1.0
    assert tree.leaf_policy(0) == meta.to_policy("meta_tree_leaf0")


def test_reading_a_tree_does_not_import_scikit_learn(tmp_path):
    path = MetaTree.from_dict(_tree()).save(tmp_path / "meta_tree.json")
    probe = (
        "import sys, torch, augmeta\n"
        f"tree = augmeta.load_meta_tree({str(path)!r})\n"
        "tree.apply(torch.zeros(2, 1, 8, 8), torch.tensor([0, 1]))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1].replace("'", '"')) == []


def test_a_policy_file_is_not_a_tree(tmp_path):
    path = trivialaugment_wide().save(tmp_path / "p.json")
    with pytest.raises(PolicyError, match="`num_classes` is required but missing"):
        load_meta_tree(path)
    assert load_policy(path).name


def test_a_class_tree_groups_classes_with_alike_policies_into_a_balanced_tree():
    """Ten classes, three kinds of policy (flip always, some of the time, never): three leaves, 2 deep."""
    meta = MetaNetwork(ops=OPS, mode="class", num_classes=10, num_steps=1)
    size = meta.op_logits.numel()
    with torch.no_grad():
        offsets = meta.adapter.table[:, 1 : 1 + size].view(10, *meta.op_logits.shape)
        offsets[..., 0] = 6.0
        offsets[[0, 4, 7], ..., 1] = 12.0  # flip
        offsets[[1, 5], ..., 1] = 6.0  # flip some of the time
    labels = torch.arange(300) % 10
    images = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    tree = fit_meta_tree(meta, images, labels, images[:100], labels[:100], max_leaves=8)
    leaves = [node for node in tree.nodes if node.kind == "leaf"]
    assert len(leaves) == 3 and tree.depth == 2 and tree.fidelity == 1.0
    chance = {
        int(label): _chance(tree.leaf_policy(int(leaf)), "flip_x")
        for label, leaf in enumerate(tree.route(image_features(images[:10]), labels[:10]))
    }
    kind = ["always" if chance[c] > 0.99 else "never" if chance[c] < 0.01 else "sometimes" for c in range(10)]
    assert kind == ["always", "sometimes", "never", "never", "always", "sometimes", "never", "always", "never", "never"]
    few = fit_meta_tree(meta, images, labels, images[:100], labels[:100], max_depth=1)
    assert len(few.nodes) == 3 and few.fidelity < 1.0  # two leaves for three kinds: two kinds merged


def test_a_class_tree_gives_every_class_its_own_leaf_by_default():
    """Ten classes, ten flip chances: by default one leaf per class, each with its class's own policy (no class
    shares a leaf whose average would give it another's dose); with 8 leaves at most, some classes must share."""
    meta = MetaNetwork(ops=OPS, mode="class", num_classes=10, num_steps=1)
    size = meta.op_logits.numel()
    with torch.no_grad():
        offsets = meta.adapter.table[:, 1 : 1 + size].view(10, *meta.op_logits.shape)
        offsets[..., 1] = torch.linspace(-4.0, 4.0, 10)[:, None, None]  # each class flips as often as its own
    labels = torch.arange(300) % 10
    images = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    tree = fit_meta_tree(meta, images, labels, images[:100], labels[:100])
    leaves = tree.route(image_features(images[:10]), labels[:10]).tolist()
    assert len(set(leaves)) == 10 and tree.depth == 4 and tree.fidelity == 1.0
    chances = [_chance(tree.leaf_policy(leaf), "flip_x") for leaf in leaves]
    network = [_chance(meta.to_policy("c", labels=torch.tensor([c])), "flip_x") for c in range(10)]
    assert chances == pytest.approx(network, abs=1e-4)
    merged = fit_meta_tree(meta, images, labels, images[:100], labels[:100], max_leaves=8, max_depth=3)
    assert len(set(merged.route(image_features(images[:10]), labels[:10]).tolist())) == 8


def test_a_class_without_training_images_still_routes():
    """Classes 8 and 9 are held out only: they join a leaf instead of failing the fit."""
    meta = _class_network([1, 3], num_classes=10)
    images = torch.rand(160, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(160) % 8
    held_out_labels = torch.arange(40) % 10
    tree = fit_meta_tree(meta, images, labels, images[:40], held_out_labels, min_samples_leaf=5)
    assert tree.route(image_features(images[:40]), held_out_labels).shape == (40,)
