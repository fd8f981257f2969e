"""Policy files: canonical round trips, one test per validation rule (full messages), safe loading, atomic saving."""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from pydantic import ValidationError

import augmeta.utils.atomic
from augmeta import Policy, PolicyError, load_policy
from augmeta.ops import OPS
from augmeta.policy.published import PUBLISHED, randaugment, trivialaugment_wide

from .helpers import LEARNED_FILES, SHIPPED_FILES, make_policy_dict

OP = "subpolicies[0].steps[0].ops[0]"
STEP = "subpolicies[0].steps[0]"


def invalid(path: Path, *problems: str) -> str:
    return f"Invalid policy file {str(path)!r}: " + "\n  ".join(problems)


def step0(data: dict) -> dict:
    return data["subpolicies"][0]["steps"][0]


def op0(data: dict) -> dict:
    return step0(data)["ops"][0]


def load_error(path: Path) -> str:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert isinstance(info.value, ValueError)
    return str(info.value)


# --- canonical round trips ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda path: path.stem)
def test_json_load_save_load_is_byte_identical(path, tmp_path):
    policy = load_policy(path)
    saved = policy.save(tmp_path / "copy.json")
    assert saved == tmp_path / "copy.json"
    assert saved.read_bytes() == path.read_bytes()
    assert load_policy(saved) == policy
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.json"]  # no temporary file left


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda path: path.stem)
def test_yaml_load_save_load_is_byte_identical(path, tmp_path):
    policy = load_policy(path)
    first = policy.save(tmp_path / "first.yaml")
    from_yaml = load_policy(first)
    assert from_yaml == policy
    assert from_yaml.save(tmp_path / "second.yaml").read_bytes() == first.read_bytes()
    assert from_yaml.save(tmp_path / "back.json").read_bytes() == path.read_bytes()
    assert yaml.safe_load(first.read_text(encoding="utf-8")) == json.loads(path.read_text(encoding="utf-8"))


def test_the_learned_policies_say_what_their_runs_measured():
    """policies/learned/ holds what bench/pick_learned.py wrote: the joint run's and its retrain's accuracies."""
    assert [path.stem for path in LEARNED_FILES] == ["augmeta_digits", "augmeta_fashion_mnist_4k"]
    for path in LEARNED_FILES:
        policy = load_policy(path)
        assert policy.name == path.stem
        assert policy.provenance.created_by == "augmeta.meta"
        assert sorted(policy.provenance.metrics) == [
            "joint_test_acc",
            "joint_val_acc",
            "retrain_test_acc",
            "retrain_val_acc",
        ]
        assert all(80.0 < value <= 100.0 for value in policy.provenance.metrics.values())
        assert "bench/pick_learned.py" in policy.provenance.notes


def test_hand_written_files_reach_the_canonical_form(minimal_policy_dict, write_policy, tmp_path):
    yaml_path = write_policy(yaml.safe_dump(minimal_policy_dict, sort_keys=False), "hand.yml")
    json_path = write_policy(json.dumps(minimal_policy_dict), "hand.json")
    from_yaml, from_json = load_policy(yaml_path), load_policy(json_path)
    assert from_yaml == from_json == Policy.from_dict(minimal_policy_dict)
    once = from_json.save(tmp_path / "once.json").read_bytes()
    assert load_policy(tmp_path / "once.json").save(tmp_path / "twice.json").read_bytes() == once
    text = once.decode("utf-8")
    assert text.endswith("}\n") and json.loads(text) == from_json.to_dict()
    assert list(json.loads(text)) == sorted(json.loads(text))  # sorted keys
    assert from_yaml.save(tmp_path / "UPPER.YAML").read_text(encoding="utf-8") == yaml.safe_dump(
        from_yaml.to_dict(), sort_keys=True, allow_unicode=True
    )


def test_save_creates_missing_folders(tmp_path):
    target = tmp_path / "a" / "b" / "policy.json"
    assert trivialaugment_wide().save(target) == target
    assert load_policy(target) == trivialaugment_wide()


def test_equality_ignores_the_sampling_cache():
    """Two policies with the same fields are equal, whether or not either has been sampled from."""
    used, fresh = randaugment(), randaugment()
    assert used == fresh
    used.sample(4)
    assert used == fresh
    fresh.apply(torch.rand(2, 3, 8, 8))
    assert used == fresh


