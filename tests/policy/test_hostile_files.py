"""Hostile and malformed files: one clear PolicyError each, in bounded time and memory, and nothing executed."""

from __future__ import annotations

import copy
import json
import os
import random
import resource
import time

import pytest

from augmeta import PolicyError, load_meta_tree, load_policy
from augmeta.policy.published import trivialaugment_wide


def _valid() -> dict:
    return trivialaugment_wide().to_dict()


def _error(path) -> str:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    return str(info.value)


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 9):
        lines.append(f"{'abcdefghi'[level]}: &{'abcdefghi'[level]} [{', '.join(['*' + 'abcdefghi'[level - 1]] * 10)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    start = time.perf_counter()
    message = _error(path)
    assert time.perf_counter() - start < 1.0
    assert message == f"Invalid policy file {str(path)!r}: YAML aliases (*a, line 2) are not allowed."


def test_a_huge_value_is_cut_in_the_message(tmp_path):
    data = _valid()
    data["fill"] = ["x" * 100_000]
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    message = _error(path)
    assert len(message) < 1000 and "... (100002 characters)" in message


def test_a_long_list_is_summarised_in_the_message(tmp_path):
    data = _valid()
    data["fill"] = list(range(5000))
    path = tmp_path / "long.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    message = _error(path)
    assert "<list of 5000 items>" in message and len(message) < 1000


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "huge.json"
    path.write_text(" " * (2 * 2**20 + 1), encoding="utf-8")
    assert _error(path).endswith(f"{2 * 2**20 + 1} bytes, more than the {2 * 2**20} allowed.")


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("levels", 10**9, ".levels` should be an integer in [2, 1024] or null, but got 1000000000 instead."),
        ("levels", 10**400, ".levels` should be an integer in [2, 1024] or null, but got 1000000"),
        ("weight", 1e308, ".weight` should be in [0, 1e+06] (only ratios matter), but got 1e+308 instead."),
    ],
)
def test_numbers_that_would_exhaust_memory_or_overflow_are_refused(where, value, message, tmp_path):
    data = _valid()
    choice = data["subpolicies"][0]["steps"][0]["ops"][1]
    if where == "levels":
        choice["magnitude"] = {"low": 0.0, "high": 1.0, "levels": value}
    else:
        for sub in data["subpolicies"]:
            sub["steps"][0]["ops"][1]["weight"] = value
    path = tmp_path / "numbers.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert message in _error(path)


@pytest.mark.parametrize(
    ("count", "message"),
    [
        ("subpolicies", "`subpolicies` List should have at most 1024 items after validation, not 1025"),
        ("steps", "`subpolicies[0].steps` List should have at most 32 items after validation, not 33"),
        ("ops", "`subpolicies[0].steps[0].ops` List should have at most 64 items after validation, not 65"),
    ],
)
def test_counts_past_the_limits_are_refused(count, message, tmp_path):
    data = _valid()
    if count == "subpolicies":
        data["subpolicies"] = data["subpolicies"] * 1025
    elif count == "steps":
        data["subpolicies"][0]["steps"] = data["subpolicies"][0]["steps"] * 33
    else:
        data["subpolicies"][0]["steps"][0]["ops"] = data["subpolicies"][0]["steps"][0]["ops"][:1] * 65
    path = tmp_path / "counts.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert message in _error(path)


def test_repeated_keys_are_refused_in_json_and_yaml(tmp_path):
    path = tmp_path / "twice.json"
    path.write_text('{"schema_version": 1, "p": -5, "p": 0.5}', encoding="utf-8")
    assert _error(path) == f"Invalid policy file {str(path)!r}: the key 'p' appears more than once in one object."
    path = tmp_path / "twice.yaml"
    path.write_text("schema_version: 1\nname: a\nname: b\n", encoding="utf-8")
    assert "the key 'name' appears more than once in one mapping (the mapping at line 1)" in _error(path)


def test_nan_is_located_and_deep_nesting_is_named(tmp_path):
    path = tmp_path / "nan.json"
    path.write_text('{\n  "schema_version": 1,\n  "fill": [NaN]\n}', encoding="utf-8")
    assert _error(path).endswith(": NaN is not a valid number in JSON (line 3).")
    path.write_text("[" * 1500 + "]" * 1500, encoding="utf-8")
    assert _error(path).endswith(": nested more than 32 levels deep.")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_a_pipe_or_a_device_is_not_read(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert _error(fifo) == f"Policy file {str(fifo)!r} is not a regular file (a device or a pipe)."
    assert "is not a regular file" in _error("/dev/zero")
    with pytest.raises(PolicyError, match="is not a regular file"):
        load_meta_tree(fifo)


# --- a generated corpus of malformed files ------------------------------------------------------------------------
_BAD_VALUES = [None, True, "x", -1, -1e9, 1e308, 10**30, [], {}, [1, 2, 3], {"a": 1}, "NaN", 0.5j]


def _paths(data, prefix=()):
    """Every (path, value) in nested data."""
    yield prefix, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*prefix, index))


def _mutated(rng: random.Random, valid: dict) -> str:
    """One malformed policy text: a wrong value, a missing or unknown field, or broken syntax."""
    data = copy.deepcopy(valid)
    kind = rng.choice(["value", "value", "value", "missing", "unknown", "syntax", "constant", "duplicate"])
    paths = [p for p, _ in _paths(data) if p]
    path = rng.choice(paths)
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if kind == "value":
        bad = rng.choice(_BAD_VALUES)
        parent[last] = str(bad) if isinstance(bad, complex) else bad
    elif kind == "missing" and isinstance(parent, dict):
        required = {"schema_version", "name", "subpolicies", "provenance", "steps", "p", "ops", "op", "range"}
        key = rng.choice(sorted(set(parent) & required) or ["schema_version"])
        parent.pop(key, None) if key in parent else data.pop("schema_version")
    elif kind == "unknown" and isinstance(parent, dict):
        parent["not_a_field_" + str(rng.randrange(1000))] = 1
    else:
        text = json.dumps(data)
        if kind == "syntax":
            cut = rng.randrange(1, len(text) - 1)
            return text[:cut]
        if kind == "constant":
            return text.replace('"schema_version": 1', f'"schema_version": {rng.choice(["NaN", "Infinity"])}', 1)
        return text.replace('"schema_version": 1', '"schema_version": 1, "schema_version": 1', 1)
    if kind in ("missing", "unknown") and not isinstance(parent, dict):
        data.pop("provenance")
    return json.dumps(data)


def test_a_thousand_malformed_files_each_get_one_clear_error(tmp_path):
    """Built from a seed; a mutation that happens to stay valid is counted apart, never as a failure."""
    rng = random.Random(20261202)
    valid = _valid()
    refused = 0
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for index in range(1100):
        text = _mutated(rng, valid)
        path = tmp_path / f"bad_{index}.json"
        path.write_text(text, encoding="utf-8")
        start = time.perf_counter()
        try:
            load_policy(path)
        except PolicyError as error:
            refused += 1
            message = str(error)
            assert message.startswith(f"Invalid policy file {str(path)!r}: "), message
            assert any(where in message for where in ("`", "line", "JSON", "nested", "the key")), message
            assert len(message) < 5000
        assert time.perf_counter() - start < 1.0
    assert refused >= 1000
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown < 200 * 1024  # kB: reading them never needed more than a few MB
