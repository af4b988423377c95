"""Draw the README's headline figure of each method from the committed result files (nothing is trained):

    nbs/figures/vikdf-chain-micro.png   VIKDF's chain on micro, real pairs vs images shuffled among captions (14_vikdf_dialogue)
    nbs/figures/mks2-chain-micro.png    MKS2's chain on micro, real storage vs shuffled (24_mks2_run)
    nbs/figures/mmdc-lora-micro.png     MmDC calibrated vs plain vs shuffled per iteration, student with LoRA (34_mmdc_run)

The same functions draw the same figures in those notebooks. Run `python tools/readme_figures.py` after a result
file changes, then `python tools/make_readme.py`."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "nbs" / "figures"
RESULTS = ROOT / "experiments" / "results"
FIGURES = {"vikdf": "vikdf-chain-micro.png", "mks2": "mks2-chain-micro.png", "mmdc": "mmdc-lora-micro.png"}


def vikdf_figure():
    from mmkd_nb.core import load_json
    from mmkd_nb.evidence import plot_chain
    from mmkd_nb.vikdf.dialogue import chain_rows
    res = load_json(RESULTS / "vikdf-control-micro.json")
    return plot_chain(chain_rows(res), guess=res["baselines"]["attribute_chance"]["attr_recall"], names=("VIKDF", "shuffled"),
                      title="VIKDF on micro: real pairs vs images shuffled among captions, 3 seeds")


def mks2_figure():
    from mmkd_nb.core import load_json
    from mmkd_nb.evidence import plot_chain
    from mmkd_nb.mks2.run import control_rows
    return plot_chain(control_rows(load_json(RESULTS / "mks2-control-micro.json")), names=("real", "shuffled"),
                      title="MKS2 on micro: real storage vs images shuffled among captions, 3 seeds")


def mmdc_figure():
    import matplotlib.pyplot as plt
    from mmkd_nb.core import load_json
    res, w_only = load_json(RESULTS / "mmdc-lora-micro.json"), load_json(RESULTS / "mmdc-plain-micro.json")
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for arm, colour, label in (("main+lora", "C0", "calibrated (MmDC)"), ("plain+lora", "C1", "plain distillation"),
                               ("control+lora", "C3", "calibrated, images shuffled")):
        for s, r in res["arms"][arm]["seeds"].items():
            ax.plot([c["world"]["accuracy"] for c in r["curve"]], "-o", color=colour, alpha=0.6, ms=3,
                    label=label if s == "0" else None)
    for s, r in w_only["arms"]["main"]["seeds"].items():
        ax.plot([c["world"]["accuracy"] for c in r["curve"]], "-", color="0.6", lw=1,
                label="calibrated, LLM frozen (W only)" if s == "0" else None)
    stages = [c["stage"] for c in res["arms"]["main+lora"]["seeds"]["0"]["curve"]]
    ax.axhline(res["arms"]["main+lora"]["seeds"]["0"]["teacher"]["world"]["accuracy"], color="k", ls="--", lw=1,
               label="teacher")
    base = res["baselines"]["world"]
    for name, ls in (("majority", "-."), ("majority of train", ":")):
        ax.axhline(base[name]["accuracy"], color="0.5", ls=ls, lw=1, label=f"{name} (no image)")
    ax.set_xticks(range(len(stages)), [s.replace("iteration ", "it. ") for s in stages], fontsize=8)
    ax.set(ylabel="world VQA accuracy", ylim=(0, 1),
           title="MmDC on micro, student with LoRA: calibrated vs plain vs shuffled, 5 seeds")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def main() -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    OUT.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, draw in (("vikdf", vikdf_figure), ("mks2", mks2_figure), ("mmdc", mmdc_figure)):
        fig = draw()
        fig = fig if hasattr(fig, "savefig") else plt.gcf()
        path = OUT / FIGURES[key]
        fig.savefig(path, dpi=90, bbox_inches="tight")
        plt.close("all")
        paths.append(path)
        print(f"wrote {path.relative_to(ROOT)}")
    return paths


if __name__ == "__main__":
    main()
