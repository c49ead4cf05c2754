"""What every command shares: its parser with the common options, and one runner.

:func:`command_parser` builds a command's parser with ``--config``/``--dry-run``/``--quiet``/logging;
:func:`run_command` reads ``--config``, parses, sets up logging, runs the work (or the dry run),
reports bad input and system errors as one ``error:`` line and writes ``settings.yaml``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Iterator, Mapping

from mgmtfeat.cli.options import HelpFormatter

log = logging.getLogger(__name__)

#: The program name in front of the command in usage lines; ``mgmtfeat`` under the main command.
_INVOKED_AS: list[str] = []
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@contextlib.contextmanager
def invoked_as(program: str) -> Iterator[None]:
    """Within this block, command parsers show ``PROGRAM NAME`` (e.g. ``mgmtfeat cv``) as prog."""
    _INVOKED_AS.append(program)
    try:
        yield
    finally:
        _INVOKED_AS.pop()


def command_parser(name: str, description: str, epilog: str | None = None,
                   formatter_class=HelpFormatter) -> argparse.ArgumentParser:
    """The parser of command ``name`` (as typed: ``make-clips``) with the options every command has.

    Common options: ``--config FILE``, ``--dry-run``, ``--quiet``, ``--log-level``, ``--log-file``.
    Run as ``python -m mgmtfeat.MODULE``, the usage line names that module (``make_clips`` for ``make-clips``).
    """
    prog = f"{_INVOKED_AS[-1]} {name}" if _INVOKED_AS else f"python -m mgmtfeat.{name.replace('-', '_')}"
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                     formatter_class=formatter_class)
    common = parser.add_argument_group("common options")
    common.add_argument("--config", metavar="FILE", default=None,
                        help="YAML or JSON settings (e.g. the settings.yaml of an earlier run); options given "
                        "on the command line override it")
    common.add_argument("--dry-run", action="store_true",
                        help="say what would be done (inputs found, what would be skipped or is missing) and write nothing")
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    common.add_argument("--log-level", choices=LOG_LEVELS, default="WARNING", help="messages shown and logged")
    common.add_argument("--log-file", metavar="FILE", default=None, help="also append the log to this file")
    return parser


def setup_logging(level: str = "WARNING", file: str | os.PathLike | None = None) -> None:
    """Send the ``mgmtfeat`` loggers (and Python warnings) to stderr and, with ``file``, to a file.

    Calling it again replaces the handlers it added before, so repeated ``main()`` calls in one
    process do not duplicate messages.
    """
    root = logging.getLogger("mgmtfeat")
    for handler in [h for h in root.handlers if getattr(h, "_mgmtfeat", False)]:
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file:
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(file, encoding="utf-8"))
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    for handler in handlers:
        handler._mgmtfeat = True
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    for handler in handlers:  # clip warnings (tumour larger than the box, ...) reach the log file too
        if handler not in warnings_logger.handlers:
            warnings_logger.addHandler(handler)
    for handler in [h for h in warnings_logger.handlers if getattr(h, "_mgmtfeat", False) and h not in handlers]:
        warnings_logger.removeHandler(handler)


def _config_file(argv: list[str]) -> str | None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    return pre.parse_known_args(argv)[0].config


def run_command(name: str, parser: argparse.ArgumentParser, argv: list[str] | None,
                work: Callable[[argparse.Namespace], int],
                dry_run: Callable[[argparse.Namespace], int] | None = None,
                settings_path: Callable[[argparse.Namespace], str | os.PathLike | None] | None = None) -> int:
    """Run command ``name``: config file, parse, logging, then ``work(args)`` or ``dry_run(args)``.

    Parameters
    ----------
    name : str
        The command as typed (``cv``); a settings file must have been written by it.
    parser : argparse.ArgumentParser
        From :func:`command_parser`.
    argv : list of str or None
        Arguments (None: ``sys.argv[1:]``).
    work : callable
        ``work(args) -> exit status``; may raise ``ValueError``/``FileNotFoundError``/
        ``FileExistsError`` for bad input (reported, exit status 2). Any other ``OSError`` (a
        read-only folder, a full disk) is reported with its file, the meaning of its errno and a
        fix: exit status 2 for permissions and space, 1 otherwise.
    dry_run : callable, optional
        ``dry_run(args) -> exit status`` for ``--dry-run``; it must write nothing.
    settings_path : callable, optional
        ``settings_path(args) -> path`` of the ``settings.yaml`` written after a run that did its
        work (exit status 0 or 1); called after ``work``, which may fill in defaults in ``args``.
        It may return ``{path: namespace}`` instead, one record per path (``extract`` with several
        nets writes one per net folder, each naming its net).

    Returns
    -------
    int
        0 done, 1 done with failed cases, 2 bad input (nothing done).
    """
    from mgmtfeat.cli.config import ConfigError, apply_config, load_config

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        config = _config_file(argv)
        if config:
            apply_config(parser, load_config(config, name), where=f"--config {config}")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_file)
    log.info("%s %s", parser.prog, " ".join(argv))
    try:
        if args.dry_run:
            if dry_run is None:
                print(f"{parser.prog}: nothing to plan; the command would run with the options given")
                return 0
            return dry_run(args)
        status = work(args)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError) as err:
        log.debug("%s failed", name, exc_info=True)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        log.debug("%s failed", name, exc_info=True)
        message, status = describe_os_error(err)
        print(f"error: {message}", file=sys.stderr)
        return status
    if status in (0, 1) and settings_path is not None:
        targets = settings_path(args)
        if not isinstance(targets, Mapping):
            targets = {} if targets is None else {targets: args}
        for path, recorded in targets.items():
            _record_settings(name, parser, path, recorded)
    return status


def _record_settings(name: str, parser: argparse.ArgumentParser, path, args: argparse.Namespace) -> None:
    """Write the ``settings.yaml`` of ``args`` at ``path`` when its folder exists and it says something new."""
    from mgmtfeat.cli.config import settings_record, write_settings

    if not Path(path).parent.is_dir():
        return
    record = settings_record(name, parser, args)
    if _same_settings(path, record):  # a resumed run with nothing new (perhaps on a read-only store)
        return
    try:
        write_settings(path, record)
        log.info("settings written to %s", path)
    except OSError as err:  # the work is done; only its record could not be written
        log.warning("settings not recorded: %s", describe_os_error(err)[0])


def _same_settings(path: str | os.PathLike, record) -> bool:
    """Whether ``path`` already holds ``record`` (then it is not rewritten)."""
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8")) == yaml.safe_load(yaml.safe_dump(dict(record)))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False

#: errno -> the fix, for the system errors a user can correct (exit status 2).
_OS_FIXES = {
    errno.EACCES: "give yourself write permission there, or choose another output folder (--out)",
    errno.EPERM: "give yourself write permission there, or choose another output folder (--out)",
    errno.EROFS: "the file system is mounted read-only; choose an output folder on a writable one (--out)",
    errno.ENOSPC: "free some disk space, or choose an output folder on another disk (--out); then run the same "
                  "command again (it resumes)",
    errno.EDQUOT: "your disk quota is used up: free some space or choose an output folder elsewhere (--out); then "
                  "run the same command again (it resumes)",
}


def describe_os_error(err: OSError) -> tuple[str, int]:
    """``(message, exit status)`` for a system error: the file, what errno means, and the fix.

    Permission and space problems are the user's to fix (status 2); others (an I/O error of the
    disk, a stale network mount) are failures of the run (status 1).
    """
    code = err.errno
    name = errno.errorcode.get(code, "unknown error") if code is not None else "no errno"
    meaning = os.strerror(code) if code is not None else (err.strerror or str(err))
    where = err.filename if err.filename is not None else "a file of this command (the system did not say which)"
    if err.filename2 is not None:
        where = f"{where} -> {err.filename2}"
    fix = _OS_FIXES.get(code, "check the disk and the folder named, then run the same command again")
    notes = "".join(f" {note}" for note in getattr(err, "__notes__", ()))  # e.g. the results folder kept for resuming
    return f"{where}: {meaning} ({name}); {fix}.{notes}", 2 if code in _OS_FIXES else 1


def print_failures(failures: list[dict]) -> None:
    """One ``failed: case ID: FILE: REASON`` line per failed case of a batch run, on stderr."""
    for failure in failures:
        where = f"{failure['file']}: " if failure.get("file") else ""
        print(f"failed: case {failure['case_id']}: {where}{failure['reason']}", file=sys.stderr)
