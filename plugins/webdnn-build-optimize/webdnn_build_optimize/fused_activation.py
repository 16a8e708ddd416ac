"""The fused-activation attribute contract: declared in the core, :mod:`webdnn_build.opdecl`
(kinds, parameters and their defaults); re-exported here for this package's passes and older imports."""

from __future__ import annotations

from webdnn_build.opdecl import (
    ACTIVATION_ATTRS,
    ACTIVATION_KINDS,
    ACTIVATION_OPS,
    ActivationKind,
    FusedActivation,
    activation_params,
    split_attrs,
)

__all__ = ["ACTIVATION_ATTRS", "ACTIVATION_KINDS", "ACTIVATION_OPS", "ActivationKind", "FusedActivation",
           "activation_params", "split_attrs"]
