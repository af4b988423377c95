"""Every method runs end to end on the micro LLM, in its seconds-long `micro-llama-tiny` build (pretrained here on the
tiny world's text): VIKDF's soft prompts, MKS2's visual memory and MoMEs, MmDC's student and teacher, on a Llama whose
byte-level BPE tokenizer and ChatML template were made here. The full `micro` runs are the experiment scripts'
(`--preset micro`); this checks the code path, not what the models learn."""
import math
import pytest

LLM = "micro-llama-tiny"
pytestmark = pytest.mark.xdist_group("micro-methods")   # one worker builds the tiny micro LLM once for all three


def finite(x) -> bool: return isinstance(x, (int, float)) and math.isfinite(x)


def test_vikdf_on_micro_llm(tmp_path):
    from mmkd_nb.vikdf.dialogue import experiment
    systems = [f"lora/llm={LLM}", f"vikdf/llm={LLM}", f"vikdf/llm={LLM}/shuffled"]
    run = experiment("tiny", systems, seed=0, out=tmp_path, pretrain_steps=3, dialogue=dict(steps=3, eval_limit=4),
                     train_encoder=False, log=lambda m: None)
    assert set(run["results"]) == set(systems)
    for rep in run["results"].values():
        assert finite(rep["PPL"]) and 0 <= rep["BLEU-1"] <= 1


def test_mks2_on_micro_llm(tmp_path):
    from mmkd_nb.mks2.run import MKS2RunConfig, run_grid
    cfg = MKS2RunConfig.preset("tiny").with_(**{"storage.llm": LLM, "storage.max_steps": 4, "sharing.max_steps": 4,
                                                 "n_vqa": 4, "n_easy_vqa": 4})
    res = run_grid(cfg, ["frozen", "storage", "mks2"], [0], tmp_path, log=lambda m: None)
    assert [r["arm"] for r in res["runs"]] == ["frozen", "storage", "mks2"]
    assert all(finite(r["mcq_heldout"]) and finite(r["vqa"]) for r in res["runs"])
    assert finite(res["storage"]["report"]["caption_nll"])
    assert {"mcq_chance_heldout", "vqa"} <= set(res["baselines"])


def test_mmdc_on_micro_llm(tmp_path):
    from mmkd_nb.mmdc.run import MmDCConfig, run_all, student_config
    cfg = MmDCConfig.preset("tiny", llm=LLM)
    assert student_config(cfg).llm == LLM
    ev = run_all(cfg, tmp_path / "run")
    assert [c["stage"] for c in ev["curve"]] == ["aligned", "iteration 0", "iteration 1"]
    assert all(0 <= c["world"]["accuracy"] <= 1 for c in ev["curve"])
