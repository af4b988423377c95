"""Data loading in real DataLoader worker processes: records and collators must survive "spawn"
(the default start method on macOS and Windows), and a worker must yield the batches the main process makes."""
import multiprocessing as mp
from PIL import Image
import torch
from torch.utils.data import DataLoader

from mmkd_nb.data import ImageTextPair, PairCollator, RecordDataset, image_transform, load_records, write_shards


def test_spawned_workers_batch_like_the_main_process(tmp_path):
    recs = [ImageTextPair(Image.new("RGB", (20, 16), (10 * i, 255 - 10 * i, 7)), f"a dax number {i}", id=f"c{i}") for i in range(8)]
    shards = write_shards(recs, tmp_path / "p-%03d.tar", "pair", maxcount=3)
    assert len(shards) == 3
    ds = RecordDataset.load(tmp_path / "p-%03d.tar", "pair")
    collate = PairCollator(None, image_transform(16))
    ref = list(DataLoader(ds, batch_size=4, collate_fn=collate))
    got = list(DataLoader(ds, batch_size=4, collate_fn=collate, num_workers=1, multiprocessing_context=mp.get_context("spawn")))
    assert [b["ids"] for b in got] == [b["ids"] for b in ref] == [[f"c{i}" for i in range(4)], [f"c{i}" for i in range(4, 8)]]
    for a, b in zip(got, ref):
        assert a["pixel_values"].shape == (4, 3, 16, 16)
        assert torch.equal(a["pixel_values"], b["pixel_values"])
    assert [r.text for r in load_records(shards, "pair")] == [r.text for r in recs]
