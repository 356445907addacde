"""Chapter 12: augmented image/caption pairs, two-head scene encoders, top-k zero-shot, the
ablation runner (determinism, resume) and the exercise check."""
from __future__ import annotations

import pytest
import torch

import mmcl_edu as mm
from mmcl_edu import checks
from mmcl_edu import closing_ablation as ca
from mmcl_edu import closing_results as cr
from mmcl_edu import scenes as sc
from mmcl_edu.latent_structures import RegularizedObjective
from mmcl_edu.regularizers import cyclip_consistency

CFG = mm.TrainConfig(steps=6, batch_size=16, lr=3e-3, hidden=(4, 8), encoding_dim=4, similarity="cosine",
                     temperature=0.2, grad_clip=None, log_every=2)


@pytest.fixture(scope="module")
def data():
    return ca.AugmentedScenes(image_size=16, device="cpu")


def test_augmentation_keeps_shared_factors_and_redraws_nuisances(data):
    b = data.sample(300, seed=1)
    lat = b.latents
    # the augmented image is the same scene rendered with the fresh nuisances only
    factors = {k: lat[k] for k in sc.FACTORS}
    factors.update({k: lat[f"aug_{k}"] for k in ca.DEFAULT_NUISANCES})
    assert torch.allclose(data.render(factors), b.x1_aug)
    for k in ca.DEFAULT_NUISANCES:
        assert (lat[f"aug_{k}"] != lat[k]).float().mean() > 0.99
    assert (b.x1_aug - b.x1).abs().amax(dim=(1, 2, 3)).min() > 0.01  # every image changed
    # the augmented caption states the same shape and position in another template
    for i, (text, aug) in enumerate(zip(sc.detokenize(b.x2), sc.detokenize(b.x2_aug))):
        p, q = sc.parse_caption(text), sc.parse_caption(aug)
        for k in ("shape", "x_position", "y_position"):
            assert p[k] == q[k] == int(lat[k][i])
        assert q["template"] != p["template"]
        # the colour word names a colour of the palette nearest to the hue: never further than the farthest name
        assert abs(sc.COLOURS[q["colour"]] - float(lat["hue"][i])) <= max(abs(h - float(lat["hue"][i]))
                                                                           for h in sc.COLOURS.values())


def test_no_nuisance_means_identical_image_and_caption_noise_is_kept():
    m = ca.AugmentedScenes(nuisances=(), image_size=16, templates=(2,), palette_size=len(sc.COLOURS),
                           caption_noise={"shape": 1.0}, device="cpu")
    b = m.sample(64, seed=3)
    assert torch.equal(b.x1_aug, b.x1)
    assert torch.equal(b.x2_aug, b.x2)  # one template, and the full palette: the nearest name
    said = [sc.parse_caption(t)["shape"] for t in sc.detokenize(b.x2_aug)]
    assert said == b.latents["caption_shape"].view(-1).tolist()  # the augmentation re-words the caption's values


def test_sampling_is_deterministic(data):
    a, b = data.sample(40, seed=7), data.sample(40, seed=7)
    assert torch.equal(a.x1_aug, b.x1_aug) and torch.equal(a.x2_aug, b.x2_aug)
    c = data.sample(40, seed=8)
    assert not torch.equal(a.x1_aug, c.x1_aug)
    # the first views are those of the plain SceneModel with the same seed
    plain = sc.SceneModel(image_size=16, device="cpu").sample(40, seed=7)
    assert torch.equal(plain.x1, a.x1) and torch.equal(plain.x2, a.x2)


