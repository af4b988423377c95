"""The experiment scripts' machinery: seeds in parallel one-thread processes give the numbers a sequential run gives,
the results file records the workers, and the GPU script's commands are accepted by the scripts they call."""
import json, os, subprocess, sys
import pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def script(name: str, *args, timeout=1200, env=None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, str(ROOT / "experiments" / name), *args], capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
    assert r.returncode == 0, f"{name} {' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return r


def test_gpu_commands_parse():
    r = script("gpu.py", "--check", timeout=300)
    assert r.stdout.count("ok  ") == 3, r.stdout


def test_mmdc_seeds_in_parallel_match_sequential(tmp_path):
    "Two seeds in two one-thread processes give exactly the numbers of the same seeds run one after the other."
    env = {"MMKD_CACHE": str(tmp_path / "cache")}
    common = ["--preset", "tiny", "--arms", "main", "--seeds", "0", "1", "--threads", "1"]
    script("mmdc.py", *common, "--root", str(tmp_path / "seq"), "--out", str(tmp_path / "seq.json"), env=env)
    script("mmdc.py", *common, "--workers", "2", "--root", str(tmp_path / "par"), "--out", str(tmp_path / "par.json"),
           env=env)
    seq, par = (json.loads((tmp_path / f"{k}.json").read_text()) for k in ("seq", "par"))
    assert par["machine"]["workers"] == 2 and par["machine"]["threads"] == 1
    curve = lambda d, s: [c["world"]["accuracy"] for c in d["arms"]["main"]["seeds"][s]["curve"]]
    for s in ("0", "1"):
        assert curve(par, s) == curve(seq, s)
        assert par["arms"]["main"]["seeds"][s]["hists"] == seq["arms"]["main"]["seeds"][s]["hists"]
    assert par["arms"]["main"]["summary"] == seq["arms"]["main"]["summary"]


def _vikdf_doc(seed_results: dict, systems: list, command: str) -> dict:
    runs = [{"seed": s, "systems": systems, "results": res, "seconds": {k: 1.0 for k in res}, "total_seconds": 1.0}
            for s, res in seed_results.items()]
    return {"preset": "micro", "pretrain_steps": 900, "dialogue_overrides": {"steps": 120}, "encoder": "e",
            "systems": systems, "runs": runs, "complete": True, "seconds": 1.0, "command": command}


def test_merge_vikdf_unions_systems_per_seed(tmp_path):
    "Ablation rows run in separate calls join their seed; a row run twice must agree, and budgets must match."
    sys.path.insert(0, str(ROOT / "experiments"))
    from merge_vikdf import merge
    row = lambda b: {"BLEU-1": b, "attr_recall": b / 2, "ROUGE-L": b}
    a = _vikdf_doc({0: {"vikdf": row(.2), "vikdf-TIM": row(.1)}, 1: {"vikdf": row(.3), "vikdf-TIM": row(.2)}},
                   ["vikdf", "vikdf-TIM"], "a")
    b = _vikdf_doc({0: {"vikdf": row(.2), "vikdf-BVIF": row(.15)}, 1: {"vikdf": row(.3), "vikdf-BVIF": row(.25)}},
                   ["vikdf", "vikdf-BVIF"], "b")
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for p, d in zip(paths, (a, b)): p.write_text(json.dumps(d))
    out = merge([str(p) for p in paths])
    assert out["seeds"] == [0, 1] and out["systems"] == ["vikdf", "vikdf-TIM", "vikdf-BVIF"] and out["complete"]
    assert out["summary"]["vikdf-BVIF"]["BLEU-1"][0] == 0.2 and out["summary"]["vikdf"]["BLEU-1"][2] == 2
    assert out["commands"] == ["a", "b"]
    b["runs"][1]["results"]["vikdf"] = row(.31)                  # the same seed and system with other numbers
    paths[1].write_text(json.dumps(b))
    with pytest.raises(ValueError, match="seed 1 system 'vikdf'"): merge([str(p) for p in paths])
    b["pretrain_steps"] = 450
    paths[1].write_text(json.dumps(b))
    with pytest.raises(ValueError, match="pretrain_steps"): merge([str(p) for p in paths])