def test_policies_are_frozen(minimal_policy_dict):
    policy = Policy.from_dict(minimal_policy_dict)
    with pytest.raises(ValidationError):
        policy.name = "other"
    with pytest.raises(ValidationError):
        policy.subpolicies[0].steps[0].p = 1.0


def test_from_dict_does_not_modify_its_argument(minimal_policy_dict):
    before = json.dumps(minimal_policy_dict, sort_keys=True)
    Policy.from_dict(minimal_policy_dict)
    assert json.dumps(minimal_policy_dict, sort_keys=True) == before


def test_published_factories_round_trip_through_dicts():
    for build in PUBLISHED.values():
        policy = build()
        assert Policy.from_dict(policy.to_dict()) == policy


# --- validation: one rule per test, full messages -------------------------------------------------------------------


def _set(getter, **fields):
    return lambda data: getter(data).update(fields)


def _pop(getter, key):
    return lambda data: getter(data).pop(key)


def _top(data):
    return data


def _sub0(data):
    return data["subpolicies"][0]


def _provenance(data):
    return data["provenance"]


def _two_subpolicies_of_weight_zero(data):
    data["subpolicies"] = [dict(_sub0(data), weight=0.0), dict(_sub0(data), weight=0.0)]


def _two_ops_of_weight_zero(data):
    step0(data)["ops"] = [dict(op0(data), weight=0.0), dict(op0(data), weight=0.0)]


OP_LIST = sorted(OPS)