def test_validation():
    with pytest.raises(ValueError, match="nuisances"):
        ca.AugmentedScenes(nuisances=("shape",))
    with pytest.raises(ValueError, match="nuisances"):
        ca.AugmentedScenes(nuisances=("rotation", "rotation"))
    with pytest.raises(ValueError, match="image_size"):
        ca.AugmentedScenes(image_size=8)
    with pytest.raises(ValueError, match="base"):
        ca.TwoHeadSceneEncoder(torch.nn.Linear(3, 3))
    with pytest.raises(ValueError, match="lambdas"):
        ca.methods({"sep": 1.0})
    with pytest.raises(ValueError, match="cyclip"):
        RegularizedObjective(cyclip=-1.0)
    z, p, y = torch.randn(5, 3), torch.randn(4, 3), torch.tensor([0, 1, 2, 3, 0])
    with pytest.raises(ValueError, match="ks"):
        ca.zero_shot_top_k(z, p, y, (5,))
    with pytest.raises(ValueError, match="labels"):
        ca.zero_shot_top_k(z, p, torch.tensor([0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match="width"):
        ca.zero_shot_top_k(z, torch.randn(4, 2), y)


def test_zero_shot_top_k_against_a_naive_loop():
    g = torch.Generator().manual_seed(0)
    z, p = torch.randn(60, 5, generator=g), torch.randn(7, 5, generator=g)
    y = torch.randint(0, 7, (60,), generator=g)
    got = ca.zero_shot_top_k(z, p, y, (1, 3, 7))
    for k in (1, 3, 7):
        hits = 0
        for i in range(60):
            sims = [float(torch.nn.functional.cosine_similarity(z[i], p[c], dim=0)) for c in range(7)]
            ranked = sorted(range(7), key=lambda c: -sims[c])
            hits += y[i].item() in ranked[:k]
        assert got[k] == pytest.approx(hits / 60)
    assert got[7] == 1.0
    # scaling the codes changes nothing (cosine); a hand-made case with a tie that counts against
    assert ca.zero_shot_top_k(3 * z, 0.5 * p, y, (1, 3)) == {k: got[k] for k in (1, 3)}
    tie = ca.zero_shot_top_k(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]), [1], (1, 2))
    assert tie == {1: 0.0, 2: 1.0}


def test_shape_prompts_cover_every_template_position_and_colour(data):
    ids = ca.shape_prompts(data)
    per_shape = len(data.templates) * 9 * len(sc.COLOURS)
    assert ids.shape == (len(sc.SHAPES) * per_shape, sc.CAPTION_LENGTH)
    texts = sc.detokenize(ids)
    assert len(set(texts)) == len(texts)
    for s in range(len(sc.SHAPES)):
        assert {sc.parse_caption(t)["shape"] for t in texts[s * per_shape:(s + 1) * per_shape]} == {s}


def test_two_head_encoders_shapes_and_shared_head(data):
    torch.manual_seed(0)
    g_v, g_t = ca.SceneTwoHeadFactory()(data, 4, CFG)
    b = data.sample(5, seed=0)
    for g, x in ((g_v, b.x1), (g_t, b.x2)):
        z, zi = g.both(x)
        assert z.shape == zi.shape == (5, 4)
        assert torch.allclose(z.norm(dim=1), torch.ones(5)) and torch.allclose(zi.norm(dim=1), torch.ones(5))
        assert torch.allclose(g(x), z)
        # the shared head is the chapter-5 encoder itself, normalised
        assert torch.allclose(torch.nn.functional.normalize(g.base(x), dim=1), z, atol=1e-6)
        assert not torch.allclose(z, zi)


