"""Registry: one name per algorithm, one handler per config class."""

from dataclasses import dataclass

import pytest

from slimtorch import registry
from slimtorch.config import Config, ConfigError


@registry.register("_test_algo", kind="_test")
@dataclass(frozen=True)
class _Algo(Config):
    x: int = 1


@registry.handler(_Algo)
def _apply(model, cfg, ctx):
    return model * cfg.x + (ctx.data or 0)


def test_lookup_by_name_and_handler_dispatch():
    assert registry.config_class("_test_algo") is _Algo
    assert registry.get_handler(_Algo(x=3))(2, _Algo(x=3), registry.HandlerContext()) == 6
    assert registry.get_handler(_Algo(x=3))(2, _Algo(x=3), registry.HandlerContext(data=1)) == 7
    assert registry.names("_test") == ["_test_algo"]


def test_handler_context_is_frozen_and_empty_by_default():
    ctx = registry.HandlerContext()
    assert (ctx.example_inputs, ctx.calib_data, ctx.data, ctx.loss_fn, ctx.baseline) == (None,) * 5
    with pytest.raises(AttributeError):
        ctx.data = 1


def test_every_registered_handler_takes_model_cfg_ctx():
    import inspect

    from slimtorch.recipe import import_algorithms

    import_algorithms()
    pipeline_own = set(registry.names("measure") + registry.names("export"))  # run by the pipeline, no handler
    for name in sorted(set(registry.names()) - pipeline_own):
        cls = registry.config_class(name)
        params = list(inspect.signature(registry.get_handler(cls.__new__(cls))).parameters.values())
        assert [p.name for p in params][1:] == ["cfg", "ctx"], (name, params)
        assert len(params) == 3 and all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params), (name, params)


@pytest.mark.parametrize("cfg, needs", [
    ("channel_prune", {}), ("magnitude_prune", {}), ("int8", {"needs_calibration", "terminal"}),
    ("dynamic_int8", {"terminal"}), ("qat", {"terminal"}), ("distill", {"needs_baseline"}), ("fold_bn", {}),
])
def test_configs_declare_their_needs(cfg, needs):
    from slimtorch.recipe import import_algorithms

    import_algorithms()
    c = registry.config_class(cfg)()
    declared = {a for a in ("needs_baseline", "needs_labels", "needs_calibration", "terminal") if getattr(c, a)}
    assert declared == set(needs)


def test_needs_that_depend_on_a_field():
    from slimtorch.distillation import DistillConfig
    from slimtorch.pruning import ChannelPrune
    from slimtorch.quantization import DynamicInt8

    assert ChannelPrune(importance="taylor").needs_labels and not ChannelPrune(importance="l1").needs_labels
    assert DynamicInt8(smooth=0.5).needs_calibration
    assert not DistillConfig(teacher="some/folder").needs_baseline


def test_duplicate_name_raises():
    with pytest.raises(ValueError, match="already registered by _Algo"):

        @registry.register("_test_algo")
        @dataclass(frozen=True)
        class Other(Config):
            pass


def test_unknown_name_lists_known_ones():
    with pytest.raises(ConfigError, match=r"nope: unknown algorithm; known: .*_test_algo"):
        registry.config_class("nope")


def test_missing_handler_raises():
    @dataclass(frozen=True)
    class Lonely(Config):
        pass

    with pytest.raises(TypeError, match="no handler registered for Lonely"):
        registry.get_handler(Lonely())


def test_verbs_reject_configs_of_another_kind():
    import torch

    import slimtorch as st

    with pytest.raises(TypeError, match=r"st.prune takes one of: ChannelPrune \(channel_prune\), .*got Int8"):
        st.prune(torch.nn.Linear(2, 2), st.Int8())
    with pytest.raises(TypeError, match=r"got GradualPruneConfig, a hook config: pass it to st.fit\(hooks=\[...\]\)"):
        st.prune(torch.nn.Linear(2, 2), st.pruning.GradualPruneConfig())


def test_old_import_paths_warn_and_alias_the_new_modules():
    import importlib
    import sys

    import slimtorch as st
    import slimtorch.pruning.graph as graph

    for old in [m for m in sys.modules if m.split(".")[:2] in (["slimtorch", "prune"], ["slimtorch", "quant"])]:
        del sys.modules[old]
    with pytest.warns(DeprecationWarning, match="slimtorch.prune is deprecated"):
        old_pkg = importlib.import_module("slimtorch.prune")
    assert old_pkg.ChannelPrune is st.ChannelPrune
    import torch

    model = st.models.build("mlp", widths=(8, 6, 3))
    small = old_pkg(model, st.ChannelPrune(ratio=0.5), example_inputs=torch.randn(2, 8))  # the old callable package
    assert sum(p.numel() for p in small.parameters()) < 8 * 6 + 6 + 6 * 3 + 3
    assert importlib.import_module("slimtorch.prune.graph") is graph
    assert graph.__spec__.name == "slimtorch.pruning.graph"
    with pytest.warns(DeprecationWarning, match="slimtorch.quant is deprecated"):
        from slimtorch.quant import Int8
    assert Int8 is st.Int8
