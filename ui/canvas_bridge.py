"""What the canvas component cannot do, added from the page: palette drag-and-drop, Delete/Backspace
on the selected step or connection, and handles large enough to grab.

streamlit-flow draws its canvas in an iframe served from the app's own origin, so a script on the
page (a components-v2 component, which runs in the page itself) can reach the canvas document: it
adds a stylesheet, a drop target and a key listener there, and reports drops and deletions to Python
as trigger values. The palette buttons stay buttons (keyboard users click them); they can also be
dragged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from ui.canvas import NODE_WIDTH

CANVAS_CSS = """
.react-flow__handle { width: 16px !important; height: 16px !important; min-width: 16px; min-height: 16px;
  border: 2px solid #ffffff !important; background: #607d8b !important; border-radius: 50% !important; }
.react-flow__handle:hover, .react-flow__handle.connecting { background: #1976d2 !important;
  box-shadow: 0 0 0 4px rgba(25, 118, 210, 0.3); }
.react-flow__edge.loopdesk-drop-edge .react-flow__edge-path { stroke: #1976d2 !important;
  stroke-width: 5px !important; }
.react-flow__edge.selected .react-flow__edge-path { stroke-width: 4px !important; }
"""

_JS = """
export default function ({ data, setTriggerValue }) {
  const KIND = 'application/x-loopdesk-kind';
  const hooked = new WeakSet();
  const frameOf = () => document.querySelector('iframe[title="streamlit_flow.streamlit_flow"]');
  const idOf = (el, prefix) => (el && (el.getAttribute('data-testid') || '').startsWith(prefix))
    ? el.getAttribute('data-testid').slice(prefix.length) : null;

  function palette() {
    for (const [kind, label] of Object.entries(data.kinds)) {
      const box = document.querySelector(`.st-key-designer_add_${kind}`);
      const button = box && box.querySelector('button');
      if (!button || hooked.has(button)) continue;
      hooked.add(button);
      button.draggable = true;
      button.title = `Drag “${label}” onto the canvas (onto a connection to insert it there), `
        + 'or click to add it';
      button.addEventListener('dragstart', (e) => {
        e.dataTransfer.setData(KIND, kind);
        e.dataTransfer.setData('text/plain', label);
        e.dataTransfer.effectAllowed = 'copy';
      });
    }
  }

  function canvas() {
    const frame = frameOf();
    const doc = frame && frame.contentDocument;
    if (!doc || !doc.head || !doc.querySelector('.react-flow')) return;
    if (!doc.getElementById('loopdesk-canvas-style')) {
      const style = doc.createElement('style');
      style.id = 'loopdesk-canvas-style';
      style.textContent = data.css;
      doc.head.appendChild(style);
    }
    if (hooked.has(doc)) return;
    hooked.add(doc);
    let lit = null;
    const edgeAt = (x, y) => {
      const el = doc.elementFromPoint(x, y);
      return el ? el.closest('.react-flow__edge') : null;
    };
    const light = (edge) => {
      if (lit === edge) return;
      if (lit) lit.classList.remove('loopdesk-drop-edge');
      lit = edge;
      if (lit) lit.classList.add('loopdesk-drop-edge');
    };
    const carries = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes(KIND);
    doc.addEventListener('dragover', (e) => {
      if (!carries(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      light(edgeAt(e.clientX, e.clientY));
    });
    doc.addEventListener('dragleave', (e) => { if (!e.relatedTarget) light(null); });
    doc.addEventListener('drop', (e) => {
      if (!carries(e)) return;
      e.preventDefault();
      const kind = e.dataTransfer.getData(KIND);
      const edge = idOf(edgeAt(e.clientX, e.clientY), 'rf__edge-');
      light(null);
      const viewport = doc.querySelector('.react-flow__viewport');
      const pane = doc.querySelector('.react-flow').getBoundingClientRect();
      const m = new DOMMatrixReadOnly(frame.contentWindow.getComputedStyle(viewport).transform);
      const x = (e.clientX - pane.left - m.e) / m.a - data.half_width;
      const y = (e.clientY - pane.top - m.f) / m.d - 25;
      setTriggerValue('drop', { kind, edge, x: Math.round(x), y: Math.round(y), at: Date.now() });
    });
    // What was clicked last: the page redraws the canvas after a click (selecting a connection's
    // step in the inspector), which clears the component's own selection of a connection.
    let picked = null;
    doc.addEventListener('click', (e) => {
      const el = e.target && e.target.closest ? e.target : null;  // (its Element is the frame's own)
      const edge = idOf(el && el.closest('.react-flow__edge'), 'rf__edge-');
      const node = idOf(el && el.closest('.react-flow__node'), 'rf__node-');
      picked = edge ? { edge } : node ? { node } : null;
    }, true);
    doc.addEventListener('keydown', (e) => {
      if (e.key !== 'Delete' && e.key !== 'Backspace') return;
      const t = e.target;
      if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
      const still = picked && doc.querySelector(
        `[data-testid="${picked.edge ? 'rf__edge-' + picked.edge : 'rf__node-' + picked.node}"]`);
      const edge = still ? picked.edge : idOf(doc.querySelector('.react-flow__edge.selected'), 'rf__edge-');
      const node = still ? picked.node : idOf(doc.querySelector('.react-flow__node.selected'), 'rf__node-');
      if (!edge && !node) return;
      e.preventDefault();
      e.stopPropagation();
      setTriggerValue('delete', edge ? { edge, at: Date.now() } : { node, at: Date.now() });
    }, true);
  }

  const tick = () => { palette(); canvas(); };
  tick();
  const timer = setInterval(tick, 500);
  return () => clearInterval(timer);
}
"""

_bridge = st.components.v2.component("loopdesk_canvas_bridge", js=_JS)


@dataclass(frozen=True)
class CanvasEvent:
    """Something done on the canvas that the component itself does not report."""

    action: str
    """`drop` (a palette kind dropped: onto `edge`, or at `x`, `y`) or `delete` (of `node` or `edge`)."""
    kind: str | None = None
    edge: str | None = None
    node: str | None = None
    x: float = 0.0
    y: float = 0.0
    at: float = 0.0
    """When the browser saw it (its clock): one gesture is acted on once, however often it is reported."""


def _event(action: str, raw: Any, kinds: dict[str, str]) -> CanvasEvent | None:
    """A trigger value as an event, or None when it is malformed (it came from a browser)."""
    if not isinstance(raw, dict):
        return None
    kind = raw.get("kind")
    if action == "drop" and kind not in kinds:
        return None
    try:
        x, y = float(raw.get("x") or 0), float(raw.get("y") or 0)
    except (TypeError, ValueError):
        x = y = 0.0
    edge, node = raw.get("edge"), raw.get("node")
    try:
        at = float(raw.get("at") or 0)
    except (TypeError, ValueError):
        at = 0.0
    return CanvasEvent(
        action,
        kind=str(kind) if kind else None,
        edge=str(edge) if edge else None,
        node=str(node) if node else None,
        x=x,
        y=y,
        at=at,
    )


def canvas_bridge(kinds: dict[str, str], key: str = "designer_canvas_bridge") -> CanvasEvent | None:
    """Mount the bridge (once per run, next to the palette); the drop or deletion of this run, if any.

    `kinds` maps each palette kind to its label (the drag source is the button `designer_add_<kind>`).
    """
    result = _bridge(
        key=key,
        data={"kinds": kinds, "css": CANVAS_CSS, "half_width": NODE_WIDTH // 2},
        on_drop_change=lambda: None,
        on_delete_change=lambda: None,
    )
    for action in ("drop", "delete"):
        raw = getattr(result, action, None)
        event = _event(action, raw, kinds) if raw else None
        if event is not None:
            seen = f"{key}:last:{action}"
            if st.session_state.get(seen) == event.at:
                return None  # the same gesture reported again by a later rerun
            st.session_state[seen] = event.at
            return event
    return None
