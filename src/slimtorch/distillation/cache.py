"""Teacher outputs cached per dataset row, so a fixed dataset runs the teacher once, not once per epoch.

Valid only when row i always reaches the teacher as the same input (no random augmentation). Each row
also stores a fingerprint of its input (a fixed random projection) and a hit whose input changed raises,
so an augmented dataset is caught at the second epoch instead of silently training on stale targets.
"""

from __future__ import annotations

import torch

_FINGERPRINT_SEED = 20150309  # fixed: fingerprints must not depend on the global RNG


class TeacherCache:
    """Growable per-row storage of named teacher tensors (logits, features).

    Memory is rows × (size of one row of every cached tensor), kept on the device the outputs came from.

    Example:
        >>> cache = TeacherCache()
        >>> idx, x = torch.tensor([0, 1]), torch.randn(2, 3)
        >>> cache.put(idx, x, {"logits": torch.randn(2, 10)})
        >>> cache.get(idx, x)["logits"].shape
        torch.Size([2, 10])
    """

    def __init__(self, verify: bool = True):
        self.verify = verify
        self._store: dict[str, torch.Tensor] = {}
        self._filled = torch.zeros(0, dtype=torch.bool)
        self._prints = torch.zeros(0, dtype=torch.float64)
        self._proj: torch.Tensor | None = None
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return int(self._filled.sum())

    def get(self, indices: torch.Tensor, inputs: object = None) -> dict[str, torch.Tensor] | None:
        """All cached tensors for these rows, or None if any row is missing (the caller reruns the teacher).

        Raises:
            ValueError: ``verify`` is on and a cached row's input differs from the one it was stored with.
        """
        idx = indices.detach().reshape(-1).cpu().long()
        if len(idx) == 0 or int(idx.max()) >= len(self._filled) or not bool(self._filled[idx].all()):
            self.misses += 1
            return None
        if self.verify and isinstance(inputs, torch.Tensor):
            self._check(idx, inputs)
        self.hits += 1
        return {name: store[idx.to(store.device)] for name, store in self._store.items()}

    def put(self, indices: torch.Tensor, inputs: object, outputs: dict[str, torch.Tensor]) -> None:
        """Store ``outputs`` (each with the batch on dim 0) for these rows."""
        idx = indices.detach().reshape(-1).cpu().long()
        if len(idx) == 0:
            return
        self._grow(int(idx.max()) + 1, outputs)
        for name, value in outputs.items():
            store = self._store[name]
            if tuple(store.shape[1:]) != tuple(value.shape[1:]):
                raise ValueError(
                    f"teacher cache: {name!r} rows are {tuple(value.shape[1:])}, "
                    f"earlier {tuple(store.shape[1:])}; outputs must have a fixed shape per row"
                )
            store[idx.to(store.device)] = value.detach().to(store.dtype)
        self._filled[idx] = True
        if isinstance(inputs, torch.Tensor):
            self._prints[idx] = self._fingerprint(inputs)[0]

    def clear(self) -> None:
        """Forget everything (e.g. after the teacher changed)."""
        self.__init__(self.verify)

    def _grow(self, rows: int, outputs: dict[str, torch.Tensor]) -> None:
        if rows <= len(self._filled) and set(outputs) <= set(self._store):
            return
        cap = max(rows, 2 * len(self._filled))  # doubling keeps growth amortised O(1) per row
        for name, value in outputs.items():
            old = self._store.get(name)
            new = torch.zeros((cap, *value.shape[1:]), dtype=value.dtype, device=value.device)
            if old is not None:
                new[: len(old)] = old
            self._store[name] = new
        for name, old in list(self._store.items()):
            if len(old) < cap:
                new = torch.zeros((cap, *old.shape[1:]), dtype=old.dtype, device=old.device)
                new[: len(old)] = old
                self._store[name] = new
        filled = torch.zeros(cap, dtype=torch.bool)
        filled[: len(self._filled)] = self._filled
        prints = torch.zeros(cap, dtype=torch.float64)
        prints[: len(self._prints)] = self._prints
        self._filled, self._prints = filled, prints

    def _fingerprint(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per row: a fixed random projection (shifts and crops change it; a plain sum may not) and its scale."""
        flat = inputs.detach().reshape(len(inputs), -1).double()
        if self._proj is None or len(self._proj) != flat.shape[1] or self._proj.device != flat.device:
            gen = torch.Generator().manual_seed(_FINGERPRINT_SEED)
            self._proj = torch.randn(flat.shape[1], generator=gen, dtype=torch.float64).to(flat.device)
        return (flat @ self._proj).cpu(), (flat.abs() @ self._proj.abs()).cpu()

    def _check(self, idx: torch.Tensor, inputs: torch.Tensor) -> None:
        now, scale = self._fingerprint(inputs)
        bad = (now - self._prints[idx]).abs() > 1e-6 * scale + 1e-9
        if bool(bad.any()):
            row = int(idx[bad.nonzero()[0, 0]])
            raise ValueError(
                f"teacher cache: the input of dataset row {row} changed since it was cached; the data is augmented "
                "or the indices do not name dataset rows. Use cache=False for augmented data."
            )
