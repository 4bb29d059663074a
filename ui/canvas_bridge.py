"""What the canvas component cannot do, added from the page: palette drag-and-drop, Delete/Backspace
on the selected step or connection, Esc to clear the selection, a mouse wheel that pans (Ctrl/Cmd +
wheel and pinch zoom), titles that hide when zoomed far out, handles large enough to grab, and the
window's height so the canvas can fill it.

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
.react-flow__handle { width: 24px !important; height: 24px !important; min-width: 24px; min-height: 24px;
  border: 2px solid #ffffff !important; background: #607d8b !important; border-radius: 50% !important; }
.react-flow__handle:hover, .react-flow__handle.connecting { background: #1976d2 !important;
  box-shadow: 0 0 0 4px rgba(25, 118, 210, 0.3); }
.react-flow__edge.loopdesk-drop-edge .react-flow__edge-path { stroke: #1976d2 !important;
  stroke-width: 5px !important; }
.react-flow__edge.selected .react-flow__edge-path { stroke-width: 4px !important; }
.react-flow.loopdesk-far .react-flow__node > div > div > div:not(:first-child) { display: none; }
.react-flow.loopdesk-very-far .react-flow__node > div > div > div { visibility: hidden; }
"""
FAR_ZOOM = 0.45
"""Below this zoom a card shows its title only (its other lines would be under 6 px)."""
VERY_FAR_ZOOM = 0.25
"""Below this zoom a card shows its shape only; zooming in brings the words back."""