def test_mmdc_teacher_object_eval(tmp_path):
    """The teacher sweep writes per-seed accuracies and the intervals against the blind baselines; --object-eval adds,
    to the same file, each teacher's accuracy on the tier-1 questions asked about 'the object', beside chance; a file
    of another config is refused."""
    env = {"MMKD_CACHE": str(tmp_path / "cache"), "MMKD_SHIPPED": "0"}
    common = ["--preset", "tiny", "--steps", "2", "--seeds", "0", "1", "--root", str(tmp_path / "runs"),
              "--out", str(tmp_path / "t.json")]
    script("mmdc_teacher.py", *common, env=env)
    doc = json.loads((tmp_path / "t.json").read_text())
    assert sorted(doc["runs"]["2"]) == ["0", "1"] and "all" in doc["summary"]["2"]
    assert "tier1_object" not in doc["runs"]["2"]["0"]["world"]
    script("mmdc_teacher.py", *common, "--object-eval", env=env)
    doc = json.loads((tmp_path / "t.json").read_text())
    for seed in ("0", "1"):
        o = doc["runs"]["2"][seed]["world"]["tier1_object"]
        assert o["n"] > 0 and 0 <= o["accuracy"] <= 1 and set(o["chance"]) <= {"seen", "heldout"} and o["chance"]
        assert all(0 < v <= 1 for v in o["chance"].values())
    assert doc["commands"][-1].endswith("--object-eval") and len(doc["commands"]) == 2
    r = subprocess.run([sys.executable, str(ROOT / "experiments" / "mmdc_teacher.py"), *common, "--object-eval",
                        "--set", "teacher_lr=0.5"], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, **env}, timeout=600)
    assert r.returncode != 0 and "another config" in r.stderr, r.stderr[-2000:]
    # each teacher's answers per question group, summing to the group's size; the gold answers' counts and record kinds
    counts = {seed: doc["runs"]["2"][seed]["world"]["answer_counts"] for seed in ("0", "1")}
    sizes = {g: sum(v.values()) for g, v in doc["gold_counts"].items()}
    assert all({g: sum(v.values()) for g, v in c.items()} == sizes for c in counts.values())
    assert sum(sizes.values()) == doc["n_test"]
    assert doc["train_kinds"] and all(n > 0 for n in doc["train_kinds"].values())
    del doc["gold_counts"], doc["runs"]["2"]["0"]["world"]["answer_counts"]
    (tmp_path / "t.json").write_text(json.dumps(doc))
    script("mmdc_teacher.py", *common, "--answer-counts", env=env)          # backfilled from the run folders
    back = json.loads((tmp_path / "t.json").read_text())
    assert {seed: back["runs"]["2"][seed]["world"]["answer_counts"] for seed in ("0", "1")} == counts
    assert "gold_counts" in back and back["commands"][-1].endswith("--answer-counts")
    for seed in ("0", "1"):   # per group and concept split: the group's accuracy when its cells are pooled
        w = back["runs"]["2"][seed]["world"]
        for g, acc in w["by_group"].items():
            cells = [c for k, c in w["by_group_concepts"].items() if k.rsplit("/", 1)[0] == g]
            assert abs(sum(c["accuracy"] * c["n"] for c in cells) / sum(c["n"] for c in cells) - acc) < 1e-9
    # tier-2 answers by whose value they name: every tier-2 question counted once, the gold ones all the asked object's
    t2 = {g: n for g, c in back["gold_counts"].items() if g.startswith("t2/") for n in [sum(c.values())]}
    assert sum(sum(c.values()) for c in back["tier2_gold"].values()) == sum(t2.values())
    assert all(c["partner"] == c["other"] == 0 for c in back["tier2_gold"].values()) and 0.5 <= back["tier2_ceiling"] <= 1
    for seed in ("0", "1"):
        w = back["runs"]["2"][seed]["world"]
        assert {k: sum(c.values()) for k, c in w["tier2_objects"].items()} == \
               {k: sum(c.values()) for k, c in back["tier2_gold"].items()}
        for g in t2:   # a right answer names the asked object's value (or the shared one)
            cells = [c for k, c in w["tier2_objects"].items() if k.split("/")[0] == g.split("/")[1]]
            assert sum(c["target"] for c in cells) <= round(w["by_group"][g] * t2[g]) <= sum(c["target"] + c["same"] for c in cells)
    # fresh position questions about novel objects: counted, split by the grid's rows, beside chance and the majority
    script("mmdc_teacher.py", *common, "--position-eval", "12", env=env)
    pos = json.loads((tmp_path / "t.json").read_text())
    assert pos["commands"][-1].endswith("--position-eval 12")
    from mmkd_nb.world import POSITIONS
    for seed in ("0", "1"):
        p = pos["runs"]["2"][seed]["position_eval"]
        assert p["n"] == 12 and sum(p["answer_counts"].values()) == 12 and sum(p["gold_counts"].values()) == 12
        assert set(p["gold_counts"]) <= set(POSITIONS) and abs(p["chance"] - 1 / 9) < 1e-12
        assert p["majority"] == max(p["gold_counts"].values()) / 12 and p["row_right"] >= p["accuracy"]
        rows = {r: sum(n for g, n in p["gold_counts"].items() if g.split()[0] == r or
                       (r == "middle" and g.split()[0] not in ("top", "bottom"))) for r in ("top", "middle", "bottom")}
        assert abs(sum(p["by_row"][r] * n for r, n in rows.items() if n) / 12 - p["accuracy"]) < 1e-9
    # a linear probe of the object's cell at the tower, the projector and every LLM layer
    script("mmdc_teacher.py", *common, "--position-probe", "12", env=env)
    pr = json.loads((tmp_path / "t.json").read_text())["runs"]["2"]["0"]["position_probe"]
    assert pr["n_train"] == 12 and pr["n_test"] == 4 and abs(pr["chance"] - 1 / 9) < 1e-12
    assert {"tower", "projected", "tower, order-free", "projected, order-free", "llm 0"} <= set(pr["stages"])
    assert all(0 <= v["test"] <= 1 and v["n_test"] == 4 for v in pr["stages"].values())
    # probed again: a stage it has is kept, one it lacks is fitted (here: the order-free ones, dropped first)
    doc = json.loads((tmp_path / "t.json").read_text())
    for r in doc["runs"]["2"].values():
        for k in ("tower, order-free", "projected, order-free"): del r["position_probe"]["stages"][k]
    (tmp_path / "t.json").write_text(json.dumps(doc))
    script("mmdc_teacher.py", *common, "--position-probe", "12", env=env)
    again = json.loads((tmp_path / "t.json").read_text())["runs"]["2"]["0"]["position_probe"]
    assert again["stages"] == pr["stages"]
    # a partner-scratchpad teacher: its tier-2 replies read step by step; a file of plain teachers is refused
    r = subprocess.run([sys.executable, str(ROOT / "experiments" / "mmdc_teacher.py"), *common, "--partner-eval"],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env}, timeout=600)
    assert r.returncode != 0 and "teacher_scratch_partner" in r.stderr, r.stderr[-2000:]
    part = ["--preset", "tiny", "--steps", "2", "--seeds", "0", "--root", str(tmp_path / "partner"),
            "--out", str(tmp_path / "p.json"), "--set", "teacher_scratch_partner=true"]
    script("mmdc_teacher.py", *part, env=env)
    script("mmdc_teacher.py", *part, "--partner-eval", env=env)
    tp = json.loads((tmp_path / "p.json").read_text())["runs"]["2"]["0"]["world"]["tier2_partner"]
    n2 = sum(c["n"] for c in tp["by_split"].values())
    assert n2 == len(tp["replies"]) > 0 and all(0 <= v <= 1 for c in tp["by_split"].values() for k, v in c.items() if k != "n")


