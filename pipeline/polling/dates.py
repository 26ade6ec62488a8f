"""Feed dates: one parser for every feed kind (RSS, Atom, JSON Feed), answering in UTC.

ISO 8601 goes through :meth:`datetime.fromisoformat`, the usual RFC 822 form (four-digit
year, numeric or US zone) through :func:`email.utils.parsedate_tz`; everything else (RFC 822
without weekday or seconds, two-digit years, ``2016/6/29 15:07:41``...) through dateutil's
parser, with what feeds need on top of it:

- zone abbreviations with their offsets (``PST`` is -08:00, ``CEST`` +02:00; ``ET``, ``CT``,
  ``MT`` and ``PT`` at standard time, as feedparser reads them); an abbreviation we do not know
  is UTC, RFC 822's rule (``IST`` is India, Ireland or Israel: not guessed);
- IANA zone names (``America/Los_Angeles``) through :mod:`zoneinfo`; a name zoneinfo does
  not know gives no date, since reading it as UTC would be hours off;
- ``GMT+7`` and ``UTC-05:30`` as people mean them (seven hours ahead of UTC), not POSIX's
  inverted sign that dateutil applies;
- comments in parentheses are dropped (``GMT+0000 (Coordinated Universal Time)``);
- nine or ten digits are a Unix time;
- a date must state its year and month: a missing day is the 1st and a missing time
  midnight, never filled in from today's date.
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_tz
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as dateutil_parser

_MAX_LENGTH = 200
_UNIX_TIME = re.compile(r"\d{9,10}")
_RFC_822 = re.compile(
    r"(?:[A-Za-z]{3},\s*)?\d{1,2} [A-Za-z]{3} \d{4} \d{1,2}:\d{2}(?::\d{2})? "
    r"(?:[+-]\d{4}|GMT|UTC?|Z|[ECMP][SD]T)"
)
_COMMENT = re.compile(r"\([^()]*\)")
_ZONE_NAME = re.compile(r"(?<![\w/])[A-Z][A-Za-z_]+(?:/[A-Za-z][\w+-]*)+(?![\w/])")
_GMT_OFFSET = re.compile(
    r"(?<![A-Za-z])(?:GMT|UTC|UT)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?(?!\d)", re.IGNORECASE
)
_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))
_HOURS: dict[str, float] = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1,
    "CET": 1, "CEST": 2, "MET": 1, "MEST": 2, "EET": 2, "EEST": 3, "MSK": 3,
    "AST": -4, "ADT": -3, "AT": -4, "NST": -3.5, "NDT": -2.5,
    "EST": -5, "EDT": -4, "ET": -5, "CST": -6, "CDT": -5, "CT": -6,
    "MST": -7, "MDT": -6, "MT": -7, "PST": -8, "PDT": -7, "PT": -8,
    "AKST": -9, "AKDT": -8, "HST": -10,
    "JST": 9, "KST": 9, "HKT": 8, "SGT": 8, "AWST": 8,
    "ACST": 9.5, "ACDT": 10.5, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
}  # fmt: skip
_ABBREVIATIONS = {name: timezone(timedelta(hours=h)) for name, h in _HOURS.items()}


class _UnknownZone(Exception):
    """The text names an IANA zone that zoneinfo does not know."""


def parse_date(text: str) -> datetime | None:
    """The moment ``text`` states, as an aware UTC datetime; None if it states none.

    Never raises: garbage, a missing year or month, an unknown zone name, an offset of a day
    or more and dates outside ``datetime``'s range are all None.
    """
    text = text.strip()
    if not text or len(text) > _MAX_LENGTH:
        return None
    try:
        moment = _parse(text)
        return None if moment is None else _as_utc(moment)
    except (ValueError, ArithmeticError, _UnknownZone):  # dateutil: OverflowError, decimal's
        return None


def iso_utc(moment: datetime | None) -> str | None:
    """``moment`` as feed entries carry times: ISO 8601 in UTC, in whole seconds."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _parse(text: str) -> datetime | None:
    if _UNIX_TIME.fullmatch(text):
        return datetime.fromtimestamp(int(text), UTC)
    known = _iso(text) or _rfc_822(text)
    if known is not None:
        return known
    text, zone = _take_zone_name(_COMMENT.sub(" ", text))
    moment = _parse_words(_GMT_OFFSET.sub(_as_offset, text))
    if moment is not None and moment.tzinfo is None and zone is not None:
        moment = moment.replace(tzinfo=zone)
    return moment


def _iso(text: str) -> datetime | None:
    """ISO 8601 / RFC 3339 (a lower-case ``z`` too), or None for anything else."""
    if text[-1:] == "z":
        text = text[:-1] + "Z"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _rfc_822(text: str) -> datetime | None:
    """The usual RSS date (``Wed, 29 Jun 2016 15:07:41 GMT``) read quickly, else None."""
    fields = parsedate_tz(text) if _RFC_822.fullmatch(text) else None
    if fields is None:
        return None
    offset = timezone(timedelta(seconds=fields[9] or 0))
    return datetime(*fields[:6], tzinfo=offset)


def _take_zone_name(text: str) -> tuple[str, tzinfo | None]:
    """``text`` without its IANA zone name, and that zone (None if it names none).

    Raises:
        _UnknownZone: the name looks like a zone's but zoneinfo does not know it.
    """
    match = _ZONE_NAME.search(text)
    if match is None:
        return text, None
    try:
        zone = ZoneInfo(match.group(0))
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise _UnknownZone(match.group(0)) from exc
    return text[: match.start()] + text[match.end() :], zone


def _as_offset(match: re.Match[str]) -> str:
    """``GMT+7`` as `` +0700``: the sign as written, which dateutil would invert."""
    sign, hours, minutes = match.group(1), int(match.group(2)), match.group(3) or "00"
    return f" {sign}{hours:02d}{minutes}"


def _parse_words(text: str) -> datetime | None:
    """dateutil's reading of ``text``, or None when it leaves out the year or the month.

    What the text leaves out dateutil takes from a default date: read with a second default
    that differs in every field, a year or month that changes was not in the text. Only a
    reading that shows the first default's year or month needs that second look.
    """
    first = _dateutil(text, _DEFAULTS[0])
    if first.year == _DEFAULTS[0].year or first.month == _DEFAULTS[0].month:
        second = _dateutil(text, _DEFAULTS[1])
        if (first.year, first.month) != (second.year, second.month):
            return None
    return first


def _dateutil(text: str, default: datetime) -> datetime:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UnknownTimezoneWarning: such a zone is UTC here
        moment: datetime = dateutil_parser.parse(text, default=default, tzinfos=_zone_of)
    return moment


def _zone_of(name: str | None, offset: int | None) -> tzinfo | None:
    """dateutil's ``tzinfos``: our abbreviations, else the numeric offset, else none (UTC)."""
    if name is not None and name.upper() in _ABBREVIATIONS:
        return _ABBREVIATIONS[name.upper()]
    if offset is not None:
        return timezone(timedelta(seconds=offset))
    return None


def _as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a moment without a zone is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
