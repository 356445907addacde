"""The figures of chapter 1's sphere toy (:mod:`mmcl_edu.toy`); every function returns its figure.

Embeddings on the circle or the sphere, alignment and uniformity during training, the softmax over a query's
candidates, InfoNCE against the temperature, and the temperature explorer's view.
"""
from __future__ import annotations

import functools
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ._validation import check_float
from .toy import ToyResult, candidate_angles, candidate_softmax, train_sphere_toy, uniform_sphere_uniformity

POS_COLOR, NEG_COLOR = "tab:red", "tab:gray"


def _sphere_axes(ax, dim):
    if dim == 2:
        th = np.linspace(0, 2 * np.pi, 200)
        ax.plot(np.cos(th), np.sin(th), color="0.85", lw=1, zorder=0)
        ax.set_aspect("equal")
        ax.set_xlim(-1.15, 1.15)
        ax.set_ylim(-1.15, 1.15)
        ax.axis("off")
    else:
        u, v = np.mgrid[0:2 * np.pi:24j, 0:np.pi:12j]
        ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.88", lw=0.4)
        ax.set_box_aspect((1, 1, 1))
        ax.set_axis_off()
        ax.view_init(elev=20, azim=35)


def plot_sphere_embeddings(z1, z2, ax=None, title: str | None = None, n_lines: int = 60):
    """Paired unit vectors on the circle (``d = 2``) or the sphere (``d = 3``): ``ẑ_1`` as dots,
    ``ẑ_2`` as crosses, a thin line joining the first ``n_lines`` pairs (short lines: aligned)."""
    z1, z2 = np.asarray(z1), np.asarray(z2)
    dim = z1.shape[1]
    if dim not in (2, 3):
        raise ValueError(f"embeddings must be 2- or 3-dimensional to draw; got {dim}")
    if ax is None:
        fig = plt.figure(figsize=(4, 4))
        ax = fig.add_subplot(111, projection="3d" if dim == 3 else None)
    _sphere_axes(ax, dim)
    extra = {"depthshade": False} if dim == 3 else {}
    ax.scatter(*z1.T, s=10, color="tab:blue", label=r"$\hat z_1$", **extra)
    ax.scatter(*z2.T, s=12, marker="x", color="tab:orange", label=r"$\hat z_2$", lw=0.8, **extra)
    for a, b in zip(z1[:n_lines], z2[:n_lines]):
        ax.plot(*np.stack([a, b]).T, color="k", lw=0.5, alpha=0.6)
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure


def _metrics_title(label, m):
    return f"{label}\nalign {m['alignment']:.3f}, uniform {m['uniformity']:.2f}"


def plot_toy_before_after(result: ToyResult):
    """Two panels: the clumped start and the trained embeddings, with alignment and uniformity."""
    dim = result.z1.shape[1]
    fig = plt.figure(figsize=(8, 4))
    for k, (z1, z2, label, m) in enumerate([(result.z1_init, result.z2_init, "before training", result.before),
                                            (result.z1, result.z2, "after training", result.after)]):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d" if dim == 3 else None)
        plot_sphere_embeddings(z1, z2, ax=ax, title=_metrics_title(label, m))
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_toy_history(result: ToyResult, ideal_uniformity: float | None = None):
    """Alignment and uniformity of the toy against the training step (Wang & Isola's two metrics)."""
    h = result.history
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
    axes[0].plot(h["step"], h["alignment"])
    axes[0].set_ylabel(r"$\mathcal{L}_{\mathrm{align}}$ (lower: aligned)")
    axes[1].plot(h["step"], h["uniformity"])
    axes[1].set_ylabel(r"$\mathcal{L}_{\mathrm{uniform}}$ (lower: spread)")
    if ideal_uniformity is not None:
        axes[1].axhline(ideal_uniformity, color="k", ls="--", lw=0.8, label="uniform distribution")
        axes[1].legend(frameon=False, fontsize=8)
    for ax in axes:
        ax.set_xlabel("step")
    fig.tight_layout()
    return fig


def plot_candidate_softmax(taus=(1.0, 0.3, 0.1, 0.03), n_negatives: int = 7, seed: int = 3):
    """Left: a query on the circle, its positive (red) and negatives (gray; one hard negative
    close to the positive). Right, one panel per ``τ``: the softmax over the candidates, i.e. the
    probability that InfoNCE gives each candidate of being the positive."""
    taus = list(taus)
    fig, axes = plt.subplots(1, len(taus) + 1, figsize=(2.4 * (len(taus) + 1), 2.6))
    _candidate_circle(axes[0], n_negatives, seed)
    for ax, tau in zip(axes[1:], taus):
        _candidate_bars(ax, tau, n_negatives, seed)
    fig.tight_layout()
    return fig


