"""mmcl_edu.claims (a claim checked like an assert and recorded) and mmcl_edu.env (the MMCL_EDU_* variables)."""
import json

import pandas as pd
import pytest

import mmcl_edu as mm
from mmcl_edu import claims, env


def test_a_claim_that_holds_is_recorded_and_one_that_fails_raises_with_its_numbers(monkeypatch):
    monkeypatch.delenv(claims.LOG_ENV, raising=False)
    monkeypatch.delenv(claims.TABLE_ENV, raising=False)
    before = len(claims.recorded())
    assert claims.check("t holds", 0.93, ">=", 0.9)
    with pytest.raises(AssertionError, match=r"t fails: 0\.05 >= 0\.1 does not hold"):
        claims.check("t fails", 0.05, ">=", 0.1)
    new = claims.recorded()[before:]
    assert [(r["claim"], r["holds"]) for r in new] == [("t holds", True), ("t fails", False)]
    assert new[0] == {"claim": "t holds", "op": ">=", "threshold": 0.9, "value": 0.93, "holds": True}


def test_a_collection_is_one_claim_per_element(monkeypatch):
    monkeypatch.delenv(claims.LOG_ENV, raising=False)
    monkeypatch.delenv(claims.TABLE_ENV, raising=False)
    before = len(claims.recorded())
    claims.check("s", pd.Series([0.1, 0.2], index=["a", "b"]), "<", 0.5)
    claims.check("m", pd.DataFrame({"x": [1.0]}, index=["r"]).stack(), "==", 1.0)
    claims.check("l", [True, True], "==", True)
    assert [r["claim"] for r in claims.recorded()[before:]] == ["s [a]", "s [b]", "m [r, x]", "l [0]", "l [1]"]
    with pytest.raises(AssertionError, match=r"s2 \[b\]"):
        claims.check("s2", {"a": 1, "b": 3}, "<=", 2)


def test_one_name_is_one_claim(monkeypatch):
    """Two comparisons under one name would share a row of the margin table: the second is refused; the same
    claim checked again (a re-run cell) is not."""
    monkeypatch.delenv(claims.LOG_ENV, raising=False)
    monkeypatch.delenv(claims.TABLE_ENV, raising=False)
    claims.check("t twice", 0.5, ">=", 0.1)
    claims.check("t twice", 0.6, ">=", 0.1)
    with pytest.raises(ValueError, match="already checked as >= 0.1"):
        claims.check("t twice", 0.5, ">", 0.2)


def test_bad_arguments_get_a_clear_error():
    with pytest.raises(ValueError, match="op must be one of"):
        claims.check("x", 1.0, "=>", 0.5)
    with pytest.raises(ValueError, match="name must be"):
        claims.check("", 1.0, ">=", 0.5)
    with pytest.raises(ValueError, match="must be a number"):
        claims.check("x", "high", ">=", 0.5)
    with pytest.raises(ValueError, match="must not be empty"):
        claims.check("x", [], ">=", 0.5)


def test_measuring_records_to_the_log_and_does_not_raise(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv(claims.LOG_ENV, str(log))
    claims.check("a", 0.2, ">=", 0.5)
    claims.check("b", 0.7, ">=", 0.5)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["claim"], r["value"], r["holds"]) for r in rows] == [("a", 0.2, False), ("b", 0.7, True)]


def test_a_claim_must_match_the_margin_table(tmp_path, monkeypatch):
    table = tmp_path / "margins.csv"
    pd.DataFrame({"claim": ["known", "ch98 other"], "op": [">=", "<="], "threshold": [0.9, 0.1]}).to_csv(table, index=False)
    monkeypatch.delenv(claims.LOG_ENV, raising=False)
    monkeypatch.setenv(claims.TABLE_ENV, str(table))
    claims.check("known", 0.95, ">=", 0.9)
    with pytest.raises(AssertionError, match="is not in the margin table"):
        claims.check("known but renamed", 0.95, ">=", 0.9)
    claims.check("ch99 a chapter not measured yet", 0.95, ">=", 0.9)
    with pytest.raises(AssertionError, match=r"was measured as >= 0\.9"):
        claims.check("known", 0.95, ">=", 0.8)        # a threshold changed without measuring it
    with pytest.raises(AssertionError, match=r"was measured as >= 0\.9"):
        claims.check("known", 0.5, "<=", 0.9)


def test_seed_offset_shifts_every_draw(monkeypatch):
    monkeypatch.delenv("MMCL_EDU_SEED_OFFSET", raising=False)
    model = mm.ContentStyleModel(content_dim=2, style_dim=1, specific_dim=1, seed=3)
    base = model.sample(5, seed=1).x1
    assert env.shift_seed(7) == 7
    monkeypatch.setenv("MMCL_EDU_SEED_OFFSET", "2")
    assert env.shift_seed(7) == 7 + 2 * env.SEED_STRIDE
    shifted = mm.ContentStyleModel(content_dim=2, style_dim=1, specific_dim=1, seed=3)
    other = shifted.sample(5, seed=1).x1
    assert not (other == base).all()
    assert (mm.ContentStyleModel(content_dim=2, style_dim=1, specific_dim=1, seed=3).sample(5, seed=1).x1 == other).all()
    monkeypatch.setenv("MMCL_EDU_SEED_OFFSET", "0")
    assert (mm.ContentStyleModel(content_dim=2, style_dim=1, specific_dim=1, seed=3).sample(5, seed=1).x1 == base).all()


@pytest.mark.parametrize("name,value", [("MMCL_EDU_SEED_OFFSET", "one"), ("MMCL_EDU_SEED_OFFSET", "-1"),
                                        ("MMCL_EDU_THREADS", "two"), ("MMCL_EDU_THREADS", "0"),
                                        ("MMCL_EDU_WORKERS", "1.5")])
def test_a_bad_environment_value_names_the_variable(name, value, monkeypatch):
    monkeypatch.setenv(name, value)
    reader = {"MMCL_EDU_SEED_OFFSET": env.seed_offset, "MMCL_EDU_THREADS": env.threads,
              "MMCL_EDU_WORKERS": env.workers}[name]
    with pytest.raises(ValueError, match=name):
        reader()
