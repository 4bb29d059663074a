"""inbox page (placeholder until its issue lands)."""

import streamlit as st

st.title("inbox")
st.info("This page is being built.")
