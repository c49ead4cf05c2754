"""Settings in and out: a command's ``settings.yaml``, ``--config FILE`` and ``--set MODEL.PARAM=VALUE``.

Every command writes ``settings.yaml`` into its output: ``command``, ``version``, then each option
under its flag name without the dashes in front (``box-size``, ``net``, ``model``). Reading accepts
``box-size`` and ``box_size`` alike, so a results folder's ``settings.yaml`` given to ``--config``
runs the same command again; options on the command line override the file.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from mgmtfeat import __version__
from mgmtfeat._io import atomic_write_text

__all__ = ["ConfigError", "apply_config", "load_config", "parse_overrides", "check_overrides", "settings_record",
           "write_settings", "SETTINGS_FILE"]

SETTINGS_FILE = "settings.yaml"
#: Options never written to or read from a settings file: they say how to run, not what to run.
#: ``force`` is left out so that re-running a results folder never replaces it silently.
NOT_SETTINGS = ("help", "config", "dry_run", "force")
#: Options naming an input file or folder: recorded as absolute paths, so ``--config RESULTS/settings.yaml``
#: runs from any folder. Outputs (``out``, ``log-file``) stay as typed, relative to where the command runs.
INPUT_PATHS = ("features", "published_source", "folds_file", "labels", "test_features", "test_labels", "covariates",
               "model_dir", "data", "box_csv", "source", "radiomics_params")
#: Values of those options that are keywords, not paths (``predict --labels store``).
_PATH_KEYWORDS = {"labels": ("store",)}


class ConfigError(ValueError):
    """A settings file, ``--set`` item or value the command cannot accept (exit status 2)."""


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Option actions by destination (``box_size``), excluding help/config/dry-run/force."""
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest not in NOT_SETTINGS}


def _key(dest: str) -> str:
    return dest.replace("_", "-")


def load_config(path: str | os.PathLike, command: str) -> dict[str, Any]:
    """Read a YAML or JSON settings file; return its options by key, ``command``/``version`` removed.

    Raises
    ------
    ConfigError
        The file is missing, unreadable, not a mapping, or was written by another command.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file; pass a settings.yaml written by `mgmtfeat {command}`") from None
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ConfigError(f"--config {path}: not readable as YAML or JSON ({err})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of option names to values, got {type(data).__name__}")
    written_by = data.pop("command", command)
    if written_by != command:
        raise ConfigError(f"--config {path}: written by command {written_by!r}, not {command!r}; "
                          f"run `mgmtfeat {written_by} --config {path}` or use a settings file of `mgmtfeat {command}`")
    data.pop("version", None)  # informative; a file of another version is read the same way
    return data


def _convert(action: argparse.Action, key: str, value: Any, where: str):
    """``value`` from a settings file, checked and converted as the command line would."""
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}: key {key!r} has value {value!r}, expected {expected}")

    if action.nargs == 0:  # store_true / store_false flags
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if value is None:
        return None
    convert = action.type or str

    def one(item):
        if isinstance(item, (dict, list)) or (isinstance(item, bool) and convert is not str):
            raise bad(f"a single {getattr(convert, '__name__', 'value')}")
        try:
            result = convert(str(item))
        except (TypeError, ValueError, argparse.ArgumentTypeError):
            raise bad(f"a value {getattr(convert, '__name__', '')} accepts (as for --{key})") from None
        if action.choices is not None and result not in action.choices:
            raise bad(f"one of {', '.join(map(str, action.choices))}")
        return result

    if isinstance(action, argparse._AppendAction):
        if isinstance(value, dict) and key == "set":  # {model: {param: value}} -> MODEL.PARAM=VALUE items
            value = [f"{m}.{p}={json.dumps(v)}" for m, params in value.items() for p, v in dict(params).items()]
        return [one(item) for item in (value if isinstance(value, list) else [value])]
    if action.nargs in ("+", "*") or isinstance(action.nargs, int):
        items = value if isinstance(value, list) else [value]
        if isinstance(action.nargs, int) and len(items) != action.nargs:
            raise bad(f"a list of {action.nargs} values")
        return [one(item) for item in items]
    if isinstance(value, list):  # comma-separated options (--net a,b) take a YAML list
        if not all(isinstance(item, (str, int, float)) for item in value):
            raise bad("a list of names")
        value = ",".join(map(str, value))
    return one(value)


def apply_config(parser: argparse.ArgumentParser, config: Mapping[str, Any], where: str) -> None:
    """Make ``config`` the parser's defaults, after checking every key and value.

    Options given on the command line still override the file. A required option given in the
    file is no longer required on the command line.

    Raises
    ------
    ConfigError
        A key that is no option of this command, or a value of the wrong type or out of choices.
    """
    options = _options(parser)
    defaults = {}
    for raw_key, value in config.items():
        dest = str(raw_key).replace("-", "_")
        if dest not in options:
            accepted = ", ".join(sorted(_key(d) for d in options))
            raise ConfigError(f"{where}: unknown key {raw_key!r}; accepted keys: command, version, {accepted}")
        defaults[dest] = _convert(options[dest], _key(dest), value, where)
        options[dest].required = False
    parser.set_defaults(**defaults)


def settings_record(command: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """``{"command", "version", option: value...}`` for ``args`` (keys as the flags, without dashes).

    Input paths (:data:`INPUT_PATHS`) are made absolute against the current folder; ``out`` is kept as typed.
    """
    record: dict[str, Any] = {"command": command, "version": __version__}
    for dest in _options(parser):
        value = getattr(args, dest, None)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, os.PathLike):
            value = os.fspath(value)
        if dest in INPUT_PATHS and isinstance(value, str) and value and value not in _PATH_KEYWORDS.get(dest, ()):
            value = os.path.abspath(value)  # not resolve(): a symlinked data folder keeps its name
        record[_key(dest)] = value
    return record


def write_settings(path: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write ``record`` as YAML to ``path`` atomically (keys in the order given)."""
    import yaml

    path = Path(path)
    atomic_write_text(path, yaml.safe_dump(dict(record), sort_keys=False, default_flow_style=None))
    return path


