"""Image/caption data (mmcl_edu.scenes), its encoders and its evaluation (chapter 5)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import mmcl_edu as mm
from mmcl_edu import scenes as sc
from mmcl_edu.encoders import ImageEncoder, TextEncoder, make_scene_encoders


@pytest.fixture(scope="module")
def model():
    return sc.SceneModel(device="cpu")


def test_sampling_is_deterministic_per_seed(model):
    a, b, c = model.sample(64, seed=3), model.sample(64, seed=3), model.sample(64, seed=4)
    assert torch.equal(a.x1, b.x1) and torch.equal(a.x2, b.x2)
    assert all(torch.equal(a.latents[k], b.latents[k]) for k in a.latents)
    assert not torch.equal(a.x1, c.x1)
    g1, g2 = model._make_generator(5), model._make_generator(5)
    assert torch.equal(model.sample(16, generator=g1).x1, model.sample(16, generator=g2).x1)


def test_shapes_and_factor_ranges(model):
    b = model.sample(2000, seed=0)
    assert b.x1.shape == (2000, 3, 32, 32) and b.x2.shape == (2000, sc.CAPTION_LENGTH)
    assert b.x1.min() >= 0 and b.x1.max() <= 1 and b.x2.dtype == torch.long
    for name, f in sc.FACTORS.items():
        v = b.latents[name]
        assert v.shape == (2000, 1)
        if f.kind == "discrete":
            assert sorted(v.unique().tolist()) == list(range(f.values)), name
        else:
            lo, hi = f.values
            assert lo <= v.min() and v.max() <= hi and v.max() - v.min() > 0.8 * (hi - lo), name


def test_caption_states_the_factors(model):
    b = model.sample(300, seed=1)
    for i, caption in enumerate(model.captions(b)):
        parsed = sc.parse_caption(caption)
        for name in ("shape", "x_position", "y_position", "template"):
            assert parsed[name] == int(b.latents[name][i]), (caption, name)
        assert parsed["colour"] == list(sc.COLOURS)[int(b.latents["caption_colour"][i])]


def test_colour_word_is_nearest_palette_name_and_palette_varies():
    m = sc.SceneModel(palette_size=1, device="cpu")
    b = m.sample(500, seed=2)
    # a one-name palette: the word is independent of the hue, and every name turns up
    assert len(b.latents["caption_colour"].unique()) == len(sc.COLOURS)
    full = sc.SceneModel(palette_size=len(sc.COLOURS), device="cpu").sample(500, seed=2)
    hues = torch.tensor(list(sc.COLOURS.values()))
    nearest = (full.latents["hue"] - hues).abs().argmin(1, keepdim=True)
    assert torch.equal(full.latents["caption_colour"], nearest)
    # with a palette of 4, the same hue bin gets several names (stochastic, many-to-one)
    part = sc.SceneModel(palette_size=4, device="cpu").sample(4000, seed=2)
    reds = part.latents["caption_colour"][part.latents["hue"] < 0.04]
    assert len(reds.unique()) >= 3


def test_tokenizer_round_trip(model):
    captions = model.captions(model.sample(50, seed=7))
    ids = sc.tokenize(captions)
    assert sc.detokenize(ids) == captions
    assert torch.equal(ids, model.sample(50, seed=7).x2)
    assert sc.VOCAB[0] == sc.PAD and len(set(sc.VOCAB)) == len(sc.VOCAB)


@pytest.mark.parametrize("name", list(sc.FACTORS))
def test_every_factor_changes_its_modality(model, name):
    """No dead factor: changing one factor's value (the others fixed) changes the image (shared and
    image-only factors) or the caption (template)."""
    base = model.draw_factors(8, model._make_generator(11))
    base["shape"] = torch.full_like(base["shape"], sc.SHAPES.index("ell"))  # not rotation-invariant
    other = {k: v.clone() for k, v in base.items()}
    f = sc.FACTORS[name]
    if f.kind == "discrete":
        other[name] = (other[name] + 1) % f.values
    else:
        lo, hi = f.values
        other[name] = lo + (other[name] - lo + 0.3 * (hi - lo)) % (hi - lo)
    if f.seen_by == "text":
        cap = lambda fs: model.caption_ids({**fs, "colour": torch.zeros_like(fs["shape"])})  # noqa: E731
        assert (cap(base) != cap(other)).any(1).all()
    else:
        diff = (model.render(base) - model.render(other)).abs().amax((1, 2, 3))
        assert (diff > 0.05).all(), (name, diff)


def test_hue_depends_on_x_and_caption_noise():
    m = sc.SceneModel(hue_depends_on_x=True, caption_noise={"shape": 1.0}, device="cpu")
    b = m.sample(3000, seed=0)
    x, hue = b.latents["x_position"].view(-1), b.latents["hue"].view(-1)
    assert hue[x == 0].max() <= hue[x == 1].min() and hue[x == 1].max() <= hue[x == 2].min()
    agree = (b.latents["caption_shape"] == b.latents["shape"]).float().mean()
    assert abs(float(agree) - 1 / 7) < 0.03   # p = 1: the caption's shape is a fresh uniform draw
    assert torch.equal(sc.SceneModel(device="cpu").sample(100, seed=0).latents["caption_shape"],
                       sc.SceneModel(device="cpu").sample(100, seed=0).latents["shape"])


def test_encoder_output_shapes(model):
    b = model.sample(5, seed=0)
    g1, g2 = make_scene_encoders(32, len(sc.VOCAB), 6, (8, 16))
    assert g1(b.x1).shape == (5, 6) and g2(b.x2).shape == (5, 6)
    big = sc.SceneModel(image_size=64, device="cpu").sample(3, seed=0)
    assert ImageEncoder(3, (8, 8, 8, 8), normalize=True)(big.x1).norm(dim=1).allclose(torch.ones(3))
    assert TextEncoder(len(sc.VOCAB), 2)(b.x2).shape == (5, 2)


def test_training_smoke_and_evaluation(model, tmp_path):
    cfg = mm.TrainConfig(steps=6, batch_size=32, lr=1e-3, hidden=(8, 8), encoding_dim=3, similarity="cosine",
                         temperature=0.5, learnable_temperature=True, log_every=2)
    r = mm.train(model, cfg, seed=0, progress=False, checkpoint_dir=tmp_path, checkpoint_every=3)
    assert len(r.history["loss"]) == 3 and np.isfinite(r.history["loss"]).all()
    again = mm.train(model, cfg, seed=0, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert again.history["loss"] == r.history["loss"]
    tab = mm.evaluate(r, model, n_fit=60, n_test=40, regressors=("linear", "nonlinear"), n_cv=30)
    assert set(tab["target"]) == set(sc.FACTORS) and set(tab["modality"]) == {"x1", "x2"}
    acc = tab[tab.metric == "accuracy"]
    assert set(acc["target"]) == {"shape", "x_position", "y_position", "template"}
    assert acc["score"].between(0, 1).all() and acc["r2"].isna().all()
    np.testing.assert_allclose(acc[acc.target == "shape"]["chance"], 1 / 7)


@pytest.mark.parametrize("make", [
    lambda: sc.SceneModel(image_size=8),
    lambda: sc.SceneModel(image_size=512),
    lambda: sc.SceneModel(palette_size=0),
    lambda: sc.SceneModel(palette_size=len(sc.COLOURS) + 1),
    lambda: sc.SceneModel(caption_noise={"hue": 0.5}),
    lambda: sc.SceneModel(caption_noise={"shape": 1.5}),
    lambda: sc.SceneModel(templates=()),
    lambda: sc.SceneModel(templates=(7,)),
    lambda: sc.SceneModel(seed=-1),
    lambda: sc.SceneModel(device="cpu").sample(0),
    lambda: sc.tokenize("a purple elephant"),
    lambda: sc.tokenize("a red circle at the top left", length=3),
    lambda: sc.parse_caption("a red circle"),
    lambda: sc.parse_caption("red circle top left"),
    lambda: mm.evaluate(None, sc.SceneModel(device="cpu"), targets=["colour"]),
    lambda: mm.train(sc.SceneModel(device="cpu"), mm.TrainConfig(steps=1, encoding_dim=2, whiten_inputs=True)),
])
def test_bad_input_raises_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_caption_parser_check():
    from mmcl_edu import checks

    def reference(caption):
        return {k: v for k, v in sc.parse_caption(caption).items() if k in ("shape", "x_position", "y_position")}

    def stub(caption):
        raise NotImplementedError

    def swapped(caption):
        p = reference(caption)
        return {**p, "x_position": p["y_position"], "y_position": p["x_position"]}

    assert checks.check_caption_parser(reference)
    for bad in (stub, lambda c: None, swapped):
        res = checks.check_caption_parser(bad)
        assert not res and ("not yet" in res.message if bad is stub else "caption parser" in res.message)


def test_colour_word_oracle_reads_any_source_of_scenes():
    from mmcl_edu import closing_ablation as ca
    model = sc.SceneModel(palette_size=4)
    assert 0.5 < sc.colour_word_oracle(model) < 0.95   # the word tells a good part of the hue, not all of it
    assert sc.colour_word_oracle(model) == sc.colour_word_oracle(model)
    assert 0.5 < sc.colour_word_oracle(ca.build_scenes(mm.preset("jiang_scenes", "smoke"))) < 0.95
    with pytest.raises(ValueError, match="n"):
        sc.colour_word_oracle(model, n=3)


def test_object_size_stride_and_text_pooling():
    small, large = sc.SceneModel(), sc.SceneModel(object_half_size=0.2)
    b_small, b_large = small.sample(64, seed=3), large.sample(64, seed=3)
    assert torch.equal(b_small.x2, b_large.x2)  # same factors and captions, larger objects
    def object_area(model, batch):  # the pixels that change with the object's hue
        other = dict(batch.latents, hue=(batch.latents["hue"] + 0.3) % 0.78)
        return (model.render(other) - batch.x1).abs().sum(1).gt(0.05).float().mean()
    assert object_area(large, b_large) > 1.3 * object_area(small, b_small)
    for bad in (dict(object_half_size=0.3), dict(encoder_stride=3), dict(text_pooling="max")):
        with pytest.raises(ValueError, match=next(iter(bad))):
            sc.SceneModel(**bad)
    cfg = mm.preset("scenes").train
    g1, g2 = sc.SceneModel(encoder_stride=2, text_pooling="flatten").make_encoders(4, cfg)
    assert g1.features[0].stride == (2, 2) and g2.pooling == "flatten"
    assert g1(b_large.x1).shape == (64, 4) and g2(b_large.x2).shape == (64, 4)
    # flattening sees where a word stands: the same caption shifted by one position encodes differently
    ids = b_large.x2[:1]
    shifted = torch.roll(ids, 1, dims=1)
    torch.manual_seed(0)
    mean_enc = TextEncoder(len(sc.VOCAB), 3, (8,), pooling="mean")
    flat_enc = TextEncoder(len(sc.VOCAB), 3, (8,), pooling="flatten", length=sc.CAPTION_LENGTH)
    assert not torch.allclose(flat_enc(ids), flat_enc(shifted))
    with pytest.raises(ValueError, match="length"):
        TextEncoder(len(sc.VOCAB), 3, pooling="flatten")
    assert mean_enc(ids).shape == (1, 3)
