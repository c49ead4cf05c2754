"""Write the notebooks of this folder (run it after editing the cells below), and execute them.

    python notebooks/make_notebooks.py            # cells only, no outputs
    python notebooks/make_notebooks.py --execute  # and run them (what `make notebooks` does)

The notebooks are committed executed, so their tables and figures show without running anything:
the published-features notebook on 2 repeats of 5-fold CV (MGMTFEAT_NOTEBOOK_REPEATS changes it).
The test suite executes them again on 1 repeat, in memory (tests/test_notebooks.py).
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
        if (folder / "mgmtfeat").is_dir() and (folder / "experiments").is_dir():
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
# A quick setting: small SNN/MLP training budgets; `python -m mgmtfeat.experiment` uses the full models.
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
            "```\npython -m mgmtfeat.experiment all --out results/paper --repeats 4\n```\n\n"
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
            "```\npython -m mgmtfeat.extract --data BRATS_DIR --out features/brats --net i3d\n"
            "python -m mgmtfeat.extract --data BRATS_DIR --out features/brats --net r2plus1d\n"
            "python -m mgmtfeat.extract --data UCSF_DIR --out features/ucsf --net i3d\n"
            "python -m mgmtfeat.experiment fusion --features features/brats --out results/table4\n```\n\n"
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


def _notebook(cells) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


NOTEBOOKS = {"published_features.ipynb": published, "multi_net_store.ipynb": multi_net}


def execute(notebook: nbformat.NotebookNode, timeout: int = 1800) -> nbformat.NotebookNode:
    """Run every cell in kernel "python3", from this folder (outputs are added to ``notebook``)."""
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE)}}).execute()
    return notebook


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Write (and with --execute, run) the notebooks of this folder.")
    parser.add_argument("--execute", action="store_true", help="run each notebook and store its outputs")
    args = parser.parse_args(argv)
    for name, build in NOTEBOOKS.items():
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
