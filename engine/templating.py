"""Prompt rendering with Jinja2's sandbox under a time and size budget, and `{{ placeholder }}` discovery.

Most prompts only print values and test them (`{{ topic }}`, `{% if feedback %}`): their output is
bounded by the sizes of the values they print, measured before rendering, so when that bound is
within the budget they render in this thread, their output counted as it is produced. A prompt
that loops, calls, builds strings or lists, defines macros, or whose bound exceeds the budget
(a value printed thousands of times) renders in a separate process (`engine.render_sandbox`) whose
memory is capped, killed when it runs out of time or memory, or when its run is cancelled; there a
`*` or `+` that would build text or lists beyond the output budget is refused before it is computed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.errors import StepError
from engine.limits import RENDER_CHARS, RENDER_MEMORY_BYTES, RENDER_SECONDS


def _at_run_time_only(func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter or test Jinja cannot call while compiling or analysing a template.

    Jinja evaluates filters with constant arguments ahead of time (`{{ 'x'|center(10**9) }}`
    would take a gigabyte during validation); a function that needs the context is never
    evaluated ahead of time, so this one asks for it and passes on what the original wants.
    """
    wants = getattr(getattr(func, "jinja_pass_arg", None), "name", None)

    @pass_context
    def wrapper(context: Context, *args: Any, **kwargs: Any) -> Any:
        if wants == "context":
            return func(context, *args, **kwargs)
        if wants == "eval_context":
            return func(context.eval_ctx, *args, **kwargs)
        if wants == "environment":
            return func(context.environment, *args, **kwargs)
        return func(*args, **kwargs)

    return wrapper


@pass_context
def _as_is(context: Context, value: Any) -> Any:
    """Print values unchanged; needing the context keeps Jinja from printing constants ahead of time."""
    return value


class OutputBudgetError(SecurityError):
    """An expression would build more than a render's output budget (refused before it is built)."""


class _PromptEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox that never computes anything while compiling or analysing a
    template, so only a render (under its budget) can spend time or memory."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    output_chars = RENDER_CHARS
    """What one `*` or `+` may build (the render sandbox sets its budget's output limit)."""

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse `*` and `+` that would build text or a list longer than the output budget before
        computing it (`'x' * 10**9` would take the memory first and be counted only after)."""
        size = None
        if operator == "*":
            seq, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                size = len(seq) * times
        elif operator == "+" and all(isinstance(v, (str, list, tuple)) for v in (left, right)):
            size = len(left) + len(right)
        if size is not None and size > self.output_chars:
            raise OutputBudgetError(f"`{operator}` would build {size:,} items")
        return super().call_binop(context, operator, left, right)

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            optimized=False,
            finalize=_as_is,
        )
        self.filters = {name: _at_run_time_only(f) for name, f in self.filters.items()}
        self.tests = {name: _at_run_time_only(t) for name, t in self.tests.items()}  # type: ignore[arg-type]


ENV = _PromptEnvironment()
"""The one template environment (no file access, no mutation of values, no private attributes)."""


class PlaceholderSyntaxError(ValueError):
    """A template has a syntax error; the message says where."""


class RenderBudgetError(StepError):
    """A render ran out of time, output or memory, or its run was cancelled meanwhile."""


@dataclass(frozen=True)
class RenderBudget:
    """What one render may use."""

    seconds: float = RENDER_SECONDS
    chars: int = RENDER_CHARS
    memory_bytes: int = RENDER_MEMORY_BYTES

    @classmethod
    def from_env(cls) -> RenderBudget:
        """The defaults, overridden by `LOOPDESK_RENDER_SECONDS` and `LOOPDESK_RENDER_CHARS`."""
        return cls(
            seconds=float(os.environ.get("LOOPDESK_RENDER_SECONDS", RENDER_SECONDS)),
            chars=int(os.environ.get("LOOPDESK_RENDER_CHARS", RENDER_CHARS)),
        )


def placeholders(text: str) -> frozenset[str]:
    """Names of the values a template refers to (roots only: `{{ a.b }}` gives `a`)."""
    return _placeholders(text)


@lru_cache(maxsize=4096)
def _parse(text: str) -> nodes.Template:
    """The template's syntax tree; PlaceholderSyntaxError says what is wrong."""
    try:
        ast = ENV.parse(text)
    except TemplateSyntaxError as exc:  # also unknown filters and tests
        raise PlaceholderSyntaxError(f"line {exc.lineno}: {exc.message}") from None
    except RecursionError:
        raise PlaceholderSyntaxError("it nests brackets or expressions too deeply") from None
    for tag in (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends):
        if ast.find(tag) is not None:
            raise PlaceholderSyntaxError("prompts cannot include, import or extend other templates")
    return ast


