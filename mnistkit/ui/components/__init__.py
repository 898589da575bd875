"""Browser code shipped as Streamlit Components v2: each a small html/css/js file set."""
