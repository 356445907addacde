"""Sphinx extension (``_config.yml``: ``local_extensions``) that keeps the site's pages free of console
errors, which ``tests_site/test_browser.py`` checks in a real browser:

* sphinx-thebe (added by Jupyter Book) puts its inline configuration script into each page twice; the
  second copy re-declares ``const THEBE_JS_URL`` and throws. Identical scripts are kept once.
* pydata-sphinx-theme logs "Got invalid theme mode" on a reader's first visit (empty ``localStorage``:
  its head script sets the mode to ``""``). A small script sets the stored mode to ``auto`` first.
"""
from __future__ import annotations

_DEFAULT_MODE = ('if (!localStorage.getItem("mode")) { localStorage.setItem("mode", "auto"); }'
                 ' document.documentElement.dataset.mode = localStorage.getItem("mode");')


def _unique_scripts(app, pagename, templatename, context, doctree):
    scripts, seen = [], set()
    for script in context.get("script_files", []):
        # the copies differ only in priority: compare what the page gets (file and attributes, body included)
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            scripts.append(script)
    context["script_files"][:] = scripts  # in place: later handlers (MathJax) add to this very list


def setup(app):
    app.add_js_file(None, body=_DEFAULT_MODE, priority=0)
    app.connect("html-page-context", _unique_scripts, priority=100)  # before any handler that returns a template (emit_firstresult stops there)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

