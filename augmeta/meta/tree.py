"""The meta-tree: a small decision tree over the label and cheap image features whose leaves are policies.

A file (``meta_tree.json``) that any data loader can apply without a neural network or scikit-learn: each image goes
from the root to a leaf by comparing one of its features (:data:`augmeta.meta.FEATURE_NAMES`, computed from its
pixels by :func:`augmeta.meta.image_features`) with a threshold, or by asking whether its label is among a set of
classes, and is augmented by that leaf's policy. :mod:`augmeta.meta.tree_fit` distils one from a trained
meta-network; this module reads, checks, writes and applies it.

The format (``schema_version`` 1): ``nodes[0]`` is the root; a split node names a ``feature`` with a ``threshold``
(left when the feature is at most the threshold) or the ``label`` with ``classes`` (left when the label is one of
them), and its ``left`` and ``right`` children by index, each after it; a leaf node names ``policy``, an index into
``policies``, which are policy files' contents. Every node is reached from the root exactly once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import Discriminator, Field, PrivateAttr, Tag, field_validator, model_validator

from augmeta.meta.features import FEATURE_NAMES, image_features
from augmeta.ops import as_float_batch, restore_layout
from augmeta.policy import Policy, Provenance, load_policy
from augmeta.policy.errors import validated
from augmeta.policy.io import parse_policy_text, read_text_file
from augmeta.policy.schema import StrictModel
from augmeta.utils import atomic_write_text

__all__ = [
    "MAX_TREE_DEPTH",
    "MAX_TREE_NODES",
    "TREE_SCHEMA_VERSION",
    "LeafNode",
    "MetaTree",
    "MetaTreeAugmentation",
    "SplitNode",
    "load_meta_tree",
    "load_policy_or_meta_tree",
]

TREE_SCHEMA_VERSION = 1
#: Limits that keep a tree small enough to read and to apply in bounded time and memory.
MAX_TREE_NODES = 255
MAX_TREE_DEPTH = 8
MAX_TREE_CLASSES = 10_000


class SplitNode(StrictModel):
    """Send an image left when ``feature <= threshold`` (an image feature) or when its label is in ``classes``."""

    kind: Literal["split"]
    feature: str
    threshold: float | None = None
    classes: list[int] | None = None
    left: int
    right: int

    @field_validator("feature")
    @classmethod
    def _known_feature(cls, value: str) -> str:
        if value != "label" and value not in FEATURE_NAMES:
            raise ValueError(f"should be 'label' or one of {list(FEATURE_NAMES)}, but got {value!r} instead.")
        return value

    @model_validator(mode="after")
    def _threshold_or_classes(self) -> SplitNode:
        if self.feature == "label":
            if self.classes is None or self.threshold is not None or not self.classes:
                raise ValueError(
                    "a split on `label` should give a non-empty `classes` list and no `threshold`, but got "
                    f"classes={self.classes!r} and threshold={self.threshold!r} instead."
                )
            if len(set(self.classes)) != len(self.classes) or any(not 0 <= c < MAX_TREE_CLASSES for c in self.classes):
                raise ValueError(
                    f"`classes` should be distinct labels in [0, {MAX_TREE_CLASSES}), but got {self.classes!r} instead."
                )
        elif self.threshold is None or self.classes is not None:
            raise ValueError(
                f"a split on feature {self.feature!r} should give a `threshold` and no `classes`, but got "
                f"threshold={self.threshold!r} and classes={self.classes!r} instead."
            )
        return self


class LeafNode(StrictModel):
    """Augment the images that reach it with ``policies[policy]``; ``samples``: training images that reached it."""

    kind: Literal["leaf"]
    policy: int
    samples: int = 0

    @field_validator("policy", "samples")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"should be >= 0, but got {value!r} instead.")
        return value


Node = Annotated[
    Annotated[SplitNode, Tag("split")] | Annotated[LeafNode, Tag("leaf")],
    Discriminator(lambda value: value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)),
]


class MetaTreeModel(StrictModel):
    """The file format; :class:`MetaTree` adds routing, applying and saving."""

    schema_version: int
    name: str
    description: str = ""
    num_classes: int
    nodes: list[Node] = Field(min_length=1, max_length=MAX_TREE_NODES)
    policies: list[Policy] = Field(min_length=1, max_length=MAX_TREE_NODES)
    fidelity: float | None = None
    provenance: Provenance

    @field_validator("schema_version")
    @classmethod
    def _supported_version(cls, value: int) -> int:
        if value != TREE_SCHEMA_VERSION:
            raise ValueError(
                f"should be {TREE_SCHEMA_VERSION} (the newest meta-tree version this augmeta reads), but got "
                f"{value!r} instead."
            )
        return value

    @field_validator("num_classes")
    @classmethod
    def _classes(cls, value: int) -> int:
        if not 1 <= value <= MAX_TREE_CLASSES:
            raise ValueError(f"should be in [1, {MAX_TREE_CLASSES}], but got {value!r} instead.")
        return value

    @field_validator("fidelity")
    @classmethod
    def _fraction(cls, value: float | None) -> float | None:
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"should be in [0, 1] or null, but got {value!r} instead.")
        return value

    @model_validator(mode="after")
    def _a_tree(self) -> MetaTreeModel:
        """Children come after their parent and every node has exactly one parent (the root none): a tree, with
        no cycle, no orphan and no shared child; leaves name a policy that exists; labels are < ``num_classes``."""
        parents = [0] * len(self.nodes)
        for index, node in enumerate(self.nodes):
            if isinstance(node, LeafNode):
                if node.policy >= len(self.policies):
                    raise ValueError(
                        f"`nodes[{index}].policy` should index `policies` (0 to {len(self.policies) - 1}), but got "
                        f"{node.policy} instead."
                    )
                continue
            for side in ("left", "right"):
                child = getattr(node, side)
                if not index < child < len(self.nodes):
                    raise ValueError(
                        f"`nodes[{index}].{side}` should be a later node's index ({index + 1} to "
                        f"{len(self.nodes) - 1}), but got {child} instead."
                    )
                parents[child] += 1
            if node.classes is not None and max(node.classes) >= self.num_classes:
                raise ValueError(
                    f"`nodes[{index}].classes` should be labels below num_classes = {self.num_classes}, but got "
                    f"{node.classes} instead."
                )
        wrong = [i for i, count in enumerate(parents) if count != (0 if i == 0 else 1)]
        if wrong:
            raise ValueError(
                f"`nodes` should form one tree (each node but the root the child of exactly one split), but node "
                f"{wrong[0]} is the child of {parents[wrong[0]]} splits."
            )
        if _depth(self.nodes) > MAX_TREE_DEPTH:
            raise ValueError(f"should be at most {MAX_TREE_DEPTH} splits deep, but is {_depth(self.nodes)} deep.")
        return self


def _depth(nodes: list) -> int:
    """Splits on the longest path from the root (children come after parents, so one pass from the end)."""
    depth = [0] * len(nodes)
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        if isinstance(node, SplitNode):
            depth[index] = 1 + max(depth[node.left], depth[node.right])
    return depth[0]


class MetaTree(MetaTreeModel):
    """A meta-tree (see the module docstring for the format); build with :meth:`from_dict` or
    :func:`load_meta_tree`, both of which raise :class:`augmeta.PolicyError` naming each bad field."""

    _tables_by_device: dict[str, tuple[torch.Tensor, ...]] = PrivateAttr(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, source: str = "from a dict") -> MetaTree:
        return validated(cls, data, source, kind="meta-tree")

    def __eq__(self, other: object) -> bool:
        """Trees are equal when their files would be: the per-device routing tables are not compared."""
        if not isinstance(other, MetaTreeModel):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # mutable-looking lists inside; compare with ==

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        """The canonical text: sorted keys, two-space indent, final newline (load -> save -> load is byte-identical)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, allow_nan=False) + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the tree atomically as JSON."""
        return atomic_write_text(Path(path), self.to_json())

    @property
    def depth(self) -> int:
        return _depth(self.nodes)

    # ---------------------------------------------------------------------------------------------------- routing
    def route(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The leaf (node index) each image reaches: ``features`` ``[B, len(FEATURE_NAMES)]``, ``labels`` ``[B]``."""
        device = features.device
        node = torch.zeros(features.shape[0], dtype=torch.long, device=device)
        column, threshold, member, left, right, is_label = self._tables(device)
        labels = labels.long().to(device)
        known = (labels >= 0) & (labels < member.shape[1])  # an unknown label is in no split's classes
        for _ in range(self.depth):
            value = features.gather(1, column[node][:, None]).squeeze(1)
            in_classes = member[node, labels.clamp(0, member.shape[1] - 1)] & known
            go_left = torch.where(is_label[node], in_classes, value <= threshold[node])
            step = torch.where(go_left, left[node], right[node])
            node = torch.where(left[node] >= 0, step, node)  # a leaf stays where it is
        return node

    def _tables(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """The nodes as tensors on ``device`` (built once per device, as :meth:`augmeta.Policy.compiled` is)."""
        key = str(torch.device(device))
        if key not in self._tables_by_device:
            self._tables_by_device[key] = tuple(t.to(device) for t in self._build_tables())
        return self._tables_by_device[key]

    def _build_tables(self) -> tuple[torch.Tensor, ...]:
        n = len(self.nodes)
        column, threshold = torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.float32)
        member = torch.zeros(n, self.num_classes, dtype=torch.bool)
        left, right = torch.full((n,), -1, dtype=torch.long), torch.full((n,), -1, dtype=torch.long)
        is_label = torch.zeros(n, dtype=torch.bool)
        for index, node in enumerate(self.nodes):
            if isinstance(node, LeafNode):
                continue
            left[index], right[index] = node.left, node.right
            if node.feature == "label":
                is_label[index] = True
                member[index, node.classes] = True
            else:
                column[index], threshold[index] = FEATURE_NAMES.index(node.feature), node.threshold
        return column, threshold, member, left, right, is_label

    def leaf_policy(self, leaf: int) -> Policy:
        return self.policies[self.nodes[leaf].policy]

    # --------------------------------------------------------------------------------------------------- applying
    def apply(
        self, images: torch.Tensor, labels: torch.Tensor | int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Augment each image with the policy of the leaf it reaches, as :meth:`augmeta.Policy.apply` does.

        Args:
            images: ``[C, H, W]`` or ``[B, C, H, W]``, uint8 in [0, 255] or float in [0, 1]; not modified.
            labels: ``[B]`` class labels (an int for a single image).
            generator: optional ``torch.Generator`` for the draws.
        """
        batch, dtype, added = as_float_batch(images)
        labels = torch.as_tensor(labels, device=batch.device).reshape(-1)
        if labels.shape[0] != batch.shape[0]:
            raise ValueError(
                f"`labels` should hold one label per image ({batch.shape[0]}), but got {labels.shape[0]} instead."
            )
        if labels.numel() and not (0 <= int(labels.min()) and int(labels.max()) < self.num_classes):
            raise ValueError(
                f"`labels` should be in [0, {self.num_classes}) (the tree's classes), but got values from "
                f"{int(labels.min())} to {int(labels.max())} instead."
            )
        leaves = self.route(image_features(batch), labels)
        out = batch.clone()
        for leaf in torch.unique(leaves).tolist():
            chosen = (leaves == leaf).nonzero().squeeze(1)
            out[chosen] = self.leaf_policy(leaf).apply(batch[chosen], generator)
        return restore_layout(out, dtype, added)

    def describe(self) -> str:
        """The tree as indented text: each split's question, each leaf's policy and its top ops."""
        lines = [f"meta-tree {self.name!r}: {len(self.nodes)} nodes, depth {self.depth}, {self.num_classes} classes"]
        if self.fidelity is not None:
            lines[0] += f", fidelity {self.fidelity:.3f}"

        def walk(index: int, indent: str, prefix: str) -> None:
            node = self.nodes[index]
            if isinstance(node, LeafNode):
                lines.append(f"{indent}{prefix}leaf {index}: {_top_ops(self.policies[node.policy])}")
                return
            question = (
                f"label in {node.classes}" if node.feature == "label" else f"{node.feature} <= {node.threshold:.4g}"
            )
            lines.append(f"{indent}{prefix}{question}?")
            walk(node.left, indent + "  ", "yes: ")
            walk(node.right, indent + "  ", "no:  ")

        walk(0, "", "")
        return "\n".join(lines)


def _top_ops(policy: Policy, count: int = 4) -> str:
    """A policy's most likely ops per step on average (the chance a step applies each op)."""
    chance: dict[str, float] = {}
    total_weight = sum(sub.weight for sub in policy.subpolicies)
    for sub in policy.subpolicies:
        for step in sub.steps:
            weights = sum(choice.weight for choice in step.ops)
            for choice in step.ops:
                share = sub.weight / total_weight * step.p * choice.weight / weights / len(sub.steps)
                chance[choice.op] = chance.get(choice.op, 0.0) + share
    top = sorted(((p, op) for op, p in chance.items() if op != "identity" and p >= 0.005), reverse=True)[:count]
    return f"{policy.name!r}: " + (", ".join(f"{op} {p:.2f}" for p, op in top) or "no augmentation")


class MetaTreeAugmentation(torch.nn.Module):
    """A torchvision-v2-style transform of ``(image, label)`` pairs: the image augmented by its leaf's policy.

    Put it where a pipeline has both (a dataset's ``transforms`` or a collate function):
    ``image, label = MetaTreeAugmentation(tree)(image, label)``. Images are ``[C, H, W]`` or ``[B, C, H, W]``
    tensors, uint8 or float in [0, 1], or PIL images (returned as PIL images).
    """

    def __init__(self, tree: MetaTree) -> None:
        super().__init__()
        self.tree = tree

    def forward(self, image, label):
        from torchvision.transforms.v2 import functional as tvf

        if not isinstance(image, torch.Tensor):  # a PIL image
            return tvf.to_pil_image(self.tree.apply(tvf.pil_to_tensor(image), label)), label
        return self.tree.apply(image, label), label

    def extra_repr(self) -> str:
        return f"tree={self.tree.name!r}, nodes={len(self.tree.nodes)}"


def load_meta_tree(path: str | os.PathLike[str]) -> MetaTree:
    """Load and strictly validate a ``meta_tree.json``; raise :class:`augmeta.PolicyError` naming each bad field."""
    path = Path(path)
    source = f"file {str(path)!r}"
    text = read_text_file(path, "meta-tree", "a .json file")
    return MetaTree.from_dict(parse_policy_text(text, source, kind="meta-tree"), source)


def load_policy_or_meta_tree(path: str | os.PathLike[str]) -> Policy | MetaTree:
    """A policy file, or a meta-tree when it is JSON whose top level has ``nodes``: the file read and parsed once.

    Raises:
        PolicyError: as :func:`augmeta.load_policy` and :func:`load_meta_tree` do.
    """
    path = Path(path)
    if path.suffix.lower() != ".json":
        return load_policy(path)
    source = f"file {str(path)!r}"
    data = parse_policy_text(read_text_file(path, "policy", "a .json or .yaml file"), source)
    if isinstance(data, dict) and "nodes" in data:
        return MetaTree.from_dict(data, source)
    return Policy.from_dict(data, source)
