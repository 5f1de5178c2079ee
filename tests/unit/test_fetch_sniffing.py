"""Encoding and CSV dialect sniffing of the Fetch step."""

from __future__ import annotations

import pytest

from tasks.common.errors import EmptyObject, UnsupportedEncoding
from tasks.fetch.logic import sniff_csv, sniff_encoding


def test_utf8_with_and_without_bom() -> None:
    assert sniff_encoding("a,é\n".encode(), complete=True) == "utf-8"
    assert sniff_encoding("\ufeffa,é\n".encode(), complete=True) == "utf-8-sig"


def test_a_sample_cut_inside_a_character_is_still_utf8() -> None:
    text = "é".encode() * 10
    assert sniff_encoding(text[:-1], complete=False) == "utf-8"


@pytest.mark.parametrize(
    "data", ["name\nJosé\n".encode("latin-1"), "a,b\n".encode("utf-16"), b"\xff\xfe\x00\x00garbage"]
)
def test_other_encodings_are_refused_with_the_position(data: bytes) -> None:
    with pytest.raises(UnsupportedEncoding):
        sniff_encoding(data, complete=True)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(delimiter: str) -> None:
    text = delimiter.join(["id", "name", "city"]) + "\n" + delimiter.join(["1", "Ann", "Oslo"]) + "\n"
    dialect = sniff_csv(text, complete=True)
    assert dialect.delimiter == delimiter
    assert dialect.header == ["id", "name", "city"]


def test_quoted_delimiters_do_not_mislead_the_sniffer() -> None:
    text = 'id,comment\n1,"a, b, c"\n2,"d; e"\n'
    dialect = sniff_csv(text, complete=True)
    assert (dialect.delimiter, dialect.header) == (",", ["id", "comment"])


def test_single_column_falls_back_to_rfc_4180() -> None:
    dialect = sniff_csv("name\nAnn\nBob\n", complete=True)
    assert (dialect.delimiter, dialect.quotechar, dialect.header) == (",", '"', ["name"])


def test_a_cut_last_line_is_ignored_when_the_sample_is_partial() -> None:
    dialect = sniff_csv("a;b\n1;2\n3;4\n5;", complete=False)
    assert dialect.delimiter == ";"


def test_no_header_row_is_empty() -> None:
    with pytest.raises(EmptyObject):
        sniff_csv("\n\n", complete=True)


def test_the_delimiter_that_splits_rows_consistently_wins_over_a_more_frequent_one() -> None:
    # Commas appear more often, but only semicolons give every row the same width.
    text = "id;comment\n1;a, b\n2;c, d, e\n3;f\n"
    assert sniff_csv(text, complete=True).delimiter == ";"


def test_quotes_are_rfc_4180_even_when_the_sample_has_apostrophes() -> None:
    dialect = sniff_csv("name,note\n'Ann',it's fine\nBob,'quoted'\n", complete=True)
    assert (dialect.delimiter, dialect.quotechar, dialect.doublequote) == (",", '"', True)
