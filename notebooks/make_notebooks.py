"""Write the notebooks of this folder (run it after editing the cells below), and execute them.

    python notebooks/make_notebooks.py            # cells only, no outputs
    python notebooks/make_notebooks.py --execute  # and run them (what `make notebooks` does)
    python notebooks/make_notebooks.py --execute --only slice_pathway.ipynb

The notebooks are committed executed, so their tables and figures show without running anything:
the published-features notebook on 2 repeats of 5-fold CV (MGMTFEAT_NOTEBOOK_REPEATS changes it).
The test suite executes them again on 1 repeat, in memory (tests/package/test_notebooks.py).
"""

import argparse
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''import os
import warnings
from pathlib import Path

from IPython.display import Image, Markdown, display

from mgmtfeat import experiments as ex


def find_repo() -> Path:
    """The mgmtfeat checkout this notebook lives in."""
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "mgmtfeat").is_dir() and (folder / "benchmarks").is_dir():
            return folder
    raise FileNotFoundError("start this notebook from inside the mgmtfeat checkout")


def show(folder: Path) -> None:
    """Display the Markdown tables and PNG figures of one results folder."""
    for table in sorted(folder.glob("*.md")):
        display(Markdown(table.read_text()))
    for figure in sorted(folder.glob("*.png")):
        display(Image(filename=str(figure)))


# tqdm.auto warns in a kernel without ipywidgets; the progress bars are off here anyway
warnings.filterwarnings("ignore", message="IProgress not found")
REPO = find_repo()
# Results go to results/notebooks/ (git-ignored) unless MGMTFEAT_NOTEBOOK_OUT says otherwise.
RESULTS = Path(os.environ.get("MGMTFEAT_NOTEBOOK_OUT") or REPO / "results" / "notebooks")
# A quick setting: small SNN/MLP training budgets; `mgmtfeat experiment` uses the full models.
QUICK = {"snn": {"max_epochs": 20, "n_members": 1}, "mlp": {"max_epochs": 20}}
# Repeats of 5-fold CV on the published features (the tests use 1).
REPEATS = int(os.environ.get("MGMTFEAT_NOTEBOOK_REPEATS") or 2)
'''


def published() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# The paper's experiments on the published ViViT features\n\n"
            "The 577 BraTS 2021 patients whose ViViT features the paper's authors published, run through "
            "Table 1 (methods), Table 2 (modalities), the delta-T1 ablation, decision curves and the SNN's "
            "attention, on **two repeats** of 5-fold cross-validation with small training budgets (SNN: one "
            "member, 20 epochs; MLP: 20 epochs) so that the notebook runs in a few minutes; the outputs "
            "stored with it come from that setting (`make notebooks` re-runs it). The full setting "
            "(4 repeats, full models) is one command:\n\n"
            "```\nmgmtfeat experiment all --out results/paper --repeats 4\n```\n\n"
            "The features are read from `../shared/data/paper-vivit-features` beside the checkout, or from the "
            "folder named by `MGMTFEAT_PUBLISHED_SOURCE`."),
        new_code_cell(SETUP + '''
SOURCE = os.environ.get("MGMTFEAT_PUBLISHED_SOURCE") or str(REPO.parent / "shared" / "data" / "paper-vivit-features")
OUT = RESULTS / "published"


def settings(name: str) -> ex.ExperimentSettings:
    return ex.ExperimentSettings(features=None, published_source=SOURCE, out=str(OUT / name), folds=5,
                                 repeats=REPEATS, force=True, model_params=QUICK, progress=False)
'''),
        new_markdown_cell("## Table 1: methods\nOur cross-validated AUCs beside the values the paper lists "
                          "(marked *reported, not reproduced*)."),
        new_code_cell('table1 = ex.method_comparison(settings("table1"), models=("snn", "mlp", "logistic"))["table1"]\n'
                      'show(OUT / "table1")'),
        new_markdown_cell("## Table 2: modalities\nEach input alone, each input left out, and all inputs; the "
                          "paper finds r = −0.90 between the single-input and the left-out AUCs."),
        new_code_cell('table2 = ex.modality_ablation(settings("table2"))\nshow(OUT / "table2")'),
        new_markdown_cell("## Delta-T1\nThe SNN with and without the delta-T1 input, paired fold by fold "
                          "(the paper: Wilcoxon P = 0.03)."),
        new_code_cell('ex.delta_t1_ablation(settings("delta_t1"))\nshow(OUT / "delta_t1")'),
        new_markdown_cell("## Decision curves (Figure 4)"),
        new_code_cell('ex.decision_curve_analysis(settings("decision_curves"))\nshow(OUT / "decision_curves")'),
        new_markdown_cell("## Attention over inputs (Figures 5 and 3)"),
        new_code_cell('att = ex.attention_analysis(settings("attention"))\nshow(OUT / "attention")\natt["attention"]'),
    ]
    return _notebook(cells)


def multi_net() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Networks, fusion, feature reproducibility and external validation on a small multi-net store\n\n"
            "Tables 3 and 4 need features of several video networks, and external validation a second cohort. "
            "For your own cohorts, extract them with, for example:\n\n"
            "```\nmgmtfeat extract --data BRATS_DIR --out features/brats --net i3d,r2plus1d\n"
            "mgmtfeat extract --data UCSF_DIR --out features/ucsf --net i3d\n"
            "mgmtfeat experiment fusion --features features/brats --out results/table4\n```\n\n"
            "Here, so that the notebook runs in seconds, two small stores of **random features** stand in for "
            "them: three 'nets' that share part of a common signal, and a second cohort of which two cases "
            "are the same patients as training cases (their `brats_id`). Their provenance marks them as random "
            "weights, and every table and figure says so."),
        new_code_cell(SETUP + '''