_JS = """
export default function ({ data, setTriggerValue }) {
  const KIND = 'application/x-loopdesk-kind';
  // The page calls this again whenever the data changes: listeners are added once per document (the
  // set lives on the window) and reach the newest data and trigger through `bridge`.
  const bridge = window.__loopdeskBridge || (window.__loopdeskBridge = { hooked: new WeakSet() });
  bridge.data = data;
  bridge.set = setTriggerValue;
  const hooked = bridge.hooked;
  const frameOf = () => document.querySelector('iframe[title="streamlit_flow.streamlit_flow"]');
  const idOf = (el, prefix) => (el && (el.getAttribute('data-testid') || '').startsWith(prefix))
    ? el.getAttribute('data-testid').slice(prefix.length) : null;

  function palette() {
    for (const [kind, label] of Object.entries(bridge.data.kinds)) {
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
      style.textContent = bridge.data.css;
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
      const x = (e.clientX - pane.left - m.e) / m.a - bridge.data.half_width;
      const y = (e.clientY - pane.top - m.f) / m.d - 25;
      bridge.set('drop', { kind, edge, x: Math.round(x), y: Math.round(y), at: Date.now() });
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
      if (e.key === 'Escape') {
        picked = null;
        bridge.set('escape', { at: Date.now() });
        return;
      }
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
      bridge.set('delete', edge ? { edge, at: Date.now() } : { node, at: Date.now() });
    }, true);
    // The mouse wheel and a two-finger scroll pan the view; with Ctrl/Cmd (and a pinch, which
    // browsers report as a wheel with Ctrl) they zoom, as React Flow does by itself. The pan is a
    // short drag of the pane, which is how React Flow moves its view.
    const win = frame.contentWindow;
    doc.addEventListener('wheel', (e) => {
      const t = e.target;
      if (e.ctrlKey || e.metaKey || !(t && t.closest && t.closest('.react-flow'))) return;
      const pane = doc.querySelector('.react-flow__pane');
      if (!pane) return;
      e.preventDefault();
      e.stopPropagation();
      const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? pane.clientHeight : 1;
      let dx = e.deltaX * unit, dy = e.deltaY * unit;
      if (e.shiftKey && !dx) { dx = dy; dy = 0; }
      const r = pane.getBoundingClientRect();
      const x = r.left + r.width / 2, y = r.top + r.height / 2;
      const fire = (target, type, px, py) => target.dispatchEvent(new win.MouseEvent(type, {
        bubbles: true, cancelable: true, view: win, clientX: px, clientY: py, button: 0,
        buttons: type === 'mouseup' ? 0 : 1 }));
      fire(pane, 'mousedown', x, y);
      fire(win, 'mousemove', x - dx / 2, y - dy / 2);
      fire(win, 'mousemove', x - dx, y - dy);
      fire(win, 'mouseup', x - dx, y - dy);
    }, { capture: true, passive: false });
  }

  // far out, a card keeps its title only, then its shape only (zooming in brings the words back)
  function zoomWatch() {
    const frame = frameOf();
    const doc = frame && frame.contentDocument;
    const flow = doc && doc.querySelector('.react-flow');
    const viewport = doc && doc.querySelector('.react-flow__viewport');
    if (!flow || !viewport) return;
    const zoom = new DOMMatrixReadOnly(frame.contentWindow.getComputedStyle(viewport).transform).a;
    flow.classList.toggle('loopdesk-far', zoom < bridge.data.far_zoom);
    flow.classList.toggle('loopdesk-very-far', zoom < bridge.data.very_far_zoom);
  }

  // The window's size and where the canvas starts on the page: the page sizes the canvas to fill
  // the window below the toolbar (reported again when either changes by more than a few pixels).
  // Measured only while the page is at rest (no rerun running) and the same on two ticks in a row:
  // during a rerun elements come and go, and the canvas's place with them.
  bridge.askedAt = bridge.askedAt || 0;
  function room() {
    const frame = frameOf();
    const bar = document.querySelector('.st-key-designer_actions');
    // (not while a dialog is open: the rerun would close it; a menu (a popover) stays open through a
    // rerun, and the page must learn the window's size while one is open: the File menu stays open
    // after "Create", and the canvas then waited, unsized, until the person closed it)
    const open = document.querySelector('[data-testid="stDialog"]');
    if (!frame || !bar || open || document.querySelector('[data-testid="stStatusWidget"]')) {
      bridge.last = null;
      return;
    }
    const box = frame.getBoundingClientRect();
    if (box.height < 50 || box.top < bar.getBoundingClientRect().bottom) { bridge.last = null; return; }
    const top = Math.round(box.top + window.scrollY);
    const now = { height: window.innerHeight, width: window.innerWidth, top };
    const near = (a, b) => a && b && Math.abs(a.height - b.height) < 8 && Math.abs(a.top - b.top) < 8
      && Math.abs(a.width - b.width) < 8;
    const steady = near(bridge.last, now);
    bridge.last = now;
    // the page says what it knows; told again (at most every 2 s) until it knows this
    if (!steady || near(bridge.data.room, now) || Date.now() - bridge.askedAt < 2000) return;
    bridge.askedAt = Date.now();
    bridge.set('room', { ...now, at: bridge.askedAt });
  }

  // A fitted small workflow is not blown up: the view zooms back out to 100 % (a step at a time).
  function notCloser(doc, frame, left) {
    const viewport = doc.querySelector('.react-flow__viewport');
    const out = doc.querySelector('.react-flow__controls-zoomout');
    if (!viewport || !out || left <= 0) return;
    const zoom = new DOMMatrixReadOnly(frame.contentWindow.getComputedStyle(viewport).transform).a;
    if (zoom <= 1.05) return;
    out.click();
    setTimeout(() => notCloser(doc, frame, left - 1), 60);
  }

  // "Fit" is React Flow's own fit (its controls' button), asked for by the page with a new number,
  // and done again whenever the canvas changes size, so the whole workflow shows at the size it has.
  function fit() {
    const frame = frameOf();
    const doc = frame && frame.contentDocument;
    const button = doc && doc.querySelector('.react-flow__controls-fitview');
    if (!button || document.querySelector('[data-testid="stStatusWidget"]')) return;
    const height = Math.round(frame.getBoundingClientRect().height);
    const asked = document.querySelector('.loopdesk-fit');
    const number = asked ? asked.getAttribute('data-fit') : null;
    if (bridge.fitted === number && bridge.fitHeight === height) return;
    bridge.fitted = number;
    bridge.fitHeight = height;
    setTimeout(() => { button.click(); setTimeout(() => notCloser(doc, frame, 6), 120); }, 150);
  }

  // The toolbar's Fit fits the view in the browser at once (no rerun needed; without this script its
  // click still reaches the page, which asks for a fit).
  function fitButton() {
    const box = document.querySelector('.st-key-designer_fit');
    const button = box && box.querySelector('button');
    if (!button || hooked.has(button)) return;
    hooked.add(button);
    button.addEventListener('click', (e) => {
      const frame = frameOf();
      const doc = frame && frame.contentDocument;
      const fitview = doc && doc.querySelector('.react-flow__controls-fitview');
      if (!fitview) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      fitview.click();
      setTimeout(() => notCloser(doc, frame, 6), 120);
    }, true);
  }

  // One timer per window: this function runs again with each new data, and an older timer left
  // running would act on older data (it reported the window's size every 2 s, a rerun each time).
  const tick = () => { palette(); fitButton(); canvas(); room(); fit(); zoomWatch(); };
  tick();
  clearInterval(bridge.timer);
  const timer = setInterval(tick, 500);
  bridge.timer = timer;
  return () => { clearInterval(timer); if (bridge.timer === timer) bridge.timer = null; };
}
"""

