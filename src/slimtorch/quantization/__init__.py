"""Quantization: observers, fake quant (QAT), BN folding, PTQ, the integer-only engine, int8 backends.

    qmodel = st.quantize(model, st.Int8(per_channel=True, observer="percentile"), calib_data=train)
    history = st.fit(model, train, cfg, hooks=[st.QAT(st.Int8(weight_bits=4))]); qmodel = history.model
    st.export_onnx(qmodel, "model.onnx")
"""

from .dynamic import DynamicInt8, DynamicLinear, quantize_dynamic
from .errors import UnsupportedModelError
from .fake import FakeQuant, fake_quantize, lsq_fake_quantize
from .fold import FoldBN, fold_batchnorm
from .integer import IntegerEngine
from .observers import make_observer
from .onnx_export import export_onnx
from .ptq import Int8, quantize
from .qat import QAT, QATConfig
from .qmodel import QuantizedModel
from .qparams import choose_qparams, quantize_multiplier, requantize, rounding_rshift
from .sensitivity import sensitivity

__all__ = ["quantize", "Int8", "QAT", "QATConfig", "DynamicInt8", "DynamicLinear", "quantize_dynamic", "FoldBN",
           "fold_batchnorm", "sensitivity", "export_onnx", "QuantizedModel", "IntegerEngine", "FakeQuant",
           "fake_quantize", "lsq_fake_quantize", "make_observer", "choose_qparams", "quantize_multiplier",
           "requantize", "rounding_rshift", "UnsupportedModelError"]
