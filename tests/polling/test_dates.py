"""pipeline.polling.dates: every feed kind's dates, one parser, answers in UTC.

The cases are our own, written in the shapes the date corpora of feedparser
(tests for its RFC 822, W3DTF/ISO 8601 and asctime parsers) and Miniflux
(internal/reader/date/parser_test.go: named zones, "weird formats") test:

- RFC 822: with and without weekday, with and without seconds, two-digit years, full month
  names, 12-hour clocks, zone abbreviations, numeric offsets, impossible days;
- ISO 8601 / RFC 3339: Z and lower-case z, offsets, fractions, no seconds, date only,
  year-month, basic format, space for T, no zone;
- zone names (America/Los_Angeles in summer and winter, Europe/Brussels), GMT+7 and
  GMT-07:00 the way people mean them, JavaScript's "GMT+0000 (Coordinated Universal Time)";
- other layouts: 2016/6/29 15:07:41, asctime, Unix time;
- garbage and out of range: None, never an exception.
"""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime

import pytest

from pipeline.polling.dates import parse_date

CASES = {
    # RFC 822 and its relatives
    "Thu, 01 Jan 2004 19:48:21 GMT": "2004-01-01T19:48:21",
    "01 Jan 2004 19:48:21 GMT": "2004-01-01T19:48:21",  # no weekday
    "Thu, 01 Jan 2004 19:48 GMT": "2004-01-01T19:48:00",  # no seconds
    "Thu, 01 Jan 04 19:48:21 GMT": "2004-01-01T19:48:21",  # two-digit year
    "Sat, 1 Jan 99 08:00:00 GMT": "1999-01-01T08:00:00",  # two-digit year, last century
    "Mon, 5 Apr 2021 10:00:00 +0000": "2021-04-05T10:00:00",  # one-digit day
    "Mon, 26 January 2004 16:31:00 EST": "2004-01-26T21:31:00",  # full month name
    "Sun, 17 Dec 2017 1:55 PM EST": "2017-12-17T18:55:00",  # 12-hour clock
    "Tue, 16 Feb 2016 23:16:00 EDT": "2016-02-17T03:16:00",
    "Wed, 26 Dec 2018 10:00:54 PST": "2018-12-26T18:00:54",
    "Wed, 29 Jun 2016 15:07:41 PDT": "2016-06-29T22:07:41",
    "Mon, 26 Jan 2004 16:31:00 ET": "2004-01-26T21:31:00",  # generic: standard time
    "Fri, 10 Jul 2026 12:00:00 CEST": "2026-07-10T10:00:00",
    "Fri, 10 Jan 2026 12:00:00 CET": "2026-01-10T11:00:00",
    "Fri, 10 Jan 2026 12:00:00 JST": "2026-01-10T03:00:00",
    "Fri, 10 Jan 2026 12:00:00 UT": "2026-01-10T12:00:00",
    "Fri, 10 Jan 2026 12:00:00 Z": "2026-01-10T12:00:00",
    "Fri, 10 Jan 2026 12:00:00 IST": "2026-01-10T12:00:00",  # ambiguous: unknown, so UTC
    "Sun, 28 Oct 2018 13:48:00 +0100": "2018-10-28T12:48:00",
    "Sun, 28 Oct 2018 13:48:00 -0430": "2018-10-28T18:18:00",
    "Sun, 28 Oct 2018 13:48:00 +05:30": "2018-10-28T08:18:00",
    # ISO 8601 / RFC 3339 (Atom, JSON Feed)
    "2003-12-31T10:14:55Z": "2003-12-31T10:14:55",
    "2003-12-31T10:14:55z": "2003-12-31T10:14:55",  # lower-case z
    "2003-12-31T10:14:55-08:00": "2003-12-31T18:14:55",
    "2003-12-31T10:14:55.1234Z": "2003-12-31T10:14:55.123400",
    "2003-12-31T10:14Z": "2003-12-31T10:14:00",  # no seconds
    "2003-12-31": "2003-12-31T00:00:00",  # date only
    "2003-12": "2003-12-01T00:00:00",  # year and month
    "20031231T101455Z": "2003-12-31T10:14:55",  # basic format
    "2003-12-31 10:14:55": "2003-12-31T10:14:55",  # space for T, no zone: UTC
    # zone names and GMT offsets
    "Wed, 29 Jun 2016 15:07:41 America/Los_Angeles": "2016-06-29T22:07:41",  # PDT
    "Thu, 14 Jan 2016 15:07:41 America/Los_Angeles": "2016-01-14T23:07:41",  # PST
    "Thu, 25 Feb 2016 00:00:00 Europe/Brussels": "2016-02-24T23:00:00",
    "Wed, 29 Jun 2016 15:07:41 GMT+7": "2016-06-29T08:07:41",
    "Thu, 29 Oct 2020 07:36:03 GMT-07:00": "2020-10-29T14:36:03",
    "Thu, 29 Oct 2020 07:36:03 UTC+05:30": "2020-10-29T02:06:03",
    "Thu Nov 12 2020 17:00:00 GMT+0000 (Coordinated Universal Time)": "2020-11-12T17:00:00",
    # other layouts
    "2016/6/29 15:07:41": "2016-06-29T15:07:41",
    "Sun Jan  4 16:29:06 2004": "2004-01-04T16:29:06",  # asctime
    "Sun Jan  4 16:29:06 PST 2004": "2004-01-05T00:29:06",
    "Nov. 2020": "2020-11-01T00:00:00",
    "1520932969": "2018-03-13T09:22:49",  # Unix time
}


@pytest.mark.parametrize(("text", "expected"), CASES.items(), ids=list(CASES))
def test_dates_feeds_write(text: str, expected: str) -> None:
    parsed = parse_date(text)

    assert parsed is not None
    assert parsed.tzinfo is UTC
    assert parsed == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "garbage",
        "not a date at all",
        "12",  # a day? an hour? no year, no month
        "2003",  # a year alone says too little for a publication time
        "Nov 29 15:07",  # no year: never this year's by default
        "Thu, 31 Jun 2004 19:48:21 GMT",  # no 31 June
        "Wed, 29 Jun 2016 15:07:41 Mars/Olympus_Mons",  # a zone name nobody knows
        "Wed, 29 Jun 2016 15:07:41 America/Argentina",  # a folder of zones, not a zone
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        "Mon, 26 Jan 2004 16:31:00 +2400",  # an offset of a day
        "9" * 40 + "h",  # dateutil's decimal arithmetic overflows
        "99999999999999999999",
        "Wed, 29 Jun 2016 15:07:41 GMT" + " (a comment)" * 20,  # too long to be a date
    ],
)
def test_garbage_and_out_of_range_is_none(text: str) -> None:
    assert parse_date(text) is None


def test_never_raises_on_mangled_dates() -> None:
    rng = random.Random(17)
    alphabet = string.printable + "éü/+-:()\u00a0٣"
    for _ in range(2000):
        text = list(rng.choice(list(CASES)))
        for _ in range(rng.randint(1, 6)):
            text.insert(rng.randrange(len(text) + 1), rng.choice(alphabet))
            del text[rng.randrange(len(text))]
        parsed = parse_date("9" * rng.choice((0, 0, 0, 35)) + "".join(text))
        assert parsed is None or parsed.tzinfo is UTC
