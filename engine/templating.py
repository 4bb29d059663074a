"""Prompt rendering with Jinja2's sandbox, and discovery of `{{ placeholders }}`."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from engine.errors import StepError

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class PlaceholderSyntaxError(ValueError):
    """A template has a syntax error; the message says where."""


def placeholders(text: str) -> frozenset[str]:
    """Names of the values a template refers to (roots only: `{{ a.b }}` gives `a`)."""
    return _placeholders(text)


@lru_cache(maxsize=4096)
def _placeholders(text: str) -> frozenset[str]:
    """`placeholders`, once per distinct text (the Designer validates on every rerun)."""
    try:
        ast = _ENV.parse(text)
        for tag in (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends):
            if ast.find(tag) is not None:
                raise PlaceholderSyntaxError("prompts cannot include, import or extend other templates")
        return frozenset(meta.find_undeclared_variables(ast))
    except TemplateSyntaxError as exc:  # also unknown filters and tests
        raise PlaceholderSyntaxError(f"line {exc.lineno}: {exc.message}") from None
    except RecursionError:
        raise PlaceholderSyntaxError("it nests brackets or expressions too deeply") from None


@lru_cache(maxsize=1024)
def _compiled(text: str) -> Template:
    """Compile a template once; prompts repeat across runs."""
    return _ENV.from_string(text)


def render(text: str, values: dict[str, Any]) -> str:
    """Render a template against the run's values; a missing value is a StepError."""
    try:
        return _compiled(text).render(values)
    except UndefinedError as exc:
        raise StepError(f"the prompt refers to a value that is not set: {exc.message}") from None
    except TemplateSyntaxError as exc:
        raise StepError(f"the prompt has a syntax error at line {exc.lineno}: {exc.message}") from None
    except Exception as exc:  # sandbox violations and filter errors are user-caused
        raise StepError(f"the prompt could not be rendered: {exc}") from None