RULES = {
    # unknown keys
    "unknown_top_level_key": (
        _set(_top, probability=0.5),
        ["`probability` is not a field of the policy format (got value 0.5); remove it or check its spelling."],
    ),
    "unknown_key_in_op": (
        _set(op0, prob=1),
        [f"`{OP}.prob` is not a field of the policy format (got value 1); remove it or check its spelling."],
    ),
    "unknown_key_in_step": (
        _set(step0, probability=0.5),
        [f"`{STEP}.probability` is not a field of the policy format (got value 0.5); remove it or check its spelling."],
    ),
    "unknown_key_in_provenance": (
        _set(_provenance, author="me"),
        ["`provenance.author` is not a field of the policy format (got value 'me'); remove it or check its spelling."],
    ),
    "unknown_key_in_magnitude": (
        _set(op0, magnitude={"low": 0.0, "high": 1.0, "lvls": 3}),
        [f"`{OP}.magnitude.lvls` is not a field of the policy format (got value 3); remove it or check its spelling."],
    ),
    # ops
    "unknown_op": (_set(op0, op="rotat"), [f"`{OP}.op` should be one of {OP_LIST}, but got 'rotat' instead."]),
    "op_name_in_camel_case": (
        _set(op0, op="Rotate"),
        [f"`{OP}.op` should be one of {OP_LIST}, but got 'Rotate' instead."],
    ),
    # probabilities and magnitudes
    "p_above_one": (_set(step0, p=1.5), [f"`{STEP}.p` should be in [0, 1], but got 1.5 instead."]),
    "p_below_zero": (_set(step0, p=-0.1), [f"`{STEP}.p` should be in [0, 1], but got -0.1 instead."]),
    "magnitude_above_one": (_set(op0, magnitude=1.5), [f"`{OP}.magnitude` should be in [0, 1], but got 1.5 instead."]),
    "magnitude_below_zero": (
        _set(op0, magnitude=-0.5),
        [f"`{OP}.magnitude` should be in [0, 1], but got -0.5 instead."],
    ),
    "uniform_magnitude_above_one": (
        _set(op0, magnitude={"low": 0.0, "high": 2.0}),
        [f"`{OP}.magnitude.high` should be in [0, 1], but got 2.0 instead."],
    ),
    "levels_below_two": (
        _set(op0, magnitude={"low": 0.0, "high": 1.0, "levels": 1}),
        [f"`{OP}.magnitude.levels` should be an integer in [2, 1024] or null, but got 1 instead."],
    ),
    "low_above_high": (
        _set(op0, magnitude={"low": 0.8, "high": 0.2}),
        [f"`{OP}.magnitude` should have low <= high, but got low=0.8 and high=0.2 instead."],
    ),
    # types
    "p_as_string": (_set(step0, p="0.5"), [f"`{STEP}.p` should be a valid number, but got '0.5' instead."]),
    "p_as_bool": (_set(step0, p=True), [f"`{STEP}.p` should be a valid number, but got True instead."]),
    "signed_as_int": (_set(op0, signed=1), [f"`{OP}.signed` should be a valid boolean, but got 1 instead."]),
    "signed_as_string": (
        _set(op0, signed="true"),
        [f"`{OP}.signed` should be a valid boolean, but got 'true' instead."],
    ),
    "weight_as_string": (_set(op0, weight="1"), [f"`{OP}.weight` should be a valid number, but got '1' instead."]),
    "schema_version_as_string": (
        _set(_top, schema_version="1"),
        ["`schema_version` should be a valid integer, but got '1' instead."],
    ),
    "levels_as_float": (
        _set(op0, magnitude={"low": 0.0, "high": 1.0, "levels": 2.5}),
        [f"`{OP}.magnitude.levels` should be a valid integer, but got 2.5 instead."],
    ),
    "range_as_string": (_set(op0, range="0, 30"), [f"`{OP}.range` should be a valid list, but got '0, 30' instead."]),
    "name_as_number": (_set(_top, name=3), ["`name` should be a valid string, but got 3 instead."]),
    "interpolation_unknown": (
        _set(_top, interpolation="bicubic"),
        ["`interpolation` should be 'nearest' or 'bilinear', but got 'bicubic' instead."],
    ),
    # weights
    "subpolicy_weights_without_positive_total": (
        _two_subpolicies_of_weight_zero,
        [
            "`<policy>` should have `subpolicies[*].weight` with a positive total, "
            "but got [0.0, 0.0] (total 0.0) instead."
        ],
    ),
    "op_weights_without_positive_total": (
        _two_ops_of_weight_zero,
        [f"`{STEP}` should have `ops[*].weight` with a positive total, but got [0.0, 0.0] (total 0.0) instead."],
    ),
    "negative_subpolicy_weight": (
        _set(_sub0, weight=-1.0),
        ["`subpolicies[0].weight` should be in [0, 1e+06] (only ratios matter), but got -1.0 instead."],
    ),
    "negative_op_weight": (
        _set(op0, weight=-0.5),
        [f"`{OP}.weight` should be in [0, 1e+06] (only ratios matter), but got -0.5 instead."],
    ),
    # schema versions
    "newer_schema_version": (
        _set(_top, schema_version=2),
        [
            "`schema_version` should be 1 (the newest version this augmeta reads), but got 2 instead; "
            "upgrade augmeta to read it."
        ],
    ),
    "schema_version_zero": (
        _set(_top, schema_version=0),
        [
            "`schema_version` should be 1 (the newest version this augmeta reads), but got 0 instead; "
            "versions start at 1."
        ],
    ),
    # ranges
    "range_outside_op_limits": (
        _set(op0, range=[0.0, 200.0]),
        [
            f"`{OP}` `range` of op 'rotate' should stay within [-180.0, 180.0] (degrees, counter-clockwise, "
            "for both signs), but got [0.0, 200.0] instead."
        ],
    ),
    "signed_range_outside_op_limits": (
        _set(op0, op="brightness", range=[0.0, 2.0], signed=True),
        [
            f"`{OP}` `range` of op 'brightness' should stay within [-1.0, 4.0] (factor - 1, for both signs), "
            "but got [0.0, 2.0] instead."
        ],
    ),
    "unsigned_range_outside_op_limits": (
        _set(op0, op="posterize", range=[8.0, 0.0], signed=False),
        [f"`{OP}` `range` of op 'posterize' should stay within [1.0, 8.0] (bits kept), but got [8.0, 0.0] instead."],
    ),
    "range_for_op_without_magnitude": (
        _set(op0, op="invert", range=[0.0, 1.0], signed=False),
        [
            f"`{OP}` op 'invert' has no magnitude, so `range` should be null and `signed` false, "
            "but got range=[0.0, 1.0] and signed=False instead."
        ],
    ),
    "signed_op_without_magnitude": (
        _set(op0, op="equalize", range=None, signed=True),
        [
            f"`{OP}` op 'equalize' has no magnitude, so `range` should be null and `signed` false, "
            "but got range=None and signed=True instead."
        ],
    ),
    "range_missing_for_op_with_magnitude": (
        _set(op0, range=None),
        [f"`{OP}` `range` of op 'rotate' should be [lo, hi], but got None instead."],
    ),
    "range_of_three_values": (
        _set(op0, range=[0.0, 10.0, 20.0]),
        [f"`{OP}` `range` of op 'rotate' should be [lo, hi], but got [0.0, 10.0, 20.0] instead."],
    ),
    # fill
    "fill_of_two_values": (
        _set(_top, fill=[0.0, 0.5]),
        ["`fill` should be 1 or 3 values in [0, 1], but got [0.0, 0.5] instead."],
    ),
    "fill_above_one": (_set(_top, fill=[1.5]), ["`fill` should be 1 or 3 values in [0, 1], but got [1.5] instead."]),
    "fill_below_zero": (
        _set(_top, fill=[0.0, -0.1, 0.0]),
        ["`fill` should be 1 or 3 values in [0, 1], but got [0.0, -0.1, 0.0] instead."],
    ),
    "fill_of_four_values": (
        _set(_top, fill=[0.0, 0.0, 0.0, 0.0]),
        ["`fill` List should have at most 3 items after validation, not 4, but got [0.0, 0.0, 0.0, 0.0] instead."],
    ),
    # empty lists
    "empty_subpolicies": (
        _set(_top, subpolicies=[]),
        ["`subpolicies` List should have at least 1 item after validation, not 0, but got [] instead."],
    ),
    "empty_steps": (
        _set(_sub0, steps=[]),
        ["`subpolicies[0].steps` List should have at least 1 item after validation, not 0, but got [] instead."],
    ),
    "empty_ops": (
        _set(step0, ops=[]),
        [f"`{STEP}.ops` List should have at least 1 item after validation, not 0, but got [] instead."],
    ),
    # missing required fields
    "missing_schema_version": (_pop(_top, "schema_version"), ["`schema_version` is required but missing."]),
    "missing_name": (_pop(_top, "name"), ["`name` is required but missing."]),
    "missing_subpolicies": (_pop(_top, "subpolicies"), ["`subpolicies` is required but missing."]),
    "missing_provenance": (_pop(_top, "provenance"), ["`provenance` is required but missing."]),
    "missing_provenance_source": (_pop(_provenance, "source"), ["`provenance.source` is required but missing."]),
    "missing_steps": (_pop(_sub0, "steps"), ["`subpolicies[0].steps` is required but missing."]),
    "missing_p": (_pop(step0, "p"), [f"`{STEP}.p` is required but missing."]),
    "missing_ops": (_pop(step0, "ops"), [f"`{STEP}.ops` is required but missing."]),
    "missing_op": (_pop(op0, "op"), [f"`{OP}.op` is required but missing."]),
    "missing_range": (_pop(op0, "range"), [f"`{OP}.range` is required but missing."]),
    "missing_signed": (_pop(op0, "signed"), [f"`{OP}.signed` is required but missing."]),
    # several problems: one line each
    "several_problems": (
        lambda data: (step0(data).update(p=1.5), data.update(colour=1), data.pop("name")),
        [
            "`name` is required but missing.",
            f"`{STEP}.p` should be in [0, 1], but got 1.5 instead.",
            "`colour` is not a field of the policy format (got value 1); remove it or check its spelling.",
        ],
    ),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_validation_rule(rule, minimal_policy_dict, write_policy):
    mutate, problems = RULES[rule]
    mutate(minimal_policy_dict)
    path = write_policy(minimal_policy_dict)
    assert load_error(path) == invalid(path, *problems)
    with pytest.raises(PolicyError) as info:
        Policy.from_dict(minimal_policy_dict)
    assert str(info.value) == "Invalid policy from a dict: " + "\n  ".join(problems)


def test_minimal_policy_and_defaults_are_valid(minimal_policy_dict):
    policy = Policy.from_dict(minimal_policy_dict)
    assert (policy.fill, policy.interpolation, policy.description) == ([0.0], "nearest", "")
    choice = policy.subpolicies[0].steps[0].ops[0]
    assert (choice.weight, policy.subpolicies[0].weight) == (1.0, 1.0)
    op0(minimal_policy_dict).update(op="brightness", range=[0.0, 2.0], signed=False)  # unsigned: within [-1, 4]
    op0(minimal_policy_dict).pop("magnitude")
    assert Policy.from_dict(minimal_policy_dict).subpolicies[0].steps[0].ops[0].magnitude == 0.0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_non_finite_literals(literal, minimal_policy_dict, write_policy):
    text = json.dumps(minimal_policy_dict).replace('"p": 0.5', f'"p": {literal}')
    path = write_policy(text)
    assert load_error(path) == invalid(path, f"{literal} is not a valid number in JSON (line 1).")


def test_json_number_overflowing_to_infinity(minimal_policy_dict, write_policy):
    path = write_policy(json.dumps(minimal_policy_dict).replace('"p": 0.5', '"p": 1e999'))
    assert load_error(path) == invalid(path, f"`{STEP}.p` should be a finite number, but got inf instead.")


MINIMAL_YAML = """\
schema_version: 1
name: minimal
subpolicies:
- steps:
  - p: {p}
    ops:
    - {{op: rotate, magnitude: {magnitude}, range: [0.0, 30.0], signed: true}}
provenance: {{source: tests, method: hand-written}}
"""


@pytest.mark.parametrize(
    ("p", "magnitude", "problem"),
    [
        (".nan", "0.5", f"`{STEP}.p` should be a finite number, but got nan instead."),
        (".inf", "0.5", f"`{STEP}.p` should be a finite number, but got inf instead."),
        ("-.inf", "0.5", f"`{STEP}.p` should be a finite number, but got -inf instead."),
        ("0.5", ".nan", f"`{OP}.magnitude` should be a finite number, but got nan instead."),
        ("yes", "0.5", f"`{STEP}.p` should be a valid number, but got True instead."),
        ("'0.5'", "0.5", f"`{STEP}.p` should be a valid number, but got '0.5' instead."),
    ],
    ids=["p_nan", "p_inf", "p_minus_inf", "magnitude_nan", "p_yes", "p_quoted_string"],
)
def test_yaml_values(p, magnitude, problem, write_policy):
    path = write_policy(MINIMAL_YAML.format(p=p, magnitude=magnitude), "policy.yaml")
    assert load_error(path) == invalid(path, problem)


def test_yaml_minimal_is_valid(write_policy, minimal_policy_dict):
    path = write_policy(MINIMAL_YAML.format(p="0.5", magnitude="0.5"), "policy.yaml")
    assert load_policy(path) == Policy.from_dict(minimal_policy_dict)


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("list.json", "[]", "list"),
        ("number.json", "3", "int"),
        ("string.json", '"policy"', "str"),
        ("null.json", "null", "NoneType"),
        ("scalar.yaml", "just text\n", "str"),
        ("list.yaml", "- a\n- b\n", "list"),
        ("empty.yaml", "", "NoneType"),
    ],
)
def test_top_level_not_an_object(name, text, kind, write_policy):
    path = write_policy(text, name)
    assert load_error(path) == invalid(path, f"the top level should be an object, but got {kind}.")


