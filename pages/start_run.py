"""start_run page (placeholder until its issue lands)."""

import streamlit as st

st.title("start_run")
st.info("This page is being built.")