def _candidate_circle(ax, n_negatives, seed):
    pos, neg = candidate_angles(n_negatives, seed)
    _sphere_axes(ax, 2)
    ax.scatter([1], [0], s=60, marker="*", color="k", zorder=3, label="query")
    ax.scatter(np.cos(neg), np.sin(neg), s=30, color=NEG_COLOR, zorder=3, label="negatives")
    ax.scatter([np.cos(pos)], [np.sin(pos)], s=40, color=POS_COLOR, zorder=3, label="positive")
    ax.legend(loc="center", fontsize=7, frameon=False)


def _candidate_bars(ax, tau, n_negatives, seed):
    sims, p = candidate_softmax(tau, n_negatives, seed)
    order = np.argsort(-sims)
    colors = [POS_COLOR if j == 0 else NEG_COLOR for j in order]
    ax.bar(np.arange(len(p)), p[order], color=colors)
    ax.set_ylim(0, 1)
    ax.set_xticks([])
    ax.set_xlabel("candidates, most similar first", fontsize=7)
    ax.set_title(rf"$\tau = {tau:g}$: loss ${-np.log(p[0]):.2f}$", fontsize=9)


def plot_loss_vs_temperature(table: pd.DataFrame, batch_size: int | None = None):
    """Symmetric InfoNCE against ``τ`` (log axis) for the configurations of
    :func:`~mmcl_edu.toy.example_configurations`, with the level ``log B`` of a classifier at chance."""
    fig, ax = plt.subplots(figsize=(5, 3))
    for name in table.columns:
        ax.plot(table.index, table[name], marker="o", ms=3, label=name)
    if batch_size:
        ax.axhline(math.log(batch_size), color="k", ls="--", lw=0.8, label=r"$\log B$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"temperature $\tau$")
    ax.set_ylabel(r"$\mathcal{L}_{\mathrm{InfoNCE}}$")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_temperature_sweep(table: pd.DataFrame, results: dict):
    """One circle per temperature (embeddings after training), and uniformity against ``τ``."""
    taus = list(table["tau"])
    fig, axes = plt.subplots(1, len(taus) + 1, figsize=(2.3 * (len(taus) + 2), 3.0),
                             gridspec_kw={"width_ratios": [1] * len(taus) + [1.8]})
    for ax, tau in zip(axes, taus):
        r = results[tau]
        plot_sphere_embeddings(r.z1, r.z2, ax=ax, n_lines=0,
                               title=rf"$\tau = {tau:g}$" + f"\nuniform {r.after['uniformity']:.2f}")
    ax = axes[-1]
    ax.plot(table["tau"], table["uniformity"], marker="o", label=r"$\mathcal{L}_{\mathrm{uniform}}$")
    ax.plot(table["tau"], table["alignment"], marker="s", label=r"$\mathcal{L}_{\mathrm{align}}$")
    dim = results[taus[0]].z1.shape[1]
    ax.axhline(uniform_sphere_uniformity(dim), color="k", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(r"$\tau$")
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


@functools.lru_cache(maxsize=64)
def _circle_toy(tau: float, n: int, steps: int, seed: int) -> ToyResult:
    return train_sphere_toy(n=n, dim=2, temperature=tau, steps=steps, seed=seed, log_every=steps)


def plot_temperature_view(tau: float = 0.2, n: int = 64, steps: int = 300, seed: int = 0):
    """The temperature explorer's figure: the softmax over candidates at ``τ`` (left) and the circle
    toy trained with symmetric InfoNCE at ``τ`` (right). Trained results are cached per ``τ``."""
    check_float("tau", tau, 0.0, None, low_open=True)
    tau = float(f"{tau:.3g}")
    fig, axes = plt.subplots(1, 3, figsize=(8.4, 2.8))
    _candidate_circle(axes[0], 7, 3)
    _candidate_bars(axes[1], tau, 7, 3)
    r = _circle_toy(tau, n, steps, seed)
    plot_sphere_embeddings(r.z1, r.z2, ax=axes[2], n_lines=0,
                           title=_metrics_title(rf"toy trained at $\tau = {tau:g}$", r.after))
    fig.tight_layout()
    return fig