@pytest.mark.parametrize("text", ['{"schema_version": 1 "name": "x"}', "", '{"name": "x",}', "{'name': 'x'}"])
def test_invalid_json_syntax(text, write_policy):
    path = write_policy(text)
    with pytest.raises(json.JSONDecodeError) as parse:
        json.loads(text)
    assert load_error(path) == invalid(path, f"not valid JSON ({parse.value}).")


def test_invalid_yaml_syntax(write_policy):
    text = "schema_version: 1\nname: [unclosed\n"
    path = write_policy(text, "policy.yaml")
    with pytest.raises(yaml.YAMLError) as parse:
        yaml.safe_load(text)
    assert load_error(path) == invalid(path, f"not valid YAML ({parse.value}).")


def test_missing_file(tmp_path):
    path = tmp_path / "absent.json"
    assert load_error(path) == f"Policy file {str(path)!r} does not exist."


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    message = load_error(path)
    assert message.startswith(f"Invalid policy file {str(path)!r}: not UTF-8 text (")


def test_a_folder_is_not_a_policy_file(tmp_path):
    """A folder passed by mistake is a :class:`PolicyError` naming it, like a missing file (not an OSError)."""
    with pytest.raises(PolicyError, match=re.escape(repr(str(tmp_path)))):
        load_policy(tmp_path)


