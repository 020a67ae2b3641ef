"""PhotoCrops: fresh augmented crops of a few photos per row drawn; bundled_photos: the photo sets as arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slimtorch.data.images import IMAGENET_MEAN, IMAGENET_STD
from slimtorch.data.photo_crops import PhotoCrops, bundled_photos


def _flat(value: int, h: int = 40, w: int = 60) -> np.ndarray:
    return np.full((h, w, 3), value, dtype=np.uint8)


def test_a_flat_photo_without_jitter_gives_its_normalised_colour_everywhere():
    data = PhotoCrops([_flat(255)], length=3, size=16, jitter=0.0, mix=0.0)
    x, y = data[0]
    want = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert x.shape == (3, 16, 16) and int(y) == -1
    torch.testing.assert_close(x, want.view(3, 1, 1).expand(3, 16, 16), atol=1e-5, rtol=0)


def test_mixup_blends_another_photo_at_most_half():
    # photo 0 black, photo 1 white: a mixed row's brightness is the other photo's weight, in (0, 0.5]
    data = PhotoCrops([_flat(0), _flat(255)], length=64, size=8, jitter=0.0, mix=1.0, mean=(0, 0, 0), std=(1, 1, 1))
    levels = torch.stack([data[i][0].mean() for i in range(64)])
    minority = torch.where(levels < 0.5, levels, 1 - levels)
    assert bool((minority <= 0.5 + 1e-6).all()) and bool((minority > 0).any())
    assert bool((levels < 0.5).any()) and bool((levels > 0.5).any())  # both photos are drawn as the base


def test_rows_are_new_every_draw_and_repeat_for_the_same_seed():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    a, b = PhotoCrops([photo], 4, size=12, seed=3), PhotoCrops([photo], 4, size=12, seed=3)
    first = torch.stack([a[i][0] for i in range(4)])
    again = torch.stack([a[i][0] for i in range(4)])  # the next epoch: same indices, new crops
    assert not torch.allclose(first, again)
    torch.testing.assert_close(torch.stack([b[i][0] for i in range(4)]), first)


@pytest.mark.parametrize("kwargs", [{"length": 0}, {"scale": (0.5, 0.2)}, {"jitter": 1.0}, {"mix": 2.0}])
def test_bad_arguments_are_one_line(kwargs):
    with pytest.raises(ValueError, match="PhotoCrops needs"):
        PhotoCrops([_flat(1)], **{"length": 2, **kwargs})


def test_bundled_photos_keeps_the_chosen_positions_and_refuses_an_unknown_part():
    every = bundled_photos("eval")
    two = bundled_photos("eval", only=[3, 0])
    assert len(every) == 7 and all(p.dtype == np.uint8 and p.shape[2] == 3 for p in every)
    assert np.array_equal(two[0], every[3]) and np.array_equal(two[1], every[0])
    with pytest.raises(ValueError, match="part must be one of"):
        bundled_photos("train")
