"""insights page (placeholder until its issue lands)."""

import streamlit as st

st.title("insights")
st.info("This page is being built.")
