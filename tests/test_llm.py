"""The converted-LLM cache survives a killed conversion and two processes converting at once; the
real Gemma 3 270M (converted from its GGUF file on a machine's first load, about a minute) reads
and continues text."""
import os, signal, subprocess, sys, time

import pytest
import torch

from mmkd_nb.llm import PrefixLM, build_prefix_batch, cached_folder, load_llm

SLOW_BUILD = """
import sys, time
from mmkd_nb.llm import cached_folder
def build(d):
    (d / "model.safetensors").write_bytes(b"x" * 1000)
    print("writing", flush=True); time.sleep(float(sys.argv[2]))
    (d / "config.json").write_text(sys.argv[1])
print(cached_folder("m", build), flush=True)
"""

def _start(tmp_path, tag, sleep):
    env = {**os.environ, "MMKD_CACHE": str(tmp_path)}
    return subprocess.Popen([sys.executable, "-c", SLOW_BUILD, tag, str(sleep)], env=env, stdout=subprocess.PIPE, text=True)

def test_killed_conversion_leaves_no_cache(tmp_path, monkeypatch):
    p = _start(tmp_path, "killed", 60)
    assert p.stdout.readline().strip() == "writing"
    p.send_signal(signal.SIGKILL); p.wait(timeout=30)
    root = tmp_path / "llm"
    assert not (root / "m").exists()                         # no cache that looks whole
    (left,) = list(root.iterdir())
    assert left.name.startswith(".m.")                       # only the temporary folder is left
    old = time.time() - 7200; os.utime(left, (old, old))     # ... and once it is old, the next conversion sweeps it
    monkeypatch.setenv("MMKD_CACHE", str(tmp_path))
    d = cached_folder("m", lambda d: (d / "config.json").write_text("ok"))
    assert (d / "config.json").read_text() == "ok"
    assert [x.name for x in root.iterdir()] == ["m"]

def test_concurrent_conversions_both_succeed(tmp_path):
    ps = [_start(tmp_path, tag, 1.0) for tag in ("a", "b")]
    outs = [p.communicate(timeout=120)[0].splitlines()[-1] for p in ps]
    assert all(p.returncode == 0 for p in ps)
    assert outs[0] == outs[1] == str(tmp_path / "llm" / "m")
    assert (tmp_path / "llm" / "m" / "config.json").read_text() in ("a", "b")   # one whole result, kept
    assert [x.name for x in (tmp_path / "llm").iterdir()] == ["m"]             # the other's temp folder removed


# Gemma 3 270M: a base model, so plain-text prompts whose next words are not in doubt
PROMPTS = ["One, two, three, four,", "The capital of Japan is"]
gemma3 = pytest.mark.xdist_group("gemma3")   # one worker converts and loads the 1 GB model

@pytest.fixture(scope="module")
def gemma():
    return PrefixLM(*load_llm("gemma3-270m"))

@gemma3
def test_gemma3_270m_continues_text(gemma):
    tok = gemma.tokenizer
    b = build_prefix_batch(tok, PROMPTS, padding_side="left")
    new = gemma.generate(**b, max_new_tokens=6)                      # greedy
    replies = tok.batch_decode(new, skip_special_tokens=True)
    assert replies[0].startswith(" five, six"), replies
    assert replies[1].startswith(" Tokyo"), replies
    for i, prompt in enumerate(PROMPTS):                             # batch size 1 decodes the same
        one = gemma.generate(**build_prefix_batch(tok, [prompt]), max_new_tokens=6)[0]
        assert new[i, :len(one)].tolist() == one.tolist()

@gemma3
def test_gemma3_270m_empty_prefix_matches_plain_logits(gemma):
    b = build_prefix_batch(gemma.tokenizer, PROMPTS)                 # right-padded, BOS first
    real = b["attention_mask"].bool()
    with torch.no_grad():
        plain = gemma.llm(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        spliced = gemma(**b, prefix=torch.zeros(2, 0, gemma.d_llm)).logits
    torch.testing.assert_close(spliced[real], plain[real], atol=1e-4, rtol=0)

@gemma3
def test_gemma3_270m_reads_token_embeddings_as_tokens(gemma):
    "A soft prompt in Gemma's scaled embedding space (`get_input_embeddings()`) is the text itself."
    tok = gemma.tokenizer
    words = tok(PROMPTS[0], add_special_tokens=False, return_tensors="pt").input_ids   # (1, Q)
    soft = build_prefix_batch(tok, [""])                             # BOS, then the block
    hard = build_prefix_batch(tok, [PROMPTS[0]])                     # BOS, then the text
    with torch.no_grad():
        o = gemma(**soft, prefix=gemma.llm.get_input_embeddings()(words))
        ref = gemma.llm(input_ids=hard["input_ids"]).logits
    torch.testing.assert_close(o.logits, ref, atol=1e-4, rtol=0)

@gemma3
def test_gemma3_270m_visual_memory_and_forced_textual_expert_change_nothing():
    from mmkd_nb.mks2.mvm import add_visual_memory
    from mmkd_nb.mks2.momes import add_momes, force_expert
    llm, tok = load_llm("gemma3-270m")                               # its own copy: blocks change
    b = tok(["A red ball lies on green grass."], return_tensors="pt")
    with torch.no_grad():
        ref = llm(**b).logits
        add_visual_memory(llm)                                       # zero-initialised output layer
        torch.testing.assert_close(llm(**b).logits, ref, atol=1e-5, rtol=0)
        add_momes(llm, rank=16, lora_alpha=32.0)
        with force_expert(llm, "textual"):
            torch.testing.assert_close(llm(**b).logits, ref, atol=1e-5, rtol=0)
