"""The dashboard's shared pieces; the only part of mnistkit that imports streamlit."""
