"""Masking variable parts of log lines (numbers, addresses, ids) before template matching.

`Masker` applies the masks in order, each as one regex substitution over the whole text, as
Drain3's `LogMasker` does (same results). The default masks are compiled in an equivalent
form that Python's regex engine scans about three times faster: the "not after a letter or
digit" test moves behind the first character, so the engine skips ahead to candidate
characters instead of trying every position.

`shape` and `Masker.unmasked_digits` let a caller mask one line per *digit shape* instead of
every line (see `TemplateMatcher.match_many`).

Example:
    >>> m = Masker(DEFAULT_MASKS)
    >>> m.mask("got 10.0.0.1:50010 size -12.5 id 0x1F at v2")
    'got <IP>:<NUM> size <NUM> id <HEX> at v2'
    >>> m.unmasked_digits(shape("disk7 at 42"))
    (4,)
"""

from __future__ import annotations

import re

_NUM_EDGE = r"((?<=[^A-Za-z0-9])|^)"
_NUM_END = r"((?=[^A-Za-z0-9])|$)"
DEFAULT_MASKS: list[list[str]] = [
    [_NUM_EDGE + r"(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})" + _NUM_END, "IP"],
    [_NUM_EDGE + r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                 r"[0-9a-fA-F]{12})" + _NUM_END, "UUID"],
    [_NUM_EDGE + r"(0x[0-9a-fA-F]+)" + _NUM_END, "HEX"],
    [_NUM_EDGE + r"([\-\+]?\d+(?:\.\d+)?)" + _NUM_END, "NUM"],
]
# The same masks, equivalent match for match: `(?<![A-Za-z0-9].)` after the first character
# says "the match does not start right after a letter or digit" (the `.` is that character).
_AFTER = r"(?<![A-Za-z0-9].)"
_END = r"(?![A-Za-z0-9])"
_HEX = "[0-9a-fA-F]"
FAST_DEFAULT = [
    r"\d" + _AFTER + r"\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}" + _END,
    _HEX + _AFTER + _HEX + "{7}-" + _HEX + "{4}-" + _HEX + "{4}-" + _HEX + "{4}-" + _HEX
    + "{12}" + _END,
    "0" + _AFTER + "x" + _HEX + "+" + _END,
    r"(?:[\-\+]" + _AFTER + r"\d+|\d" + _AFTER + r"\d*)(?:\.\d+)?" + _END,
]
_NEEDS = [".", "-", "0x", ""]  # IP, UUID, HEX, NUM
_SHAPE = str.maketrans("23456789", "11111111")
_DIGITS = frozenset("0123456789")


def shape(text: str) -> str:
    """`text` with the digits 2-9 written as 1 (same length, same positions).

    Every default mask treats the digits alike except the literal 0 of ``0x``, so a line and
    its shape are masked at the same places.

    Example:
        >>> shape("blk_-9021 at 10.2.3.4")
        'blk_-1011 at 10.1.1.1'
    """
    return text.translate(_SHAPE)


class Masker:
    """Masks `(pattern, name)` pairs in order, each match replaced by ``<name>``."""

    def __init__(self, masks: list[list[str]] | tuple[tuple[str, str], ...]) -> None:
        pairs = [(str(p), str(n)) for p, n in masks]
        self.default = [list(m) for m in pairs] == DEFAULT_MASKS
        patterns = FAST_DEFAULT if self.default else [p for p, _ in pairs]
        self.steps = [(re.compile(p), f"<{n}>") for p, (_, n) in zip(patterns, pairs,
                                                                      strict=True)]
        # a text can only match a default mask when it holds that mask's literal part
        self.needs = _NEEDS if self.default else [""] * len(self.steps)

    def mask(self, text: str) -> str:
        """`text` with every mask applied in order."""
        for (regex, token), need in zip(self.steps, self.needs, strict=True):
            if need in text:
                text = regex.sub(token, text)
        return text

    def unmasked_digits(self, text: str) -> tuple[int, ...]:
        """Positions in `text` of the ASCII digits that stay after masking."""
        origin = list(range(len(text)))
        for regex, token in self.steps:
            parts: list[str] = []
            where: list[int] = []
            last = 0
            for match in regex.finditer(text):
                parts += [text[last:match.start()], token]
                where += origin[last:match.start()] + [-1] * len(token)
                last = match.end()
            if parts:
                text = "".join([*parts, text[last:]])
                origin = where + origin[last:]
        return tuple(origin[i] for i, ch in enumerate(text) if ch in _DIGITS and origin[i] >= 0)
