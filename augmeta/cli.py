"""The ``augmeta`` command: check, describe, preview, export and compare policy files.

``augmeta validate FILE...`` checks policy files (and meta-trees) and names every bad field; ``describe``, ``show``,
``export`` and ``diff`` are described by ``augmeta COMMAND --help``. Their helpers live in :mod:`augmeta.export`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from augmeta.policy import PolicyError, load_policy

__all__ = ["main"]

EXPORT_TARGETS = ("torchvision-stock", "albumentations", "albumentations-yaml")


def _validate(args: argparse.Namespace) -> int:
    from augmeta.meta.tree import MetaTree, load_policy_or_meta_tree

    failed = 0
    for path in args.files:
        try:
            loaded = load_policy_or_meta_tree(path)
            if isinstance(loaded, MetaTree):
                summary = f"meta-tree {loaded.name!r}, {len(loaded.nodes)} nodes, {len(loaded.policies)} leaf policies"
            else:
                summary = f"{loaded.name!r}, {len(loaded.subpolicies)} sub-policies"
        except PolicyError as error:
            failed += 1
            print(f"FAIL {error}", file=sys.stderr)
        else:
            print(f"ok   {path}: {summary}")
    return 1 if failed else 0


def _describe(args: argparse.Namespace) -> int:
    from augmeta.export.describe import describe_policy
    from augmeta.meta.tree import MetaTree, load_policy_or_meta_tree

    loaded = load_policy_or_meta_tree(args.file)
    print(loaded.describe() + "\n" if isinstance(loaded, MetaTree) else describe_policy(loaded), end="")
    return 0


def _show(args: argparse.Namespace) -> int:
    import torch

    from augmeta.export.preview import labelled_grid, load_preview_images, policy_grid, save_png
    from augmeta.meta.tree import MetaTree, load_policy_or_meta_tree

    images = load_preview_images(args.images or args.dataset, args.rows)
    grid_of = policy_grid if args.plain else labelled_grid
    loaded = load_policy_or_meta_tree(args.file)
    if isinstance(loaded, MetaTree):  # one grid per leaf, each of the leaf's policy
        tree = loaded
        output = Path(args.output)
        for leaf, node in enumerate(tree.nodes):
            if node.kind != "leaf":
                continue
            generator = torch.Generator().manual_seed(args.seed)
            grid = grid_of(tree.policies[node.policy], images, args.draws, generator)
            path = save_png(grid, output.with_name(f"{output.stem}_leaf{leaf}{output.suffix}"))
            print(f"wrote {path}: leaf {leaf}, {images.shape[0]} images x (original + {args.draws} draws)")
        return 0
    generator = torch.Generator().manual_seed(args.seed)
    path = save_png(grid_of(loaded, images, args.draws, generator), args.output)
    print(f"wrote {path}: {images.shape[0]} images x (original + {args.draws} draws)")
    return 0


#: The file suffix each export target writes (a meta-tree's leaves are named with it).
_TARGET_SUFFIX = {"torchvision-stock": ".py", "albumentations": ".json", "albumentations-yaml": ".yaml"}


def _export(args: argparse.Namespace) -> int:
    from augmeta.meta.tree import MetaTree, load_policy_or_meta_tree

    loaded = load_policy_or_meta_tree(args.file)
    if isinstance(loaded, MetaTree):
        return _export_tree(loaded, args)
    suffix = args.output.suffix.lower()
    if args.to == "albumentations-yaml" and suffix not in (".yaml", ".yml"):
        raise ValueError(f"--to albumentations-yaml writes YAML: name the output .yaml, not {str(args.output)!r}.")
    if args.to == "albumentations" and suffix in (".yaml", ".yml"):
        raise ValueError(f"--to albumentations writes JSON: name the output .json, not {str(args.output)!r}.")
    print(f"wrote {_export_policy(loaded, args.output, args)}")
    return 0


def _export_policy(policy, path: Path, args: argparse.Namespace) -> Path:
    """Write ``policy`` for ``args.to`` at ``path``."""
    size = tuple(args.image_size) if args.image_size else None
    if args.to == "torchvision-stock":
        from augmeta.export.torchvision_code import save_torchvision_stock

        options = {"image_size": size} if size else {}
        if args.strict:
            options["strict"] = True
        return save_torchvision_stock(policy, path, **options)
    from augmeta.export.albumentations import save_albumentations

    return save_albumentations(policy, path, image_size=size, strict=args.strict)


def _export_tree(tree, args: argparse.Namespace) -> int:
    """A meta-tree: one pipeline file per leaf (``OUTPUT_leaf<N>`` with the target's suffix) and, at ``OUTPUT``
    (.json), the routing: the tree's questions, which leaf file each path ends at, and what needs augmeta."""
    import json

    from augmeta.meta.tree import LeafNode
    from augmeta.utils import atomic_write_text

    output = args.output
    if output.suffix.lower() != ".json":
        raise ValueError(f"a meta-tree exports its routing as JSON: name the output .json, not {str(output)!r}.")
    leaves = {}
    for index, node in enumerate(tree.nodes):
        if isinstance(node, LeafNode):
            path = output.with_name(f"{output.stem}_leaf{index}{_TARGET_SUFFIX[args.to]}")
            leaves[index] = _export_policy(tree.policies[node.policy], path, args)
    routing = _routing(tree, {index: path.name for index, path in leaves.items()}, args.to)
    atomic_write_text(output, json.dumps(routing, indent=2) + "\n")
    for index, path in leaves.items():
        print(f"wrote {path} (leaf {index})")
    print(
        f"wrote {output} (routing: {'needs augmeta for image features' if routing['needs_augmeta'] else 'labels only'})"
    )
    return 0


def _routing(tree, leaf_files: dict[int, str], target: str) -> dict:
    """The routing of an exported meta-tree, readable without augmeta."""
    from augmeta.meta.tree import LeafNode

    nodes, features = [], set()
    for index, node in enumerate(tree.nodes):
        if isinstance(node, LeafNode):
            nodes.append({"node": index, "leaf": leaf_files[index], "policy": tree.policies[node.policy].name})
            continue
        if node.feature == "label":
            question = {"label_in": list(node.classes)}
        else:
            features.add(node.feature)
            question = {"feature": node.feature, "at_most": node.threshold}
        nodes.append({"node": index, **question, "yes": node.left, "no": node.right})
    needs = sorted(features)
    how = (
        "Start at node 0. At a split, go to `yes` when its question holds for the image (`label_in`: its label is "
        "one of these; `feature` / `at_most`: that image feature is at most this), else to `no`. At a leaf, "
        f"augment the image with that leaf's {target} file."
    )
    if needs:
        how += (
            f" The features {needs} are augmeta's: compute them with augmeta.meta.image_features (float images in "
            "[0, 1], shape [B, C, H, W]; columns in augmeta.meta.FEATURE_NAMES order), or apply the tree with "
            "augmeta.load_meta_tree(...).apply(images, labels); the leaf files themselves need no augmeta."
        )
    else:
        how += " Every question is about the label: applying the leaves needs no augmeta."
    return {
        "meta_tree": tree.name,
        "num_classes": tree.num_classes,
        "target": target,
        "needs_augmeta": bool(needs),
        "how_to_apply": how,
        "nodes": nodes,
    }


def _diff(args: argparse.Namespace) -> int:
    from augmeta.export.describe import diff_policies

    try:
        a, b = load_policy(args.a), load_policy(args.b)
    except PolicyError as error:  # trouble, not a difference: exit 2, as diff and cmp do
        print(f"error: {error}", file=sys.stderr)
        return 2
    differences = diff_policies(a, b)
    for line in differences:
        print(line)
    if not differences:
        print("the policies are the same (name, description and provenance aside)")
    return 1 if differences else 0


def _add_export(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="write a policy for another library",
        description=(
            "albumentations / albumentations-yaml: an albumentations 2.0.x pipeline file that albumentations.load "
            "reads without augmeta (uint8 images). torchvision-stock: a Python file defining `transform`, the "
            "policy as stock torchvision v2 classes (no augmeta needed). Where the target has no exact equivalent "
            "the export approximates (a uniform magnitude drawn from 31 evenly spaced values, sharpness below 1 as "
            "a blur, cutout kept inside the image) and one warning lists every approximated field; --strict refuses "
            "instead, listing every field in one error."
        ),
    )
    export.add_argument(
        "file", metavar="FILE", help="policy file, or meta_tree.json (one file per leaf and OUTPUT: the routing)"
    )
    export.add_argument("--to", required=True, choices=EXPORT_TARGETS, help="target format")
    export.add_argument("-o", "--output", required=True, type=Path, help="file to write (.json, .yaml or .py)")
    export.add_argument(
        "--image-size", nargs=2, type=int, metavar=("H", "W"), help="image size: makes translations whole pixels"
    )
    export.add_argument("--strict", action="store_true", help="refuse anything the target can only approximate")
    export.set_defaults(run=_export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="augmeta", description="Work with augmeta policy files.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check policy (or meta-tree) files; exit 1 if any is invalid")
    validate.add_argument("files", nargs="+", metavar="FILE", help="policy files (.json, .yaml) or meta_tree.json")
    validate.set_defaults(run=_validate)

    describe = commands.add_parser(
        "describe", help="print sub-policies, weights, op frequencies and strength (a meta-tree: its splits and leaves)"
    )
    describe.add_argument("file", metavar="FILE", help="policy file or meta_tree.json")
    describe.set_defaults(run=_describe)

    show = commands.add_parser(
        "show", help="write a PNG grid: rows are images, columns draws (original first); a meta-tree: one per leaf"
    )
    show.add_argument("file", metavar="FILE", help="policy file or meta_tree.json (writes OUTPUT_leaf<N>.png)")
    source = show.add_mutually_exclusive_group()
    source.add_argument("--dataset", choices=("digits", "fashion_mnist"), default="digits", help="built-in images")
    source.add_argument(
        "--images", metavar="DIR", help="a folder of images, or an ImageFolder root (one image per class in turn)"
    )
    show.add_argument("-n", "--rows", type=int, default=8, help="number of images (rows); default 8")
    show.add_argument("--draws", type=int, default=8, help="augmented draws per image (columns); default 8")
    show.add_argument("--seed", type=int, default=0, help="seed of the draws; default 0")
    show.add_argument("-o", "--output", default="grid.png", help="PNG file to write; default grid.png")
    show.add_argument(
        "--plain",
        action="store_true",
        help="cells at the images' own size, without labels (default: upscaled, each draw labelled with its ops)",
    )
    show.set_defaults(run=_show)

    _add_export(commands)

    diff = commands.add_parser(
        "diff", help="list the fields where two policies differ; exit 0 if none, 1 if any, 2 if a file is invalid"
    )
    diff.add_argument("a", metavar="A", help="first policy file")
    diff.add_argument("b", metavar="B", help="second policy file")
    diff.set_defaults(run=_diff)
    return parser


def _quiet_stdout() -> None:
    """Point stdout's file at /dev/null, so that Python's flush at exit does not report the closed pipe again."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture): nothing will be flushed
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, descriptor)
    os.close(null)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.run is _validate:
        return _validate(args)
    try:
        return args.run(args)
    except (PolicyError, ValueError, ImportError) as error:  # ExportError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader stopped (`| head`): nothing to say, as other command-line tools do
        _quiet_stdout()
        return 0
    except OSError as error:  # an output that is a folder, under a file, or not writable; a missing input
        where = f" {error.filename!r}" if error.filename else ""
        print(f"error: cannot use{where}: {error.strerror or error}.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
