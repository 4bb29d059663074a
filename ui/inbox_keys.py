"""Deciding from the keyboard in the Inbox, and bringing an opened item into view.

`j` / `k` open the next / previous item of the list, `a` approves the open item, `r` rejects it
and `c` requests changes: each key presses the same button a mouse would, so the form's edits and
comment go with it and every rule (a reason to reject, no self-approval) holds as it does for a
click. `r` and `c` with an empty comment put the cursor in the Comment box instead; `Esc` leaves
a text box so the keys work again. Keys typed into a text box are left alone.

On a phone the list and the open item stack, so an item opened from the list (or a link) would
sit below the whole list: its detail is scrolled into view once.
"""

from __future__ import annotations

import streamlit as st

OPEN_ITEM_KEY = "inbox_open"
"""The key of the container the open item is drawn in (scrolled to when it is not in view)."""

_HTML = """
<p class="loopdesk-keys">Keyboard: <kbd>j</kbd> / <kbd>k</kbd> next / previous item ·
<kbd>a</kbd> approve · <kbd>r</kbd> reject · <kbd>c</kbd> request changes ·
<kbd>Esc</kbd> leaves a text box</p>
<p class="loopdesk-keys-note" role="status" aria-live="polite"></p>
"""

_CSS = """
.loopdesk-keys, .loopdesk-keys-note {
  margin: 0; font-size: 0.875rem; color: var(--st-text-color); font-family: var(--st-font);
}
.loopdesk-keys kbd {
  border: 1px solid var(--st-border-color); border-radius: 4px; padding: 0 0.3em;
  font-family: var(--st-code-font); font-size: 0.8rem; background: var(--st-secondary-background-color);
}
.loopdesk-keys-note:empty { display: none; }
.loopdesk-keys-note { font-weight: 600; }
@media (max-width: 640px) { .loopdesk-keys { display: none; } }
"""

_JS = """
// One listener for the whole browser tab, installed once: Streamlit re-invokes this function when
// its data changes and may unmount and remount it around a rerun, so the listener does not hang
// on either; it acts only while the Inbox's hint is on the page.
function installKeys() {
  if (window.__loopdeskInboxKeys) return;
  const hint = () => document.querySelector('.loopdesk-keys');
  const say = (text) => {
    const note = document.querySelector('.loopdesk-keys-note');
    if (note) note.textContent = text;
  };
  const typing = ['INPUT', 'TEXTAREA', 'SELECT'];
  const editing = (el) => !!el && (el.isContentEditable || typing.includes(el.tagName));
  const openButton = (item) => item.querySelector('[class*="st-key-open_"] button');

  const move = (step) => {
    const items = [...document.querySelectorAll('[class*="st-key-inbox_item_"]')];
    if (!items.length) { say('Nothing is waiting for you.'); return; }
    const current = items.findIndex((item) => openButton(item) && openButton(item).disabled);
    const next = current < 0 ? 0 : current + step;
    if (next < 0 || next >= items.length) {
      say(step > 0 ? 'That is the last item in the list.' : 'That is the first item in the list.');
      return;
    }
    say('');
    openButton(items[next]).click();
  };

  const decide = (button, needsComment, key) => {
    const target = document.querySelector(`[class*="st-key-${button}"] button`);
    if (!target) { say('Open an item first: press j.'); return; }
    const comment = document.querySelector('[class*="st-key-comment_"] textarea');
    if (needsComment && comment && !comment.value.trim()) {
      comment.focus();
      say(`Write why in the Comment box, press Esc, then ${key} again.`);
      return;
    }
    say('');
    target.click();
  };

  const actions = {
    j: () => move(1),
    k: () => move(-1),
    a: () => decide('approve_', false, 'a'),
    r: () => decide('reject_', true, 'r'),
    c: () => decide('changes_', true, 'c'),
  };

  window.__loopdeskInboxKeys = (event) => {
    if (!hint() || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (editing(event.target)) {
      if (event.key === 'Escape') event.target.blur();
      return;
    }
    const act = actions[event.key];
    if (!act) return;
    // ours, not Streamlit's own `r` (rerun) and `c` (clear cache)
    event.preventDefault();
    event.stopImmediatePropagation();
    act();
  };
  window.addEventListener('keydown', window.__loopdeskInboxKeys, true);
}

// Bring a newly opened item into view when it is not (on a phone it sits below the list).
function bringIntoView(wanted, openKey) {
  if (!wanted || window.__loopdeskScrolledTo === wanted) return;
  let tries = 0;
  const bring = () => {
    const shown = document.querySelector(`.st-key-${openKey}`);
    if (shown && shown.innerText.trim()) {
      window.__loopdeskScrolledTo = wanted;
      const box = shown.getBoundingClientRect();
      if (box.top < 0 || box.top > window.innerHeight * 0.6) shown.scrollIntoView({ block: 'start' });
    } else if (tries++ < 40) {
      setTimeout(bring, 100);
    }
  };
  bring();
}

export default function (component) {
  const { data } = component;
  installKeys();
  bringIntoView(data && data.scroll_to, data && data.open_key);
}
"""

# in the page, not a shadow root: the key handler finds the hint (and its note) by class
_keys = st.components.v2.component("loopdesk_inbox_keys", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)


def inbox_keys(scroll_to: str | None) -> None:
    """The shortcut hint and the key handler; `scroll_to` is the item the reviewer just opened
    (brought into view once when it is off screen)."""
    _keys(key="inbox_keys", data={"scroll_to": scroll_to or "", "open_key": OPEN_ITEM_KEY})
