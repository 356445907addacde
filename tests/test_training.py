"""mmcl_edu.training: determinism, seeds, checkpoints and resuming, NaN detection, validation."""
from __future__ import annotations

import math

import pytest
import torch

import mmcl_edu as mm
from mmcl_edu.training import TrainConfig, TrainResult, train, train_seeds

CFG = TrainConfig(steps=30, batch_size=64, lr=3e-3, lr_schedule="cosine", warmup_steps=5, hidden=(32, 32),
                  log_every=5)


@pytest.fixture(scope="module")
def model():
    return mm.ContentStyleModel(content_dim=3, style_dim=2, specific_dim=2, p_change=0.75, n_mixing_layers=2,
                                seed=0, device="cpu")


def _state(result):
    return {k: v.clone() for k, v in result.encoders.state_dict().items()}


def _same_weights(a, b):
    sa, sb = _state(a), _state(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _curves(result):
    return {k: result.history[k] for k in ("step", "loss", "lr", "temperature")}


def test_train_basic(model):
    res = train(model, CFG, seed=0, progress=False)
    assert isinstance(res, TrainResult) and res.seed == 0 and res.config == CFG
    assert res.history["step"] == [5, 10, 15, 20, 25, 30]
    assert all(math.isfinite(v) for v in res.history["loss"])
    assert res.history["loss"][-1] < res.history["loss"][0]          # it learns something
    assert res.history["lr"][-1] == pytest.approx(0.0, abs=1e-12)    # cosine decays to zero
    assert res.train_seconds > 0
    b = model.sample(10, seed=0)
    z1, z2 = res.encode(b.x1, b.x2)
    assert z1.shape == z2.shape == (10, 3)                           # encoding size = content size
    only1, none2 = res.encode(b.x1, None)                            # one modality alone
    assert none2 is None and torch.equal(only1, z1)
    assert res.encode(None, b.x2)[0] is None and torch.equal(res.encode(None, b.x2)[1], z2)
    assert not any(p.requires_grad for p in model.f1.parameters())


def test_same_seed_same_numbers_different_seed_differs(model):
    a = train(model, CFG, seed=1, progress=False)
    b = train(model, CFG, seed=1, progress=False)
    c = train(model, CFG, seed=2, progress=False)
    assert _same_weights(a, b) and _curves(a) == _curves(b)
    assert not _same_weights(a, c) and a.history["loss"] != c.history["loss"]


def test_several_seeds_return_a_list(model):
    cfg = CFG.replace(steps=10)
    out = train_seeds(model, cfg, seeds=[3, 4], progress=False)
    assert isinstance(out, list) and [r.seed for r in out] == [3, 4]
    single = train(model, cfg, seed=4, progress=False)
    assert _same_weights(out[1], single) and _curves(out[1]) == _curves(single)
    assert not _same_weights(out[0], out[1])


@pytest.mark.parametrize("seeds, name", [([], "seeds"), ([0, -2], "seed")])
def test_train_seeds_validation(model, seeds, name):
    with pytest.raises(ValueError, match=name):
        train_seeds(model, CFG.replace(steps=1), seeds=seeds, progress=False)


def test_overrides_and_mixing_untouched(model):
    w = model.f1.weights.clone()
    res = train(model, CFG, seed=0, progress=False, steps=5, log_every=1)
    assert res.config.steps == 5 and res.history["step"] == [1, 2, 3, 4, 5]
    assert torch.equal(model.f1.weights, w)


class _Interrupt(Exception):
    pass


def test_resume_equals_uninterrupted_run(model, tmp_path):
    full = train(model, CFG, seed=0, progress=False)

    def crash(step, result):            # simulate a killed kernel at step 20
        if step == 20:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(model, CFG, seed=0, progress=False, checkpoint_dir=tmp_path, checkpoint_every=10,
              callback=crash, callback_every=10)
    ckpt = tmp_path / "seed0.pt"
    state = torch.load(ckpt, weights_only=False)
    assert state["step"] == 10                  # the last checkpoint before the crash
    assert state["history"]["step"] == [5, 10]

    resumed = train(model, CFG, seed=0, progress=False, checkpoint_dir=tmp_path, checkpoint_every=10, resume=True)
    assert _same_weights(resumed, full)
    assert _curves(resumed) == _curves(full)
    assert torch.load(ckpt, weights_only=False)["step"] == 30   # final checkpoint written

    # resuming a finished run trains nothing more and returns the same encoders
    again = train(model, CFG, seed=0, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert _same_weights(again, full) and _curves(again) == _curves(full)

    # without resume=True the checkpoint is ignored (training starts over: same numbers by determinism)
    fresh = train(model, CFG.replace(steps=10), seed=0, progress=False, checkpoint_dir=tmp_path / "other")
    assert fresh.history["step"] == [5, 10]


def test_resume_from_other_config_or_seed_is_refused(model, tmp_path):
    train(model, CFG.replace(steps=5), seed=0, progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="different config"):
        train(model, CFG.replace(steps=5, lr=1e-2), seed=0, progress=False, checkpoint_dir=tmp_path, resume=True)
    other = mm.ContentStyleModel(content_dim=3, style_dim=2, specific_dim=2, p_change=0.5, n_mixing_layers=2,
                                 seed=0, device="cpu")
    with pytest.raises(ValueError, match="different model"):
        train(other, CFG.replace(steps=5), seed=0, progress=False, checkpoint_dir=tmp_path, resume=True)


def test_resume_without_checkpoint_starts_fresh(model, tmp_path):
    a = train(model, CFG.replace(steps=10), seed=0, progress=False, checkpoint_dir=tmp_path / "none", resume=True)
    b = train(model, CFG.replace(steps=10), seed=0, progress=False)
    assert _same_weights(a, b)


@pytest.mark.parametrize("changes", [dict(lr=1e30), dict(lr=1e30, grad_clip=None),
                                     dict(lr=1e25, negatives="intra", similarity="euclidean")])
def test_nan_loss_raises(model, changes):
    with pytest.raises(FloatingPointError, match="loss"):
        train(model, CFG.replace(steps=20, log_every=1, **changes), seed=0, progress=False)


@pytest.mark.filterwarnings("error::UserWarning")
def test_learnable_temperature_trains(model):
    res = train(model, CFG.replace(learnable_temperature=True, temperature=0.5, lr=1e-2), seed=0, progress=False)
    temps = res.history["temperature"]
    assert temps[0] != pytest.approx(0.5, abs=1e-6) or temps[-1] != pytest.approx(0.5, abs=1e-6)
    assert res.loss_fn.log_temperature.requires_grad


def test_callback_history(model):
    calls = []

    def cb(step, result):
        calls.append(step)
        return {"norm": float(sum(p.norm() for p in result.encoders.parameters()))}

    res = train(model, CFG.replace(steps=12), seed=0, progress=False, callback=cb, callback_every=5)
    assert calls == [5, 10, 12]
    assert [c["step"] for c in res.history["callback"]] == [5, 10, 12]


def test_misalignment_model_trains_with_identified_size():
    m = mm.MisalignmentModel(n_semantics=4, selected=(0, 1, 2), perturbed=(2,), specific_dim=1,
                             n_mixing_layers=1, device="cpu")
    res = train(m, CFG.replace(steps=3), seed=0, progress=False)
    b = m.sample(8, seed=0)
    z1, z2 = res.encode(b.x1, b.x2)
    assert z1.shape == (8, 2)                      # |I_θ \ I_ρ|


# ------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("field, value", [
    ("steps", -1), ("steps", 1.5), ("batch_size", 1), ("lr", 0.0), ("lr", -1e-3), ("lr_schedule", "linear"),
    ("warmup_steps", -1), ("weight_decay", -0.1), ("grad_clip", 0.0), ("hidden", (16, 0)),
    ("activation", "sigmoid"), ("encoding_dim", 0), ("similarity", "dot"), ("temperature", 0.0),
    ("negatives", "both"), ("log_every", 0),
])
def test_train_config_validation(field, value):
    with pytest.raises(ValueError, match=f"^{field}"):
        TrainConfig(**{field: value})
    with pytest.raises(ValueError, match=f"^{field}"):
        CFG.replace(**{field: value})


