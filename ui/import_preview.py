"""The import preview in words: what a file would change before it becomes a version."""

from __future__ import annotations

from engine.services import ImportPreview
from ui.format import md_escape


def _names(titles: tuple[str, ...]) -> str:
    """Step titles as a readable list (escaped Markdown)."""
    return ", ".join(f"“{md_escape(t)}”" for t in titles)


def _field(name: str) -> str:
    """A setting's name in words."""
    return name.replace("_", " ")


def import_summary(preview: ImportPreview) -> str:
    """What importing the file would do, as Markdown: a new workflow, or the changes to the latest version."""
    wf, source = preview.workflow, md_escape(preview.source)
    if preview.current is None or preview.changes is None:
        n = len(wf.nodes)
        return (
            f":material/upload_file: **{source}** is a new workflow, “{md_escape(wf.name)}”, with {n} "
            f"step{'s' if n != 1 else ''}. Import it?"
        )
    version, changes = preview.current.version, preview.changes
    head = f":material/upload_file: **{source}** would become version {version + 1} of “{md_escape(wf.name)}”"
    if changes.empty:
        return f"{head}, but it is the same as version {version}: importing it adds nothing."
    lines = [f"{head}. Compared with version {version}:"]
    if changes.added:
        lines.append(f"- Steps added: {_names(changes.added)}")
    if changes.removed:
        lines.append(f"- Steps removed: {_names(changes.removed)}")
    for step in changes.changed:
        lines.append(f"- “{md_escape(step.title)}” changed: {', '.join(_field(f) for f in step.fields)}")
    if changes.connections_added or changes.connections_removed:
        lines.append(
            f"- Connections: {changes.connections_added} added, {changes.connections_removed} removed"
        )
    if changes.settings:
        lines.append(f"- Workflow settings changed: {', '.join(_field(f) for f in changes.settings)}")
    if changes.moved:
        lines.append(f"- {changes.moved} step{'s' if changes.moved != 1 else ''} moved on the canvas")
    return "\n".join(lines)


def import_button_label(preview: ImportPreview | None) -> str:
    """The confirming button says what it does."""
    if preview is None:
        return "Import"
    if preview.current is None:
        return "Import as a new workflow"
    return f"Import as version {preview.current.version + 1}"
