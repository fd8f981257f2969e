"""``Policy``: the validated policy model plus sampling, batched per-sample application and atomic saving."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from pydantic import PrivateAttr

from augmeta.ops import as_float_batch, restore_layout
from augmeta.policy.applier import ApplyPath, apply_draws
from augmeta.policy.errors import shown, validated
from augmeta.policy.sampler import CompiledPolicy, Draws, compile_policy, sample
from augmeta.policy.schema import PolicyModel
from augmeta.utils import atomic_write_text

__all__ = ["Policy", "PolicyAugmentation"]

_YAML_SUFFIXES = (".yaml", ".yml")


class Policy(PolicyModel):
    """An augmentation policy (see :class:`PolicyModel` for the fields).

    Build one with :meth:`from_dict` or :func:`augmeta.load_policy`; both raise :class:`PolicyError` on bad input.
    """

    _compiled: dict[str, CompiledPolicy] = PrivateAttr(default_factory=dict)
    _offered: tuple[str, ...] | None = PrivateAttr(default=None)

    @classmethod
    def from_dict(cls, data: Any, source: str = "from a dict") -> Policy:
        """Validate ``data`` (the parsed file) strictly; raise :class:`PolicyError` naming each bad field."""
        return validated(cls, data, source)

    def __eq__(self, other: object) -> bool:
        """Policies are equal when their files would be: the per-device sampling cache is not compared."""
        if not isinstance(other, PolicyModel):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # mutable-looking lists inside; compare with ==

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if data["provenance"].get("learned_on") is None:  # files without it stay as they were
            data["provenance"].pop("learned_on", None)
        return data

    def check_images(self, channels: int, height: int, width: int) -> None:
        """Warn (once per message, as Python's warnings do) when images differ in channels from those the policy
        was ``learned_on``: a policy learned on grey images offers no colour op, one learned on colour images
        assumes colour. A different size is not warned about: geometric ops scale with the image."""
        learned = self.provenance.learned_on
        if learned is not None and learned.channels != channels:
            warnings.warn(
                f"policy {shown(self.name)} was learned on {learned.channels}-channel images ({learned.dataset}, "
                f"{learned.image_size[0]}x{learned.image_size[1]}) and is applied to {channels}-channel images "
                f"({height}x{width}); it may not suit them.",
                UserWarning,
                stacklevel=3,
            )

    def to_json(self) -> str:
        """The canonical text: sorted keys, two-space indent, final newline (load -> save -> load is byte-identical)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, allow_nan=False) + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the policy atomically, as JSON (or YAML for ``.yaml``/``.yml``)."""
        path = Path(path)
        if path.suffix.lower() in _YAML_SUFFIXES:
            import yaml

            text = yaml.safe_dump(self.to_dict(), sort_keys=True, allow_unicode=True)
        else:
            text = self.to_json()
        return atomic_write_text(path, text)

    def compiled(self, device: torch.device | str = "cpu") -> CompiledPolicy:
        """The sampling tables on ``device`` (built once per device)."""
        key = str(torch.device(device))
        if key not in self._compiled:
            self._compiled[key] = compile_policy(self, device)
        return self._compiled[key]

    def sample(
        self, batch_size: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> Draws:
        """Per-sample draws for ``batch_size`` images, made on ``device``."""
        return sample(self.compiled(device), batch_size, generator)

    def offered_ops(self) -> tuple[str, ...]:
        """The ops any step of the policy can draw, sorted (what the masked path runs a pass for)."""
        if self._offered is None:
            self._offered = tuple(
                sorted({choice.op for sub in self.subpolicies for step in sub.steps for choice in step.ops})
            )
        return self._offered

    def apply_draws(
        self, images: torch.Tensor, draws: Draws, inplace: bool = False, *, path: ApplyPath = "auto"
    ) -> torch.Tensor:
        """Apply given draws to float ``[B, C, H, W]`` images in [0, 1] (no randomness: replayable).

        ``images`` is left as it is unless ``inplace`` says the caller hands its batch over. ``path``: ``grouped``,
        ``masked``, ``compiled`` or ``auto`` (:mod:`augmeta.policy.applier`); the result is the same.
        """
        return apply_draws(
            images, draws, tuple(self.fill), self.interpolation, inplace, ops=self.offered_ops(), path=path
        )

    def apply(
        self, images: torch.Tensor, generator: torch.Generator | None = None, *, path: ApplyPath = "auto"
    ) -> torch.Tensor:
        """Augment each image with its own draw of sub-policy, gates, ops and magnitudes.

        Args:
            images: ``[C, H, W]`` or ``[B, C, H, W]``, C = 1 or 3; uint8 in [0, 255] or float in [0, 1].
                Not modified.
            generator: optional ``torch.Generator`` for the draws (its device is used to draw).
            path: how the draws are applied (:meth:`apply_draws`).

        Returns:
            Augmented images of the same shape, dtype and device.
        """
        batch, dtype, added = as_float_batch(images)
        self.check_images(*batch.shape[1:])
        draws = self.sample(batch.shape[0], batch.device, generator)
        fresh = batch is not images and batch.data_ptr() != images.data_ptr()  # converted from uint8: ours
        return restore_layout(self.apply_draws(batch, draws, inplace=fresh, path=path), dtype, added)


class PolicyAugmentation(torch.nn.Module):
    """``nn.Module`` wrapper: ``forward(images)`` is ``policy.apply(images)``; identity in eval mode if asked."""

    def __init__(self, policy: Policy, *, train_only: bool = False) -> None:
        super().__init__()
        self.policy = policy
        self.train_only = train_only

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.train_only and not self.training:
            return images
        return self.policy.apply(images, generator)

    def extra_repr(self) -> str:
        return f"policy={self.policy.name!r}, subpolicies={len(self.policy.subpolicies)}"
