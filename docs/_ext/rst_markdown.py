"""Griffe extension for the API reference: the docstrings' reStructuredText becomes Markdown.

The docstrings are numpydoc, written for Sphinx: ``:func:`~mgmtfeat.store.load_slices```, ``text::``
before a literal block, ``>>>`` doctest lines. mkdocstrings reads them as Markdown, so each role
becomes an optional cross-reference (a link where the target is documented, plain code otherwise,
never a warning), ``::`` a single colon (the indented block after it is already a Markdown code
block), and each run of doctest lines a fenced code block (Markdown would nest them as quotes).
Only the rendered text changes; the package's own docstrings stay as they are.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|data|attr|meth|obj|exc|const):`(~?)([^`]+)`")
#: A role's explicit form, ``title <target>`` (the title may wrap onto the next line).
_EXPLICIT = re.compile(r"(.+?)\s*<([\w.]+)>", re.DOTALL)
_LITERAL = re.compile(r"(\S)::$", re.MULTILINE)
#: A doctest: ``>>>`` lines and the lines that follow them up to a blank line (continuations, output).
_DOCTEST = re.compile(r"^([ \t]*)>>> .*(?:\n\1(?!\s*$).*)*", re.MULTILINE)


def _identifier(name: str, obj: griffe.Object) -> str:
    """The full dotted path of ``name``: as written when dotted, else in the module ``obj`` belongs to."""
    if "." in name or obj.is_module:
        return name if "." in name else f"{obj.path}.{name}"
    return f"{obj.module.path}.{name}"


def rewrite(text: str, obj: griffe.Object) -> str:
    """``text`` with Sphinx roles as optional autorefs, ``::`` as ``:`` and doctests fenced."""

    def link(match: re.Match) -> str:
        short, name = match.groups()
        explicit = _EXPLICIT.fullmatch(name)
        if explicit:
            title, name = " ".join(explicit.group(1).split()), explicit.group(2)
        else:
            name = name.removesuffix("()")
            title = name.rpartition(".")[2] if short else name
        return f'<autoref identifier="{_identifier(name, obj)}" optional><code>{title}</code></autoref>'

    def fence(match: re.Match) -> str:
        indent = match.group(1)
        return f"{indent}```pycon\n{match.group(0)}\n{indent}```"

    return _DOCTEST.sub(fence, _LITERAL.sub(r"\1:", _ROLE.sub(link, text)))


class RestToMarkdown(griffe.Extension):
    """Rewrite each object's docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value, obj)
