"""Shared Streamlit widgets and the per-process runtime."""