# --- loading never executes code ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "!!python/object/apply:os.system ['touch {marker}']\n",
        "schema_version: 1\nname: !!python/object/apply:os.system ['touch {marker}']\n",
        "name: !!python/object/apply:subprocess.check_call [['touch', '{marker}']]\n",
        "name: !!python/object/new:subprocess.Popen [['touch', '{marker}']]\n",
        "name: !!python/name:os.system\n",
    ],
)
def test_yaml_tags_never_run_code(template, tmp_path):
    marker = tmp_path / "executed"
    text = template.format(marker=marker)
    path = tmp_path / "evil.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(yaml.YAMLError) as parse:
        yaml.safe_load(text)
    assert load_error(path) == invalid(path, f"not valid YAML ({parse.value}).")
    assert "could not determine a constructor for the tag 'tag:yaml.org,2002:python/" in str(parse.value)
    assert not marker.exists()


# --- atomic saving --------------------------------------------------------------------------------------------------


@pytest.fixture
def saved_policy(tmp_path):
    """An existing policy file and its bytes."""
    path = randaugment().save(tmp_path / "policy.json")
    return path, path.read_bytes()


def _crash(*args, **kwargs):
    raise OSError("disk on fire")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_crash_before_rename_keeps_the_old_file(suffix, tmp_path, monkeypatch):
    path = randaugment().save(tmp_path / f"policy{suffix}")
    old = path.read_bytes()
    monkeypatch.setattr(augmeta.utils.atomic.os, "replace", _crash)
    with pytest.raises(OSError, match="disk on fire"):
        trivialaugment_wide().save(path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert load_policy(path) == randaugment()


def test_crash_in_the_middle_of_writing_keeps_the_old_file(saved_policy, monkeypatch):
    path, old = saved_policy
    written = []
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            written.append(len(data) // 2)
            raise OSError("disk full")

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(augmeta.utils.atomic.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="disk full"):
        trivialaugment_wide().save(path)
    monkeypatch.undo()
    assert written and written[0] > 0
    assert path.read_bytes() == old
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_interrupt_during_fsync_keeps_the_old_file(saved_policy, monkeypatch):
    path, old = saved_policy

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(augmeta.utils.atomic.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        trivialaugment_wide().save(path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_crash_when_saving_a_new_file_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(augmeta.utils.atomic.os, "replace", _crash)
    with pytest.raises(OSError, match="disk on fire"):
        trivialaugment_wide().save(tmp_path / "new.json")
    assert list(tmp_path.iterdir()) == []


ROTATE = {"op": "rotate", "magnitude": {"low": 0.0, "high": 1.0}, "range": [0.0, 30.0], "signed": True}


class TestLearnedOn:
    """A learned policy records the images it was learned on, and says so when applied to other channels."""

    @staticmethod
    def _learned(channels: int = 1) -> Policy:
        data = make_policy_dict([ROTATE])
        data["provenance"]["learned_on"] = {"dataset": "digits", "channels": channels, "image_size": [8, 8]}
        return Policy.from_dict(data)

    def test_round_trip_and_no_field_when_unknown(self, tmp_path):
        policy = self._learned()
        assert load_policy(policy.save(tmp_path / "p.json")) == policy
        assert policy.to_dict()["provenance"]["learned_on"]["image_size"] == [8, 8]
        plain = Policy.from_dict(make_policy_dict([ROTATE]))
        assert "learned_on" not in plain.to_dict()["provenance"]  # older files keep their bytes

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("channels", 2, "provenance.learned_on.channels"),
            ("image_size", [8], "provenance.learned_on.image_size"),
            ("image_size", [0, 8], "provenance.learned_on.image_size[0]"),
            ("dataset", "x" * 201, "provenance.learned_on.dataset"),
        ],
    )
    def test_bad_values_name_their_field(self, field, value, message):
        data = self._learned().to_dict()
        data["provenance"]["learned_on"][field] = value
        with pytest.raises(PolicyError, match=re.escape(message)):
            Policy.from_dict(data)

    def test_other_channels_warn_once_the_same_do_not(self):
        policy = self._learned(channels=1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            policy.apply(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
        with pytest.warns(
            UserWarning, match=r"learned on 1-channel images \(digits, 8x8\) and is applied to 3-channel"
        ):
            policy.apply(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))

    def test_a_long_name_is_cut_in_the_warning(self):
        data = self._learned(channels=1).to_dict()
        data["name"] = "x" * 5000
        with pytest.warns(UserWarning) as record:
            Policy.from_dict(data).apply(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
        assert len(str(record[0].message)) < 500 and "(5002 characters)" in str(record[0].message)

    def test_the_torchvision_transform_warns_too(self):
        from augmeta.export import to_torchvision

        transform = to_torchvision(self._learned(channels=3))
        with pytest.warns(UserWarning, match="learned on 3-channel images"):
            for _ in range(20):  # until a draw applies an op
                transform(torch.zeros(1, 8, 8, dtype=torch.uint8))
