"""Distil a trained meta-network into a meta-tree (:mod:`augmeta.meta.tree`) with scikit-learn.

The network gives every training image its own policy (one per class in ``class`` mode, one per image in
``adaptive`` mode). Those policies are grouped (exactly, when there are few distinct ones; by k-means otherwise).
In ``class`` mode the policy is the label's, so the tree asks only about labels: each split sends one half of the
groups (ordered along their main direction of difference) left, a balanced tree with one leaf per group. Otherwise a
scikit-learn decision tree learns to predict each image's group from its label (one-hot, and whether it is among
the classes mostly in each group) and its cheap features. Each leaf gets the network's policy averaged over the
training images that reach it. Fidelity is the share of held-out images whose leaf predicts the group the network
puts them in.

scikit-learn is imported here only, when fitting: reading and applying a tree never needs it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from itertools import pairwise

import torch

from augmeta.meta.features import FEATURE_NAMES, image_features
from augmeta.meta.network import MetaNetwork
from augmeta.meta.tree import MAX_TREE_DEPTH, MAX_TREE_NODES, TREE_SCHEMA_VERSION, MetaTree
from augmeta.ops import as_float_batch

__all__ = ["fit_meta_tree", "policy_descriptors"]

#: The most leaves a tree may have: those of a full binary tree within the file's node limit.
_MOST_LEAVES = (MAX_TREE_NODES + 1) // 2


@torch.no_grad()
def policy_descriptors(network: MetaNetwork, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``[B, 2 L n]``: each image's op probabilities per step and the magnitudes they come with, averaged over the
    sub-policies (what the network would do to it)."""
    was_training = network.training
    network.eval()
    try:
        sub, ops, magnitudes = network.distribution(features, labels)
    finally:
        network.train(was_training)
    sub_p = torch.softmax(sub, dim=-1)[..., None, None]
    op_p = torch.softmax(ops, dim=-1)
    probability = (op_p * sub_p).sum(dim=1)
    magnitude = (magnitudes * op_p * sub_p).sum(dim=1)
    described = torch.cat([probability.flatten(1), magnitude.flatten(1)], dim=1)
    return described.expand(labels.shape[0], -1) if described.shape[0] == 1 else described


def _features(images: torch.Tensor) -> torch.Tensor:
    batch, _, _ = as_float_batch(images)
    return image_features(batch)


