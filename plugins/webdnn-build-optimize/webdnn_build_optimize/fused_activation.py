"""The fused-activation attribute contract (docs/bundle-format.md, docs/passes.md).

``fuse_activation`` writes these attributes onto the producing op; backends apply
the activation to the op's result; :mod:`webdnn_build_optimize.onnx_bridge` turns
them back into a separate ONNX node. This module is the one place that spells
them out.

=============  ==========================================================
``fused_activation``  ``"Relu"``, ``"LeakyRelu"``, ``"Clip"``, ``"Sigmoid"``,
                ``"Tanh"`` or ``"HardSigmoid"``
LeakyRelu       ``fused_activation_alpha`` (float)
HardSigmoid     ``fused_activation_alpha``, ``fused_activation_beta`` (floats)
Clip            ``fused_activation_min``, ``fused_activation_max`` (floats, always both;
                a bound the model leaves open is the largest finite value of
                the output dtype, so the manifest stays valid JSON)
=============  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

#: the activations ``fuse_activation`` knows how to fuse
ACTIVATION_OPS = ("Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid")

#: every attribute name that belongs to the contract
ACTIVATION_ATTRS = ("fused_activation", "fused_activation_alpha", "fused_activation_beta", "fused_activation_min", "fused_activation_max")


@dataclass(frozen=True)
class FusedActivation:
    """An activation read off (or to be written onto) a producing op."""

    op_type: str
    alpha: Optional[float] = None
    beta: Optional[float] = None
    min: Optional[float] = None
    max: Optional[float] = None

    def to_attrs(self) -> dict[str, Any]:
        """The attributes to set on the producer."""
        attrs: dict[str, Any] = {"fused_activation": self.op_type}
        for key, val in (("fused_activation_alpha", self.alpha), ("fused_activation_beta", self.beta),
                         ("fused_activation_min", self.min), ("fused_activation_max", self.max)):
            if val is not None:
                attrs[key] = float(val)
        return attrs

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> Optional["FusedActivation"]:
        """The fused activation described by ``attrs``, or None when there is none."""
        op = attrs.get("fused_activation")
        if not op:
            return None
        if isinstance(op, bytes):
            op = op.decode()

        def num(key: str) -> Optional[float]:
            return float(attrs[key]) if key in attrs and attrs[key] is not None else None

        return cls(str(op), num("fused_activation_alpha"), num("fused_activation_beta"), num("fused_activation_min"), num("fused_activation_max"))


def split_attrs(attrs: dict[str, Any]) -> tuple[dict[str, Any], Optional[FusedActivation]]:
    """``attrs`` without the contract's keys, and the fused activation they described."""
    rest = {k: v for k, v in attrs.items() if k not in ACTIVATION_ATTRS}
    return rest, FusedActivation.from_attrs(attrs)
