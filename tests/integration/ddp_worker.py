"""Run by tests/integration/test_ddp.py under torchrun: trains a tiny MLP with st.fit and writes its
parameters as rank{R}.safetensors into the folder given as argv[1]."""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from slimtorch.data.arrays import ArrayDataset
from slimtorch.training import TrainConfig, fit


def problem():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (64,), generator=g)
    x = torch.randn(3, 4, generator=g)[y] * 3 + torch.randn(64, 4, generator=g)
    torch.manual_seed(0)
    return ArrayDataset(x, y), nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def main(out: Path, batch_size: int) -> None:
    torch.set_num_threads(1)
    data, model = problem()
    cfg = TrainConfig(epochs=2, batch_size=batch_size, lr=0.1, momentum=0.9, clip_norm=1.0, seed=3, quiet=True,
                      device="cpu", out=str(out / "run"))
    hist = fit(model, data, cfg)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    tensors["loss"] = torch.tensor(hist.loss)
    save_file(tensors, str(out / f"rank{rank}.safetensors"))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
