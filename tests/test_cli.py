"The installed `mmkd` console command: --help on every subcommand, errors as one line, `python -m` entry."
import subprocess, sys
from pathlib import Path
import pytest

MMKD = str(Path(sys.executable).parent / "mmkd")

def run(*args, timeout=300):
    return subprocess.run([MMKD, *args], capture_output=True, text=True, timeout=timeout)

def test_top_level_help_lists_commands():
    r = run("--help"); assert r.returncode == 0
    for cmd in ("info", "world", "encoder", "demo"): assert cmd in r.stdout

@pytest.mark.parametrize("cmd", ["info", "world", "encoder", "demo"])
def test_every_subcommand_has_help(cmd):
    r = run(cmd, "--help"); assert r.returncode == 0, r.stderr
    assert f"usage: mmkd {cmd}" in r.stdout

@pytest.mark.parametrize("method", ["vikdf", "mks2", "mmdc"])
def test_method_subcommands_route_to_stage_help(method):
    "`mmkd <method> --help` lists the stages; `mmkd <method> <stage> --help` is the stage module's own help."
    from mmkd_nb.cli import METHOD_STAGES
    r = run(method, "--help"); assert r.returncode == 0, r.stderr
    for stage in METHOD_STAGES[method]:
        assert stage in r.stdout
        h = run(method, stage, "--help"); assert h.returncode == 0, h.stderr[-2000:]
        assert "usage:" in h.stdout and "--preset" in h.stdout
    r = run(method, "nope"); assert r.returncode == 2 and "invalid choice: 'nope'" in r.stderr

def test_bad_input_is_one_clear_line():
    r = run("demo", "--preset", "tiny", "--sections", "nope")
    assert r.returncode == 2 and "mmkd demo: error: unknown section(s) ['nope']" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("world", "--world.n_concepts", "many")
    assert r.returncode == 2 and "invalid int value: 'many'" in r.stderr

