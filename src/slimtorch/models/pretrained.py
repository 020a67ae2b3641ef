"""Load pretrained weights shipped in offline packages (``torch.load(weights_only=True)`` only)."""

from __future__ import annotations

import torch
from torch import nn

from ..data.offline import package_file


def load_shipped(model: nn.Module, module: str, relpath: str, pip_name: str) -> nn.Module:
    """Load the state dict file ``relpath`` of installed package ``module`` into ``model`` (strict keys).

    Raises:
        MissingPackageError: the package is not installed (names ``pip_name``).
        RuntimeError: the checkpoint's keys or shapes do not match the model.
    """
    path = package_file(module, relpath, pip_name)
    state = torch.load(path, weights_only=True, map_location="cpu")
    model.load_state_dict(state, strict=True)
    return model
