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


def _widget(f: FormField, key: str) -> Any:
    """Draw one input and return its value."""
    label = md_label(field_label(f))  # `required=True` makes Streamlit mark the field "(required)"
    default = f.default
    if f.type == "long_text":
        return st.text_area(
            label, value="" if default is None else str(default), key=key, required=f.required
        )
    if f.type == "choice":
        options = list(f.options)
        index = options.index(str(default)) if default is not None and str(default) in options else None
        if index is None and f.required and len(options) == 1:
            index = 0
        return st.selectbox(
            label, options, index=index, key=key, placeholder="Choose an option", required=f.required
        )
    if f.type == "number":
        number = _number(default)
        return st.number_input(
            label,
            value=number,
            min_value=-float(MAX_FORM_NUMBER),
            max_value=float(MAX_FORM_NUMBER),
            step=1.0,
            format="%g",
            key=key,
            required=f.required,
        )
    if f.type == "email":
        return st.text_input(
            label,
            value="" if default is None else str(default),
            key=key,
            type="email",
            placeholder="name@example.com",
            required=f.required,
        )
    return st.text_input(label, value="" if default is None else str(default), key=key, required=f.required)


def render_trigger_form(trigger: FormTriggerNode, key: str, submit_label: str = "Start run") -> TriggerForm:
    """Draw the trigger's fields in an st.form; `submitted` is True on the run after the button."""
    slots: dict[str, DeltaGenerator] = {}
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    with st.form(key, border=True):
        if not trigger.fields:
            st.caption("This form has no fields: submitting starts the run.")
        for f in trigger.fields:
            values[f.name] = _widget(f, f"{key}__{f.name}")
            labels[f.name] = field_label(f)
            if f.help:
                st.caption(md_escape(f.help))
            slots[f.name] = st.empty()
        submitted = st.form_submit_button(submit_label, type="primary", icon=":material/play_arrow:")
    return TriggerForm(submitted=submitted, values=values, slots=slots, labels=labels)
