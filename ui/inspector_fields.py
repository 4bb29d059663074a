"""Inputs the Designer's inspector forms share: a choice that keeps an unknown current value, lines of
a text area, "is it a reasoning model", and people and groups from the directory."""

from __future__ import annotations

from typing import Any

import streamlit as st

from engine.directory import Directory

REASONING: dict[bool | None, str] = {None: "Auto", True: "Yes", False: "No"}


REASONING_HELP = (
    "Reasoning models (o1, o3, o4-mini, gpt-5…) take no temperature and get max_completion_tokens. "
    "Auto recognises the known names; choose Yes for a gateway alias or an Azure deployment name."
)


def pick_one(
    label: str, options: list[str], current: str | None, key: str, placeholder: str, **kwargs: Any
) -> str | None:
    """A selectbox showing `current` (kept as an option even when unknown), else nothing chosen."""
    if current and current not in options:
        options = [*options, current]
    choice = st.selectbox(
        label,
        options,
        index=options.index(current) if current in options else None,
        placeholder=placeholder,
        key=key,
        **kwargs,
    )
    return None if choice is None else str(choice)


def text_lines(text: str) -> list[str]:
    """Non-empty, stripped lines of a text area."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def reasoning_choice(label: str, current: bool | None, key: str) -> bool | None:
    """Auto / Yes / No: whether a model is a reasoning model."""
    options = list(REASONING)
    choice = st.selectbox(
        label, options, index=options.index(current), format_func=REASONING.__getitem__, key=key,
        help=REASONING_HELP,
    )  # fmt: skip
    return None if choice is None else bool(choice)


def people_picker(label: str, current: list[str], directory: Directory, key: str, help: str) -> list[str]:
    """A multiselect of users and groups (`group:NAME`), keeping entries the directory lost."""
    options = [*directory.choices(), *(c for c in current if c not in directory.choices())]
    chosen = st.multiselect(label, options, default=current, key=key, format_func=directory.label, help=help)
    return [str(c) for c in chosen]
