"""templates page (placeholder until its issue lands)."""

import streamlit as st

st.title("templates")
st.info("This page is being built.")
