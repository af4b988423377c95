"The micro LLM: a leak-free corpus on the default world; the tiny build cached, reloaded and loaded."
import json

import pytest
import torch

from mmkd_nb.llm import load_llm, PrefixLM, build_prefix_batch
from mmkd_nb.micro_llm import (MicroLMConfig, micro_corpus_parts, corpus_leaks, load_micro_llm,
                               micro_llm_folder, micro_llm_key, CHAT_TEMPLATE)
from mmkd_nb.world import make_world, WorldConfig


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MMKD_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def tiny():
    cfg = MicroLMConfig.preset("tiny")
    return cfg, make_world(WorldConfig.preset(cfg.world))


def test_default_corpus_has_no_leaks():
    cfg = MicroLMConfig()
    world = make_world(WorldConfig.preset(cfg.world))
    for split in ("train", "val"):
        parts = micro_corpus_parts(world, split, cfg.chatterbot, cfg.seed, cfg.repeats)
        assert all(parts.values()), {k: len(v) for k, v in parts.items()}
        assert corpus_leaks(sum(parts.values(), []), world) == []


def test_tiny_build_reload_and_folder(cache, tiny):
    cfg, world = tiny
    model, tok = load_micro_llm(cfg, world)
    folder = micro_llm_folder(cfg, world)
    assert folder == cache / "llm" / f"micro-llama-{micro_llm_key(cfg, world)}"
    report = json.loads((folder / "report.json").read_text())
    assert report["history"][-1]["train"] < report["history"][0]["train"]
    again, _ = load_micro_llm(cfg, world)
    via_llm, tok2 = load_llm(str(folder))                    # the generic folder path of `load_llm`
    assert tok2.chat_template == CHAT_TEMPLATE and tok2.pad_token_id == tok.eos_token_id == 2
    b = build_prefix_batch(tok, ["I saw a dax.", "Hi!"], chat=True)
    with torch.no_grad():
        ref = model(b["input_ids"], attention_mask=b["attention_mask"]).logits
        assert torch.equal(again(b["input_ids"], attention_mask=b["attention_mask"]).logits, ref)
        assert torch.equal(via_llm(b["input_ids"], attention_mask=b["attention_mask"]).logits, ref)
        out = PrefixLM(via_llm, tok2)(**b)
    real = b["attention_mask"].bool()
    assert torch.allclose(out.logits[real], ref[real], atol=1e-5)
