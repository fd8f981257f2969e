"""Distil a trained meta-network into a meta-tree (:mod:`augmeta.meta.tree`) with scikit-learn.

The network gives every training image its own policy (one per class in ``class`` mode, one per image in
``adaptive`` mode). Those policies are grouped (exactly, when there are few distinct ones; by k-means otherwise), a
scikit-learn decision tree learns to predict each image's group from its label (one-hot) and its cheap features, and
each of the tree's leaves gets the network's policy averaged over the training images that reach it. Fidelity is the
share of held-out images whose leaf predicts the group the network puts them in.

scikit-learn is imported here only, when fitting: reading and applying a tree never needs it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch

from augmeta.meta.features import FEATURE_NAMES, image_features
from augmeta.meta.network import MetaNetwork
from augmeta.meta.tree import MAX_TREE_DEPTH, MAX_TREE_NODES, TREE_SCHEMA_VERSION, MetaTree
from augmeta.ops import as_float_batch

__all__ = ["fit_meta_tree", "policy_descriptors"]


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
    max_depth: int = 3,
    max_leaves: int = 8,
    min_samples_leaf: int = 20,
    name: str = "meta_tree",
    provenance: Mapping[str, object] | None = None,
    random_state: int = 0,
) -> MetaTree:
    """Fit a meta-tree that reproduces ``network``'s choices on ``images`` (uint8 or float ``[B, C, H, W]``) and
    ``labels``; its fidelity is measured on the held-out images.

    Args:
        max_depth: splits on the longest path (at most :data:`augmeta.meta.tree.MAX_TREE_DEPTH`).
        max_leaves: leaves at most, and groups of policies at most.
        min_samples_leaf: training images each leaf must hold (no leaf for a handful of images).
    """
    from sklearn.cluster import KMeans
    from sklearn.tree import DecisionTreeClassifier

    if not 1 <= max_depth <= MAX_TREE_DEPTH:
        raise ValueError(f"`max_depth` should be in [1, {MAX_TREE_DEPTH}], but got {max_depth!r} instead.")
    if not 2 <= max_leaves <= (MAX_TREE_NODES + 1) // 2:
        raise ValueError(f"`max_leaves` should be in [2, {(MAX_TREE_NODES + 1) // 2}], but got {max_leaves!r}.")
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

    x, held_out_x = inputs(labels, features), inputs(held_out_labels, held_out_features)
    classifier = DecisionTreeClassifier(
        max_depth=max_depth, max_leaf_nodes=max_leaves, min_samples_leaf=min_samples_leaf, random_state=random_state
    ).fit(x, group)
    fidelity = float((classifier.predict(held_out_x) == held_out_group).mean())

    reached = torch.from_numpy(classifier.apply(x))
    tree = classifier.tree_
    nodes, policies = [], []
    for index in range(tree.node_count):
        left, right = int(tree.children_left[index]), int(tree.children_right[index])
        if left == -1:
            chosen = reached == index
            leaf_features = features[chosen] if network.mode == "adaptive" else None
            policy = network.to_policy(f"{name}_leaf{index}", leaf_features, labels[chosen])
            nodes.append({"kind": "leaf", "policy": len(policies), "samples": int(chosen.sum())})
            policies.append(policy.to_dict())
            continue
        column = int(tree.feature[index])
        if column < network.num_classes:  # one-hot label: sklearn's right is "label == column"
            nodes.append({"kind": "split", "feature": "label", "classes": [column], "left": right, "right": left})
        else:
            feature = FEATURE_NAMES[column - network.num_classes]
            threshold = float(tree.threshold[index])
            nodes.append({"kind": "split", "feature": feature, "threshold": threshold, "left": left, "right": right})
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
