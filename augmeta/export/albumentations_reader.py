"""Read an albumentations pipeline file (``OneOf`` of ``Sequential`` sub-policies, as AutoAlbument and
:func:`~augmeta.export.save_albumentations` write) into an augmeta :class:`~augmeta.Policy`.

The file is parsed as data (JSON, or YAML with ``safe_load``); albumentations itself is not needed.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

from augmeta.export.errors import ExportError
from augmeta.export.plan import check_image_size
from augmeta.ops import OPS
from augmeta.policy import SCHEMA_VERSION, Policy, PolicyError
from augmeta.policy.errors import shown
from augmeta.policy.io import MAX_FILE_BYTES, parse_policy_text

__all__ = ["from_albumentations"]

#: Transforms that convert rather than augment: left out with a warning.
CONVERSIONS = frozenset({"Normalize", "ToTensorV2", "ToFloat", "FromFloat"})
_IDENTITY_VALUE = {"posterize": 8.0, "solarize": 1.0}  # the value at m = 0; 0 for every other op
_INTERPOLATIONS = {0: "nearest", 1: "bilinear"}


class _Unmapped(Exception):
    """A transform (or argument) with no augmeta equivalent."""


def _name(node: dict[str, Any]) -> str:
    return str(node.get("__class_fullname__", "?")).rsplit(".", 1)[-1]


def _interval(value: Any, scale: float = 1.0) -> tuple[float, float]:
    """``v``, ``[v]`` or ``[a, b]`` as ``(a, b)`` times ``scale``."""
    if isinstance(value, (int, float)):
        return float(value) * scale, float(value) * scale
    if isinstance(value, (list, tuple)) and len(value) in (1, 2) and all(isinstance(v, (int, float)) for v in value):
        return float(value[0]) * scale, float(value[-1]) * scale
    raise _Unmapped(f"expected a number or a [low, high] pair, but got {value!r}")


def _axes(value: Any) -> dict[str, tuple[float, float]]:
    """A per-axis argument (number, pair, or ``{"x": ..., "y": ...}``) as ``{"x": (a, b), "y": (c, d)}``."""
    if isinstance(value, dict):
        return {axis: _interval(value.get(axis, 0.0)) for axis in ("x", "y")}
    pair = _interval(value)
    return {"x": pair, "y": pair}


def _choice(op: str, low: float, high: float, weight: float = 1.0) -> dict[str, Any]:
    """An op choice drawing physical values uniformly from ``[low, high]``, with ``m = 0`` the identity if it can."""
    spec = OPS[op]
    if not spec.has_magnitude:
        return {"op": op, "weight": weight, "magnitude": 0.0, "range": None, "signed": False}
    lo_limit, hi_limit = spec.limits
    if not (lo_limit <= low <= hi_limit and lo_limit <= high <= hi_limit):
        raise _Unmapped(f"{op} values [{low:.6g}, {high:.6g}] are outside augmeta's limits [{lo_limit}, {hi_limit}]")
    identity = _IDENTITY_VALUE.get(op, 0.0)
    base = {"op": op, "weight": weight, "signed": False}
    if low == high:
        return {**base, "magnitude": 1.0, "range": [identity, low]}
    if spec.signed and math.isclose(low, -high) and identity == 0.0:
        return {**base, "signed": True, "magnitude": {"low": 0.0, "high": 1.0}, "range": [0.0, high]}
    near, far = (low, high) if abs(low - identity) <= abs(high - identity) else (high, low)
    if (near - identity) * (far - identity) >= 0.0:  # both on one side of the identity
        return {
            **base,
            "magnitude": {"low": (near - identity) / (far - identity), "high": 1.0},
            "range": [identity, far],
        }
    return {**base, "magnitude": {"low": 0.0, "high": 1.0}, "range": [low, high]}


class _Reader:
    def __init__(self, image_size: tuple[int, int] | None) -> None:
        self.image_size = image_size
        self.unmapped: list[str] = []
        self.skipped: list[str] = []
        self.approximate: list[str] = []
        self.fills: set[tuple[float, ...]] = set()
        self.interpolations: set[str] = set()

    # -- settings shared by the whole policy ---------------------------------------------------------------------

    def _geometry(self, node: dict[str, Any]) -> None:
        if node.get("border_mode", 0) != 0:
            raise _Unmapped(f"border_mode {node['border_mode']} is not constant (0); augmeta fills uncovered areas")
        interpolation = node.get("interpolation", 1)
        if interpolation not in _INTERPOLATIONS:
            raise _Unmapped(f"interpolation {interpolation} is neither nearest (0) nor linear (1)")
        self.interpolations.add(_INTERPOLATIONS[interpolation])
        self._fill(node.get("fill", node.get("value", 0)))

    def _fill(self, fill: Any) -> None:
        values = [0.0] if fill is None else [fill] if isinstance(fill, (int, float)) else list(fill)
        if len(values) not in (1, 3) or not all(isinstance(v, (int, float)) and 0 <= v <= 255 for v in values):
            raise _Unmapped(f"fill {fill!r} is not 1 or 3 values in 0..255")
        self.fills.add(tuple(float(v) / 255.0 for v in values))

    # -- one transform -> one op choice ---------------------------------------------------------------------------

    def choice(self, node: dict[str, Any], path: str, weight: float = 1.0) -> dict[str, Any]:
        name = _name(node)
        simple = {
            "NoOp": "identity",
            "HorizontalFlip": "flip_x",
            "VerticalFlip": "flip_y",
            "InvertImg": "invert",
            "Equalize": "equalize",
        }
        if name in simple:
            return _choice(simple[name], 0.0, 0.0, weight)
        reader = getattr(self, f"_read_{name}", None)
        if reader is None:
            raise _Unmapped(f"no augmeta op does what {name} does")
        op, low, high = reader(node, path)
        return _choice(op, low, high, weight)

    def _read_AutoContrast(self, node: dict[str, Any], path: str) -> tuple[str, float, float]:
        if node.get("cutoff", 0) not in (0, None) or node.get("method", "cdf") != "pil":
            raise _Unmapped("only AutoContrast(cutoff=0, method='pil') is augmeta's auto_contrast")
        return "auto_contrast", 0.0, 0.0

    def _read_Posterize(self, node: dict[str, Any], path: str) -> tuple[str, float, float]:
        low, high = _interval(node.get("num_bits", 4))
        if low != high:
            raise _Unmapped("a random number of bits is not uniform in augmeta's magnitude")
        return "posterize", low, high

    def _read_Solarize(self, node: dict[str, Any], path: str) -> tuple[str, float, float]:
        if "threshold_range" in node:
            low, high = _interval(node["threshold_range"])
        else:  # albumentations < 2: a threshold in 0..255
            low, high = _interval(node.get("threshold", 128), 1.0 / 255.0)
        return "solarize", low, high

    def _read_ColorJitter(self, node: dict[str, Any], path: str) -> tuple[str, float, float]:
        if _interval(node.get("hue", 0.0)) != (0.0, 0.0):
            raise _Unmapped("ColorJitter with a hue shift has no augmeta op")
        ops = {"brightness": "brightness", "contrast": "contrast", "saturation": "color"}
        active = [(op, _interval(node.get(key, 1.0))) for key, op in ops.items()]
        active = [(op, pair) for op, pair in active if pair != (1.0, 1.0)]
        if len(active) > 1:
            raise _Unmapped("ColorJitter that changes several of brightness, contrast, saturation is several ops")
        op, (low, high) = active[0] if active else ("identity", (1.0, 1.0))
        return op, low - 1.0, high - 1.0

    def _read_Sharpen(self, node: dict[str, Any], path: str) -> tuple[str, float, float]:
        if node.get("method", "kernel") != "kernel" or _interval(node.get("lightness", 1.0)) != (1.0, 1.0):
            raise _Unmapped("only Sharpen(method='kernel', lightness=(1, 1)) is augmeta's sharpness")
        low, high = _interval(node.get("alpha", (0.2, 0.5)), 13.0)
        self.approximate.append(f"{path} (Sharpen also filters the border)")
        return "sharpness", low, high

    def _read_Rotate(self, node: dict[str, Any], path: str) -> tuple[str, float, float]:
        self._geometry(node)
        if node.get("crop_border"):
            raise _Unmapped("Rotate(crop_border=True) crops and resizes")
        return ("rotate", *_interval(node.get("limit", (-90, 90))))

    def _read_Affine(self, node: dict[str, Any], path: str) -> tuple[str, float, float]:
        self._geometry(node)
        if _axes(node.get("scale", 1.0)) != {"x": (1.0, 1.0), "y": (1.0, 1.0)} or node.get("fit_output"):
            raise _Unmapped("Affine with scaling (or fit_output) has no augmeta op")
        rotate, shear = _interval(node.get("rotate", 0.0)), _axes(node.get("shear", 0.0))
        translate = self._translate(node)
        moves = {
            "rotate": rotate,
            "shear_x": shear["x"],
            "shear_y": shear["y"],
            "translate_x": translate["x"],
            "translate_y": translate["y"],
        }
        active = [op for op, pair in moves.items() if pair != (0.0, 0.0)]
        shears = [op for op in active if op.startswith("shear")]
        if shears and len(active) == 2 and active[1] == f"translate_{shears[0][-1]}":
            return self._anchored_shear(shears[0], moves, path)
        if len(active) > 1:
            raise _Unmapped(f"Affine that does several things at once ({', '.join(active)}) is several ops")
        if not active:
            return "identity", 0.0, 0.0
        op = active[0]
        if op.startswith("shear"):
            self.approximate.append(f"{path} (a centre-anchored shear; augmeta's is anchored at the top-left corner)")
            return (op, *(math.tan(math.radians(v)) for v in moves[op]))
        return (op, *moves[op])

    def _read_ShiftScaleRotate(self, node: dict[str, Any], path: str) -> tuple[str, float, float]:
        self._geometry(node)
        if _interval(node.get("scale_limit", 0.0)) != (0.0, 0.0):
            raise _Unmapped("ShiftScaleRotate with scaling has no augmeta op")
        shift = node.get("shift_limit", 0.0)
        moves = {
            "rotate": _interval(node.get("rotate_limit", 0.0)),
            "translate_x": _interval(node.get("shift_limit_x") or shift),
            "translate_y": _interval(node.get("shift_limit_y") or shift),
        }
        active = [(op, pair) for op, pair in moves.items() if pair != (0.0, 0.0)]
        if len(active) > 1:
            raise _Unmapped(f"ShiftScaleRotate that does several things ({', '.join(op for op, _ in active)})")
        return (active[0][0], *active[0][1]) if active else ("identity", 0.0, 0.0)

    def _translate(self, node: dict[str, Any]) -> dict[str, tuple[float, float]]:
        if node.get("translate_percent") is not None:
            return _axes(node["translate_percent"])
        pixels = _axes(node.get("translate_px") or 0)
        if pixels == {"x": (0.0, 0.0), "y": (0.0, 0.0)}:
            return pixels
        if self.image_size is None:
            raise _Unmapped("a translation in pixels needs image_size=(height, width) to become a fraction")
        height, width = self.image_size
        return {"x": tuple(v / width for v in pixels["x"]), "y": tuple(v / height for v in pixels["y"])}

    def _anchored_shear(self, op: str, moves: dict[str, tuple[float, float]], path: str) -> tuple[str, float, float]:
        """A shear plus the shift that moves its anchor to the top-left corner (what to_albumentations writes)."""
        low, high = moves[op]
        if low != high or self.image_size is None:
            raise _Unmapped("a shear with a translation is augmeta's shear only for a fixed angle and known image_size")
        factor = math.tan(math.radians(low))
        axis = 0 if op == "shear_x" else 1
        size = self.image_size[axis]
        shift = moves[f"translate_{op[-1]}"][0] * self.image_size[1 - axis]  # back to pixels
        if round(-factor * size / 2.0) != round(shift):
            raise _Unmapped(
                f"its translation ({shift:.6g} px) is not the top-left anchor's ({-factor * size / 2:.6g} px)"
            )
        return op, factor, factor

    def _read_CoarseDropout(self, node: dict[str, Any], path: str) -> tuple[str, float, float]:
        holes = _interval(node.get("num_holes_range", (node.get("min_holes", 1), node.get("max_holes", 1))))
        height = _interval(node.get("hole_height_range", (node.get("min_height"), node.get("max_height"))))
        width = _interval(node.get("hole_width_range", (node.get("min_width"), node.get("max_width"))))
        if holes != (1.0, 1.0) or height != width or height[0] != height[1]:
            raise _Unmapped("only one square hole of a fixed side is augmeta's cutout")
        self._fill(node.get("fill", node.get("fill_value", 0)))
        side = height[0]
        self.approximate.append(f"{path} (albumentations keeps the hole inside the image)")
        if isinstance(node.get("hole_height_range", [None])[0], float) and side <= 1.0:
            return "cutout", side, side
        if self.image_size is None:
            raise _Unmapped("a hole side in pixels needs image_size=(height, width) to become a fraction")
        return "cutout", side / min(self.image_size), side / min(self.image_size)

    # -- structure ------------------------------------------------------------------------------------------------

    def step(self, node: dict[str, Any], path: str) -> dict[str, Any] | None:
        """A leaf is a step of one op; a ``OneOf`` is a step choosing among its (flattened) children."""
        p = float(node.get("p", 0.5))
        if _name(node) != "OneOf":
            choice = self._guarded(node, path)
            return None if choice is None else {"p": p, "ops": [choice]}
        choices = self.one_of_choices(node, path, 1.0)
        return {"p": p, "ops": choices} if choices else None

    def one_of_choices(self, node: dict[str, Any], path: str, weight: float) -> list[dict[str, Any]]:
        children = node.get("transforms", [])
        total = math.fsum(float(child.get("p", 0.5)) for child in children) or 1.0
        choices = []
        for k, child in enumerate(children):
            child_path, child_weight = f"{path}.transforms[{k}]", weight * float(child.get("p", 0.5)) / total
            if _name(child) == "OneOf":
                choices.extend(self.one_of_choices(child, child_path, child_weight))
            else:  # a transform with no augmeta op becomes the identity, so the other choices keep their odds
                choices.append(
                    self._guarded(child, child_path, child_weight) or _choice("identity", 0, 0, child_weight)
                )
        return choices

    def _guarded(self, node: dict[str, Any], path: str, weight: float = 1.0) -> dict[str, Any] | None:
        try:
            if "transforms" in node:
                raise _Unmapped(f"a {_name(node)} inside a step has no augmeta equivalent")
            return self.choice(node, path, weight)
        except _Unmapped as reason:
            self.unmapped.append(f"{path} ({_name(node)}: {reason})")
            return None

    def steps(self, nodes: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
        steps = [self.step(node, f"{path}.transforms[{j}]") for j, node in enumerate(nodes)]
        return [step for step in steps if step is not None]

    def subpolicies(self, root: dict[str, Any]) -> list[dict[str, Any]]:
        path = "transform"
        if _name(root) != "Compose":
            root, path = {"transforms": [root], "p": 1.0}, "transform(wrapped)"
        if float(root.get("p", 1.0)) != 1.0:
            self.unmapped.append(f"{path} (Compose with p={root['p']} != 1)")
        before, after, found = [], [], None
        for i, node in enumerate(root.get("transforms", [])):
            node_path = f"{path}.transforms[{i}]"
            if _name(node) in CONVERSIONS:
                self.skipped.append(f"{node_path} ({_name(node)})")
            elif found is None and _name(node) == "OneOf" and all(_name(c) == "Sequential" for c in node["transforms"]):
                found = (node, node_path)
            else:
                (after if found else before).append((node, node_path))
        edges = [[s for n, p in part if (s := self.step(n, p)) is not None] for part in (before, after)]
        if found is None:
            return [{"weight": 1.0, "steps": edges[0] + edges[1]}]
        node, node_path = found
        subpolicies = []
        for k, sequential in enumerate(node["transforms"]):
            inner = self.steps(sequential.get("transforms", []), f"{node_path}.transforms[{k}]")
            subpolicies.append({"weight": float(sequential.get("p", 0.5)), "steps": edges[0] + inner + edges[1]})
        if float(node.get("p", 0.5)) < 1.0:  # the OneOf itself may not fire: an identity sub-policy
            total, p = math.fsum(s["weight"] for s in subpolicies), float(node["p"])
            identity = {"p": 1.0, "ops": [_choice("identity", 0.0, 0.0)]}
            subpolicies.append({"weight": total * (1.0 - p) / p, "steps": [identity]})
        return subpolicies


def _read_file(path: Path) -> Any:
    """The file's data, read within the limits of policy files (size, nesting, no YAML aliases)."""
    if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
        raise ExportError(f"{str(path)!r} is {path.stat().st_size} bytes, more than the {MAX_FILE_BYTES} allowed.")
    if path.exists() and not path.is_file():
        raise ExportError(f"{str(path)!r} is not a regular file.")
    text = path.read_text(encoding="utf-8")
    yaml_format = path.suffix.lower() in (".yaml", ".yml")
    return parse_policy_text(text, f"file {str(path)!r}", yaml_format=yaml_format, kind="albumentations pipeline")