def fit_meta_tree(
    network: MetaNetwork,
    images: torch.Tensor,
    labels: torch.Tensor,
    held_out_images: torch.Tensor,
    held_out_labels: torch.Tensor,
    *,
    max_depth: int | None = None,
    max_leaves: int | None = None,
    min_samples_leaf: int = 20,
    name: str = "meta_tree",
    provenance: Mapping[str, object] | None = None,
    random_state: int = 0,
) -> MetaTree:
    """Fit a meta-tree that reproduces ``network``'s choices on ``images`` (uint8 or float ``[B, C, H, W]``) and
    ``labels``; its fidelity is measured on the held-out images.

    Args:
        max_depth: splits on the longest path (at most :data:`augmeta.meta.tree.MAX_TREE_DEPTH`). None: 3 in
            ``adaptive`` mode; in ``class`` mode as deep as one leaf per class needs.
        max_leaves: leaves at most, and groups of policies at most. None: 8 in ``adaptive`` mode; in ``class`` mode
            one per class (within the file's limits). Fewer leaves than distinct class policies merge classes into
            a leaf whose policy is their average, which may hand one class a range another needs and this one
            cannot take (a full turn given to digits a turn past 90 degrees relabels).
        min_samples_leaf: training images each leaf must hold (no leaf for a handful of images).
    """
    from sklearn.cluster import KMeans

    per_class = network.mode == "class"
    if max_leaves is None:
        max_leaves = min(max(network.num_classes, 2), _MOST_LEAVES) if per_class else 8
    if not 2 <= max_leaves <= _MOST_LEAVES:
        raise ValueError(f"`max_leaves` should be in [2, {_MOST_LEAVES}], but got {max_leaves!r}.")
    if max_depth is None:  # class mode: as deep as a balanced tree of ``max_leaves`` leaves
        max_depth = math.ceil(math.log2(max_leaves)) if per_class else 3
    if not 1 <= max_depth <= MAX_TREE_DEPTH:
        raise ValueError(f"`max_depth` should be in [1, {MAX_TREE_DEPTH}], but got {max_depth!r} instead.")
    labels, held_out_labels = labels.long().cpu(), held_out_labels.long().cpu()
    features, held_out_features = _features(images).cpu(), _features(held_out_images).cpu()
    network = copy.deepcopy(network).cpu()  # the caller's network stays where it is
    described = policy_descriptors(network, features, labels).double().numpy()
    held_out_described = policy_descriptors(network, held_out_features, held_out_labels).double().numpy()

    # the groups: the distinct policies when there are few of them, k-means groups otherwise
    distinct, group = torch.unique(torch.from_numpy(described).round(decimals=6), dim=0, return_inverse=True)
    if len(distinct) <= max_leaves:
        centres = distinct.numpy()
        held_out_group = ((held_out_described[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        group = group.numpy()
    else:
        kmeans = KMeans(n_clusters=max_leaves, n_init=4, random_state=random_state).fit(described)
        group, held_out_group = kmeans.labels_, kmeans.predict(held_out_described)

    def inputs(label: torch.Tensor, feature: torch.Tensor):
        onehot = torch.nn.functional.one_hot(label, network.num_classes).double()
        return torch.cat([onehot, feature.double()], dim=1).numpy()

    if per_class:
        nodes, leaf_of = _label_tree(
            labels, torch.as_tensor(group), torch.from_numpy(described), max_depth, network.num_classes
        )
        reached = leaf_of[labels]
        predicted = [nodes[int(leaf)]["group"] for leaf in leaf_of[held_out_labels]]
        fidelity = float((torch.tensor(predicted) == torch.as_tensor(held_out_group)).double().mean())
    else:
        nodes, reached, fidelity = _feature_tree(
            labels, features, group, held_out_labels, held_out_features, held_out_group, network.num_classes,
            max_depth=max_depth, max_leaf_nodes=max_leaves, min_samples_leaf=min_samples_leaf,
            random_state=random_state,
        )  # fmt: skip
    policies = []
    for index, node in enumerate(nodes):
        if node["kind"] != "leaf":
            continue
        chosen = reached == index
        leaf_features = features[chosen] if network.mode == "adaptive" else None
        policy = network.to_policy(f"{name}_leaf{index}", leaf_features, labels[chosen])
        nodes[index] = {"kind": "leaf", "policy": len(policies), "samples": int(chosen.sum())}
        policies.append(policy.to_dict())
    return MetaTree.from_dict(
        {
            "schema_version": TREE_SCHEMA_VERSION,
            "name": name,
            "description": f"Distilled from augmeta's meta-network ({network.mode} mode) by a decision tree of depth "
            f"at most {max_depth} and at most {max_leaves} leaves.",
            "num_classes": network.num_classes,
            "nodes": nodes,
            "policies": policies,
            "fidelity": fidelity,
            "provenance": {"source": "augmeta MetaNetwork", "method": "augmeta-meta-tree", **(provenance or {})},
        },
        source=f"fitted to the meta-network {name!r}",
    )


def _label_tree(
    labels: torch.Tensor, group: torch.Tensor, described: torch.Tensor, max_depth: int, num_classes: int
) -> tuple[list[dict], torch.Tensor]:
    """Nodes of a balanced tree of label splits, one leaf per group of classes (each class in the group most of its
    images are in; a class without images joins the last), and each class's leaf."""
    class_group = torch.full((num_classes,), -1, dtype=torch.long)
    for label in torch.unique(labels).tolist():
        class_group[label] = int(torch.mode(group[labels == label]).values)
    groups = sorted(set(class_group[class_group >= 0].tolist()))
    centres = torch.stack([described[group == g].mean(dim=0) for g in groups])
    if len(groups) > 1:  # order the groups along the main direction of their differences
        _, _, v = torch.pca_lowrank(centres - centres.mean(dim=0), q=1, center=False)
        order = torch.argsort((centres @ v[:, 0]).flatten()).tolist()
        groups = [groups[i] for i in order]
    while len(groups) > 2**max_depth:  # too many for the depth: merge the closest neighbours in that order
        gaps = [
            float((described[group == a].mean(0) - described[group == b].mean(0)).norm()) for a, b in pairwise(groups)
        ]
        a, b = groups[gaps.index(min(gaps))], groups[gaps.index(min(gaps)) + 1]
        group = torch.where(group == b, a, group)
        class_group = torch.where(class_group == b, a, class_group)
        groups.remove(b)
    class_group = torch.where(class_group < 0, groups[-1], class_group)
    nodes: list[dict] = []
    leaf_of = torch.zeros(num_classes, dtype=torch.long)

    def build(members: list[int]) -> int:
        index = len(nodes)
        if len(members) == 1:
            nodes.append({"kind": "leaf", "group": members[0]})
            leaf_of[class_group == members[0]] = index
            return index
        nodes.append({})
        half = (len(members) + 1) // 2
        classes = [c for c in range(num_classes) if int(class_group[c]) in members[:half]]
        left = build(members[:half])
        right = build(members[half:])
        nodes[index] = {"kind": "split", "feature": "label", "classes": classes, "left": left, "right": right}
        return index

    build(groups)
    return nodes, leaf_of


def _feature_tree(
    labels, features, group, held_out_labels, held_out_features, held_out_group, num_classes, **settings
) -> tuple[list[dict], torch.Tensor, float]:
    """Nodes of a scikit-learn decision tree predicting the group from the label and the features, each training
    image's leaf, and the tree's fidelity on the held-out images."""
    from sklearn.tree import DecisionTreeClassifier

    groups = sorted(set(int(g) for g in group))
    majority = {}
    for label in torch.unique(labels).tolist():
        values, counts = torch.unique(torch.as_tensor(group)[labels == label], return_counts=True)
        majority[label] = int(values[counts.argmax()])
    members = [[c for c, g in majority.items() if g == target] for target in groups]

    def inputs(label: torch.Tensor, feature: torch.Tensor):
        onehot = torch.nn.functional.one_hot(label, num_classes).double()
        among = torch.stack([torch.isin(label, torch.tensor(m, dtype=torch.long)) for m in members], 1).double()
        return torch.cat([onehot, among, feature.double()], dim=1).numpy()

    x, held_out_x = inputs(labels, features), inputs(held_out_labels, held_out_features)
    classifier = DecisionTreeClassifier(**settings).fit(x, group)
    fidelity = float((classifier.predict(held_out_x) == held_out_group).mean())
    tree = classifier.tree_
    nodes = []
    for index in range(tree.node_count):
        left, right = int(tree.children_left[index]), int(tree.children_right[index])
        column = int(tree.feature[index])
        if left == -1:
            nodes.append({"kind": "leaf"})
        elif column < num_classes + len(members):  # "label is c" or "label among a group's classes": right is yes
            classes = [column] if column < num_classes else members[column - num_classes]
            nodes.append({"kind": "split", "feature": "label", "classes": classes, "left": right, "right": left})
        else:
            feature = FEATURE_NAMES[column - num_classes - len(members)]
            threshold = float(tree.threshold[index])
            nodes.append({"kind": "split", "feature": feature, "threshold": threshold, "left": left, "right": right})
    return nodes, torch.from_numpy(classifier.apply(x)), fidelity
