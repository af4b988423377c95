"""The benchmark scripts run end to end on the `tiny` preset (one timed step, one process per arm) and write
result files whose rows agree with themselves. They start processes of their own, so they are tested here, not in
a notebook; nothing here asserts a speed."""
import json, math, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--presets", "tiny", "--steps", "1", "--warmup", "0", "--threads", "1"]


def run(script: str, out: Path, *extra) -> dict:
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *FAST, "--out", str(out), *extra],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"{script} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    assert "| tiny |" in r.stdout, "no markdown table printed"
    return json.loads(next(out.glob(script.replace(".py", "-*.json"))).read_text())


def check_rows(res: dict, arms: list):
    rows = {r["arm"]: r for r in res["rows"]}
    assert list(rows) == arms
    base = rows[res["base_arm"]]
    for r in rows.values():
        assert r["step_s_median"] > 0 and len(r["repeats"][0]["step_s_all"]) == 1
        assert r["time_ratio"] == pytest.approx(r["step_s_median"] / base["step_s_median"])
        assert r["cpu_ratio"] == pytest.approx(r["cpu_s_median"] / base["cpu_s_median"])
        assert 0 < r["cpu_s_median"] <= r["step_s_median"] * 1.05 + 0.01    # one thread cannot use more CPU than wall time
        assert r["mem_ratio"] == pytest.approx(r["peak_mem_mb"] / base["peak_mem_mb"])
        assert r["first_loss"] == r["first_loss"] and r["first_loss"] > 0      # a finite, positive loss
        assert r["cpu_ratio_repeats"] == pytest.approx([r["cpu_ratio"]])         # one repeat: its ratio is the ratio
    for k in ("command", "date", "torch", "load_avg_1min", "seconds"): assert k in res["meta"]
    return rows


def test_repeat_ratios_pair_processes_by_repeat():
    "Per-repeat CPU ratios pair the i-th process of an arm with the i-th of its reference; pooled medians differ."
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import add_ratios
    rep = lambda *cpu: [dict(cpu_s_all=list(c)) for c in cpu]
    rows = [dict(preset="p", arm="a", repeats=rep((1.0, 1.2, 1.1), (2.0, 2.0, 2.2)), step_s_median=1, cpu_s_median=1.6, peak_mem_mb=1),
            dict(preset="p", arm="b", repeats=rep((1.1, 1.3, 1.2), (2.4, 2.3, 2.2)), step_s_median=1, cpu_s_median=1.75, peak_mem_mb=1)]
    add_ratios(rows, "a", {"b": "a"})
    assert rows[1]["cpu_ratio_repeats"] == pytest.approx([1.2 / 1.1, 2.3 / 2.0])
    assert rows[1]["cpu_ratio_ref_repeats"] == rows[1]["cpu_ratio_repeats"]
    assert rows[0]["cpu_ratio_repeats"] == pytest.approx([1.0, 1.0])
    assert rows[1]["cpu_ratio"] == pytest.approx(1.75 / 1.6)


def test_vikdf_benchmark(tmp_path):
    res = run("vikdf.py", tmp_path, "--repeats", "1")
    rows = check_rows(res, ["base", "llm", "distill", "vikdf"])
    assert res["base_arm"] == "base" and rows["base"]["trainable_params"] == rows["llm"]["trainable_params"] == 0
    assert 0 < rows["distill"]["trainable_params"] < rows["vikdf"]["trainable_params"]
    assert rows["vikdf"]["use_bvif"] and not rows["distill"]["use_bvif"]
    assert rows["vikdf"]["encoder"]["trained"] is False and rows["vikdf"]["encoder"]["digest"]


def test_mks2_benchmark(tmp_path):
    res = run("mks2.py", tmp_path, "--repeats", "1")
    rows = check_rows(res, ["llm", "mvm", "momes", "lora", "storage-base", "storage"])
    assert rows["storage-base"]["trainable_params"] == 0 < rows["storage"]["trainable_params"]
    assert rows["storage"]["ref_arm"] == "storage-base" and rows["storage"]["tokens"] == rows["storage-base"]["tokens"]
    assert rows["storage"]["image_tokens"] == rows["storage-base"]["image_tokens"] > 0        # the base runs the same shapes
    L, D = rows["mvm"]["layers"], rows["mvm"]["d_model"]
    assert rows["mvm"]["trainable_params"] == 3 * L * D * rows["mvm"]["d_memory"]        # gated memory D -> D_m -> D per block
    for arm in ("mvm", "momes"):
        r = rows[arm]
        assert r["ref_arm"] == "lora" and r["time_ratio_ref"] == pytest.approx(r["step_s_median"] / rows["lora"]["step_s_median"])
    assert rows["momes"]["rank"] == rows["lora"]["rank"] > 0