def from_albumentations(
    path: str | os.PathLike[str], *, image_size: tuple[int, int] | None = None, strict: bool = True
) -> Policy:
    """Read an albumentations pipeline file into a :class:`~augmeta.Policy`.

    The pipeline is ``Compose([..., OneOf([Sequential(steps, p=w_k), ...]), ...])`` (sub-policies; transforms
    around the ``OneOf`` become steps of every sub-policy) or a ``Compose`` of steps (one sub-policy). A step is a
    transform (its ``p`` is the step's) or a ``OneOf`` of transforms (weighted by their ``p``). Normalize,
    ToTensorV2, ToFloat and FromFloat are left out with a warning.

    Args:
        path: a JSON file (YAML for ``.yaml``/``.yml``) as ``albumentations.save`` writes.
        image_size: ``(height, width)``, needed to read pixel translations and pixel hole sizes.
        strict: raise when a transform has no augmeta op; with ``False`` leave such transforms out with a warning.

    Raises:
        ExportError: the file is not an albumentations pipeline, or (``strict``) some transforms do not map;
            the message lists each with its path in the file and why.
    """
    try:
        return _from_albumentations(Path(path), image_size, strict)
    except (ExportError, ImportError):
        raise
    except PolicyError as error:  # the file's syntax, or a policy its transforms do not make
        raise ExportError(str(error)) from None
    except Exception as error:  # a file no albumentations pipeline is made of: one error type, naming the file
        raise ExportError(
            f"{str(path)!r} is not a readable albumentations pipeline file ({type(error).__name__}: "
            f"{shown(str(error))[1:-1]})."
        ) from None


