"""board page (placeholder until its issue lands)."""

import streamlit as st

st.title("board")
st.info("This page is being built.")
