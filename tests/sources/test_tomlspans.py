"""The TOML span scanner finds every string value, so rewrites touch only their literals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit

from torchresolve.sources._tomlspans import KeyPath, decode_string, string_spans

TRICKY = '''\
# comment with "quotes" and [brackets] = 1
title = "a # not a comment"
"quoted key" = 'literal \\ backslash'
dotted.key."with dots" = "x"   # trailing
when = 1979-05-27T07:32:00Z
numbers = [1, 2.5, -3, inf, true]
multi = """
line one "quoted"
line two \\""" still inside
"""
raw = \'\'\'
it's raw\'\'\'

[table]   # comment
inline = { a = "1", b = { c = ["x", 'y'] }, d = 2 }
nested = [ ["a", "b"], [ "c" ], ]  # arrays of arrays

[[aot]]
name = "first"
[[aot]]
name = "second"
[aot.sub]
k = "v"

[ spaced . "table" ]
value = "ok"
'''


def _leaves(value: Any, path: KeyPath = ()) -> dict[KeyPath, str]:
    found: dict[KeyPath, str] = {}
    if isinstance(value, str):
        found[path] = value
    elif isinstance(value, dict):
        for key, item in value.items():
            found |= _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= _leaves(item, (*path, index))
    return found


def _check(text: str) -> int:
    expected = _leaves(tomlkit.parse(text).unwrap())
    spans = string_spans(text)
    decoded = {path: decode_string(text[start:end]) for path, (start, end) in spans.items()}
    assert decoded == expected
    return len(expected)


def test_every_string_of_a_tricky_document_is_found() -> None:
    assert _check(TRICKY) == 15


def test_every_string_of_the_example_pyproject_is_found() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "torch15" / "pyproject.toml"
    assert _check(example.read_text(encoding="utf-8")) > 15
