"""Weight sharing: at most 2^bits values per layer, zeros kept, per-layer widths, idempotent, clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import slimtorch as st
from slimtorch.compression import clusters, kmeans_1d, share_weights
from slimtorch.pruning.masks import prunable


def _net():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4))
    st.prune(model, st.MagnitudePrune(sparsity=0.7))
    return model


def test_each_layer_takes_its_kmeans_centroids_and_keeps_its_zeros():
    model = _net()
    before = {n: p.detach().clone() for n, p in prunable(model).items()}
    share_weights(model, bits=3)
    for name, p in prunable(model).items():
        w0 = before[name]
        assert torch.equal(p == 0, w0 == 0)  # the pruning mask is untouched
        centroids, labels = kmeans_1d(w0[w0 != 0], 8)  # the oracle: k-means of the nonzero weights
        torch.testing.assert_close(p[w0 != 0], centroids.float()[labels])
        assert clusters(p)[0].numel() <= 8


def test_bits_per_layer_by_name_or_regex_first_match_wins():
    model = _net()
    share_weights(model, bits={"0": 2, "[0-9]": 4})
    counts = {n: clusters(p)[0].numel() for n, p in prunable(model).items()}
    assert counts["0.weight"] <= 4 and 4 < counts["2.weight"] <= 16 and counts["4.weight"] <= 16
    model = _net()
    share_weights(model, bits={"2": 1})  # layers not named are left as they are
    assert clusters(model[2].weight)[0].numel() <= 2 and clusters(model[0].weight)[0].numel() > 100


def test_shared_layers_are_left_exactly_as_they_are():
    model = share_weights(_net(), bits=4)
    again = {k: v.clone() for k, v in model.state_dict().items()}
    share_weights(model, bits=4)
    share_weights(model, bits=5)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in again.items())


def test_clusters_reads_codebook_and_index_back_from_the_weights():
    w = torch.tensor([[0.0, -0.5, 0.25], [0.25, 0.0, 1.0]])
    codebook, index = clusters(w)
    assert codebook.tolist() == [-0.5, 0.25, 1.0]
    assert index.tolist() == [[-1, 0, 1], [1, -1, 2]]


@pytest.mark.parametrize("bits, match", [(0, r"bits: got 0; allowed: an integer in \[1, 8\]"),
                                          (9, r"bits: got 9"), (True, "bits: got True"),
                                          ({"fc9": 4}, "'fc9' matches no conv/linear layer; layers: 0, 2, 4"),
                                          ({"0": 12}, r"bits.0: got 12")])
def test_bad_bits_are_one_line_errors(bits, match):
    with pytest.raises(ValueError, match=match):
        share_weights(_net(), bits=bits)


def test_unknown_init_names_the_allowed_ones():
    with pytest.raises(ValueError, match="init: got 'kmeans'; allowed: linear, density, random"):
        share_weights(_net(), bits=4, init="kmeans")


@pytest.mark.parametrize("make, match", [
    (lambda: st.quantize(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).eval(), st.Int8(),
                         calib_data=[torch.randn(4, 8)]),
     "nothing to share in QuantizedModel: it has no float conv/linear"),
    (lambda: nn.Sequential(nn.ReLU()), "nothing to share in Sequential: it has no float conv/linear"),
])
def test_a_model_without_float_weights_to_share_is_refused(make, match):
    with pytest.raises(ValueError, match=match):  # it was returned unchanged, as if shared
        share_weights(make(), bits=2)


def test_ignoring_every_layer_is_refused():
    with pytest.raises(ValueError, match="every conv/linear layer is in ignore"):
        share_weights(_net(), bits=2, ignore=(".*",))