def _scalar(text: str):
    """A ``--set`` value: YAML scalar or list; ``1e-3`` is a float (YAML 1.1 would read text)."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_overrides(items: Sequence[str]) -> dict[str, dict]:
    """``["snn.max_epochs=20", "mlp.hidden_sizes=[8, 4]"]`` -> ``{"snn": {"max_epochs": 20}, "mlp": {...}}``.

    Values are read as YAML scalars or lists (``0.1``, ``1e-3``, ``true``, ``[8, 4]``, ``conv``).

    Raises
    ------
    ConfigError
        An item not of the form ``MODEL.PARAM=VALUE``.
    """
    params: dict[str, dict] = {}
    for item in items:
        name, eq, value = item.partition("=")
        model, dot, param = name.partition(".")
        if not eq or not dot or not model or not param:
            raise ConfigError(f"--set {item!r}: expected MODEL.PARAM=VALUE, e.g. snn.weight_decay=0.1")
        params.setdefault(model.strip(), {})[param.strip()] = _scalar(value.strip())
    return params


def _compatible(default, value) -> bool:
    """Whether ``value`` may replace a parameter whose default is ``default``."""
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, str):
        return isinstance(value, str) or not isinstance(value, (list, dict))
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list))
    return True


def check_overrides(overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Check ``{model: {param: value}}`` against the model registry and each estimator's parameters.

    A parameter is named as users know it (``logistic.C``) or by its inner name (``logistic.clf__C``);
    :func:`mgmtfeat.models.params.resolve_name` finds the pipeline step. ``overrides`` is rewritten in
    place to the inner names, which ``set_params`` takes, and returned.

    Raises
    ------
    ConfigError
        An unknown model, a parameter the model's estimator does not have (listing the accepted
        names), or a value whose type differs from the parameter's default (e.g. text for a number).
    """
    from mgmtfeat.models import MODELS, make_model
    from mgmtfeat.models.params import resolve_name

    for model, params in overrides.items():
        if model not in MODELS:
            raise ConfigError(f"--set {model}.…: unknown model {model!r}; choose from {', '.join(MODELS)}")
        estimator = make_model(model, 0)
        known = estimator.get_params()
        resolved = {}
        for param, value in params.items():
            try:
                inner = resolve_name(estimator, param)
            except ValueError as err:
                raise ConfigError(f"--set {model}.{param}: model {model!r} has {err}") from None
            if not _compatible(known[inner], value):
                raise ConfigError(f"--set {model}.{param}={value!r}: expected a value like the default "
                                  f"{known[inner]!r} ({type(known[inner]).__name__})")
            resolved[inner] = value
        params.clear()
        params.update(resolved)
        estimator.set_params(**params)
        # scikit-learn's own parameter constraints, where the estimator declares them (BaseEstimator has
        # _validate_params but our torch estimators have no _parameter_constraints for it to read)
        validate = getattr(estimator, "_validate_params", None)
        if validate is not None and hasattr(estimator, "_parameter_constraints"):
            try:
                validate()
            except (ValueError, TypeError) as err:
                raise ConfigError(f"--set {model}: {err}") from None
    return overrides
