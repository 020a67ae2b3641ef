"""How large a timed batch may be: checked before it is built, so a typo cannot take the machine's memory."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from ..config import ConfigError

MAX_BATCH_VALUES = 1 << 28  # 1 GiB of float32 (64 images of 3x1024x1024 are 201M values)


def check_batch_sizes(batch_sizes: Iterable[int], sample_shape: Sequence[int], field: str = "batch_sizes") -> None:
    """Refuse batch sizes whose largest batch of ``sample_shape`` samples would exceed ``MAX_BATCH_VALUES``.

    Args:
        batch_sizes: the batch sizes to time.
        sample_shape: the shape of one sample (without the batch dimension).
        field: what the message calls the batch sizes (a recipe field, a CLI flag).

    Raises:
        ConfigError: (a ValueError) one line naming ``field``, the largest batch, its values and the allowed
            number of samples.

    Example:
        >>> check_batch_sizes([1, 64], [3, 32, 32])
    """
    largest, per_sample = max(batch_sizes), max(1, math.prod(sample_shape))
    if largest * per_sample > MAX_BATCH_VALUES:
        raise ConfigError(field, f"{largest:,} samples of {list(sample_shape)} make {largest * per_sample:,} values; "
                         f"allowed: at most {MAX_BATCH_VALUES:,} per batch (here up to "
                         f"{MAX_BATCH_VALUES // per_sample:,} samples)")