def test_train_config_replace_unknown_field():
    with pytest.raises(ValueError, match="learning_rate"):
        CFG.replace(learning_rate=1e-3)


@pytest.mark.parametrize("kwargs, name", [
    (dict(seed=-1), "seed"),
    (dict(resume=True), "resume"),
    (dict(checkpoint_every=5), "checkpoint_every"),
    (dict(checkpoint_every=0, checkpoint_dir="unused"), "checkpoint_every"),
    (dict(callback=42), "callback"),
    (dict(callback=lambda s, r: None, callback_every=0), "callback_every"),
    (dict(config="fast"), "config"),
    (dict(learning_rate=1e-3), "learning_rate"),
    (dict(device="quantum"), "device"),
])
def test_train_validation(model, kwargs, name):
    kwargs = {"config": CFG.replace(steps=1), **kwargs}
    with pytest.raises(ValueError, match=name):
        train(model, progress=False, **kwargs)


def test_whitening_layer_whitens():
    from mmcl_edu.encoders import MLPEncoder, Whitening
    g = torch.Generator().manual_seed(0)
    A = torch.tensor([[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [-1.0, 0.3, 0.2]])
    x = torch.randn(20_000, 3, generator=g) @ A.T + torch.tensor([1.0, -2.0, 3.0])
    w = Whitening(x)
    y = w(x).double()
    torch.testing.assert_close(y.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.cov(y.T), torch.eye(3, dtype=torch.float64), atol=1e-3, rtol=0)
    assert not any(p.requires_grad for p in w.parameters())
    enc = MLPEncoder(3, 2, hidden=(8,), whiten=x[:100])
    assert isinstance(enc[0], Whitening)
    with pytest.raises(ValueError, match="^whiten"):
        MLPEncoder(3, 2, hidden=(8,), whiten=x[:100, :2])
    with pytest.raises(ValueError, match="^x"):
        Whitening(x[:1])


def test_whiten_inputs_training_is_deterministic_and_resumable(model, tmp_path):
    cfg = CFG.replace(whiten_inputs=True, steps=10)
    a = train(model, cfg, seed=0, progress=False)
    b = train(model, cfg, seed=0, progress=False, checkpoint_dir=tmp_path, checkpoint_every=5)
    assert _same_weights(a, b) and _curves(a) == _curves(b)
    assert not _same_weights(a, train(model, CFG.replace(steps=10), seed=0, progress=False))