def test_grid_row():
    sys.path.insert(0, str(ROOT / "experiments"))
    from mmdc_teacher import grid_row
    assert [grid_row(p) for p in ("top left", "top", "left", "centre", "right", "bottom right", "near", "")] == \
           ["top", "top", "middle", "middle", "middle", "bottom", "", ""]


def test_token_scale():
    "The projected tokens' mean norm and the word embeddings' mean norm, computed on the model's own parts."
    import torch
    sys.path.insert(0, str(ROOT / "experiments"))
    from mmdc_teacher import token_scale
    from PIL import Image
    from mmkd_nb.mmdc.run import MmDCConfig, build_teacher
    t = build_teacher(MmDCConfig.preset("tiny", teacher_token_norm=True))
    ims = [Image.new("RGB", (32, 32), c) for c in ((200, 30, 30), (30, 30, 200))]
    got = token_scale(t, ims)
    E = t.lm.llm.get_input_embeddings().weight.detach().float()
    assert abs(got["word_norm"] - E.norm(dim=-1).mean().item()) < 1e-5
    with torch.no_grad(): h = t.image_tokens(ims)
    assert abs(got["image_token_norm"] - h.norm(dim=-1).mean().item()) < 1e-4
    # token_norm=True: every token has the RMS of the word embeddings at the start
    assert abs(got["image_token_norm"] - E.pow(2).mean().sqrt().item() * h.shape[-1] ** 0.5) < 1e-3 * got["image_token_norm"]


