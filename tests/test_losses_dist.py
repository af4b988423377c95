"""`clip_contrastive_loss(..., gather=True)` in two real processes (gloo on CPU): every rank's loss is the
one-process loss on the full batch, and gradients reach each rank's own features."""
import socket, tempfile, time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from mmkd_nb.losses import ClipContrastiveLoss, clip_contrastive_loss

WORLD, B_LOCAL, D, SCALE = 2, 5, 12, 14.0

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _full_batch():
    "The same features on every process: (W·B, D) each, float64 so comparisons can be tight."
    g = torch.Generator().manual_seed(0)
    return (torch.randn(WORLD * B_LOCAL, D, generator=g, dtype=torch.float64),
            torch.randn(WORLD * B_LOCAL, D, generator=g, dtype=torch.float64))

def _worker(rank, port, out_dir):
    "One rank: its half of the batch, the gathered loss and gradients, written to `out_dir/rank{r}.safetensors`."
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=60))
    try:
        from open_clip.loss import ClipLoss
        a, b = _full_batch()
        rows = slice(rank * B_LOCAL, (rank + 1) * B_LOCAL)
        la, lb = a[rows].clone().requires_grad_(), b[rows].clone().requires_grad_()
        s = torch.tensor(SCALE, dtype=torch.float64, requires_grad=True)
        loss = clip_contrastive_loss(la, lb, s, gather=True)
        loss.backward()
        out = {"loss": loss.detach().reshape(1), "grad_a": la.grad, "grad_b": lb.grad, "grad_s": s.grad.reshape(1)}

        # open_clip on the same local features: it takes normalised features, gathers with gradients, full-batch loss
        na, nb = a[rows].clone().requires_grad_(), b[rows].clone().requires_grad_()
        ref = ClipLoss(rank=rank, world_size=WORLD, gather_with_grad=True, local_loss=False)(
            torch.nn.functional.normalize(na, dim=-1), torch.nn.functional.normalize(nb, dim=-1), torch.tensor(SCALE, dtype=torch.float64))
        ref.backward()
        out.update(ref_loss=ref.detach().reshape(1), ref_grad_a=na.grad, ref_grad_b=nb.grad)

        # the module with gather=True runs the same path
        crit = ClipContrastiveLoss(init_temperature=1 / SCALE, gather=True).double()
        mod = crit(a[rows], b[rows])
        out.update(module_loss=mod.loss.detach().reshape(1), module_scale=mod.logit_scale.reshape(1))

        # unequal local batches: every rank raises the same error (no rank is left waiting in a collective)
        n = B_LOCAL if rank == 0 else B_LOCAL - 1
        try:
            clip_contrastive_loss(a[:n], b[:n], SCALE, gather=True); msg = ""
        except ValueError as e: msg = str(e)
        (Path(out_dir) / f"rank{rank}.err").write_text(msg)
        save_file({k: v.contiguous() for k, v in out.items()}, str(Path(out_dir) / f"rank{rank}.safetensors"))
    finally:
        dist.destroy_process_group()

def test_gathered_loss_equals_full_batch_loss():
    with tempfile.TemporaryDirectory() as out_dir:
        ctx = mp.start_processes(_worker, args=(_free_port(), out_dir), nprocs=WORLD, join=False, start_method="spawn")
        deadline = time.monotonic() + 120
        while not ctx.join(timeout=5):
            if time.monotonic() > deadline:
                for p in ctx.processes:
                    if p.is_alive(): p.kill()
                pytest.fail("the two ranks did not finish within 120 s")
        res = [load_file(str(Path(out_dir) / f"rank{r}.safetensors")) for r in range(WORLD)]
        errs = [(Path(out_dir) / f"rank{r}.err").read_text() for r in range(WORLD)]

    # one process holding the whole batch
    a, b = _full_batch()
    a.requires_grad_(); b.requires_grad_()
    s = torch.tensor(SCALE, dtype=torch.float64, requires_grad=True)
    full = clip_contrastive_loss(a, b, s)
    full.backward()

    for r, out in enumerate(res):
        rows = slice(r * B_LOCAL, (r + 1) * B_LOCAL)
        # every rank computes the full-batch loss itself
        torch.testing.assert_close(out["loss"][0], full.detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(out["module_loss"][0], clip_contrastive_loss(a.detach(), b.detach(), out["module_scale"][0]), rtol=0, atol=1e-12)
        # Gradients. Rank r's features enter the loss that each of the W ranks computes; the gather's backward sums
        # those W identical contributions and returns them to rank r, so rank r holds W · ∂L/∂(its rows). DDP then
        # averages parameter gradients over ranks, which divides by W again: the update equals the one-process update.
        torch.testing.assert_close(out["grad_a"], WORLD * a.grad[rows], rtol=0, atol=1e-12)
        torch.testing.assert_close(out["grad_b"], WORLD * b.grad[rows], rtol=0, atol=1e-12)
        # the scale is not gathered: each rank holds ∂L/∂s of the full loss, and the average over ranks is the same
        torch.testing.assert_close(out["grad_s"][0], s.grad, rtol=0, atol=1e-12)
        # open_clip's ClipLoss (gather_with_grad=True, local_loss=False) agrees on the loss and on the local gradients
        torch.testing.assert_close(out["ref_loss"], out["loss"], rtol=0, atol=1e-12)
        torch.testing.assert_close(out["ref_grad_a"], out["grad_a"], rtol=0, atol=1e-12)
        torch.testing.assert_close(out["ref_grad_b"], out["grad_b"], rtol=0, atol=1e-12)
    # sanity: gathering matters — a rank alone on its half would see a different (smaller-batch) loss
    half = clip_contrastive_loss(a[:B_LOCAL].detach(), b[:B_LOCAL].detach(), SCALE)
    assert abs(half.item() - full.item()) > 1e-3
    for r, msg in enumerate(errs):
        assert "same local batch size on every rank" in msg and f"[{B_LOCAL}, {B_LOCAL - 1}]" in msg, (r, msg)
