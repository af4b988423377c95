"""Data loading in real DataLoader worker processes: records and collators must survive "spawn"
(the default start method on macOS and Windows), and a worker must yield the batches the main process makes.
And the loaders lose nothing silently: a shard cut anywhere, and unknown fields from every source."""
import io, json, tarfile, warnings
import multiprocessing as mp
import datasets
import webdataset as wds
from PIL import Image
import torch
from torch.utils.data import DataLoader

from mmkd_nb.data import (ImageTextPair, PairCollator, RecordDataset, RecordError, UnknownFieldWarning, image_to_png,
                          image_transform, iter_shards, load_records, write_shards)


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


def _pairs(n):
    return [ImageTextPair(Image.new("RGB", (8, 8), (9 * i, 0, 0)), f"pair {i}", id=f"p{i}") for i in range(n)]


def test_a_shard_cut_anywhere_gives_every_record_or_an_error_naming_it(tmp_path):
    """Cut at any 256-byte step, a shard reads whole (only when the cut keeps its end marker) or raises a RecordError
    naming it; the records read before the error are the shard's first ones, unchanged."""
    recs = _pairs(12)
    raw = write_shards(recs, tmp_path / "s-%03d.tar", "pair")[0].read_bytes()
    with tarfile.open(fileobj=io.BytesIO(raw)) as t: last = t.getmembers()[-1]
    end = last.offset_data + -(-last.size // 512) * 512 + 512   # the first zero block read: nothing is missing
    cut = tmp_path / "cut.tar"
    for n in range(0, len(raw) + 1, 256):
        cut.write_bytes(raw[:n])
        got, err = [], None
        try:
            for r in iter_shards(cut, "pair"): got.append(r)
        except RecordError as e: err = str(e)
        assert [(r.id, r.text, r.image.getpixel((0, 0))) for r in got] == \
               [(r.id, r.text, r.image.getpixel((0, 0))) for r in recs[:len(got)]], n
        if n >= end: assert err is None and len(got) == len(recs), (n, err)
        else: assert err is not None and err.startswith(str(cut)), (n, len(got))


def test_unknown_fields_are_kept_alike_by_every_source(tmp_path):
    "A jsonl line, a shard sample and a 🤗 row with the same extra fields give the same meta and one warning each."
    png = image_to_png(Image.new("RGB", (8, 8), (1, 2, 3)))
    (tmp_path / "a.png").write_bytes(png)
    rows = [{"id": f"r{i}", "text": f"t{i}", "license": i, "url": f"u{i}"} for i in range(3)]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({**r, "image": "a.png"}) + "\n" for r in rows))
    with wds.TarWriter(str(tmp_path / "a.tar")) as w:
        for r in rows: w.write({"__key__": r["id"], "png": png, "json": json.dumps(r).encode()})
    hf = datasets.Dataset.from_dict({"image": [png] * 3, **{k: [r[k] for r in rows] for k in rows[0]}})
    for source in (tmp_path / "a.jsonl", tmp_path / "a.tar", hf):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = load_records(source, "pair")
        assert [(r.id, r.text, r.meta) for r in got] == \
               [(f"r{i}", f"t{i}", {"extra": {"license": i, "url": f"u{i}"}}) for i in range(3)], source
        assert [w.category for w in caught] == [UnknownFieldWarning], source
        assert "unknown field(s) ['license', 'url'] kept in meta['extra']" in str(caught[0].message)
