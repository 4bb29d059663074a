"""Loopdesk's entry point: `streamlit run app.py` serves the pages and the HTTP API on one port.

Streamlit runs this file as the page script (`__main__`): it draws the page shell. The server
imports it as a module and finds `app`, which adds the API routes (server/api.py) and a lifespan
that starts the engine, its workers and timers when the server starts, before any browser opens.
"""

from __future__ import annotations

import streamlit as st

if __name__ == "__main__":
    from ui.shell import render

    render()
else:
    from server.asgi import lifespan, routes

    app = st.App(__file__, routes=routes(), lifespan=lifespan)
