"""YAML values that must end in a problem, never in a hang: an alias bomb and a huge number."""

from __future__ import annotations

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n" for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


HUGE = "9" * 5000
