"""The reference integer-only backend (slow, exact): see ``quant/integer.py``."""

from __future__ import annotations

from ..integer import IntegerEngine


def make(qm) -> IntegerEngine:
    """An engine computing ``qm`` with integer arithmetic only."""
    return IntegerEngine(qm)