def test_python_dash_m_entry():
    r = subprocess.run([sys.executable, "-m", "mmkd_nb.cli", "info"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "torch" in r.stdout and "device" in r.stdout

def test_demo_exits_zero_and_writes_report(tmp_path):
    "The main job end to end on the tiny preset, through the installed command."
    r = run("demo", "--preset", "tiny", "--out", str(tmp_path), "--easy-vqa-limit", "300", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    import json
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["encoder"]["r_at_1"] > rep["encoder"]["r_at_1_chance"]
    assert "demo done" in r.stdout and "{'preset'" not in r.stderr
    assert r.stdout.startswith("preset tiny is a smoke test of the code path")


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"], ["world", "--preset", "tiny", "--help"],
                                  ["vikdf", "train", "--help"], ["vikdf", "dialogue", "--help"],
                                  ["mks2", "sharing", "--help"], ["mmdc", "calibrate", "--help"]])
def test_help_imports_no_torch(argv):
    "Every `--help` (top level, demo, config commands, method stages) answers without torch or the models."
    code = ("import sys, contextlib, io, mmkd_nb.cli as c\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit): c.main(%r)\n"
            "print(sorted(m for m in ('torch', 'transformers', 'open_clip') if m in sys.modules))" % argv)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout

def test_help_shows_the_presets_values():
    tiny, paper = (" ".join(run("world", "--preset", p, "--help").stdout.split()) for p in ("tiny", "paper"))
    assert "colour-shape pair) (default: 8)" in tiny and "colour-shape pair) (default: 48)" in paper

def test_set_is_the_long_hand_of_the_field_option():
    r = run("world", "--set", "world.n_concepts=many")
    assert r.returncode == 2 and "invalid int value: 'many'" in r.stderr
    r = run("world", "--set", "world.n_concepts")
    assert r.returncode == 2 and "expected KEY=VALUE" in r.stderr and "Traceback" not in r.stderr

def test_vikdf_train_defaults_like_the_other_stages():
    from mmkd_nb.vikdf.train import parse_args
    a = parse_args([])
    assert (a.preset, a.out) == ("small", "artifacts/vikdf/train")

def test_mks2_takes_field_options(tmp_path):
    "`--storage.max_steps 20` is `--set storage.max_steps=20`; the run's own fields go without their prefix."
    from mmkd_nb.cli import parse_stage_args
    from mmkd_nb.mks2.run import build_parser, run_config
    argv = ["storage", "--out", str(tmp_path), "--storage.max_steps", "20", "--run.pairs_frac", "0.5"]
    args = parse_stage_args(build_parser(), "mks2", argv)
    assert args.set == ["storage.max_steps=20", "pairs_frac=0.5"]
    cfg = run_config(args)
    assert (cfg.storage.max_steps, cfg.pairs_frac) == (20, 0.5)
    for typo in ("--storage.no_such_field", "--storage.max_step"):   # a prefix of a field is no abbreviation of it
        r = run("mks2", "storage", "--out", str(tmp_path / "typo"), typo, "20")
        assert r.returncode == 2 and f"unrecognized arguments: {typo}" in r.stderr, r.stderr[-500:]

def test_mmdc_and_dialogue_take_field_options(tmp_path):
    "`--mmdc.tau 0.5` is `--set tau=0.5`; `--dialogue.lr 0.1` is `--set dialogue.lr=0.1`; the flags stay aliases."
    from mmkd_nb.mmdc.run import stage_parser, config_from_args
    from mmkd_nb.cli import parse_stage_args
    a = parse_stage_args(stage_parser("teacher"), "mmdc", ["--out", str(tmp_path), "--mmdc.tau", "0.5"])
    b = stage_parser("teacher").parse_args(["--out", str(tmp_path), "--set", "tau=0.5"])
    assert config_from_args(a) == config_from_args(b) and config_from_args(a).tau == 0.5
    from mmkd_nb.vikdf.dialogue import parse_args, dialogue_overrides
    a = parse_args(["--dialogue.lr", "0.1", "--steps", "5"])
    assert a.out == "artifacts/vikdf/dialogue"
    b = parse_args(["--set", "dialogue.lr=0.1", "--dialogue.steps", "5"])
    assert dialogue_overrides(a) == {"steps": 5, "lr": 0.1} == dialogue_overrides(b)

def test_vikdf_train_takes_field_options():
    "`--train.max_steps 2` and the run's own `--vikdf.use_bvif false` reach the config; a typo is refused."
    from mmkd_nb.vikdf.train import parse_args, config_from_args
    cfg = config_from_args(parse_args(["--preset", "tiny", "--train.max_steps", "2", "--vikdf.use_bvif", "false",
                                       "--distill.use_tim=false"]))
    assert (cfg.train.max_steps, cfg.use_bvif, cfg.distill.use_tim) == (2, False, False)

@pytest.mark.parametrize("method", ["vikdf", "dialogue", "mks2", "mmdc"])
def test_stage_options_are_the_configs_fields(method):
    "Each stage's generated options read (without importing) exactly the fields, help and presets of its configs."
    import importlib
    from mmkd_nb.cli import STAGE_CONFIGS, read_schema, schema_of, PRESETS
    for prefix, (module, name) in STAGE_CONFIGS[method].items():
        s, ref = read_schema(module, name), schema_of(getattr(importlib.import_module(module), name))
        assert (s.defaults, s.helps, s.parts) == (ref.defaults, ref.helps, ref.parts), (prefix, name)
        for p in PRESETS: assert s.values(p) == {k: v for k, v in ref.values(p).items() if k not in ref.parts}, (name, p)

def test_stage_help_lists_every_field_with_the_presets_value():
    h = " ".join(run("mmdc", "teacher", "--preset", "tiny", "--help").stdout.split())
    assert "--mmdc.student_lora_r" in h and "--mmdc.teacher_steps" in h
    assert "teacher training steps (default: 6)" in h     # the tiny preset's value
    h = run("vikdf", "train", "--help").stdout
    assert all(f"--{p}." in h for p in ("vikdf", "encoder", "iqformer", "distill", "bvif", "llm", "train"))

def test_stage_parsers_list_the_stages_own_names():
    "The names the light parsers in `mmkd_nb.cli` list are the stage modules' own."
    from mmkd_nb.cli import VIKDF_ABLATIONS, DIALOGUE_METHODS, METHOD_STAGES, MKS2_STAGE_HELP
    from mmkd_nb.vikdf.train import ABLATIONS
    from mmkd_nb.vikdf.dialogue import METHODS
    from mmkd_nb.mks2.run import STAGES as MKS2_STAGES
    from mmkd_nb.mmdc.run import STAGES as MMDC_STAGES
    assert tuple(ABLATIONS) == VIKDF_ABLATIONS and tuple(METHODS) == DIALOGUE_METHODS
    assert list(MKS2_STAGES) == list(MKS2_STAGE_HELP) == list(METHOD_STAGES["mks2"])
    assert list(MMDC_STAGES) == list(METHOD_STAGES["mmdc"])

def test_python_dash_m_stage_help():
    "`python -m` of a stage shows the same options as `mmkd <method> <stage> --help`."
    r = subprocess.run([sys.executable, "-m", "mmkd_nb.vikdf.train", "--help"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout == run("vikdf", "train", "--help").stdout