@lru_cache(maxsize=4096)
def _placeholders(text: str) -> frozenset[str]:
    """`placeholders`, once per distinct text (the Designer validates on every rerun)."""
    try:
        return frozenset(meta.find_undeclared_variables(_parse(text)))
    except TemplateSyntaxError as exc:  # unknown filters and tests are found here
        raise PlaceholderSyntaxError(f"line {exc.lineno}: {exc.message}") from None


# -- which prompts are cheap ------------------------------------------------------------------------

_PLAIN_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.Getattr,
    nodes.If, nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Test,
    nodes.CondExpr, nodes.Filter, nodes.Getitem, nodes.List, nodes.Tuple,
)  # fmt: skip
"""What a plain template may hold (a list or tuple only of small constants: `x in ['a', 'b']`)."""
_PLAIN_FILTERS = frozenset(
    {"upper", "lower", "title", "capitalize", "trim", "striptags", "length", "count", "first", "last",
     "default", "d", "e", "escape", "string", "int", "float", "abs", "round", "truncate", "wordcount",
     "tojson", "safe"}
)  # fmt: skip
"""Filters whose output is at most about as long as their input."""


def _small_const(node: nodes.Node) -> bool:
    if not isinstance(node, nodes.Const):
        return False
    value = node.value
    return not isinstance(value, (str, int, float)) or len(str(value)) <= 20


@lru_cache(maxsize=4096)
def is_plain(text: str) -> bool:
    """Whether a template only prints and tests values (cost bounded by their size): no loops,
    calls, macros, assignments, arithmetic or string building."""
    try:
        ast = _parse(text)
    except PlaceholderSyntaxError:
        return False
    for node in ast.find_all(nodes.Node):
        if not isinstance(node, _PLAIN_NODES):
            return False
        if isinstance(node, nodes.Filter) and (
            node.name not in _PLAIN_FILTERS or node.kwargs or node.dyn_args or node.dyn_kwargs
        ):
            return False
        if isinstance(node, nodes.Filter) and not all(_small_const(a) for a in node.args):
            return False
        if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Const):
            return False
        if isinstance(node, (nodes.List, nodes.Tuple)) and not all(_small_const(i) for i in node.items):
            return False  # `{{ [t, t, …] }}` prints every copy at once
    return True


_GROWTH = {"e": 6, "escape": 6, "tojson": 6, "upper": 3, "title": 3, "capitalize": 3, "lower": 3}
"""How many times longer than its input a plain filter's output can be (`&` → `&amp;`, `<` → `\u003c`,
`ß` → `SS`); the others print at most their input, or a number."""
_NUMBER_CHARS = 32


def _value_chars(value: Any) -> int:
    """How many characters printing a value can take (its text, or its repr for anything else)."""
    return len(value) if isinstance(value, str) else len(repr(value))


def _chars_bound(node: nodes.Node, values: dict[str, Any]) -> int:
    """At most how many characters a plain expression prints with these values."""
    if isinstance(node, nodes.Name):
        return _value_chars(values.get(node.name, ""))
    if isinstance(node, nodes.Const):
        return _value_chars(node.value)
    if isinstance(node, (nodes.Getattr, nodes.Getitem)):
        return _chars_bound(node.node, values)  # a part is never longer than the whole
    if isinstance(node, nodes.Filter):
        if node.name in ("length", "count", "wordcount", "int", "float", "abs", "round"):
            return _NUMBER_CHARS
        inner = _chars_bound(node.node, values) if node.node is not None else 0
        return _GROWTH.get(node.name, 1) * inner + sum(_chars_bound(a, values) for a in node.args)
    if isinstance(node, nodes.CondExpr):
        branches = [node.expr1, node.expr2] if node.expr2 is not None else [node.expr1]
        return max(_chars_bound(b, values) for b in branches)
    if isinstance(node, (nodes.And, nodes.Or)):  # prints one of its operands
        return max(_chars_bound(node.left, values), _chars_bound(node.right, values))
    if isinstance(node, (nodes.List, nodes.Tuple)):
        return sum(_chars_bound(i, values) + 2 for i in node.items) + 2
    return _NUMBER_CHARS  # comparisons and tests print True or False


def output_bound(text: str, values: dict[str, Any]) -> int:
    """At most how many characters a plain template (`is_plain`) prints with these values: its own
    text plus what every printed expression can take, each branch of an `if` counted (measured before
    rendering, so a template that could exceed the budget renders where its memory is capped)."""
    ast = _parse(text)
    total = 0
    for output in ast.find_all(nodes.Output):
        for part in output.nodes:
            total += len(part.data) if isinstance(part, nodes.TemplateData) else _chars_bound(part, values)
    return total