def _from_albumentations(path: Path, image_size: tuple[int, int] | None, strict: bool) -> Policy:
    data = _read_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("transform", data), dict):
        raise ExportError(f"{str(path)!r} is not an albumentations pipeline file (expected an object).")
    reader = _Reader(check_image_size(image_size))
    subpolicies = reader.subpolicies(data.get("transform", data))
    if reader.unmapped and strict:
        raise ExportError(f"{str(path)!r} has transforms with no augmeta op:\n  " + "\n  ".join(reader.unmapped))
    for kind, items in (("left out", reader.unmapped), ("not augmentations, left out", reader.skipped)):
        if items:
            warnings.warn(f"{str(path)!r}: transforms {kind}: " + "; ".join(items), UserWarning, stacklevel=2)
    if reader.approximate:
        warnings.warn(f"{str(path)!r}: read approximately: " + "; ".join(reader.approximate), UserWarning, stacklevel=2)
    return _policy(path, reader, subpolicies)


def _policy(path: Path, reader: _Reader, subpolicies: list[dict[str, Any]]) -> Policy:
    if not any(sub["steps"] for sub in subpolicies):
        raise ExportError(f"{str(path)!r} has no transform that maps to an augmeta op.")
    identity = {"p": 1.0, "ops": [_choice("identity", 0.0, 0.0)]}
    subpolicies = [{**sub, "steps": sub["steps"] or [identity]} for sub in subpolicies]  # keep every weight
    for setting, values in (("fill", reader.fills), ("interpolation", reader.interpolations)):
        if len(values) > 1:
            raise ExportError(f"{str(path)!r} uses several values of {setting} ({sorted(values)}); augmeta has one.")
    return Policy.from_dict(
        {
            "schema_version": SCHEMA_VERSION,
            "name": path.stem,
            "description": f"Read from the albumentations file {path.name}.",
            "fill": list(next(iter(reader.fills), (0.0,))),
            "interpolation": next(iter(reader.interpolations), "nearest"),
            "subpolicies": subpolicies,
            "provenance": {"source": str(path), "method": "albumentations", "created_by": "augmeta.export"},
        },
        f"read from {str(path)!r}",
    )