def _teacher_doc(seeds: dict, command: str, config=None) -> dict:
    "A results file of `mmdc_teacher.py` with one budget (480) and the given seed → (accuracy, tier-1 accuracy)."
    blind = {"accuracy": 0.4, "by_tier": {"1": 0.5, "2": 0.3}}
    rep = lambda a, t1: {"world": {"accuracy": a, "by_tier": {"1": t1, "2": 2 * a - t1}}}
    return {"preset": "tiny", "config": config or {"teacher_lr": 0.001}, "n_test": 10, "command": command,
            "baselines": {"world": {"majority of train": blind, "majority": blind}},
            "runs": {"480": {str(s): rep(*v) for s, v in seeds.items()}}, "seconds": {f"480-s{s}": 1.0 for s in seeds}}


def test_mmdc_teacher_merge(tmp_path):
    "Seeds trained in separate processes join into one file whose summary is over all of them; mismatches are refused."
    ins = [tmp_path / f"s{s}.json" for s in range(3)]
    for s, p in enumerate(ins):
        p.write_text(json.dumps(_teacher_doc({s: (0.6 + 0.02 * s, 0.6)}, f"train --seeds {s}")))
    out = tmp_path / "all.json"
    script("mmdc_teacher.py", "--out", str(out), "--merge", *map(str, ins[::-1]))
    doc = json.loads(out.read_text())
    assert list(doc["runs"]["480"]) == ["0", "1", "2"] and set(doc["seconds"]) == {"480-s0", "480-s1", "480-s2"}
    assert doc["commands"] == ["train --seeds 2", "train --seeds 1", "train --seeds 0"]
    s = doc["summary"]["480"]
    assert abs(s["all"]["teacher"] - 0.62) < 1e-12 and abs(s["all"]["majority"]["diff"]["mean"] - 0.22) < 1e-12
    assert abs(s["1"]["majority"]["diff"]["mean"] - 0.1) < 1e-12 and s["all"]["majority"]["verdict"] == "effect"
    sys.path.insert(0, str(ROOT / "experiments"))
    from mmdc_teacher import merge
    ins[1].write_text(json.dumps(_teacher_doc({0: (0.55, 0.6)}, "again")))        # seed 0 again, other numbers
    with pytest.raises(ValueError, match="480 steps seed 0"): merge([str(ins[0]), str(ins[1])])
    ins[1].write_text(json.dumps(_teacher_doc({0: (0.6, 0.6)}, "again")))         # the same teacher twice: kept once
    assert list(merge([str(ins[0]), str(ins[1])])["runs"]["480"]) == ["0"]
    ins[2].write_text(json.dumps(_teacher_doc({2: (0.7, 0.6)}, "x", config={"teacher_lr": 0.01})))
    with pytest.raises(ValueError, match="'config' differs"): merge([str(ins[0]), str(ins[2])])
    # a file written before a config field existed joins one that records the field at its default
    ins[2].write_text(json.dumps(_teacher_doc({2: (0.7, 0.6)}, "x", config={"teacher_lr": 0.001, "teacher_scratch_partner": False})))
    both = merge([str(ins[0]), str(ins[2])])
    assert list(both["runs"]["480"]) == ["0", "2"] and both["config"]["teacher_scratch_partner"] is False
    ins[2].write_text(json.dumps(_teacher_doc({2: (0.7, 0.6)}, "x", config={"teacher_lr": 0.001, "teacher_scratch_partner": True})))
    with pytest.raises(ValueError, match="'config' differs"): merge([str(ins[0]), str(ins[2])])


