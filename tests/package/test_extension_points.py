"""Each extension point is complete: a new backbone family, torch model or layout that misses a piece fails here.

Every failure message says which file to touch and what to add.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mgmtfeat"


def _family_files() -> list[str]:
    """Backbone modules that register a network (they call the registry's decorator)."""
    folder = PACKAGE / "backbones"
    return sorted(p.stem for p in folder.glob("*.py")
                  if p.stem not in ("registry", "__init__") and "@register_backbone(" in p.read_text(encoding="utf-8"))


def test_backbone_family_files_exist():
    assert len(_family_files()) >= 2  # the test below must see families, or it checks nothing


@pytest.mark.parametrize("stem", _family_files())
def test_registry_finds_every_backbone_family_file(stem):
    from mgmtfeat.backbones import registry, list_backbones

    list_backbones(all_variants=True, kind=None)  # the first lookup imports the families
    found = {builder.__module__ for builder, _ in registry._REGISTRY.values()}
    assert f"mgmtfeat.backbones.{stem}" in found, (
        f"mgmtfeat/backbones/{stem}.py registers backbones, but the registry imports only the public modules of "
        f"mgmtfeat/backbones/ (no leading underscore): rename it to {stem.lstrip('_')}.py, or move the "
        "@register_backbone entries into a public family module")


def _torch_model_classes() -> set[type]:
    """Every TorchClassifier subclass that the modules of mgmtfeat.models define."""
    from mgmtfeat import models
    from mgmtfeat.models.torch_classifier import TorchClassifier

    for module in pkgutil.iter_modules(models.__path__):
        importlib.import_module(f"mgmtfeat.models.{module.name}")
    found, todo = set(), [TorchClassifier]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("mgmtfeat.models"):
                found.add(sub)
    return found


def test_every_torch_model_has_persistence():
    from mgmtfeat.models.persistence import torch_classes

    classes = _torch_model_classes()
    assert classes, "no TorchClassifier subclass found: the check below would pass vacuously"
    missing = sorted(f"{c.__module__}.{c.__qualname__}" for c in classes - set(torch_classes().values()))
    assert not missing, (f"torch model(s) {missing} cannot be saved by `mgmtfeat fit`: add each class to "
                         "torch_classes() in mgmtfeat/models/persistence.py")


def test_unknown_torch_model_is_refused_not_pickled(tmp_path):
    from mgmtfeat.models.mlp import MLPClassifier
    from mgmtfeat.models.persistence import ModelFileError, save_estimator

    class NewNet(MLPClassifier):  # a torch model persistence has not been told about
        pass

    with pytest.raises(ModelFileError, match=r"NewNet.*torch_classes\(\)"):
        save_estimator(NewNet(), tmp_path, "estimator")
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


@pytest.mark.parametrize("layout", ["brats2021", "brats2023", "rsna_dicom", "ucsf_pdgm", "manifest"])
def test_every_layout_has_a_spec_and_readers(layout, tmp_path):
    from mgmtfeat.data.layout_specs import LABEL_READERS, LAYOUT_SPECS, LAYOUTS, MANIFEST
    from mgmtfeat.data.volumes import _reader

    assert set(LAYOUT_SPECS) == {*LAYOUTS, MANIFEST}, (
        "every layout needs a LayoutSpec in LAYOUT_SPECS and its name in LAYOUTS (detection order) "
        "in mgmtfeat/data/layout_specs.py")
    spec = LAYOUT_SPECS[layout]
    assert spec.labels in LABEL_READERS
    if spec.cases == "folders":
        assert spec.folder_pattern is not None, f"layout {layout}: add a folder_pattern so detection finds it"
    series = tmp_path / ("series" if spec.reader == "dicom" else "volume.nii.gz")
    assert callable(_reader(spec, series, ()))


def test_every_declared_reader_is_implemented(tmp_path):
    from mgmtfeat.data import layout_specs
    from mgmtfeat.data.volumes import _reader

    base = layout_specs.LAYOUT_SPECS["brats2021"]
    for kind in layout_specs._READERS:
        # the object.__setattr__ route skips __post_init__: the reader table itself is under test
        spec = dataclasses.replace(base)
        object.__setattr__(spec, "reader", kind)
        assert callable(_reader(spec, tmp_path / "volume.nii.gz", ())), kind


def test_layout_without_a_reader_is_refused_naming_the_fix():
    from mgmtfeat.data.layout_specs import LAYOUT_SPECS

    with pytest.raises(ValueError, match=r"reader 'nrrd'.*mgmtfeat/data/volumes.py"):
        dataclasses.replace(LAYOUT_SPECS["brats2021"], reader="nrrd")


def test_series_reader_refuses_an_unknown_reader(tmp_path):
    from mgmtfeat.data.layout_specs import LAYOUT_SPECS
    from mgmtfeat.data.volumes import _reader

    spec = dataclasses.replace(LAYOUT_SPECS["brats2021"])
    object.__setattr__(spec, "reader", "nrrd")  # as if _READERS had gained it without a series reader
    with pytest.raises(ValueError, match=r"'nrrd' has no series reader.*volumes.py"):
        _reader(spec, tmp_path / "volume.nrrd", ())


# -- experiments: a module with an experiment function, and its entry in EXPERIMENTS --------------

EXPERIMENTS_DIR = PACKAGE / "experiments"
_HOWTO = "(see the worked example in mgmtfeat/experiments/base.py)"


def _experiment_functions(source: str) -> list[str]:
    """Experiment functions of a module: ``def NAME(settings: ExperimentSettings, ...) -> dict[str, pd.DataFrame]``."""
    import ast
    import re

    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and node.args.args:
            first = node.args.args[0]
            takes = ast.unparse(first.annotation) if first.annotation is not None else ""
            gives = ast.unparse(node.returns) if node.returns is not None else ""
            if (first.arg == "settings" and takes.split(".")[-1] == "ExperimentSettings"
                    and re.fullmatch(r"dict\[str, (pd|pandas)\.DataFrame\]", gives)):
                found.append(node.name)
    return found


def _experiment_sources() -> dict[str, str]:
    """Module name -> source of every module of mgmtfeat/experiments/ but the registry itself."""
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(EXPERIMENTS_DIR.glob("*.py")) if p.stem != "__init__"}


