"""``stock_python_code``: nothing from a policy file reaches the generated Python except as a closed string literal."""

from __future__ import annotations

import ast

import pytest

from augmeta import Policy
from augmeta.export import save_torchvision_stock, stock_python_code

from .helpers import choice, policy_dict

#: Names, notes and sources a hostile policy file may carry: each tries to end a literal and run code on import.
HOSTILE_TEXTS = (
    'x"""; __import__("os").system("id"); """',
    "x'''; __import__('os').system('id'); '''",
    "x\n__import__('os').system('id')\n",
    "x\\\"; import os; os.system('id') #",
    "x\r\nimport os\r\n",
    "\u2028import os\u2029",
    "{policy}; {__import__}",
    "\x00\x1b[31m",
)


def _hostile_policy(text: str) -> Policy:
    data = policy_dict([[{"p": 0.5, "ops": [choice("rotate", 0.5, signed=True)]}]])
    data["name"] = text
    data["description"] = text
    data["provenance"] = {"source": text, "method": text, "created_by": text, "notes": text}
    return Policy.from_dict(data)


def _constant_strings(tree: ast.Module) -> list[str]:
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
def test_hostile_text_stays_one_literal(text):
    code = stock_python_code(_hostile_policy(text))
    tree = ast.parse(code)
    # the module is a docstring, imports and assignments of literals or v2 calls: no statement the file could add
    kinds = {type(node).__name__ for node in tree.body}
    assert kinds <= {"Expr", "ImportFrom", "Assign"}
    docstring, *rest = tree.body
    assert isinstance(docstring.value, ast.Constant) and text not in docstring.value.value
    assert not any(isinstance(node, ast.Expr) for node in rest)
    names = {node.targets[0].id: node.value for node in rest if isinstance(node, ast.Assign)}
    assert set(names) == {"POLICY_NAME", "EXPORT_OPTIONS", "transform"}
    assert ast.literal_eval(names["POLICY_NAME"]) == text
    # the name appears once, as that literal; description and provenance not at all
    assert _constant_strings(tree).count(text) == 1
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert calls == set()


def test_hostile_file_imports_without_running_anything(tmp_path, monkeypatch):
    """The written file runs to its transform; ``os.system`` would have been reached by the old docstring."""
    import os

    path = save_torchvision_stock(_hostile_policy(HOSTILE_TEXTS[0]), tmp_path / "policy.py")
    ran = []
    monkeypatch.setattr(os, "system", lambda *args: ran.append(args))
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # the file under test, written by us
    assert ran == []
    assert namespace["POLICY_NAME"] == HOSTILE_TEXTS[0]
    assert callable(namespace["transform"])
