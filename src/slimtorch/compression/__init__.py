"""Deep Compression (Han et al., ICLR 2016): weight sharing by k-means, then an entropy-coded file.

::

    model = st.share_weights(model, bits=5)                     # k-means per layer, zeros kept
    st.fit(model, train, cfg, hooks=[st.ShareWeights(bits=5)])  # fine-tune the shared values
    st.save(st.pack(model), "out/model")                        # codebooks + coded indices and gaps
    model = st.load("out/model")                                # the same dense weights

Recipe stages: ``share_weights: {bits: 5, epochs: 2}`` then ``pack``.
"""

from __future__ import annotations

from .hook import ShareWeights, ShareWeightsConfig
from .kmeans import kmeans_1d
from .packing import PackConfig, pack, packed_bytes
from .sharing import clusters, share_weights

__all__ = ["PackConfig", "ShareWeights", "ShareWeightsConfig", "clusters", "kmeans_1d", "pack", "packed_bytes",
           "share_weights"]