def _registered() -> dict[str, tuple[str, str]]:
    """Registry name -> (module name, function name) of its function."""
    from mgmtfeat.experiments import EXPERIMENTS

    return {name: (spec.function.__module__.rpartition(".")[2], spec.function.__name__)
            for name, spec in EXPERIMENTS.items()}


def unregistered_experiments(sources: dict[str, str], registered: dict[str, tuple[str, str]]) -> list[str]:
    """One message per experiment function of ``sources`` that no registry entry names."""
    known = set(registered.values())
    return [f"mgmtfeat/experiments/{module}.py defines the experiment {function}(settings, ...), but EXPERIMENTS "
            f"has no entry for it: in mgmtfeat/experiments/__init__.py import it (from mgmtfeat.experiments.{module} "
            f"import {function}) and add an entry \"NAME\": Experiment({function}, \"one-line description\", (its "
            f"options), ()) to EXPERIMENTS {_HOWTO}"
            for module, source in sources.items() for function in _experiment_functions(source)
            if (module, function) not in known]


def dangling_entries(registered: dict[str, tuple[str, str]], sources: dict[str, str]) -> list[str]:
    """One message per registry entry whose function is not an experiment function of ``sources``."""
    messages = []
    for name, (module, function) in registered.items():
        if module not in sources:
            messages.append(f"EXPERIMENTS[{name!r}] runs {function} from mgmtfeat/experiments/{module}.py, which "
                            f"does not exist: add that module, or remove the entry and its import from "
                            f"mgmtfeat/experiments/__init__.py {_HOWTO}")
        elif function not in _experiment_functions(sources[module]):
            messages.append(f"EXPERIMENTS[{name!r}] runs {function}, which mgmtfeat/experiments/{module}.py does not "
                            f"define as an experiment: define it there as a public function whose first parameter "
                            f"is `settings: ExperimentSettings`, or point the entry at the right one {_HOWTO}")
    return messages


def _modules_with_experiments() -> list[str]:
    return [module for module, source in _experiment_sources().items() if _experiment_functions(source)]


def test_experiment_modules_and_registry_entries_exist():
    # the tests below must see modules and entries, or they check nothing
    assert len(_modules_with_experiments()) >= 9 and len(_registered()) >= 9


@pytest.mark.parametrize("module", _modules_with_experiments())
def test_every_experiment_module_has_a_registry_entry(module):
    sources = _experiment_sources()
    assert unregistered_experiments({module: sources[module]}, _registered()) == []


@pytest.mark.parametrize("name", sorted(_registered()))
def test_every_registry_entry_runs_an_experiment_module(name):
    assert dangling_entries({name: _registered()[name]}, _experiment_sources()) == []


def test_the_registry_checks_name_what_to_add():
    new = "def survival_study(settings: ExperimentSettings, model='snn') -> dict[str, pd.DataFrame]:\n    return {}\n"
    helper = ("def _helper(settings: ExperimentSettings) -> dict[str, pd.DataFrame]:\n    pass\n\n"
              "def progress(settings: ExperimentSettings, n: int):\n    pass\n\n"
              "def run(args) -> dict[str, pd.DataFrame]:\n    pass\n")
    [missing] = unregistered_experiments({"survival": new, "helpers": helper}, _registered())
    assert "mgmtfeat/experiments/survival.py defines the experiment survival_study" in missing
    assert "Experiment(survival_study," in missing and "mgmtfeat/experiments/__init__.py" in missing
    assert unregistered_experiments({"survival": new}, {"survival": ("survival", "survival_study")}) == []

    gone, renamed = dangling_entries({"survival": ("survival", "survival_study"), "renamed": ("helpers", "run")},
                                     {"helpers": helper})
    assert "mgmtfeat/experiments/survival.py, which does not exist" in gone
    assert "EXPERIMENTS['renamed'] runs run, which mgmtfeat/experiments/helpers.py does not define" in renamed