import numpy as np

from mgmtfeat import MODALITIES
from mgmtfeat.store import FeatureStore

OUT = RESULTS / "multi_net"
rng = np.random.default_rng(0)


def write_cohort(root: Path, ids, labels, brats_ids=None) -> FeatureStore:
    """Three nets; each sees a shared patient signal plus its own noise (more noise, lower CCC)."""
    store = FeatureStore(root)
    noise = {"i3d": 0.5, "r2plus1d": 1.0, "slowfast": 2.0}
    for net in noise:
        store.write_provenance(net, {"weights": "random features (demonstration)", "random_weights": True},
                               replace=True)
    for k, (case_id, label) in enumerate(zip(ids, labels)):
        patient = {m: rng.normal(size=400) for m in MODALITIES}
        patient["t1ce"][:30] += 0.8 * label  # the informative input
        patient["flair"][:30] += 0.4 * label
        meta = {"brats_id": brats_ids[k] if brats_ids else ""}
        for net, sd in noise.items():
            features = {m: v + sd * rng.normal(size=400) for m, v in patient.items()}
            store.write_case(net, case_id, features, int(label), meta=meta)
    return store


train = write_cohort(OUT / "stores" / "brats", [f"BraTS2021_{i:05d}" for i in range(80)], np.arange(80) % 2)
test = write_cohort(OUT / "stores" / "ucsf", [f"UCSF-PDGM-{i:04d}" for i in range(40)], np.arange(40) % 2,
                    brats_ids=["BraTS2021_00003", "BraTS2021_00010"] + [""] * 38)


def settings(name: str, store=train) -> ex.ExperimentSettings:
    return ex.ExperimentSettings(features=str(store.root), out=str(OUT / name), folds=4, repeats=2, force=True,
                                 model_params=QUICK, progress=False)
'''),
        new_markdown_cell("## Table 3: the SNN on each net's features"),
        new_code_cell('ex.network_comparison(settings("table3"))\nshow(OUT / "table3")'),
        new_markdown_cell("## Table 4: fusion of nets, and feature reproducibility (Lin's CCC, Figure 6)\n"
                          "The paper finds a mean CCC below 0.15 between every pair of nets."),
        new_code_cell('fusion = ex.net_fusion(settings("table4"))\nshow(OUT / "table4")\nfusion["ccc"]'),
        new_markdown_cell("## External validation\nTrained on the first cohort, tested on the second; the two "
                          "patients present in both are dropped."),
        new_code_cell('external = ex.external_validation(settings("external"), str(test.root), net="i3d")\n'
                      'show(OUT / "external")\nexternal["dropped"]'),
    ]
    return _notebook(cells)


def slice_pathway() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# The slice pathway: predictive index and occlusion saliency\n\n"
            "Glioblastoma against metastasis slice by slice, as Shin et al. (AJNR 2021): every ROI slice becomes "
            "a (T1wCE, T2, T2) image, a 2D network embeds it, a classifier scores it, and a patient's predictive "
            "index is the fraction of its slices called glioblastoma. Here on a small synthetic cohort, with the "
            "real Kinetics-400 I3D weights deflated to 2D (`i3d2d`); it runs in a few minutes. One glioblastoma is held out of the model, and its occlusion map "
            "shows what drove the call."),
        new_code_cell(SETUP + '''
import nibabel as nib
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

from mgmtfeat.__main__ import main


def mgmtfeat(argv: list) -> None:
    """Run one mgmtfeat command; stop the notebook if it fails."""
    if main(argv) != 0:
        raise RuntimeError(f"mgmtfeat {' '.join(argv)} failed")


OUT = RESULTS / "slice_pathway"
OUT.mkdir(parents=True, exist_ok=True)
os.chdir(OUT)  # the commands below take and print paths relative to the results folder
OUT = Path(".")
DATA, STORE = OUT / "data", OUT / "store"
if not DATA.is_dir():
    mgmtfeat(["synthetic", "--out", str(DATA), "--cases", "24", "--shape", "64", "64", "40", "--quiet"])
