"""Interactive explorers (ipywidgets). Each explorer is built from a plain plotting function,
so the website shows a static figure and a notebook gets sliders.

In a live notebook an explorer is a widget whose output also carries a PNG of its default state
(:func:`with_static_figure`): Jupyter and Colab show the widget; the website, which renders no widget
views and loads no widget JavaScript (``nb_mime_priority_overrides`` in ``_config.yml``), shows the
figure — so the page works offline and shows what the explorer shows before anyone moves a slider.
Outside a notebook front end (a script) an explorer returns that figure directly."""
from __future__ import annotations

import base64
import io
import types


def in_notebook_frontend() -> bool:
    """True inside a live Jupyter/Colab front end (where widgets render), False in scripts."""
    try:
        from IPython import get_ipython
        ip = get_ipython()
        return ip is not None and "IPKernelApp" in ip.config
    except Exception:
        return False


def figure_png(fig) -> str:
    """A matplotlib figure as base64-encoded PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def with_static_figure(widget, draw):
    """Give ``widget``'s display a second representation: ``image/png`` of ``draw()`` (a figure of
    the explorer's default state, or ``None`` for none). Front ends that render widgets show the
    widget; a static page shows the picture. Returns ``widget``."""
    original = widget._repr_mimebundle_

    def _repr_mimebundle_(self, **kwargs):
        bundle = original(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        fig = draw()
        if fig is not None and data is not None:
            data["image/png"] = figure_png(fig)
        return bundle

    widget._repr_mimebundle_ = types.MethodType(_repr_mimebundle_, widget)
    return widget


# ---- chapter 1 ----
def temperature_explorer(tau: float = 0.2, n: int = 64, steps: int = 300):
    """A slider for the InfoNCE temperature ``τ`` (log scale, 0.01 to 10) that redraws
    :func:`mmcl_edu.toy_figures.plot_temperature_view`: the softmax over one query's candidates and the
    circle toy trained at ``τ`` (about a second per new value on a CPU; values are cached).

    Outside a live notebook front end it returns the static figure for ``tau`` instead."""
    import matplotlib.pyplot as plt

    from .toy_figures import plot_temperature_view

    if not in_notebook_frontend():
        return plot_temperature_view(tau, n=n, steps=steps)
    import ipywidgets as w

    def show(tau):
        plot_temperature_view(tau, n=n, steps=steps)
        plt.show()

    slider = w.FloatLogSlider(value=tau, base=10, min=-2, max=1, step=0.1, description="τ",
                              continuous_update=False, readout_format=".3g")
    return with_static_figure(w.interactive(show, tau=slider),
                              lambda: plot_temperature_view(tau, n=n, steps=steps))


# ---- chapter 6 ----
def caption_policy_view(n_semantics, selected, perturbed=(), trained=None):
    """The I_θ/I_ρ explorer without widgets: ``(message, figure)`` for one caption policy.

    ``message`` is a Markdown string: either why the policy is invalid (``I_θ`` empty,
    ``I_ρ ⊄ I_θ`` or ``I_ρ = I_θ``; the figure is then ``None``), or the identified set in 1-based
    names. ``trained`` optionally maps ``(selected, perturbed)`` (0-based tuples) to a per-semantic
    R² table (:func:`mmcl_edu.misalignment_theory.semantic_r2`); when the policy has one, the
    figure gets a second panel with that trained result next to the theory.
    """
    import matplotlib.pyplot as plt

    from .misalignment import identified_set
    from .plots import plot_semantic_r2

    sel, per = tuple(sorted(set(selected))), tuple(sorted(set(perturbed)))
    names = lambda idx: "{" + ", ".join(f"c_{i + 1}" for i in idx) + "}"  # noqa: E731
    try:
        ident = identified_set(sel, per, n_semantics)
    except ValueError as e:
        return f"⚠️ Not a valid caption policy: {e}", None
    msg = (f"I_θ = {names(sel)}, I_ρ = {names(per)} → the theorem identifies "
           f"**I_θ \\ I_ρ = {names(ident)}**; omitted: {names(sorted(set(range(n_semantics)) - set(sel)))}.")
    result = (trained or {}).get((sel, per))
    ncols = 1 if result is None else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 3), squeeze=False)
    plot_semantic_r2(sel, per, n_semantics, ax=axes[0, 0], title="theory")
    if result is not None:
        plot_semantic_r2(sel, per, n_semantics, r2=result, ax=axes[0, 1], title="small trained run (linear probe)")
    elif trained:
        msg += " (No precomputed trained run for this policy; trained runs exist for " + \
               "; ".join(f"I_θ = {names(s)}, I_ρ = {names(p)}" for s, p in trained) + ".)"
    fig.tight_layout()
    return msg, fig


def misalignment_explorer(n_semantics=5, selected=(0, 1, 2, 3), perturbed=(0,), trained=None):
    """Pick ``I_θ`` and ``I_ρ`` with checkboxes and see which semantics the theorem says survive,
    next to a precomputed trained result when one exists for the policy (see
    :func:`caption_policy_view`). Returns an ipywidgets box."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    def boxes(chosen, label):
        return [w.Checkbox(value=i in chosen, description=f"c_{i + 1}", indent=False,
                           layout=w.Layout(width="60px")) for i in range(n_semantics)], w.Label(label, layout=w.Layout(width="170px"))

    sel_boxes, sel_label = boxes(set(selected), "I_θ (caption mentions):")
    per_boxes, per_label = boxes(set(perturbed), "I_ρ (caption may distort):")
    out = w.Output()

    def render(*_):
        sel = [i for i, b in enumerate(sel_boxes) if b.value]
        per = [i for i, b in enumerate(per_boxes) if b.value]
        msg, fig = caption_policy_view(n_semantics, sel, per, trained)
        with out:
            out.clear_output(wait=True)
            display(Markdown(msg))
            if fig is not None:
                display(fig)
                plt.close(fig)

    for b in sel_boxes + per_boxes:
        b.observe(render, names="value")
    render()
    box = w.VBox([w.HBox([sel_label, *sel_boxes]), w.HBox([per_label, *per_boxes]), out])
    return with_static_figure(box, lambda: caption_policy_view(n_semantics, selected, perturbed, trained)[1])


