"""The size objective's last step: weight sharing with fine-tuned centroids, saved entropy-coded (Deep Compression).

After the channel search (and the int8 step), the chosen fp32 candidate's conv/linear weights are clustered
to 2^bits shared values per layer (``st.share_weights``), the centroids are fine-tuned for one epoch on the
search's training rows (the ``ShareWeights`` hook), and ``st.pack`` makes ``st.save`` write codebooks plus
entropy-coded indices. The model keeps its shapes, so it runs as fast as the fp32 candidate; it is scored on
validation like any other candidate (with the safety margin) and chosen when it passes and saves fewer bytes
than the current choice. Widths are tried widest first (``BITS``) and the narrower one only if the wider passed.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import torch

from ..bench.counts import count_params, saved_bytes
from .latency_table import BACKENDS
from .margin import judged
from .trial import Trial, time_models

BITS = (5, 4)
LR_FACTOR = 0.1  # a centroid's gradient sums its members': a tenth of the recovery's learning rate (hook docs)


def share_config(bits: int, lr: float) -> dict[str, Any]:
    """The recipe's stages for a shared candidate: fine-tuned sharing, then the packed format."""
    return {"bits": bits, "epochs": 1, "lr": lr}


def share_trial(res: Any, fp32: Trial, fit_data: Any, train: Any, val_score: Callable, x: torch.Tensor,
                bits: int) -> Trial:
    """``fp32``'s model shared at ``bits`` (centroids fine-tuned one epoch at ``LR_FACTOR`` x the recovery lr),
    packed, scored on validation (``val_score.judge``: with the standard error of its drop) and timed."""
    from ..compression import ShareWeights, pack
    from ..training import fit

    t0 = time.perf_counter()
    lr = round(train.lr * LR_FACTOR, 8)
    model = copy.deepcopy(fp32.model).train()
    fit(model, fit_data, train.replace(epochs=1, lr=lr, quiet=True), hooks=[ShareWeights(bits=bits)])
    model = pack(model.eval())
    val, se = judged(val_score, model)
    ms, base_ms = time_models({"s": model}, res.baseline.model, x, BACKENDS, repeats=5)
    return Trial(len(res.trials) + 1, fp32.keep, val, count_params(model), saved_bytes(model), ms["s"], base_ms,
                 seconds=time.perf_counter() - t0, se=se, share=share_config(bits, lr), model=model,
                 epochs=fp32.epochs)
