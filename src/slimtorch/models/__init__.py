"""Model zoo: ``build(name, **kwargs)`` for mlp, lenet300, lenet5, lenet5_caffe, resnet_cifar, mobilenet_v2, mnist_cnn.

Pretrained weights come only from installed offline packages and load with ``weights_only=True``.

Example:
    >>> import slimtorch as st
    >>> model = st.models.build("lenet5", num_classes=10)
"""

from . import lenet, minilm, mlp, mnist_cnn, mobilenet_v2, resnet_cifar  # noqa: F401  (each registers itself in the zoo)
from .zoo import build, names, register_model, signature

__all__ = ["build", "names", "register_model", "signature"]
