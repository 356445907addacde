"""Chapters 2 and 3: the latent model's properties, the identifiability demos, the exercise checks."""
from __future__ import annotations

import math

import pytest
import torch

from mmcl_edu import checks, identifiability as idf
from mmcl_edu.plots import latent_correlations


@pytest.fixture(scope="module")
def model():
    return checks._small_content_style_model(0, p_change=0.6)


def _ref_pairs(c, s, m1, m2, eps, u, p_change):
    b = (u < p_change).float()
    return torch.cat([c, s, m1], 1), torch.cat([c, s + b * eps, m2], 1)


def test_check_sample_pairs_reference_passes(model):
    assert checks.check_sample_pairs(_ref_pairs, model=model)


@pytest.mark.parametrize("wrong, hint", [
    (lambda c, s, m1, m2, eps, u, p_change: (torch.cat([c, s, m1], 1),
                                             torch.cat([c, s + (u > p_change) * eps, m2], 1)), "u < p_change"),
    (lambda c, s, m1, m2, eps, u, p_change: (torch.cat([c, s, m1], 1),
                                             torch.cat([c, s + (u < p_change) * eps, m1], 1)), "m_2"),
    (lambda c, s, m1, m2, eps, u, p_change: (torch.cat([c, s, m1], 1), torch.cat([c, s, m2], 1))[0], "pair"),
])
def test_check_sample_pairs_wrong_fails_helpfully(model, wrong, hint):
    res = checks.check_sample_pairs(wrong, model=model)
    assert not res and hint in res.message
    with pytest.raises(AssertionError):
        checks.check_sample_pairs(wrong, model=model, raise_on_failure=True)


def test_package_noise_reproduces_causal_model():
    m = checks._small_content_style_model(1, dependence="statistical+causal", p_change=0.5)
    noise = checks.package_noise(m, 50, 3)
    z1, z2 = _ref_pairs(**noise, p_change=0.5)
    lat = m.sample(50, seed=3).latents
    assert torch.allclose(z2[:, 3:5], lat["s_tilde"])


def test_style_change_rate_and_correlations():
    m = checks._small_content_style_model(2, dependence="causal", p_change=0.3)
    b = m.sample(20000, seed=0)
    rate = float((b.latents["s"] != b.latents["s_tilde"]).float().mean())
    assert abs(rate - 0.3) < 0.02
    corr, ticks = latent_correlations(b)
    assert corr.shape == (len(ticks), len(ticks))


def _phi_encoder(x, f_inverse, content_dim):
    return 0.5 * (1 + torch.erf(f_inverse(x)[:, :content_dim] / math.sqrt(2)))


def test_check_content_encoder(model):
    assert checks.check_content_encoder(_phi_encoder, model=model)
    assert checks.check_content_encoder(lambda x, f, k: 1 - _phi_encoder(x, f, k).flip(1), model=model)
    bad = {"read style": lambda x, f, k: _phi_encoder(x, f, k + 1)[:, 1:],
           "(0, 1)": lambda x, f, k: f(x)[:, :k],
           "uniform": lambda x, f, k: torch.sigmoid(f(x)[:, :k])}
    for hint, fn in bad.items():
        res = checks.check_content_encoder(fn, model=model)
        assert not res and hint in res.message, res.message


def test_alignment_demo(model):
    t = idf.alignment_under_style_change(model, p_changes=(0.0, 0.5, 1.0), n=2000)
    content = t[t.encoder == "content"]["alignment"]
    assert (content.abs() < 1e-6).all()
    style = t[t.encoder == "content+style"].set_index("p_change")["alignment"]
    assert style[0.0] < 1e-6 < 0.5 < style[0.5] < style[1.0]
    assert abs(style[1.0] - model.style_dim) < 0.3


def test_content_oracle_minimises(model):
    b = model.sample(1000, seed=1)
    u1, u2 = idf.content_oracle(model, 1)(b.x1), idf.content_oracle(model, 2)(b.x2)
    assert float(((u1 - u2) ** 2).sum(1).mean()) < 1e-8
    assert 0 < float(u1.min()) and float(u1.max()) < 1


def test_entropy_demo():
    t = idf.content_map_entropies(content_dim=3, n=2000, uniformity_n=800).set_index("map")
    assert t.loc["fold", "entropy"] < t.loc["invertible", "entropy"] - 0.4
    assert t.loc["drop", "entropy"] < t.loc["fold", "entropy"]
    assert t.loc["fold", "uniformity"] > t.loc["invertible", "uniformity"]
    assert abs(t.loc["fold, stretched", "entropy"] - t.loc["invertible", "entropy"]) < 0.15


def test_knn_entropy_gaussian():
    z = torch.randn(3000, 2, generator=torch.Generator().manual_seed(0))
    assert abs(idf.knn_entropy(z) - (1 + math.log(2 * math.pi))) < 0.1  # H(N(0, I_2)) = 1 + log 2π


def test_oracle_encoder_validates(model):
    with pytest.raises(ValueError):
        idf.oracle_encoder(model, 3)
    with pytest.raises(ValueError):
        idf.oracle_encoder(model, 1, reads=("z",))
