"""The notebooks execute (nbclient, kernel "python3" of this interpreter) and show tables and figures."""

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import load_script

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _builder():
    return load_script(NOTEBOOKS / "make_notebooks.py")


def test_default_python3_kernel_runs_this_interpreter():
    """In the project venv, kernel "python3" must start the venv's own ipykernel."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    manager = KernelManager(kernel_name="python3")
    command = manager.format_kernel_cmd()
    assert Path(command[0]).resolve() == Path(sys.executable).resolve(), (spec.resource_dir, command)
    assert command[1:3] == ["-m", "ipykernel_launcher"]


def test_notebooks_match_their_builder():
    builder = _builder()
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(builder.NOTEBOOKS)
    for name, build in builder.NOTEBOOKS.items():
        stored = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert [c.source for c in stored.cells] == [c.source for c in build().cells], (
            f"notebooks/{name} is stale; run `make notebooks`")


@pytest.mark.parametrize("name, figures, tables", [("published_features.ipynb", 7, 3), ("multi_net_store.ipynb", 5, 3),
                                                   ("slice_pathway.ipynb", 4, 1)])
def test_committed_notebooks_are_executed(name, figures, tables):
    """Stored with their outputs (`make notebooks`): tables and figures show without running anything."""
    stored = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), f"notebooks/{name} is not executed; run `make notebooks`"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert _outputs(stored, "image/png") >= figures and _outputs(stored, "text/markdown") >= tables
    text = json.dumps([o for c in code for o in c.outputs if o.output_type != "display_data"])
    text += " ".join(str(o.get("data", {}).get("text/markdown", "")) for c in code for o in c.outputs)
    for private in (f"/{top}/" for top in ("work", "home", "tmp", "root")):  # machine folders, not the project
        assert private not in text, f"notebooks/{name} shows a machine-specific path ({private})"


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """Pin kernel "python3" to this interpreter, whatever other kernelspecs the machine has."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter") + os.pathsep + os.environ.get("JUPYTER_PATH", ""))
    monkeypatch.setenv("MGMTFEAT_NOTEBOOK_OUT", str(tmp_path / "results"))
    monkeypatch.setenv("MGMTFEAT_NOTEBOOK_REPEATS", "1")  # the committed outputs are from 2 repeats
    return tmp_path / "results"


def _execute(name: str) -> nbformat.NotebookNode:
    """Run the committed notebook in memory, from empty outputs; the file is not rewritten."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return _builder().execute(notebook, timeout=600)


def _outputs(notebook, mime: str) -> int:
    return sum(mime in out.get("data", {}) for c in notebook.cells if c.cell_type == "code" for out in c.outputs)


@pytest.mark.slow
def test_published_features_notebook(kernel_env, published_dir, monkeypatch):
    monkeypatch.setenv("MGMTFEAT_PUBLISHED_SOURCE", str(published_dir))
    notebook = _execute("published_features.ipynb")
    assert _outputs(notebook, "image/png") >= 7 and _outputs(notebook, "text/markdown") >= 5
    text = (kernel_env / "published" / "table1" / "table1.md").read_text()
    assert "reported, not reproduced" in text and "577 cases, 1 x 5-fold CV" in text
    assert (kernel_env / "published" / "table2" / "modalities.png").stat().st_size > 10_000


@pytest.mark.slow
def test_multi_net_notebook(kernel_env):
    notebook = _execute("multi_net_store.ipynb")
    assert _outputs(notebook, "image/png") >= 5
    table4 = (kernel_env / "multi_net" / "table4" / "table4.md").read_text()
    assert "RANDOM-WEIGHT nets" in table4 and "i3d+r2plus1d+slowfast" in table4
    assert (kernel_env / "multi_net" / "external" / "dropped.csv").read_text().count("BraTS2021_") == 2


@pytest.mark.slow
def test_slice_pathway_notebook(kernel_env):
    notebook = _execute("slice_pathway.ipynb")
    assert _outputs(notebook, "image/png") >= 4
    folder = kernel_env / "slice_pathway"
    assert "predictive index" in (folder / "cv" / "summary.md").read_text()
    assert len(list((folder / "saliency").glob("*_saliency.nii.gz"))) == 1
