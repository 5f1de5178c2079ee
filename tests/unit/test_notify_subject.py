"""The success notification's subject, as SNS takes one: 1 to 100 characters, no line break or control character."""

from __future__ import annotations

import pytest

from tasks.notify.logic import SUBJECT_LIMIT, sns_subject


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pipeline run succeeded: a.csv", "Pipeline run succeeded: a.csv"),
        ("a\tb\rc\nd\x07e\x7ff", "a b c d e f"),
        ("café ☃.csv", "caf? ?.csv"),
        ("x" * (SUBJECT_LIMIT + 5), "x" * SUBJECT_LIMIT),
    ],
)
def test_a_subject_is_printable_ascii_of_at_most_100_characters(text: str, expected: str) -> None:
    assert sns_subject(text) == expected
