"""Scripts run inside the Designer canvas's frame by the browser tests and the click benchmark."""

from __future__ import annotations

POINT_ON_EDGE = """(id) => {
  const edge = document.querySelector(`[data-testid="rf__edge-${id}"]`);
  const path = edge && edge.querySelector('path.react-flow__edge-path');
  if (!path) return null;
  const length = path.getTotalLength();
  const matrix = path.getScreenCTM();
  for (const f of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]) {
    const p = path.getPointAtLength(length * f);
    const x = matrix.a * p.x + matrix.c * p.y + matrix.e, y = matrix.b * p.x + matrix.d * p.y + matrix.f;
    const hit = document.elementFromPoint(x, y);
    if (hit && hit.closest('.react-flow__edge') === edge) return [x, y];
  }
  return null;
}"""
"""A point (in the frame) where the connection itself is under the pointer, not a card or a handle
drawn over it, as a person aims; null when it is all covered. Run inside the canvas's frame."""
