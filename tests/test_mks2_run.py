"""`mmkd_nb.mks2.run`'s stages as the paper would launch them: the `paper` preset's code path (Q-Former mapper, frozen
Q-Former, bf16 weights, gradient accumulation) under `accelerate launch` with two CPU processes, the tiny models swapped in;
then sharing under the launcher and evaluation as a plain process, chained through one run folder."""
import json, os, socket, subprocess, sys
from pathlib import Path

from mmkd_nb.core import load_json, load_tensors
from mmkd_nb.mks2.mvm import read_visual_memory_meta

BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg"}
TINY = ["--preset", "paper", "--set", "world=tiny", "--set", "storage.llm=tiny-llama", "--set", "storage.encoder=tiny",
        "--set", "storage.qformer=tiny", "--set", "storage.num_queries=4", "--set", "storage.max_steps=2",
        "--set", "storage.batch_size=2", "--set", "storage.grad_accum=2", "--set", "storage.warmup_steps=1",
        "--set", "sharing.max_steps=2", "--set", "sharing.batch_size=2", "--set", "sharing.max_len=48"]


def _free_port():
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _run(cmd, env=ENV):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return r

def _summary(r) -> dict:
    return json.loads([l for l in r.stdout.splitlines() if l.startswith("{")][-1])

def _launch(stage, out):
    return [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
            "--dynamo_backend", "no", "--main_process_port", str(_free_port()), "-m", "mmkd_nb.mks2.run", stage, *TINY, "--out", str(out)]


def test_paper_preset_stages_under_accelerate_launch(tmp_path):
    "storage and sharing as two processes each (gloo), then eval reads the run folder in one process."
    out = tmp_path / "run"
    s = _summary(_run(_launch("storage", out), env={**ENV, "ACCELERATE_USE_CPU": "1"}))
    assert s["stage"] == "storage" and s["steps"] == 2
    cfg = load_json(out / "config.json")
    assert cfg["storage"]["mapper"] == "qformer" and cfg["storage"]["freeze_qformer"] and cfg["storage"]["dtype"] == "bfloat16"
    assert read_visual_memory_meta(out / "storage" / "mvm.safetensors")["placement"] == "sequential"
    mapper = load_tensors(out / "storage" / "mapper.safetensors")
    assert any(k.startswith("mapper.qformer.") for k in mapper) and "img_start" in mapper
    hist = [json.loads(l) for l in (out / "storage" / "history.jsonl").read_text().splitlines()]
    assert [r["samples"] for r in hist if r.get("split") == "train"][-1] == 2 * 2 * 2 * 2   # steps x accumulation x batch x processes

    s = _summary(_run(_launch("sharing", out), env={**ENV, "ACCELERATE_USE_CPU": "1"}))
    assert s["stage"] == "sharing" and s["steps"] == 2 and (out / "sharing" / "momes.safetensors").exists()
    assert load_json(out / "sharing" / "arm.json")["sharing"]["rank"] == 16             # the paper's rank

    s = _summary(_run([sys.executable, "-m", "mmkd_nb.mks2.run", "eval", *TINY, "--out", str(out)]))
    assert set(s) >= {"frozen", "storage", "mks2"} and 0 <= s["mks2"]["mcq_heldout"] <= 1 and (out / "router.png").exists()


def test_stage_help_and_bad_input():
    r = _run([sys.executable, "-m", "mmkd_nb.mks2.run", "sharing", "--help"])
    assert r.stdout.startswith("usage: mmkd mks2 sharing") and "--arm" in r.stdout and "--set" in r.stdout
    r = subprocess.run([sys.executable, "-m", "mmkd_nb.mks2.run", "eval", "--preset", "tiny", "--out", "/nonexistent/run"],
                       capture_output=True, text=True, timeout=120, env=ENV)
    assert r.returncode != 0 and "run the storage stage" in r.stderr