_bridge = st.components.v2.component("loopdesk_canvas_bridge", js=_JS)


@dataclass(frozen=True)
class CanvasEvent:
    """Something done on the canvas that the component itself does not report."""

    action: str
    """`drop` (a palette kind dropped: onto `edge`, or at `x`, `y`), `delete` (of `node` or `edge`)
    or `escape` (clear the selection)."""
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


ROOM_KEY = "designer_room"
"""The browser window's height and width and where the canvas starts on the page (px)."""


def _remember_room(raw: dict[str, Any]) -> None:
    """Keep what the browser said about the window (numbers only: it came from a browser)."""
    try:
        room = {k: int(raw[k]) for k in ("height", "width", "top")}
    except (KeyError, TypeError, ValueError):
        return
    st.session_state[ROOM_KEY] = room


def room() -> dict[str, int] | None:
    """The window's height and width and the canvas's top on the page, once the browser said."""
    value = st.session_state.get(ROOM_KEY)
    return value if isinstance(value, dict) else None


def canvas_bridge(
    kinds: dict[str, str], fit_number: int = 0, key: str = "designer_canvas_bridge"
) -> CanvasEvent | None:
    """Mount the bridge (once per run, next to the palette); the drop, deletion or Esc of this run,
    if any.

    `kinds` maps each palette kind to its label (the drag source is the button `designer_add_<kind>`);
    a new `fit_number` fits the view to the workflow (as does any change of the canvas's size). The
    number travels in the page (an element the script reads), not in the bridge's data: new data
    starts the script again, and started again in the run that pushes a new canvas state, its fit
    left React Flow unable to pan (seen in Chromium, cause inside the component not found).
    """
    sized = "yes" if room() is not None else "no"  # (the canvas is drawn to the window's size once known)
    st.html(f'<span class="loopdesk-fit" data-fit="{int(fit_number)}" data-sized="{sized}"></span>')
    result = _bridge(
        key=key,
        data={
            "kinds": kinds,
            "css": CANVAS_CSS,
            "half_width": NODE_WIDTH // 2,
            "far_zoom": FAR_ZOOM,
            "very_far_zoom": VERY_FAR_ZOOM,
            "room": room(),
        },
        on_drop_change=lambda: None,
        on_delete_change=lambda: None,
        on_escape_change=lambda: None,
        on_room_change=lambda: None,
    )
    reported = getattr(result, "room", None)
    if isinstance(reported, dict):
        _remember_room(reported)
    for action in ("drop", "delete", "escape"):
        raw = getattr(result, action, None)
        event = _event(action, raw, kinds) if raw else None
        if event is not None:
            seen = f"{key}:last:{action}"
            if st.session_state.get(seen) == event.at:
                return None  # the same gesture reported again by a later rerun
            st.session_state[seen] = event.at
            return event
    return None