def test_cyclip_term_is_l_gc_without_the_augmented_part(data):
    torch.manual_seed(0)
    enc = ca.SceneTwoHeadFactory()(data, 4, CFG)
    b = data.sample(16, seed=2)
    loss_fn = mm.InfoNCE(0.2, "cosine")
    base = RegularizedObjective()(enc, b, loss_fn)
    z_v, z_t = enc[0](b.x1), enc[1](b.x2)
    want = base + 0.3 * sum(cyclip_consistency(z_v, z_t))
    assert torch.allclose(RegularizedObjective(cyclip=0.3)(enc, b, loss_fn), want, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_preset():
    cfg = mm.preset("jiang_scenes", size="smoke")
    import dataclasses
    return dataclasses.replace(cfg, model=dict(cfg.model, image_size=16), train=CFG, seeds=(0,),
                               eval=dict(n_fit=60, n_test=40, n_retrieval=20))


def test_run_ablation_is_deterministic_and_resumes(tiny_preset, tmp_path):
    variants = {"base": {}, "sep": {"sep": 0.5}}
    a = ca.run_ablation(tiny_preset, variants, progress=False).table
    b = ca.run_ablation(tiny_preset, variants, progress=False).table
    metrics = [c for c in a.columns if c not in ("setting", "seconds")]
    assert a[metrics].equals(b[metrics])
    assert list(a.setting) == ["base", "sep"]
    for k in ca.RECALL_KS:
        assert 0.0 <= a[f"i2t_R@{k}"].min() and a[f"t2i_R@{k}"].max() <= 1.0
    assert (a["zs_top3"] >= a["zs_top1"]).all()
    # a run interrupted after step 4 (checkpoint at step 3), resumed by run_ablation: the uninterrupted result
    def interrupt(step, result):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        mm.train(ca.build_scenes(tiny_preset), CFG, seed=0, checkpoint_dir=tmp_path / "sep", checkpoint_every=3,
                 callback=interrupt, callback_every=4, encoder_factory=ca.SceneTwoHeadFactory(),
                 loss_hook=RegularizedObjective(sep=0.5), progress=False)
    assert torch.load(tmp_path / "sep" / "seed0.pt", weights_only=False)["step"] == 3
    resumed = ca.run_ablation(tiny_preset, {"sep": {"sep": 0.5}}, progress=False, checkpoint_dir=tmp_path, resume=True).table
    assert resumed[metrics].iloc[0].equals(a[metrics].iloc[1])
    table = cr.paper_layout(a)
    assert list(table.index) == ["base", "sep"] and ("zero-shot shape (%)", "top-1") in table.columns
    assert ("background tone (acc. %)", "[z; z^i]") in table.columns
    d = cr.deltas(a, baseline="base")
    assert d.loc[("sep", "zs_top1"), "mean"] == pytest.approx(a.zs_top1.iloc[1] - a.zs_top1.iloc[0])


def test_run_ablation_validation(tiny_preset):
    with pytest.raises(ValueError, match="variants"):
        ca.run_ablation(tiny_preset, {})
    with pytest.raises(ValueError, match="data"):
        ca.run_ablation(tiny_preset, {"base": {}}, data=sc.SceneModel(image_size=16))


def test_check_zero_shot_top_k():
    def mine(image_codes, prompt_codes, labels, k):
        z = torch.nn.functional.normalize(image_codes, dim=1)
        p = torch.nn.functional.normalize(prompt_codes, dim=1)
        sims = z @ p.T
        return ((sims >= sims.gather(1, labels.view(-1, 1))).sum(1) <= k).float().mean()

    assert checks.check_zero_shot_top_k(mine).passed

    def ties_in_favour(image_codes, prompt_codes, labels, k):  # topk breaks a tie by index, not against the image
        z = torch.nn.functional.normalize(image_codes, dim=1)
        p = torch.nn.functional.normalize(prompt_codes, dim=1)
        return (z @ p.T).topk(k, dim=1).indices.eq(labels.view(-1, 1)).any(1).float().mean()

    res = checks.check_zero_shot_top_k(ties_in_favour)
    assert not res.passed and "tie" in res.message

    def unnormalised(image_codes, prompt_codes, labels, k):
        return (image_codes @ prompt_codes.T).topk(k, dim=1).indices.eq(labels.view(-1, 1)).any(1).float().mean()

    assert not checks.check_zero_shot_top_k(unnormalised).passed

    def stub(image_codes, prompt_codes, labels, k):
        raise NotImplementedError

    res = checks.check_zero_shot_top_k(stub)
    assert not res.passed and "NotImplementedError" in res.message
    with pytest.raises(AssertionError):
        checks.check_zero_shot_top_k(unnormalised, raise_on_failure=True)


def test_background_tone_splits_the_hue_range_in_equal_thirds():
    low, high = sc.HUE_RANGE
    width = (high - low) / ca.TONES
    hues = torch.tensor([low, low + 0.99 * width, low + 1.01 * width, low + 2.5 * width, high])
    assert ca.background_tone(hues).tolist() == [0, 0, 1, 2, 2]
    drawn = ca.background_tone(sc.SceneModel(image_size=16).sample(3000, seed=0).latents[ca.KEPT_FACTOR])
    share = torch.bincount(drawn, minlength=ca.TONES).float() / len(drawn)
    assert (share - 1 / ca.TONES).abs().max() < 0.04  # balanced: chance is 1/TONES


def test_the_kept_factor_survives_augmentation(data):
    b = data.sample(200, seed=4)
    assert ca.KEPT_FACTOR not in data.nuisances
    assert f"aug_{ca.KEPT_FACTOR}" not in b.latents
    # a background drawn afresh changes the augmented image: so keeping it is a real choice of the augmentation
    other = ca.AugmentedScenes(nuisances=ca.DEFAULT_NUISANCES + (ca.KEPT_FACTOR,), image_size=16, device="cpu")
    c = other.sample(200, seed=4)
    assert not torch.allclose(c.x1_aug, b.x1_aug)


def test_methods_name_both_forms_of_l_ortho_and_cyclip_only_when_weighted():
    m = ca.methods({"sep": 0.1, "br": 0.05, "gc": 0.005})
    assert list(m) == ["CLIP (L_Con)", "+ L_Sep", "+ L_Sep (printed L_Ortho)", "+ L_Br", "+ L_GC"]
    assert m["+ L_Sep"] == {"sep": 0.1, "ortho": "batch"} and m["+ L_Sep (printed L_Ortho)"]["ortho"] == "sample"
    assert "CyCLIP" in ca.methods({"sep": 0.1, "br": 0.05, "gc": 0.005, "cyclip": 0.25})
    for spec in m.values():
        RegularizedObjective(**spec)  # every row is a valid objective


def test_lambda_sweep_scores_on_validation_pairs_and_choose_weight(tiny_preset):
    import dataclasses
    p = dataclasses.replace(tiny_preset, chapter=dict(tiny_preset.chapter, sweep_seeds=(5,)))
    sweep = ca.lambda_sweep(p, "br", grid=(0.1, 1.0), progress=False)
    assert list(sweep["lambda"]) == [0.1, 1.0] and set(sweep["term"]) == {"br"} and set(sweep.seed) == {5}
    # the sweep's rows are the ablation's runs scored on the validation pairs, not on the test pairs
    again = ca.run_ablation(p, {"b": {"br": 1.0}}, seeds=(5,), progress=False, eval_seed=ca.VALIDATION_SEED).table
    on_test = ca.run_ablation(p, {"b": {"br": 1.0}}, seeds=(5,), progress=False).table
    cols = [c for c in again.columns if c not in ("setting", "seconds")]
    assert sweep[cols].iloc[1].equals(again[cols].iloc[0])
    assert not sweep[cols].iloc[1].equals(on_test[cols].iloc[0])
    best = sweep.groupby("lambda")["zs_top1"].mean().idxmax()
    assert ca.choose_weight(sweep, "br") == best
    summary = ca.sweep_summary(sweep)
    assert list(summary.index) == [("br", 0.1), ("br", 1.0)] and summary["chosen"].sum() == 1
    assert summary.loc[("br", best), "chosen"] and summary["score"].equals(summary["zs_top1"])
    with pytest.raises(ValueError, match="term"):
        ca.lambda_sweep(p, "cyclip", grid=(0.1,))
    with pytest.raises(ValueError, match="grid"):
        ca.lambda_sweep(p, "br", grid=())
    with pytest.raises(ValueError, match="no rows"):
        ca.choose_weight(sweep, "sep")


def test_choose_weight_takes_the_best_mean_and_the_smallest_of_ties():
    import pandas as pd
    sweep = pd.DataFrame({"term": ["br"] * 6, "lambda": [0.1, 0.1, 0.3, 0.3, 1.0, 1.0],
                          "zs_top1": [0.5, 0.7, 0.9, 0.5, 0.6, 0.8]})
    assert ca.choose_weight(sweep, "br") == 0.3  # means 0.6, 0.7, 0.7: a tie, the smaller weight
    sweep.loc[0, "zs_top1"] = 0.9
    assert ca.choose_weight(sweep, "br") == 0.1
    # λ_Sep: the probes of [z; z^i] averaged over the shape and the tone, so a weight that buys tone with shape loses
    sep = pd.DataFrame({"term": "sep", "lambda": [0.1, 0.3, 1.0], "both:tone": [0.5, 0.7, 0.9],
                        "both:shape": [0.9, 0.85, 0.4]})
    assert ca.choose_weight(sep, "sep") == 0.3


def _table(diffs):
    import pandas as pd
    rows = []
    for seed, d in enumerate(diffs):
        rows.append({"setting": "CLIP (L_Con)", "seed": seed, "zs_top1": 0.5, "gap": 0.3})
        rows.append({"setting": "+ L_Br", "seed": seed, "zs_top1": 0.5 + d, "gap": 0.3 + d})
    return pd.DataFrame(rows)


def test_resolved_sign_and_predictions_follow_the_standard_error():
    assert cr.resolved_sign(_table([0.10, 0.12, 0.11]).pipe(cr.per_seed_difference, "+ L_Br", "zs_top1")) == 1
    assert cr.resolved_sign(_table([-0.10, -0.12, -0.11]).pipe(cr.per_seed_difference, "+ L_Br", "zs_top1")) == -1
    assert cr.resolved_sign(_table([0.2, -0.1, 0.05]).pipe(cr.per_seed_difference, "+ L_Br", "zs_top1")) == 0
    # only the bridge's predictions can be checked on this table: the gap falls, zero-shot does not move
    unresolved = cr.predictions(_table([0.2, -0.1, 0.05]))
    assert list(unresolved.index) == [("+ L_Br", "gap"), ("+ L_Br", "zs_top1")]
    assert list(unresolved["as predicted"]) == ["no", "yes"]
    assert list(cr.predictions(_table([-0.10, -0.12, -0.11]))["as predicted"]) == ["yes", "no"]
    assert list(cr.predictions(_table([0.10, 0.12, 0.11]))["as predicted"]) == ["no", "no"]


def test_the_recorded_runs_are_complete_and_their_weights_inside_their_grids():
    sweeps, ablation, machine = cr.recorded("quick")
    cfg = mm.preset("jiang_scenes", size="quick")
    assert set(ablation.setting) == set(ca.methods(machine["weights"])) and set(ablation.seed) == set(cfg.seeds)
    for term in ca.SWEEP_METRICS:
        grid = cfg.chapter[f"{term}_grid"]
        assert sorted(set(sweeps[sweeps.term == term]["lambda"])) == sorted(grid)
        assert set(sweeps[sweeps.term == term].seed) == set(cfg.chapter["sweep_seeds"])
        assert ca.choose_weight(sweeps, term) == machine["weights"][term]
    # the recorded ablation uses the weights chosen from the recorded sweeps, and is scored on the test pairs:
    # its columns are those of a live run
    assert {"zs_top1", "both:tone", "independent:tone", "shared:tone", "gap"} <= set(ablation.columns)
    with pytest.raises(ValueError, match="size"):
        cr.recorded("full")
