"""Interactive explorers (ipywidgets). Each explorer is built from a plain plotting function,
so the website shows a static figure and a notebook gets sliders."""
from __future__ import annotations


def in_notebook_frontend() -> bool:
    """True inside a live Jupyter/Colab front end (where widgets render), False in scripts."""
    try:
        from IPython import get_ipython
        ip = get_ipython()
        return ip is not None and "IPKernelApp" in ip.config
    except Exception:
        return False