def loop_warnings(text: str) -> list[str]:
    """Why a template's loops may not be bounded: ranges that are large or not constant, nested
    loops, recursive loops and macros (warnings; the render budget still stops them)."""
    try:
        ast = _parse(text)
    except PlaceholderSyntaxError:
        return []
    out: list[str] = []
    for loop in ast.find_all(nodes.For):
        if loop.recursive:
            out.append("a recursive loop")
        it = loop.iter
        if isinstance(it, nodes.Call) and isinstance(it.node, nodes.Name) and it.node.name == "range":
            if not all(isinstance(a, nodes.Const) and isinstance(a.value, int) for a in it.args):
                out.append("a loop over range() of a size that is not a fixed number")
            elif max((abs(a.value) for a in it.args if isinstance(a, nodes.Const)), default=0) > 1000:
                out.append("a loop over range() of more than 1,000 items")
        if next(loop.find_all(nodes.For), None) is not None:
            out.append("a loop inside another loop")
    if ast.find(nodes.Macro) is not None:
        out.append("a macro (macros can call themselves without end)")
    return list(dict.fromkeys(out))


# -- rendering ----------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _compiled(text: str) -> Template:
    """Compile a template once; prompts repeat across runs."""
    return ENV.from_string(text)


def render_here(text: str, values: dict[str, Any], what: str, budget: RenderBudget) -> str:
    """Render a plain template in this thread, counting its output as it is produced."""
    deadline = time.monotonic() + budget.seconds
    parts: list[str] = []
    size = 0
    try:
        for chunk in _compiled(text).generate(values):
            size += len(chunk)
            if size > budget.chars:
                raise RenderBudgetError(over_chars(what, budget))
            if time.monotonic() > deadline:
                raise RenderBudgetError(over_time(what, budget))
            parts.append(chunk)
    except StepError:
        raise
    except Exception as exc:
        raise StepError(render_failure(what, exc)) from None
    return "".join(parts)


def render_failure(what: str, exc: BaseException) -> str:
    """A failed render in words, naming what was rendered."""
    if isinstance(exc, UndefinedError):
        return f"{what} refers to a value that is not set: {exc.message}"
    if isinstance(exc, TemplateSyntaxError):
        return f"{what} has a syntax error at line {exc.lineno}: {exc.message}"
    if isinstance(exc, RecursionError):
        return f"{what} could not be rendered: it calls itself too deeply"
    if isinstance(exc, MemoryError):
        return f"{what} could not be rendered: it needs more memory than is available"
    reason = str(exc).strip() or type(exc).__name__
    return f"{what} could not be rendered: {reason}"  # sandbox violations, filter errors


def over_time(what: str, budget: RenderBudget) -> str:
    """The message for a render that ran out of time."""
    return f"{what} took longer than the render budget of {budget.seconds:g} s; remove or shorten its loops"


def over_chars(what: str, budget: RenderBudget) -> str:
    """The message for a render that produced too much text."""
    return (
        f"{what} produced more than the render budget of {budget.chars:,} characters; "
        "shorten it or the values it repeats"
    )


def over_memory(what: str, budget: RenderBudget) -> str:
    """The message for a render that needed too much memory."""
    return (
        f"{what} needed more than the render budget of {budget.memory_bytes // 2**20:,} MB of memory; "
        "remove the loops or repetitions that build large text"
    )


# -- changing the values a template uses -------------------------------------------------------------


def _tokens(text: str) -> list[tuple[str, str]] | None:
    """The template's tokens as (type, text), which join back into `text`; None when it does not lex."""
    try:
        return [(kind, value) for _, kind, value in ENV.lex(text)]
    except TemplateSyntaxError:
        return None


def rename_placeholder(text: str, old: str, new: str) -> str:
    """The template with every use of the value `old` (`{{ old }}`, `{{ old.field }}`, `{% if old %}`)
    naming `new` instead; attributes, filters and tests that happen to share the name stay. A template
    that does not parse is returned unchanged."""
    tokens = _tokens(text)
    if tokens is None or old == new:
        return text
    out: list[str] = []
    before = ""  # the last token that was not whitespace
    for kind, value in tokens:
        if kind == "name" and value == old and before not in (".", "|", "is"):
            value = new
        out.append(value)
        if kind != "whitespace":
            before = value
    return "".join(out)


def drop_placeholder(text: str, name: str) -> str:
    """The template without its plain `{{ name }}` placeholders (other uses of `name` stay, so
    validation still points at them); the blank lines a removal leaves are folded."""
    tokens = _tokens(text)
    if tokens is None:
        return text
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i][0] == "variable_begin":
            inner = []
            j = i + 1
            while j < len(tokens) and tokens[j][0] != "variable_end":
                inner.append(tokens[j])
                j += 1
            meaningful = [t for t in inner if t[0] != "whitespace"]
            if j < len(tokens) and meaningful == [("name", name)]:
                i = j + 1
                continue
        out.append(tokens[i][1])
        i += 1
    joined = "".join(out)
    if joined == text:
        return text
    lines = [line.rstrip() for line in joined.splitlines()]
    folded = "\n".join(lines)
    while "\n\n\n" in folded:
        folded = folded.replace("\n\n\n", "\n\n")
    return folded.strip()
