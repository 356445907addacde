"""The one experiment runner (mmcl_edu.experiments.run): its settings, its result type, its checkpoint folders,
and that every chapter's runner returns that one type with a ``setting`` column first."""
from __future__ import annotations

import pandas as pd
import pytest

import mmcl_edu as mm
from mmcl_edu import experiments as ex

TINY = dict(steps=4, batch_size=32, hidden=(8,), log_every=2)


def _seed_rows(results, model):
    return [{"seed": r.seed, "steps": r.config.steps, "dim": model.content_dim} for r in results]


def _tiny_settings(**hooks):
    cfg = mm.preset("daunhawer", size="smoke")
    model = ex.build_model(cfg, n_mixing_layers=1)
    return {"a": ex.Setting(model, cfg.train.replace(**TINY), _seed_rows, hooks),
            "b, longer": ex.Setting(model, cfg.train.replace(**{**TINY, "steps": 6}), _seed_rows, hooks)}


def test_run_returns_one_table_with_the_setting_first_and_the_runs_by_label(tmp_path):
    settings = _tiny_settings()
    out = ex.run(settings, seeds=(0, 1), progress=False, checkpoint_dir=tmp_path)
    assert isinstance(out, ex.SettingsRun)
    assert list(out.table.columns[:2]) == ["setting", "seed"]
    assert list(out.table.setting) == ["a", "a", "b, longer", "b, longer"]  # the settings' order, not the run order
    assert list(out.table.steps) == [4, 4, 6, 6]
    assert set(out.results) == {"a", "b, longer"} and [r.seed for r in out.results["a"]] == [0, 1]
    assert out.experiments["a"].model is settings["a"].model  # the caller's model, not a worker's copy
    assert (tmp_path / "a" / "seed1.pt").exists() and (tmp_path / "b_longer" / "seed0.pt").exists()
    again = ex.run(settings, seeds=(0, 1), progress=False, checkpoint_dir=tmp_path, resume=True, workers=1)
    for label in settings:  # resumed from the finished checkpoints: the same encoders
        for r, s in zip(out.results[label], again.results[label]):
            w, v = r.encoders.state_dict(), s.encoders.state_dict()
            assert all((w[k] == v[k]).all() for k in w)


def test_checkpoint_folders_are_readable_and_never_clash(tmp_path):
    folders = ex.checkpoint_folders(tmp_path, ["λ = 1", "μ = 1", "p_change=0.75 + stat."])
    assert [f.name for f in folders.values()] == ["=_1", "=_1_1", "p_change=0.75_stat."]
    assert ex.checkpoint_folders(None, ["a"]) == {"a": None}


def test_run_and_setting_reject_bad_input():
    settings = _tiny_settings()
    with pytest.raises(ValueError, match="settings must be a non-empty dict"):
        ex.run({}, seeds=(0,))
    with pytest.raises(ValueError, match="settings must map labels to Setting"):
        ex.run({"a": dict(p_change=1.0)}, seeds=(0,))
    with pytest.raises(ValueError, match="seeds must contain"):
        ex.run(settings, seeds=())
    with pytest.raises(ValueError, match="seeds"):
        ex.run(settings, seeds=(-1,))
    model, config = settings["a"].model, settings["a"].config
    with pytest.raises(ValueError, match="config must be a TrainConfig"):
        ex.Setting(model, dict(steps=3), _seed_rows)
    with pytest.raises(ValueError, match="score must be callable"):
        ex.Setting(model, config, "r2")
    with pytest.raises(ValueError, match="hooks must be among"):
        ex.Setting(model, config, _seed_rows, dict(lr=0.1))


@pytest.mark.parametrize("chapter", ["run_settings", "run_policies", "exact_alignment", "run_variants",
                                     "run_ablation"])
def test_every_chapter_runner_returns_the_one_result_type(chapter):
    import dataclasses

    from mmcl_edu import closing_ablation as ca
    from mmcl_edu import exact_alignment as ea
    from mmcl_edu import latent_structures as ls
    from mmcl_edu import misaligned_captions as mc

    small = dict(steps=3, log_every=1)
    if chapter == "run_settings":
        cfg = mm.preset("daunhawer", "smoke")
        out = ex.run_settings(cfg, {"p=1": dict(p_change=1.0)}, train_overrides=small, progress=False,
                              eval_overrides=dict(n_fit=60, n_test=60, regressors=("linear",), targets=("c",)))
    elif chapter == "run_policies":
        cfg = mm.preset("cai_captions", "smoke")
        cfg = dataclasses.replace(cfg, eval=dict(n_fit=60, n_test=60, n_cv=30, regressors=("linear",)))
        out = mc.run_policies(cfg, mc.policy_grid([{}]), targets=("hue",), train_overrides=small, progress=False)
    elif chapter == "exact_alignment":
        cfg = mm.preset("jiang_alignment", "smoke")
        out = ea.run_settings(cfg, {"λ = 0": {}}, train_overrides=small, progress=False, track=False)
    elif chapter == "run_variants":
        cfg = mm.preset("jiang", "smoke")
        out = ls.run_variants(cfg, {"CLIP": {}}, train_overrides=small, progress=False)
    else:
        cfg = mm.preset("jiang_scenes", "smoke")
        out = ca.run_ablation(cfg, {"CLIP": {}}, train_overrides=small, progress=False)
    assert isinstance(out, ex.SettingsRun) and isinstance(out.table, pd.DataFrame)
    assert out.table.columns[0] == "setting" and len(out.table) > 0
    assert list(out.results) == list(out.experiments) and out.train_seconds > 0


def test_run_settings_passes_trainer_hooks_in_the_training_overrides():
    cfg = mm.preset("daunhawer", "smoke")
    seen = []
    out = ex.run_settings(cfg, {"p=1": dict(p_change=1.0)}, workers=1, progress=False,
                          train_overrides=dict(steps=4, log_every=2, callback=lambda step, r: seen.append(step) or {},
                                               callback_every=2),
                          eval_overrides=dict(n_fit=60, n_test=60, regressors=("linear",), targets=("c",)))
    assert seen == [2, 4] and out.experiments["p=1"].results[0].config.steps == 4