def test_linear_probe():
    "The probe reads a class that is linearly in the features, finds nothing in features unrelated to it, checks shapes."
    import torch
    sys.path.insert(0, str(ROOT / "experiments"))
    from mmdc_teacher import linear_probe
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 9, (800,), generator=g)
    x = torch.randn(800, 40, generator=g)
    x[:, :9] += 5.0 * torch.nn.functional.one_hot(y, 9)                      # the class in 9 of 40 dimensions
    p = linear_probe(x[:600], y[:600], x[600:], y[600:], 9)
    assert p["test"] > 0.9 and p["n_train"] == 600 and p["n_test"] == 200 and p["l2"] in p["val"]
    noise = torch.randn(800, 40, generator=g)                                 # features that know nothing of y
    q = linear_probe(noise[:600], y[:600], noise[600:], y[600:], 9)
    assert q["test"] < 0.2 and q["train"] > q["test"]                         # chance is 1/9
    with pytest.raises(ValueError, match="one label per row"): linear_probe(x[:600], y[:500], x[600:], y[600:], 9)


def test_probe_features_batched():
    "Left-padded batches give each record the features it gets alone: the tower's, the projector's, every LLM layer's."
    import torch
    sys.path.insert(0, str(ROOT / "experiments"))
    from mmdc_teacher import probe_features
    from mmkd_nb.mmdc.run import MmDCConfig, build_teacher, novel_questions
    from mmkd_nb.world import WorldConfig, make_world
    cfg = MmDCConfig.preset("tiny")
    recs = novel_questions(make_world(WorldConfig.preset(cfg.world)), 5, "probe-test", qtypes=("position",))
    m = build_teacher(cfg)
    a, b = probe_features(m, recs, batch=3), probe_features(m, recs, batch=1)
    n_layers = m.lm.llm.config.num_hidden_layers
    image = {"tower", "projected", "tower, order-free", "projected, order-free"}
    assert set(a) == {*image, *(f"llm {l}" for l in range(n_layers + 1))}
    P = m.encoder.n_image_tokens - 1
    assert a["tower"].shape == (5, P * m.encoder.dim) and a["projected"].shape == (5, P * m.lm.d_llm)
    assert a["tower, order-free"].shape == (5, 2 * m.encoder.dim) and a["projected, order-free"].shape == (5, 2 * m.lm.d_llm)
    for k in a: torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    c = probe_features(m, recs, batch=3, llm=False)   # the image stages alone, the same numbers
    assert set(c) == image and all(torch.equal(c[k], a[k]) for k in image)


def test_order_free():
    "Mean and max over the tokens: blind to their order, not to what they hold."
    import torch
    sys.path.insert(0, str(ROOT / "experiments"))
    from mmdc_teacher import order_free
    x = torch.randn(3, 16, 5, generator=torch.Generator().manual_seed(0))            # (B, P, D)
    f = order_free(x)
    assert f.shape == (3, 10)
    torch.testing.assert_close(f, order_free(x[:, torch.randperm(16)]))
    torch.testing.assert_close(f[:, :5], x.mean(1)); torch.testing.assert_close(f[:, 5:], x.max(1).values)
    y = x.clone(); y[0, 3] += 1.0                                                       # one token changed
    assert not torch.allclose(order_free(y)[0], f[0]) and torch.equal(order_free(y)[1:], f[1:])


