"""designer page (placeholder until its issue lands)."""

import streamlit as st

st.title("designer")
st.info("This page is being built.")
