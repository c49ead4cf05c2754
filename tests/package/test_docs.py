"""The front page and the documentation site: what `mkdocs build --strict` (make docs) cannot check itself.

The site's own links, anchors, navigation and docstrings are checked by the strict build inside
`make test`; README.md is not part of the site, and a command without a page would build cleanly.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: The front page stays short: the rest lives in the site.
README_MAX_LINES = 150
#: Markdown links and images with a relative target: [text](target) or [text](target#anchor).
LINK = re.compile(r"\]\((?!https?://|#)([^)#\s]+)(?:#[^)]*)?\)")


def _commands() -> list[str]:
    """The subcommands `mgmtfeat --help` lists (one per line, indented by four spaces)."""
    result = subprocess.run([sys.executable, "-m", "mgmtfeat", "--help"], capture_output=True, text=True, cwd=ROOT,
                            check=True)
    return re.findall(r"^ {4}([a-z][a-z0-9-]*)\b", result.stdout, flags=re.MULTILINE)


def test_readme_is_a_short_front_page_whose_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES, "README.md is the front page: move detail into docs/"
    targets = LINK.findall(readme)
    assert targets, "README.md links to no documentation page"
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_every_command_has_a_page_in_the_site():
    commands = _commands()
    assert "cv" in commands and "extract" in commands, commands  # the parse found the list
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for command in commands:
        page = f"commands/{command}.md"
        assert (DOCS / page).is_file(), f"`mgmtfeat {command}` has no page: add docs/{page} and list it in mkdocs.yml"
        assert page in nav, f"docs/{page} is not in mkdocs.yml's nav"


def test_pages_write_mgmtfeat_cmd():
    """`mgmtfeat CMD` everywhere; only the commands overview explains `python -m mgmtfeat.MODULE`."""
    pages = [ROOT / "README.md", *DOCS.rglob("*.md")]
    module_form = re.compile(r"python -m mgmtfeat\.\w+")
    offending = [str(p.relative_to(ROOT)) for p in pages
                 if p != DOCS / "commands" / "index.md" and module_form.search(p.read_text(encoding="utf-8"))]
    assert not offending, f"write `mgmtfeat CMD` instead of `python -m mgmtfeat.MODULE` in {offending}"


def test_api_reference_turns_sphinx_markup_into_markdown():
    """docs/_ext/rst_markdown.py: roles become optional links, ``::`` a colon, doctests a fenced block."""
    import griffe

    module = load_script(DOCS / "_ext" / "rst_markdown.py")
    package = griffe.Module("bundle", parent=griffe.Module("mgmtfeat"))
    text = ("Fit (:func:`fit_bundle`), :mod:`~mgmtfeat.store.slices`, :meth:`as dict\n<mgmtfeat.clips.Placement.as_dict>`."
            "\nA folder holds::\n\n    model.json\n\n>>> from mgmtfeat.bundle import fit_bundle\n>>> fit_bundle(s)\n0\n\nEnd.")
    out = module.rewrite(text, package)
    assert '<autoref identifier="mgmtfeat.bundle.fit_bundle" optional><code>fit_bundle</code></autoref>' in out
    assert '<autoref identifier="mgmtfeat.store.slices" optional><code>slices</code></autoref>' in out
    assert '<autoref identifier="mgmtfeat.clips.Placement.as_dict" optional><code>as dict</code></autoref>' in out
    assert "A folder holds:\n\n    model.json" in out
    assert "```pycon\n>>> from mgmtfeat.bundle import fit_bundle\n>>> fit_bundle(s)\n0\n```\n\nEnd." in out
