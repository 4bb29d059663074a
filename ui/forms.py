"""Render a workflow's trigger form and show validation messages at the field they concern."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from engine.limits import MAX_FORM_NUMBER
from engine.model import FormField, FormTriggerNode
from ui.format import md_escape, md_label, md_message


@dataclass
class TriggerForm:
    """What the form returned this run, and where each field's message goes."""

    submitted: bool
    values: dict[str, Any]
    slots: dict[str, DeltaGenerator] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def show_errors(self, errors: Mapping[str, str]) -> list[str]:
        """Put each message under its field; return the messages that name no field."""
        rest = []
        for name, message in errors.items():
            slot = self.slots.get(name)
            if slot is None:
                rest.append(message)
            else:
                slot.error(md_message(message), icon=":material/error:")
        return rest


def field_label(f: FormField) -> str:
    """What the requester sees next to an input (plain text)."""
    return f.label or f.name.replace("_", " ").capitalize()


def missing_required(trigger: FormTriggerNode, values: Mapping[str, Any]) -> dict[str, str]:
    """Required fields left empty (the engine would fill in a default, but a cleared field is meant empty)."""
    errors = {}
    for f in trigger.fields:
        value = values.get(f.name)
        if f.required and (value is None or (isinstance(value, str) and not value.strip())):
            errors[f.name] = f"{field_label(f)} is required"
    return errors


def _number(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _one_line(value: Any, limit: int = 80) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def starting_value(f: FormField, examples: bool) -> str | float | None:
    """What a field holds when the form opens: its default, else (trying a template) its example."""
    if f.default is not None:
        return f.default
    return f.example if examples else None


def _widget(f: FormField, key: str, examples: bool) -> Any:
    """Draw one input and return its value."""
    label = md_label(field_label(f))  # `required=True` makes Streamlit mark the field "(required)"
    start = starting_value(f, examples)
    hint = f"e.g. {_one_line(f.example)}" if f.example not in (None, "") else None
    if f.type == "long_text":
        return st.text_area(
            label, value="" if start is None else str(start), key=key, required=f.required, placeholder=hint
        )
    if f.type == "choice":
        options = list(f.options)
        index = options.index(str(start)) if start is not None and str(start) in options else None
        if index is None and f.required and len(options) == 1:
            index = 0
        return st.selectbox(
            label, options, index=index, key=key, placeholder=hint or "Choose an option", required=f.required
        )
    if f.type == "number":
        return st.number_input(
            label,
            value=_number(start),
            min_value=-float(MAX_FORM_NUMBER),
            max_value=float(MAX_FORM_NUMBER),
            step=1.0,
            format="%g",
            key=key,
            required=f.required,
            placeholder=hint,
        )
    if f.type == "email":
        return st.text_input(
            label,
            value="" if start is None else str(start),
            key=key,
            type="email",
            placeholder=hint or "name@example.com",
            required=f.required,
        )
    return st.text_input(
        label, value="" if start is None else str(start), key=key, required=f.required, placeholder=hint
    )


def fill_examples(trigger: FormTriggerNode, key: str) -> None:
    """Put every field's example into the form (kept by each input until it is submitted or changed)."""
    for f in trigger.fields:
        if f.example is None:
            continue
        value: Any = _number(f.example) if f.type == "number" else str(f.example)
        if f.type == "choice" and value not in f.options:
            continue
        st.session_state[f"{key}__{f.name}"] = value


def render_trigger_form(
    trigger: FormTriggerNode, key: str, submit_label: str = "Start run", examples: bool = False
) -> TriggerForm:
    """Draw the trigger's fields in an st.form (with `examples`, fields without a default start with
    their example: a template tried as it is); `submitted` is True on the run after the button."""
    slots: dict[str, DeltaGenerator] = {}
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    with st.form(key, border=True):
        if not trigger.fields:
            st.caption("This form has no fields: submitting starts the run.")
        for f in trigger.fields:
            values[f.name] = _widget(f, f"{key}__{f.name}", examples)
            labels[f.name] = field_label(f)
            if f.help:
                st.caption(md_escape(f.help))
            slots[f.name] = st.empty()
        submitted = st.form_submit_button(submit_label, type="primary", icon=":material/play_arrow:")
    return TriggerForm(submitted=submitted, values=values, slots=slots, labels=labels)
