"""Fresh augmented crops of a few photos, drawn on the fly: recovery data that does not run out.

A pruned model recovered by distillation on the same hundred crops every epoch learns those crops, not the
original's function (on other photos it did not improve at all). :class:`PhotoCrops` draws a new crop for
every row it is asked for: a random area share and aspect ratio of a random photo (as ImageNet training's
random resized crop), a mirror image half the time, brightness/contrast/saturation jitter, and with
probability ``mix`` a mixup with a crop of another photo (a "new" scene, as in function matching,
Beyer et al. 2022) - so a few photos give thousands of distinct inputs. Labels are -1: the teacher teaches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

import slimtorch.data.images as images


def bundled_photos(part: str = "calib", only: Sequence[int] | None = None) -> list[np.ndarray]:
    """The bundled photos of ``part`` (``images.sample_photos``' sets) as uint8 (H, W, 3) arrays, in its order.

    Args:
        part: "calib" or "eval" (disjoint photos).
        only: positions in that order to keep (say, the calibration photos that train, not those that validate).

    Raises:
        ValueError: an unknown part.
        MissingPackageError: a package that bundles one of the photos is not installed.
    """
    if part not in images._PHOTOS:
        raise ValueError(f"part must be one of {sorted(images._PHOTOS)}, got {part!r}")
    Image, out = images._pil(), []
    entries = images._PHOTOS[part]
    for i in range(len(entries)) if only is None else only:
        module, rel = entries[i]
        with Image.open(images.package_file(module, rel, images._PIP.get(module, module))) as im:
            out.append(np.asarray(im.convert("RGB")))
    return out


class PhotoCrops(Dataset):
    """``length`` rows per epoch, each a new augmented crop (``(3, size, size)`` normalised, label -1).

    Rows are drawn from a generator seeded by ``seed`` and the number of rows drawn so far, so a run that asks
    for them in the same order gets the same crops, and every epoch gets new ones.

    Args:
        photos: uint8 (H, W, 3) arrays (``bundled_photos``) or float (3, H, W) tensors in [0, 1].
        length: rows per epoch.
        size: output side.
        scale: range of the crop's share of the photo's area.
        jitter: brightness, contrast and saturation factors drawn from [1 - jitter, 1 + jitter].
        mix: probability of a mixup (weight uniform in [0, 0.5]) with a crop of another photo.
    """

    def __init__(
        self,
        photos: Sequence,
        length: int,
        size: int = 224,
        scale: tuple[float, float] = (0.1, 1.0),
        jitter: float = 0.3,
        mix: float = 0.5,
        seed: int = 0,
        mean: tuple[float, ...] = images.IMAGENET_MEAN,
        std: tuple[float, ...] = images.IMAGENET_STD,
    ):
        if not photos or length < 1 or not 0 < scale[0] <= scale[1] <= 1 or not 0 <= jitter < 1 or not 0 <= mix <= 1:
            raise ValueError(
                f"PhotoCrops needs photos, length >= 1, 0 < scale[0] <= scale[1] <= 1, jitter in [0, 1) "
                f"and mix in [0, 1]; got {len(photos)} photos, {length}, {scale}, {jitter}, {mix}"
            )
        self.photos = [_pil_image(p) for p in photos]
        self.length, self.size, self.scale, self.jitter, self.mix, self.seed = length, size, scale, jitter, mix, seed
        self.mean = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)
        self.drawn = 0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.drawn)
        self.drawn += 1
        k = int(torch.randint(len(self.photos), (1,), generator=gen))
        x = self._crop(self.photos[k], gen)
        if len(self.photos) > 1 and float(torch.rand(1, generator=gen)) < self.mix:
            j = (k + 1 + int(torch.randint(len(self.photos) - 1, (1,), generator=gen))) % len(self.photos)
            w = 0.5 * float(torch.rand(1, generator=gen))
            x = (1 - w) * x + w * self._crop(self.photos[j], gen)
        return torch.from_numpy((x - self.mean) / self.std), torch.tensor(-1)

    def _crop(self, photo, gen: torch.Generator) -> np.ndarray:
        """A random resized crop of ``photo`` (PIL), maybe mirrored, colour-jittered: (3, size, size) in [0, 1].

        The pixel arithmetic is numpy's: torch's multi-threaded kernels on one small image cost ~30x more
        CPU time (threads spinning) than the crop itself, and recovery budgets are counted in CPU seconds.
        """
        w, h = photo.size
        u = torch.rand(6, generator=gen).tolist()
        area = h * w * (self.scale[0] + (self.scale[1] - self.scale[0]) * u[0])
        aspect = float(np.exp(np.log(3 / 4) + (np.log(4 / 3) - np.log(3 / 4)) * u[1]))
        ch = min(h, max(1, round((area / aspect) ** 0.5)))
        cw = min(w, max(1, round((area * aspect) ** 0.5)))
        top, left = int(u[2] * (h - ch + 1)), int(u[3] * (w - cw + 1))
        patch = photo.resize((self.size, self.size), images._pil().BILINEAR, box=(left, top, left + cw, top + ch))
        x = np.asarray(patch, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)
        if u[4] < 0.5:
            x = x[:, :, ::-1]
        f = (1 - self.jitter + 2 * self.jitter * torch.rand(3, generator=gen)).numpy()
        x = x * f[0]  # brightness
        x = (x - x.mean()) * f[1] + x.mean()  # contrast
        grey = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
        return np.ascontiguousarray(np.clip((x - grey) * f[2] + grey, 0, 1), dtype=np.float32)  # saturation


def _pil_image(photo):
    """A uint8 (H, W, 3) array or a float (3, H, W) tensor in [0, 1] as an RGB PIL image."""
    if isinstance(photo, torch.Tensor):
        photo = (photo.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return images._pil().fromarray(np.ascontiguousarray(photo, dtype=np.uint8), "RGB")
