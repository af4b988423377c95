"""experiments/mks2.py: the sharing runs' folder is keyed by the run config."""
import importlib.util
from pathlib import Path

from mmkd_nb.mks2.run import MKS2RunConfig

_spec = importlib.util.spec_from_file_location("mks2_experiments", Path(__file__).parents[1] / "experiments" / "mks2.py")
mks2 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mks2)


def test_run_folder_keyed_by_config(tmp_path):
    small = MKS2RunConfig.preset("small")
    f = lambda cfg, name="base": mks2.run_folder(tmp_path, "small", "table1", name, cfg)
    assert f(small) == f(MKS2RunConfig.from_dict(small.to_dict()))          # the same config: the same folder
    assert f(small) != f(small.with_(**{"storage.llm": "gemma3-270m"}))     # another LLM: another folder
    assert f(small) != f(small.with_(**{"storage.max_steps": 600}))         # another storage budget: another folder
    assert f(small, "D/4, 20 storage steps").parent == tmp_path / "small" / "table1"
    assert f(small, "D/4, 20 storage steps").name.startswith("D_4-20_storage_steps-")
