"""Where each string literal of a TOML document sits: key path -> character span.

tomlkit parses and validates; it does not report positions. This scanner walks a document that
tomlkit has already accepted and records the span of every string value under its key path
(array items by index), so entries get line numbers and :func:`rewrite` can replace exactly
one literal and leave every other byte alone.
"""

from __future__ import annotations

import contextlib
import re

__all__ = ["KeyPath", "decode_string", "encode_like", "string_spans"]

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = re.compile(r"[,\]}#\s]")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.spans: dict[KeyPath, tuple[int, int]] = {}
        self.aot_counts: dict[KeyPath, int] = {}

    def peek(self, count: int = 1) -> str:
        return self.text[self.pos : self.pos + count]

    def skip_space(self, *, newlines: bool) -> None:
        """Skip blanks and comments, and line breaks when ``newlines``."""
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in " \t" or (newlines and char in "\r\n"):
                self.pos += 1
            elif char == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            else:
                return

    def string(self) -> tuple[int, int]:
        """Consume one string literal at the cursor; return its span, quotes included."""
        text = self.text
        start = self.pos
        for quote in ('"""', "'''"):
            if text.startswith(quote, start):
                end = start + 3
                while True:
                    if quote == '"""' and text[end] == "\\":
                        end += 2
                        continue
                    if text.startswith(quote, end):
                        # up to two quotes may end the content right before the delimiter
                        while text.startswith(quote[0], end + 3):
                            end += 1
                        self.pos = end + 3
                        return start, self.pos
                    end += 1
        quote = text[start]
        end = start + 1
        while text[end] != quote:
            end += 2 if quote == '"' and text[end] == "\\" else 1
        self.pos = end + 1
        return start, self.pos

    def key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self.skip_space(newlines=False)
            if self.peek() in ('"', "'"):
                start, end = self.string()
                parts.append(decode_string(self.text[start:end]))
            else:
                match = _BARE_KEY.match(self.text, self.pos)
                if match is None:
                    raise ValueError(f"no key at offset {self.pos}")
                parts.append(match.group())
                self.pos = match.end()
            self.skip_space(newlines=False)
            if self.peek() != ".":
                return tuple(parts)
            self.pos += 1

    def value(self, path: KeyPath) -> None:
        char = self.peek()
        if char in ('"', "'"):
            self.spans[path] = self.string()
        elif char == "[":
            self.pos += 1
            index = 0
            while True:
                self.skip_space(newlines=True)
                if self.peek() == "]":
                    self.pos += 1
                    return
                self.value((*path, index))
                index += 1
                self.skip_space(newlines=True)
                if self.peek() == ",":
                    self.pos += 1
        elif char == "{":
            self.pos += 1
            while True:
                self.skip_space(newlines=False)
                if self.peek() == "}":
                    self.pos += 1
                    return
                key = self.key()
                self.expect("=")
                self.skip_space(newlines=False)
                self.value((*path, *key))
                self.skip_space(newlines=False)
                if self.peek() == ",":
                    self.pos += 1
        else:
            match = _SCALAR_END.search(self.text, self.pos)
            self.pos = len(self.text) if match is None else match.start()

    def expect(self, char: str) -> None:
        self.skip_space(newlines=False)
        if self.peek() != char:
            raise ValueError(f"expected {char!r} at offset {self.pos}")
        self.pos += 1

    def resolve(self, name: tuple[str, ...]) -> KeyPath:
        """A header's path, with the current index after every array of tables it passes."""
        path: KeyPath = ()
        for depth, part in enumerate(name, start=1):
            path = (*path, part)
            if depth < len(name) and path in self.aot_counts:
                path = (*path, self.aot_counts[path] - 1)
        return path

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip_space(newlines=True)
            if self.pos >= len(self.text):
                return
            if self.peek(2) == "[[":
                self.pos += 2
                name = self.resolve(self.key())
                self.expect("]")
                self.expect("]")
                count = self.aot_counts.get(name, 0)
                self.aot_counts[name] = count + 1
                table = (*name, count)
            elif self.peek() == "[":
                self.pos += 1
                table = self.resolve(self.key())
                self.expect("]")
            else:
                key = self.key()
                self.expect("=")
                self.skip_space(newlines=False)
                self.value((*table, *key))


def string_spans(text: str) -> dict[KeyPath, tuple[int, int]]:
    """Map the key path of every string value in a valid TOML document to its span.

    Arrays of tables are indexed (``("tool", "x", 0, "key")``). Best effort: on a construct the
    scanner does not understand, the spans found so far are returned; callers check each span
    against the parsed value before trusting it.
    """
    scanner = _Scanner(text)
    with contextlib.suppress(ValueError, IndexError):
        scanner.document()
    return scanner.spans


def decode_string(literal: str) -> str:
    """The value of one TOML string literal (quotes included)."""
    import tomlkit

    value = tomlkit.parse(f"v = {literal}\n")["v"]
    return str(value)


def encode_like(value: str, original: str) -> str:
    """Write ``value`` as a TOML string literal in the quoting style of ``original``."""
    if original.startswith("'") and not original.startswith("'''") and "'" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