# ---- chapter 2 ----
def latent_model_explorer(p_change: float = 0.75, dependence: str = "causal", n: int = 2000, model_seed: int = 0):
    """Sliders for ``p_change`` and a menu for the dependence setting of a
    :class:`~mmcl_edu.latents.ContentStyleModel`, redrawing
    :func:`mmcl_edu.plots.plot_latent_samples` (samples and correlations). Models are built once
    per dependence setting and cached (building the mixing takes a few seconds).

    Outside a live notebook front end it returns the static figure instead."""
    import matplotlib.pyplot as plt

    from .latents import DEPENDENCE_OPTIONS, ContentStyleModel
    from .plots import plot_latent_samples

    cache = {}

    def model_for(p, dep):
        if dep not in cache:
            cache[dep] = ContentStyleModel(p_change=p, dependence=dep, seed=model_seed, device="cpu")
        return cache[dep].with_p_change(p)

    if not in_notebook_frontend():
        return plot_latent_samples(model_for(p_change, dependence), n=n)
    import ipywidgets as w

    def show(p_change, dependence, sample_seed):
        plot_latent_samples(model_for(p_change, dependence), n=n, seed=sample_seed)
        plt.show()

    explorer = w.interactive(
        show,
        p_change=w.FloatSlider(value=p_change, min=0.0, max=1.0, step=0.05, description="p_change",
                               continuous_update=False),
        dependence=w.Dropdown(options=DEPENDENCE_OPTIONS, value=dependence, description="dependence"),
        sample_seed=w.IntSlider(value=0, min=0, max=20, description="sample seed", continuous_update=False))
    return with_static_figure(explorer, lambda: plot_latent_samples(model_for(p_change, dependence), n=n, seed=0))


# ---- chapter 5 ----
def scene_browser(model, n: int = 64, seed: int = 0, per_page: int = 8):
    """Browse ``n`` image/caption pairs of a :class:`~mmcl_edu.scenes.SceneModel`, ``per_page`` at a
    time, with a slider. Outside a live notebook front end: the static figure of the first page."""
    import matplotlib.pyplot as plt

    from .scenes import plot_pairs

    batch = model.sample(n, seed=seed)
    if not in_notebook_frontend():
        return plot_pairs(batch, per_page)
    import ipywidgets as w

    def show(page):
        plot_pairs(batch, per_page, start=page * per_page)
        plt.show()

    browser = w.interactive(show, page=w.IntSlider(0, 0, max(0, (n - 1) // per_page), description="page"))
    return with_static_figure(browser, lambda: plot_pairs(batch, per_page))