labels = pd.read_csv(DATA / "labels.csv")
labels = labels[labels["tumour_type"] != "lymphoma"]
held_out = labels.loc[labels["tumour_type"] == "glioblastoma", "case_id"].iloc[0]
labels.to_csv(OUT / "gbm_vs_met.csv", index=False)
labels[labels["case_id"] != held_out].to_csv(OUT / "training.csv", index=False)
task = ["--label-column", "tumour_type", "--positive-class", "glioblastoma"]
mgmtfeat(["extract", "--pathway", "slices", "--net", "i3d2d", "--data", str(DATA),
          "--out", str(STORE), "--quiet"])
'''),
        new_markdown_cell("## Cross-validation of the predictive index\nFolds over patients; the cutoff is chosen "
                          "by Youden's J on the training patients of each fold."),
        new_code_cell('mgmtfeat(["cv", "--features", str(STORE), "--net", "i3d2d", "--labels", str(OUT / "gbm_vs_met.csv"), '
                      '*task, "--folds", "3", "--repeats", "2", "--out", str(OUT / "cv"), "--force", "--quiet"])\n'
                      'show(OUT / "cv")'),
        new_markdown_cell("## Five fold models, and the occlusion map of the held-out glioblastoma"),
        new_code_cell('mgmtfeat(["fit", "--features", str(STORE), "--net", "i3d2d", "--labels", str(OUT / "training.csv"), '
                      '*task, "--model", "logistic", "--fold-models", "5", "--model-dir", str(OUT / "model"), "--force", '
                      '"--quiet"])\n'
                      'mgmtfeat(["saliency", "--model-dir", str(OUT / "model"), "--data", str(DATA), "--cases", held_out, '
                      '"--out", str(OUT / "saliency"), "--patch", "32", "--stride", "32", "--force", "--quiet"])\n'
                      'display(pd.read_csv(OUT / "saliency" / "saliency.csv"))\n'
                      'display(Image(filename=str(OUT / "saliency" / f"{held_out}_saliency.png"), width=600))'),
        new_markdown_cell("The map is a NIfTI on the T1wCE's grid: its peak slice (`peak_slice` of saliency.csv, the "
                          "tile marked peak in the PNG above), beside the tumour segmentation."),
        new_code_cell('saliency = np.asarray(nib.load(OUT / "saliency" / f"{held_out}_saliency.nii.gz").dataobj)\n'
                      't1ce = np.asarray(nib.load(next((DATA / held_out).glob("*t1ce.nii.gz"))).dataobj)\n'
                      'seg = np.asarray(nib.load(next((DATA / held_out).glob("*seg.nii.gz"))).dataobj)\n'
                      'z = int(pd.read_csv(OUT / "saliency" / "saliency.csv")["peak_slice"].iloc[0])\n'
                      'fig, axes = plt.subplots(1, 2, figsize=(8, 4))\n'
                      'axes[0].imshow(t1ce[:, :, z].T, cmap="gray", origin="lower")\n'
                      'axes[0].contour(seg[:, :, z].T > 0, colors="yellow", linewidths=0.8, origin="lower")\n'
                      'axes[0].set_title(f"T1wCE, slice {z}, tumour outlined")\n'
                      'shown = axes[1].imshow(saliency[:, :, z].T, cmap="RdBu_r", origin="lower", '
                      'vmin=-abs(saliency).max(), vmax=abs(saliency).max())\n'
                      'axes[1].set_title("drop in P(glioblastoma) when masked")\n'
                      'fig.colorbar(shown, ax=axes[1], fraction=0.046)\n'
                      'for ax in axes:\n    ax.axis("off")\n'
                      'fig.savefig(OUT / "saliency" / "peak_slice.png", dpi=100, bbox_inches="tight")\n'
                      'plt.close(fig)\n'
                      'display(Image(filename=str(OUT / "saliency" / "peak_slice.png")))'),
    ]
    return _notebook(cells)


def _notebook(cells) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


NOTEBOOKS = {"published_features.ipynb": published, "multi_net_store.ipynb": multi_net,
             "slice_pathway.ipynb": slice_pathway}


def execute(notebook: nbformat.NotebookNode, timeout: int = 1800) -> nbformat.NotebookNode:
    """Run every cell in kernel "python3", from this folder (outputs are added to ``notebook``)."""
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE)}}).execute()
    return notebook


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Write (and with --execute, run) the notebooks of this folder.")
    parser.add_argument("--execute", action="store_true", help="run each notebook and store its outputs")
    parser.add_argument("--only", default=None, metavar="NAME", help="only this notebook, e.g. slice_pathway.ipynb")
    args = parser.parse_args(argv)
    for name, build in NOTEBOOKS.items():
        if args.only and name != args.only:
            continue
        notebook = build()
        nbformat.validate(notebook)
        if args.execute:
            began = time.perf_counter()
            execute(notebook)
            print(f"ran {HERE.name}/{name} in {time.perf_counter() - began:.0f} s")
        nbformat.write(notebook, HERE / name)
        print(f"wrote {HERE.name}/{name}")


if __name__ == "__main__":
    main()
