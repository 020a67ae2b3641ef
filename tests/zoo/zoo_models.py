"""The architecture zoo for pruning: tiny random-weight transformers models, our zoo, the op families.

Every entry builds ``(model, [input_a, input_b], classifier)``: two example inputs of different
shapes (batch and image size or sequence length) and the name of the output layer a peer pruner
must leave alone. Configs are tiny (hidden 32, two layers) so the whole zoo runs on two shared cores.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "pruning"))

TEXT = dict(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=64, num_labels=3, pad_token_id=0, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0)
VIT = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
           intermediate_size=64, num_labels=5, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
STAGES = dict(num_labels=5, hidden_sizes=[16, 32], depths=[1, 1])

VISION: dict[str, dict] = {
    "ViT": VIT,
    "DeiT": VIT,
    "Dinov2": {**VIT, "mlp_ratio": 2},
    "Beit": VIT,
    "Data2VecVision": VIT,
    "Swin": dict(image_size=32, patch_size=2, embed_dim=16, depths=[1, 1], num_heads=[2, 4], window_size=4,
                 num_labels=5),
    "Swinv2": dict(image_size=32, patch_size=2, embed_dim=16, depths=[1, 1], num_heads=[2, 4], window_size=4,
                   num_labels=5),
    "ConvNext": {**STAGES, "num_stages": 2},
    "ConvNextV2": {**STAGES, "num_stages": 2},
    "ResNet": dict(embedding_size=16, **STAGES),
    "RegNet": dict(embedding_size=16, groups_width=8, **STAGES),
    "MobileNetV2": dict(image_size=32, depth_multiplier=0.35, num_labels=5),
    "MobileNetV1": dict(image_size=32, depth_multiplier=0.25, num_labels=5),
    "EfficientNet": dict(image_size=32, width_coefficient=0.25, depth_coefficient=0.2, hidden_dim=320, num_labels=5),
    "FocalNet": dict(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], focal_levels=[2, 2],
                     focal_windows=[3, 3], num_labels=5),
    "PoolFormer": dict(num_encoder_blocks=2, hidden_sizes=[16, 32], depths=[1, 1], patch_sizes=[7, 3],
                       strides=[4, 2], padding=[2, 1], num_labels=5),
    "Segformer": dict(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32],
                      patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2],
                      num_labels=5),
    "Bit": dict(embedding_size=32, hidden_sizes=[32, 64], depths=[1, 1], num_groups=8, num_labels=5),
    "PvtV2": dict(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32],
                  patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2], num_labels=5),
}
# sequence classifiers; values override TEXT
LANGUAGE: dict[str, dict] = {
    "Bert": {}, "Roberta": {}, "Electra": {}, "Ernie": {}, "XLMRoberta": {}, "MPNet": {}, "ConvBert": {},
    "Albert": {"embedding_size": 16}, "DistilBert": {}, "DebertaV2": {}, "MobileBert": {"embedding_size": 16},
    "GPT2": {}, "GPTNeo": {"attention_types": [[["global", "local"], 1]], "num_layers": 2},
    "GPTNeoX": {}, "OPT": {"ffn_dim": 64, "word_embed_proj_dim": 32}, "Bloom": {},
    "Llama": {"num_key_value_heads": 4}, "Mistral": {"num_key_value_heads": 2}, "Qwen2": {"num_key_value_heads": 2},
    "Phi": {}, "Gemma": {"head_dim": 8, "num_key_value_heads": 2}, "StableLm": {"num_key_value_heads": 2},
    "Qwen3": {"head_dim": 8, "num_key_value_heads": 2}, "Falcon": {},
}


def _classifier(model: nn.Module, labels: int | None = None) -> str:
    """The output layer (which a peer pruner must ignore): the last Linear/conv with ``labels`` outputs."""
    layers = [(n, m) for n, m in model.named_modules() if isinstance(getattr(m, "weight", None), nn.Parameter)]
    hits = [n for n, m in layers if getattr(m, "out_features", getattr(m, "out_channels", None)) == labels]
    return hits[-1] if hits else layers[-1][0]


def _hf(kind: str, name: str, overrides: dict) -> Callable:
    def build():
        import transformers

        torch.manual_seed(0)
        base = TEXT if kind == "text" else {}
        cfg = getattr(transformers, f"{name}Config")(**{**base, **overrides})
        head = "ForSequenceClassification" if kind == "text" else "ForImageClassification"
        model = getattr(transformers, name + head)(cfg).eval()
        if kind == "text":
            gen = torch.Generator().manual_seed(0)
            xs = [torch.randint(1, 96, (2, 8), generator=gen), torch.randint(1, 96, (3, 12), generator=gen)]
        else:
            sizes = (32, 32) if hasattr(cfg, "patch_size") and name in ("ViT", "DeiT", "Beit", "Data2VecVision",
                                                                          "Dinov2") else (32, 48)
            xs = [torch.randn(2, 3, sizes[0], sizes[0]), torch.randn(3, 3, sizes[1], sizes[1])]
        return model, xs, _classifier(model, cfg.num_labels)

    return build


def _ours(name: str, shape: tuple, **kw) -> Callable:
    def build():
        import slimtorch as st

        torch.manual_seed(0)
        model = st.models.build(name, **kw).eval()
        return model, [torch.randn(2, *shape), torch.randn(3, *shape)], _classifier(model, kw.get("num_classes", 10))

    return build


def _family(name: str) -> Callable:
    def build():
        from prune_families import FAMILIES

        factory, inputs, _ = FAMILIES[name]
        torch.manual_seed(0)
        model = factory().eval()
        return model, inputs(), _classifier(model)

    return build


def zoo() -> dict[str, Callable]:
    """name -> builder of ``(model, [input_a, input_b], classifier name)``."""
    entries: dict[str, Callable] = {}
    for name, cfg in VISION.items():
        entries[f"hf/{name}"] = _hf("vision", name, cfg)
    for name, cfg in LANGUAGE.items():
        entries[f"hf/{name}"] = _hf("text", name, cfg)
    entries["ours/mobilenet_v2"] = _ours("mobilenet_v2", (3, 32, 32), num_classes=10, width_mult=0.5)
    entries["ours/resnet_cifar"] = _ours("resnet_cifar", (3, 32, 32), depth=8)
    entries["ours/lenet5"] = _ours("lenet5", (1, 28, 28))
    entries["ours/mnist_cnn"] = _ours("mnist_cnn", (1, 28, 28))
    from prune_families import FAMILIES

    for name in FAMILIES:
        entries[f"family/{name}"] = _family(name)
    return entries


def _outputs(model: nn.Module, x) -> list[torch.Tensor]:
    from slimtorch.pruning.graph import _tensors

    with torch.no_grad():
        return [t for t in _tensors(model(x)) if t.is_floating_point()]


def prune_and_check(model: nn.Module, xs: list, ratio: float = 0.5) -> dict:
    """Prune with ``st.prune`` and check the result against the test's own masked original on every input.

    Returns:
        ``{"status": "ok" | "crash" | "mismatch", "detail", "fraction" (of params removed), "seconds", "kept"}``
        where ``kept`` counts the PruneWarnings (parts left whole, each with its reason).
    """
    import copy
    import time
    import warnings

    from test_prune_families import masked_original
    from test_prune_verify import recorded_plan

    import slimtorch as st
    from slimtorch.bench import count_params
    from slimtorch.pruning import ChannelPrune, PruneWarning

    original, before = copy.deepcopy(model), count_params(model)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pruned = st.prune(model, ChannelPrune(ratio=ratio), example_inputs=xs)
    except Exception as err:
        return {"status": "crash", "detail": f"{type(err).__name__}: {err}"[:300], "fraction": 0.0,
                "seconds": time.perf_counter() - start, "kept": 0}
    seconds = time.perf_counter() - start
    result = {"status": "ok", "detail": "", "fraction": 1 - count_params(pruned) / before, "seconds": seconds,
              "kept": sum(issubclass(w.category, PruneWarning) for w in caught)}
    reference = masked_original(original, recorded_plan(pruned))
    for i, x in enumerate(xs):
        try:
            got, want = _outputs(pruned, x), _outputs(reference, x)
        except Exception as err:
            return {**result, "status": "crash", "detail": f"input #{i}: {type(err).__name__}: {err}"[:300]}
        for g, w in zip(got, want):
            scale = float(w.abs().max())
            if g.shape != w.shape or float((g - w).abs().max()) > 1e-4 * scale + 1e-5:
                return {**result, "status": "mismatch", "detail": f"input #{i}: differs from the masked original"}
    return result
