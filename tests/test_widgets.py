"""Explorers carry a static figure of their default state (the website shows it; Jupyter shows the widget)."""
import base64

import matplotlib

matplotlib.use("Agg")
import ipywidgets as w  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from mmcl_edu import widgets  # noqa: E402


def _figure():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    return fig


def test_with_static_figure_adds_a_png_and_keeps_the_widget_view():
    slider = widgets.with_static_figure(w.IntSlider(3), _figure)
    before = plt.get_fignums()
    bundle = slider._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == before  # the figure is closed, not shown a second time


def test_with_static_figure_without_a_figure_adds_nothing():
    slider = widgets.with_static_figure(w.IntSlider(3), lambda: None)
    assert "image/png" not in slider._repr_mimebundle_()


def test_misalignment_explorer_shows_the_default_policy():
    box = widgets.misalignment_explorer(3, selected=(0, 1), perturbed=(0,))
    bundle = box._repr_mimebundle_()
    assert "image/png" in bundle and "application/vnd.jupyter.widget-view+json" in bundle