def test_mmdc_benchmark(tmp_path):
    res = run("mmdc.py", tmp_path, "--repeats", "1", "--profile")
    rows = check_rows(res, ["base", "student"])
    assert rows["base"]["trainable_params"] == 0 < rows["student"]["trainable_params"]
    assert rows["base"]["tokens"] == rows["student"]["tokens"]
    assert rows["base"]["image_tokens"] == rows["student"]["image_tokens"] > 0
    for r in rows.values():                     # the profile splits the step and names its top operators
        p = r["profile"]
        assert p["total_ms"] > 0 and p["forward_ms"] > 0 and p["backward_ms"] > 0 and p["top"]
        assert p["forward_ms"] + p["backward_ms"] + p["optimizer_ms"] == pytest.approx(p["total_ms"])
    assert rows["student"]["profile"]["optimizer_ms"] > 0 == rows["base"]["profile"]["optimizer_ms"]


def test_teacher_benchmark(tmp_path):
    "The teacher in fp32 and in bf16 on the same sequences as their base; bf16's first loss is fp32's to bf16 precision."
    res = run("teacher.py", tmp_path, "--repeats", "1")
    rows = check_rows(res, ["base", "teacher", "teacher-bf16"])
    assert rows["base"]["trainable_params"] == 0 < rows["teacher"]["trainable_params"] == rows["teacher-bf16"]["trainable_params"]
    assert len({(r["tokens"], r["image_tokens"]) for r in rows.values()}) == 1 and rows["base"]["image_tokens"] > 0
    assert (rows["teacher"]["bf16"], rows["teacher-bf16"]["bf16"]) == (False, True)
    r = rows["teacher-bf16"]
    assert r["ref_arm"] == "teacher" and r["cpu_ratio_ref"] == pytest.approx(r["cpu_s_median"] / rows["teacher"]["cpu_s_median"])
    assert r["first_loss"] == pytest.approx(rows["teacher"]["first_loss"], rel=0.01)   # same weights, same batch


def test_activation_measure():
    "What benchmarks/memory.py extrapolates from: a block's saved values per token and unit width do not change with width or length."
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import memory
    w = [memory.words_per_token("plain", width=d, T=t) for d, t in ((128, 32), (256, 64), (512, 32))]
    assert max(w) - min(w) < 0.02 * min(w) and 10 < w[0] < 20
    assert memory.words_per_token("mvm", width=128, T=32) > w[0]                 # the memory keeps its own activations
    assert memory.words_per_token("plain", width=128, T=32, checkpointing=True) == pytest.approx(1.0)   # only the input
    # the estimate: weights 2 bytes, trainable 16 bytes per parameter, activations linear in the batch
    run = dict(batch=2, passes=[100], scored=10, variant="plain", trainable=10**6, frozen_llm=10**9, frozen_other=0)
    words = {"plain": w[1]}
    e, e2 = memory.estimate(run, words, {"plain": 1.0}), memory.estimate({**run, "batch": 4}, words, {"plain": 1.0})
    assert e["frozen"] == pytest.approx(2e9 / 2**30) and e["trainable"] == pytest.approx(16e6 / 2**30)
    assert e2["activations"] == pytest.approx(2 * e["activations"])
    assert memory.estimate(run, words, {"plain": 1.0}, checkpointing=True)["activations"] < e["activations"]


def test_prefix_benchmark(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "prefix.py"), *FAST, "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"prefix.py failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    res = json.loads((tmp_path / "prefix-cpu.json").read_text())
    assert [x["arm"] for x in res["rows"]] == ["plain", "prefix"] and res["rows"][1]["prefix"] == 32


def test_ratio_interval_and_goal_verdict():
    "The interval is Student's t on the logs of the per-repeat ratios, mapped back; the verdict reads its two ends."
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import ratio_interval, goal_verdict
    logs = [0.1, 0.2, 0.3, 0.0]                    # mean 0.15, sd 0.12910, t(0.975, 3) = 3.182446
    iv = ratio_interval([math.exp(x) for x in logs])
    half = 3.182446 * 0.1290994 / 2
    assert iv["ratio"] == pytest.approx(math.exp(0.15)) and iv["n"] == 4
    assert (iv["low"], iv["high"]) == pytest.approx((math.exp(0.15 - half), math.exp(0.15 + half)), rel=1e-5)
    assert ratio_interval([1.2, 1 / 1.2])["ratio"] == pytest.approx(1.0)                  # symmetric in log space
    same = ratio_interval([1.1, 1.1, 1.1])
    assert same["low"] == pytest.approx(1.1) and same["high"] == pytest.approx(1.1)
    assert [goal_verdict(dict(low=lo, high=hi), 1.15) for lo, hi in ((1.0, 1.15), (1.16, 1.3), (1.1, 1.2))] == \
        ["met", "missed", "inconclusive"]
    with pytest.raises(ValueError, match="expected >= 2"): ratio_interval([1.1])


