"""A tiny training run for the resume and multi-process tests.

`python train_toy.py OUT [--steps N ...]` trains a frozen-encoder + trainable-head toy model with `mmkd_nb.train.fit`
(resuming from OUT/checkpoints if there is a checkpoint), then writes OUT/rank_<r>.json for every process and
OUT/final.safetensors (the trainable parameters) from the main process. Runs alike under `python`, `torchrun`
and `accelerate launch`.
"""
import argparse, os, time
from pathlib import Path

import torch
from torch import nn


class Toy(nn.Module):
    "A frozen encoder and a trainable head; `forward(batch)` returns the loss and its parts."
    def __init__(self, dropout=0.0, sleep=0.0, mark=None):
        super().__init__()
        self.encoder = nn.Linear(8, 16).requires_grad_(False)
        self.head = nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, 1))
        self.sleep, self.mark, self.calls = sleep, mark, 0   # mark: (file, n) written at the n-th micro-batch

    def forward(self, batch):
        self.calls += 1
        if self.mark and self.calls == self.mark[1]: Path(self.mark[0]).write_text(str(os.getpid()))
        if self.sleep: time.sleep(self.sleep)  # slows the run down so that a test can kill it midway
        h = self.head(self.encoder(batch["x"])).squeeze(-1)
        mse = ((h - batch["y"]) ** 2).mean()
        l2 = (h ** 2).mean()
        return {"loss": mse + 1e-2 * l2, "mse": mse, "l2": l2}


def toy_data(n, seed=1):
    w = torch.randn(8, generator=torch.Generator().manual_seed(0)) / 8 ** 0.5
    x = torch.randn(n, 8, generator=torch.Generator().manual_seed(seed))
    y = torch.tanh(2 * x @ w) + 0.5 * x[:, 0]
    return [{"x": x[i], "y": y[i]} for i in range(n)]


def hang_in_checkpoint(train, out: Path, step: int, where: str):
    "Make the checkpoint of `step` hang before or after its folder is renamed (a test then kills the process)."
    commit = train._commit_dir
    def slow_commit(tmp, final):
        if final.name == train.step_name(step) and where == "before_rename":
            (out / "hanging").write_text(str(tmp)); time.sleep(600)
        commit(tmp, final)
        if final.name == train.step_name(step) and where == "after_rename":
            (out / "hanging").write_text(str(final)); time.sleep(600)
    train._commit_dir = slow_commit


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--n", type=int, default=96, help="samples in the data set")
    ap.add_argument("--batch-size", type=int, default=8, help="per process")
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--save-every", type=int, default=5)
    ap.add_argument("--log-every", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--sleep", type=float, default=0.0, help="seconds per micro-batch")
    ap.add_argument("--mark-at", type=int, default=0, help="write this process's pid to OUT/marked_<rank> at this micro-batch "
                                                           "(a test then signals the run)")
    ap.add_argument("--hang-at-step", type=int, default=-1)
    ap.add_argument("--hang-where", choices=["before_rename", "after_rename"], default="before_rename")
    a = ap.parse_args()

    from accelerate import PartialState
    from mmkd_nb import train
    from mmkd_nb.core import save_json, save_tensors
    out = Path(a.out)
    if a.hang_at_step >= 0: hang_in_checkpoint(train, out, a.hang_at_step, a.hang_where)
    cfg = train.TrainConfig.preset("tiny", max_steps=a.steps, batch_size=a.batch_size, grad_accum=a.grad_accum,
                                   save_every=a.save_every, log_every=a.log_every, out_dir=str(out))
    torch.manual_seed(0)
    model = Toy(a.dropout, a.sleep, (out / f"marked_{os.environ.get('RANK', '0')}", a.mark_at) if a.mark_at else None)
    res = train.fit(model, toy_data(a.n), cfg)
    state = PartialState()
    save_json({"rank": state.process_index, "world_size": state.num_processes, "pid": os.getpid(),
               "step": res.step, "resumed_from": res.resumed_from}, out / f"rank_{state.process_index}.json")
    if state.is_main_process: save_tensors(train.trainable_state(model), out / "final.safetensors")


if __name__ == "__main__":
    main()