def _teacher_script():
    import importlib.util
    spec = importlib.util.spec_from_file_location("mmdc_teacher_script", ROOT / "experiments" / "mmdc_teacher.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tier2_objects():
    "Tier-2 answers sorted by whose value they name, by concept split; the ceiling of a perfect reader who excludes."
    from mmkd_nb.data import VQARecord
    m = _teacher_script()
    obj = lambda name, colour, shape: dict(concept=name, colour=colour, shape=shape, size="small", position="left")
    rec = lambda i, a, b, q, tier=2: VQARecord(None, f"q{i}", a[q], id=f"r{i}",
                                               meta=dict(tier=tier, qtype=q, objects=[a, b]))
    held = {"dax", "wug"}
    recs = [rec(0, obj("zib", "red", "circle"), obj("kiki", "blue", "cross"), "colour"),   # both seen
            rec(1, obj("dax", "red", "circle"), obj("kiki", "blue", "cross"), "colour"),   # asked unknown, other known
            rec(2, obj("dax", "red", "circle"), obj("kiki", "blue", "cross"), "shape"),
            rec(3, obj("dax", "red", "circle"), obj("wug", "green", "circle"), "shape"),   # both unknown, same shape
            rec(4, obj("dax", "red", "circle"), obj("wug", "green", "cross"), "colour"),   # both unknown
            rec(5, obj("dax", "red", "circle"), obj("wug", "green", "cross"), "colour", tier=1)]
    got = m.tier2_objects(["Red.", "blue", "square", "circle", "green", "x"], recs, held)
    assert got == {"colour/seen": dict(target=1, partner=0, other=0, same=0),
                   "colour/heldout, partner seen": dict(target=0, partner=1, other=0, same=0),
                   "shape/heldout, partner seen": dict(target=0, partner=0, other=1, same=0),
                   "shape/heldout, partner heldout": dict(target=0, partner=0, other=0, same=1),
                   "colour/heldout, partner heldout": dict(target=0, partner=1, other=0, same=0)}
    # a perfect reader: right on the four it can decide (or where the values agree), a coin on record 4
    assert m.tier2_ceiling(recs, held) == (4 + 0.5) / 5
    assert m.tier2_ceiling(recs, set()) == 1.0
    with pytest.raises(ValueError, match="r9 .*expected the asked object"):
        m.tier2_objects(["red"], [VQARecord(None, "q", "red", id="r9", meta=dict(tier=2, qtype="colour"))], held)
    with pytest.raises(ValueError, match="2 answers for 6 records"):
        m.tier2_objects(["red", "blue"], recs, held)


def test_partner_eval():
    "A partner-scratchpad reply read step by step: the other object named, its value stated, and what the answer names."
    from mmkd_nb.data import VQARecord
    m = _teacher_script()
    assert m.partner_parts("kiki top left: bottom") == ("kiki", "top left", "bottom")
    assert m.partner_parts("red") == (None, None, "red")
    obj = lambda name, colour, shape: dict(concept=name, colour=colour, shape=shape, size="small", position="left")
    rec = lambda i, a, b, q, tier=2: VQARecord(f"img{i}", f"q{i}", a[q], id=f"r{i}", meta=dict(tier=tier, qtype=q, objects=[a, b]))
    recs = [rec(0, obj("dax", "red", "circle"), obj("kiki", "blue", "cross"), "colour"),   # named, excluded: right
            rec(1, obj("dax", "red", "circle"), obj("kiki", "blue", "cross"), "shape"),    # named, then its own value again
            rec(2, obj("zib", "red", "circle"), obj("kiki", "blue", "cross"), "colour"),   # seen; no scratchpad written
            rec(3, obj("dax", "red", "circle"), obj("kiki", "blue", "cross"), "colour", tier=1)]
    said = {"img0": "kiki blue: red", "img1": "kiki cross: cross", "img2": "red", "img3": "never asked"}
    class Scribe:
        def generate(self, images, prompts, max_new_tokens=6, keep_scratch=False):
            assert keep_scratch and len(images) == len(prompts) == 3
            return [said[im] for im in images]
    got = m.partner_eval(Scribe(), recs, {"dax"})
    assert got["replies"] == ["kiki blue: red", "kiki cross: cross", "red"]
    assert got["by_split"] == {
        "heldout, partner seen": dict(named_partner=1.0, partner_value=1.0, answer_target=0.5, answer_partner=0.5,
                                      answer_named=0.5, n=2),
        "seen": dict(named_partner=0.0, partner_value=0.0, answer_target=1.0, answer_partner=0.0, answer_named=0.0, n=1)}
    with pytest.raises(ValueError, match="no tier-2 record"):
        m.partner_eval(Scribe(), recs[3:], {"dax"})