def test_select_arms():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import select_arms
    import mks2
    assert select_arms(mks2.ARMS, None, "llm", mks2.REF) == mks2.ARMS
    assert select_arms(mks2.ARMS, ["momes", "storage"], "llm", mks2.REF) == ["llm", "momes", "lora", "storage-base", "storage"]
    with pytest.raises(SystemExit, match="unknown arm"): select_arms(mks2.ARMS, ["moe"], "llm", mks2.REF)


def test_goals_benchmark(tmp_path):
    "goals.py runs only the goals' arms of the three scripts, and each goal's interval is over its per-repeat ratios."
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "goals.py"), "--preset", "tiny", "--repeats", "2",
                        "--steps", "1", "--warmup", "0", "--threads", "1", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, f"goals.py failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    res = json.loads((tmp_path / "goals-cpu-tiny.json").read_text())
    assert [[x["arm"] for x in res["results"][s]["rows"]] for s in ("vikdf", "mks2", "mmdc")] == \
        [["base", "vikdf"], ["llm", "momes", "lora", "storage-base", "storage"], ["base", "student"]]
    mks2 = {x["arm"]: x for x in res["results"]["mks2"]["rows"]}
    momes = next(g for g in res["goals"] if g["arm"] == "momes")
    assert momes["ratios"] == pytest.approx(mks2["momes"]["cpu_ratio_ref_repeats"])   # the same pairing as the script's
    assert momes["interval"] == pytest.approx(mks2["momes"]["cpu_ratio_ref_interval"])
    assert momes["interval"]["ratio"] == pytest.approx(math.prod(momes["ratios"]) ** 0.5)
    for g in res["goals"]:
        assert g["interval"]["n"] == 2 and g["interval"]["low"] <= g["interval"]["ratio"] <= g["interval"]["high"]
        assert g["verdict"] in ("met", "missed", "inconclusive") and f"| {g['name']} |" in res["table"]
    assert "| MKS2 MoMEs step / plain LoRA |" in r.stdout


def test_count_flops_matches_the_matrix_products():
    "count_flops: 2 FLOPs per multiply-add of every matrix product, forward and backward, CPU attention included."
    import torch
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import count_flops
    B, i, o = 4, 8, 16
    lin, x = torch.nn.Linear(i, o), torch.randn(B, i, requires_grad=True)
    f = count_flops(lambda: lin(x).sum().backward())
    assert f["total"] == 3 * 2 * B * i * o                     # forward, grad of the input, grad of the weight
    lin.requires_grad_(False)
    assert count_flops(lambda: lin(x).sum().backward())["total"] == 2 * 2 * B * i * o   # a frozen weight: no weight grad
    b, h, s, d = 2, 3, 5, 8
    q = torch.randn(b, h, s, d, requires_grad=True)
    att = lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q).sum().backward()
    f = count_flops(att)
    # forward: QK^T and PV (2 products of b·h·s·s·d multiply-adds); backward: the scores again, dV, dP, dQ, dK (5)
    assert f["total"] == (2 + 5) * 2 * b * h * s * s * d
    assert set(f["by_op"]) == {"_scaled_dot_product_flash_attention_for_cpu",
                               "_scaled_dot_product_flash_attention_for_cpu_backward"}


def test_goals_flops(tmp_path):
    "goals.py --flops: one step per arm under the FLOP counter; each goal's ratio is its arm's FLOPs over its reference's."
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "goals.py"), "--preset", "tiny", "--flops",
                        "--threads", "1", "--out", str(tmp_path)], capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, f"goals.py --flops failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    res = json.loads((tmp_path / "goals-flops-tiny.json").read_text())
    assert len(res["goals"]) == 4 and "| MKS2 storage step / irreducible |" in r.stdout
    for g in res["goals"]:
        rows = {x["arm"]: x for x in res["results"][g["script"]]["rows"]}
        assert g["flops"] == rows[g["arm"]]["flops"]["total"] > 0 and g["ref_flops"] == rows[g["ref"]]["flops"]["total"] > 0
        assert g["ratio"] == pytest.approx(g["flops"] / g["ref_flops"])
        assert g["flops"] == sum(g["by_op"].values())
        assert g["ratio"] >= 1      # each method step does at least its reference's matrix work
