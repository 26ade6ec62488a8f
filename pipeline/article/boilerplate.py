"""Lines that are not article text: UI tokens, teasers, credits, promos, datelines.

Each rule is a plain pattern over one line, written for the web at large (no site names).
"""

from __future__ import annotations

import re

UI_TOKENS = frozenset(
    {
        "tt",
        "share",
        "tweet",
        "email",
        "print",
        "comment",
        "comments",
        "advertisement",
        "advertising",
        "anzeige",
        "publicité",
        "publicidad",
        "read more",
        "more",
        "subscribe",
        "follow",
        "copy link",
        "whatsapp",
        "facebook",
        "twitter",
        "linkedin",
        "reddit",
        "close",
        "menu",
        "save",
        "listen",
        "a a",
        "aa",
        "skip advertisement",
        "story continues below advertisement",
        "continue reading below",
        "article continues below",
        "pdf",
        "beitragsbild",
        "titelbild",
        "symbolbild",
        "bild anzeigen",
        "image illustrative",
        "alle angaben ohne gewähr",
    }
)
_COUNTER = re.compile(r"^\d+\s*(comments?|shares?|views?|likes?)?$", re.I)
_TEASER_LABELS = (
    r"lesen sie auch|lies auch|mehr zum thema|mehr themen|weitere themen|siehe auch"
    r"|(à|a) lire aussi|lire aussi|voir aussi|sur le même sujet"
    r"|lea también|lee también|le puede interesar|te puede interesar|ver también"
    r"|leia também|veja também|leia mais|saiba mais"
    r"|leggi anche|potrebbe interessarti|vedi anche|lees ook|bekijk ook|zie ook"
)
"""Teaser labels in de, fr, es, pt, it and nl ("Lesen Sie auch", "À lire aussi", ...)."""
_TEASER = re.compile(
    r"^(read more|read also|also read|related|related posts?|related articles?|see also"
    r"|more on this|see more|don'?t miss|must read|recommended|watch|also on [\w.]+"
    rf"|you may also like|you might also like|most read(\W+\w+){{0,4}}|more from [\w .]+"
    rf"|{_TEASER_LABELS})"
    r"\s*[:|»>\-–—\]]"
    r"|.*(?-i:\[[A-Z][A-Z ]{2,20}\])\W*$|also on [\w-]+\.[a-z]{2,}\b",
    re.I,
)
_SHORT_TEASER = re.compile(
    r"^\[?(you may also like|you might also like|most (read|popular|viewed)(\W+\w+){0,4}"
    r"|related stories|related articles?|more stories|recommended for you|trending now"
    rf"|don'?t miss|{_TEASER_LABELS}"
    r"|schon gelesen|auch interessant|(das|dies)( thema)? könnte (sie|dich|euch) auch interessieren"
    r"|meistgelesen|weitere artikel( zum thema)?|kommentierte artikel"
    r"|ähnliche (artikel|beiträge)|verwandte (artikel|beiträge)|beliebte (artikel|beiträge)"
    r"|articles? (similaires|liés)|les plus lus|vous aimerez aussi|à voir aussi"
    r"|(artículos|noticias|notas) relacionad[oa]s|vea también|lo más leído|más leídas"
    r"|también te puede interesar"
    r"|(notícias|artigos|posts) relacionad[oa]s|mais lidas|você também pode gostar"
    r"|articoli correlati|i più letti|potrebbe interessarti anche"
    r"|(mehr zum thema|más sobre|more from)(\s+\S+){0,4}"
    r"|top[- ]themen(\s+\S+){0,4}|(\.\.\.|…)?\s*weiter (zu|lesen)(\s+\S+){0,4}"
    r"|gerelateerde artikelen|meest gelezen|ook interessant)\W*$",
    re.I,
)
_LABEL_START = re.compile(
    rf"^({_TEASER_LABELS}|weitere (informationen|infos|artikel)|mehr (informationen|infos)"
    r"|más (sobre|información)|more (from|on|about)|read more)\b",
    re.I,
)
"""The start of a short label line ending in a colon: "Lesen Sie auch die folgenden
Beiträge:", "Weitere Informationen zum Coronavirus in Thüringen:"."""
_SECTION_LABEL = re.compile(
    r"^(weitere (informationen|infos)|mehr informationen|zusatzinformationen|kontakt"
    r"|pressekontakt|ansprechpartner(in)?( zum [\w -]+)?|quellen|quellenangaben|zum weiterlesen"
    r"|weiterführende links|más información|contacto|pour en savoir plus"
    r"|plus d'informations|more information|further information|further reading"
    r"|veröffentlichung|veröffentlicht am|date de publication|fecha de publicación"
    r"|über diese reihe|about this series|über den autor|über die autorin|about the author)\s*:?$",
    re.I,
)
"""Labels of the blocks after an article (contacts, sources, further reading), standing
alone as a line: de, es, fr, en."""
_UPDATED = re.compile(
    r"^(last modified|last updated|release date|letzte änderung|zuletzt (aktualisiert|geändert)"
    r"|aktualisiert am|dernière mise à jour|última actualización)\b[^\w]*(\S+\s*){0,6}$",
    re.I,
)
"""A "last changed" line, with its date or without (the date may stand apart)."""
_DISCLOSURE = re.compile(
    r"^\W*(anzeige|werbung)\b\W|\b(enthält|contains?) (affiliate|werbung|advertising"
    r"|references to products)|\baffiliate[- ]links?\b",
    re.I,
)
"""An advertising disclosure ("*Werbung. Dieser Beitrag enthält Werbung", "Anzeige,
enthält Affiliate Links", "This post contains references to products ...")."""
_LOGIN_LINE = re.compile(
    r"\bnicht (eingeloggt|angemeldet)\b|\balready a subscriber\b|\blog ?in for (immediate )?access"
    r"|\badvertising disclosure\b|\bmay receive (compensation|a commission)\b",
    re.I,
)
"""Notices to logged-out readers and affiliate notices."""
_CREDIT = re.compile(
    r"\(?((additional |compiled |writing and )?reporting|writing|editing|edited|compiled) by\b"
    r"|(sources?|photos?|fotos?|image|picture|credits?|bild|bildquelle|quelle|fuente|fonte"
    r"|titelbild|beitragsbild|symbolbild|aufmacherbild|image illustrative)\s*:\s"
    r"|staff reports?$"
    r"|with (\w+ )?wires?$|filed under\b|copyright\s*(©|\(c\)|by\b|:|(\w+\W+){0,2}(19|20)\d\d\b)",
    re.I,
)
_CREDIT_MARKS = ("©", "all rights reserved", "contributed to this report", "contributed reporting")
_CREDIT_MARKS_CJK = ("무단전재", "재배포 금지", "재배포금지")
_PROMO = re.compile(
    r"\b(sign up|subscribe|\w*newsletter|(in|to) your inbox|follow (us|him|her|them)\b|donate"
    r"|follow [\w ]{1,40} on (twitter|facebook|instagram|youtube|linkedin|tiktok)"
    r"|click here|delivered (to|through)|get access to|use the code|tell us what you think"
    r"|share (it|this|this story|this article) with|download (the|our) [\w ]{0,30}apps?\b"
    r"|abonnieren sie|abonniere|jetzt (registrieren|anmelden|abonnieren)|hier klicken"
    r"|suscr[ií]bete|abonnez-vous|inscrivez-vous|letter to the editor"
    r"|(let us know|tell us) in the comments"
    r"|(canal|kanal|chaîne|channel) (de |on |auf )?(youtube|telegram|whatsapp|instagram))\b",
    re.I,
)
_PROMO_ALWAYS = re.compile(
    r"\b(click here|follow [\w ]{1,40} on (twitter|facebook|instagram|youtube|linkedin|tiktok)"
    r"|download (the|our) [\w ]{0,30}apps?"
    r"|(canal|kanal|chaîne|channel) (de |on |auf )?(youtube|telegram|whatsapp|instagram))\b",
    re.I,
)
_SENTENCE_START = re.compile(r"(^|[.!?:]\s)\W*$")
_READER = re.compile(
    r"(?i:\b(you|your|yours|our|ours|du|dich|dir|dein\w*|euch|euer|unser\w*|usted|tu|nuestr[oa]s?"
    r"|vous|votre|notre|nos)\b)|\bus\b|(?<=[\w,;] )Sie\b"
)
"""Words that address the reader ("us" lower-case only: "US officials" is a country; the
German "Sie" capitalised inside a sentence, where it can only be the polite "you")."""
_META_LINE = re.compile(
    r"(^|[-|•·]\s*)((posted|published|publicado|publicada|publié|pubblicato|veröffentlicht)"
    r"\s+(by|por|par|da|von)\b|(tags?|categor(y|ia|ie|ies)|filed under)\s*:)",
    re.I,
)
_READING_TIME = re.compile(
    r"^(reading time|read time|tempo de leitura|tiempo de lectura|temps de lecture|lesezeit"
    r"|\d+\s*(min|minute|minutes)\s*read)\b",
    re.I,
)
_CONTACT = re.compile(r"^([\w.+-]+@[\w-]+\.[\w.]+|@\w+|[\s,;|/]+)+$")
_MONTHS = (
    r"jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t(ember)?)?"
    r"|oct(ober)?|nov(ember)?|dec(ember)?"
    r"|janeiro|fevereiro|março|abril|maio|junho|julho|agosto|setembro|outubro|novembro|dezembro"
    r"|enero|febrero|marzo|mayo|junio|julio|sept?iembre|octubre|noviembre|diciembre"
    r"|janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|décembre"
    r"|januar|jänner|februar|märz|juni|juli|oktober|dezember"
    r"|gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre"
    r"|januari|februari|maart|mei|augustus"
)
"""Month names and abbreviations: en, pt, es, fr, de, it, nl."""
_WEEKDAYS = (
    r"mon(day)?|tue(sday)?|wed(nesday)?|thu(rsday)?|fri(day)?|sat(urday)?|sun(day)?"
    r"|segunda|terça|quarta|quinta|sexta|feira|sábado|domingo"
    r"|lunes|martes|miércoles|jueves|viernes"
    r"|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche"
    r"|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonnabend|sonntag"
    r"|lunedì|martedì|mercoledì|giovedì|venerdì|sabato|domenica"
    r"|maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag"
)
_DATE_WORDS = re.compile(
    rf"\b(\d{{1,4}}|{_MONTHS}|{_WEEKDAYS}"
    r"|am|pm|a\.m|p\.m|gmt|utc|[ecmp][sd]t|bst|cet|cest"
    r"|updated|published|posted|last|modified|on|at|the"
    r"|de|del|às|à|a|le|el|las|um|uhr|den|alle|ore|om)\b",
    re.I,
)
"""Words a line that only states a date or time may hold (in the languages of _MONTHS)."""

_DATE_MARK = re.compile(
    rf"\b(updated|published|posted|modified|(19|20)\d\d|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{2,4}}"
    rf"|{_MONTHS})\b",
    re.I,
)
_TAG_LABEL = re.compile(
    r"^(tags?|tagged( with)?|topics?|categor\w*|keywords|palavras[- ]chave|schlagw\w*|etiquetas"
    r"|étiquettes|mots[- ]clés)\s*:?$",
    re.I,
)
_PHONE = re.compile(r"\b(tel|fone|phone|fax|telefone|telefon|téléphone)\s*[:.]\s*[(+\d]", re.I)


def is_boilerplate(line: str) -> bool:
    """True for a line that is page furniture, not article text."""
    words = line.count(" ") + 1
    if words > 40:
        return False
    folded = line.casefold().strip(" .:|•·-–—[]()")
    if folded in UI_TOKENS or _COUNTER.match(folded) or _SHORT_TEASER.match(folded):
        return True
    if _is_label(line, folded, words) or _is_notice(line, words):
        return True
    if _TEASER.match(line.lstrip("[(")) and words <= 25:
        return True
    if _CREDIT.match(line) or _READING_TIME.match(line) or _has_credit_mark(folded):
        return True
    if _META_LINE.search(line) or _PHONE.search(line):
        return True
    if _is_promo(line, words):
        return True
    return bool(_CONTACT.match(line)) or is_dateline(line)


def _is_label(line: str, folded: str, words: int) -> bool:
    """A tag, section or category label, alone or before a colon, or a date beside a
    one- or two-word label ("2021-10-16 | Botschaft")."""
    if _TAG_LABEL.match(folded) or _SECTION_LABEL.match(folded):
        return True
    if words <= 8 and line.rstrip().endswith(":") and _LABEL_START.match(folded):
        return True
    if line.lstrip().startswith("|"):
        return False  # a table row
    if words <= 10 and _CATEGORY.search(line) and _DATE_MARK.search(line):
        return True  # "News date: 04/21/2022 Category: Press Releases"
    parts = [p for p in _PIPES.split(line) if p.strip()]
    return (
        2 <= len(parts) <= 3
        and any(is_dateline(p) for p in parts)
        and all(is_dateline(p) or len(p.split()) <= 2 for p in parts)
    )


_PIPES = re.compile(r"\s+\|\s+")
_CATEGORY = re.compile(r"\b(categor(y|ia|ie|ies)|kategorie|rubrik)\s*:", re.I)


def _is_notice(line: str, words: int) -> bool:
    """A "last changed" line, an advertising or login notice, a file-download line."""
    if words > 25:
        return False
    return bool(
        _UPDATED.match(line)
        or _DISCLOSURE.search(line)
        or _LOGIN_LINE.search(line)
        or _FILE_LINE.search(line)
    )


_FILE_LINE = re.compile(
    r"\b(pdf|docx?|xlsx?|pptx?|zip|mp3)\s*[|,(/–-]?\s*\d+([.,]\d+)?\s*[kmg]i?b\b", re.I
)
"""A link to a file with its type and size ("PDF | 38 KB")."""


def _is_promo(line: str, words: int) -> bool:
    """A call to subscribe, follow or click: one cue in a short line, two in a longer one.

    The cue must speak to the reader (it opens a sentence, as an imperative does, or the line
    says "you", "your", "us", "our", "click here", "follow ... on Twitter") or stand almost
    alone: "The letter was delivered to the embassy" and "the company continued to sign up
    subscribers" are news; "Sign up for our newsletter" is a promo.
    """
    if line.rstrip().endswith("?"):
        return False
    matches = list(_PROMO.finditer(line))
    if not matches or not (
        words <= 4
        or _READER.search(line)
        or _PROMO_ALWAYS.search(line)
        or any(_SENTENCE_START.search(line[: m.start()]) for m in matches)
    ):
        return False
    return words <= 30 or len({m.group(0).casefold() for m in matches}) >= 2


def _has_credit_mark(folded: str) -> bool:
    return any(m in folded for m in _CREDIT_MARKS) or any(m in folded for m in _CREDIT_MARKS_CJK)


def is_dateline(line: str) -> bool:
    """True for a short line that only states a date or time ("Updated 5:45 AM PST 11/19/2019")."""
    if len(line.split()) > 12 or not re.search(r"\d", line):
        return False
    rest = _DATE_WORDS.sub(" ", re.sub(r"\d{1,2}[:h]\d{2}", " ", line))
    if re.findall(r"[^\W\d_]{2,}", rest):
        return False
    return bool(_DATE_MARK.search(line))


def is_tag_list(line: str, tags: tuple[str, ...]) -> bool:
    """True for a line listing the page's own tags ("politics, elections, senate")."""
    items = [i.strip().casefold() for i in re.split(r"[,;|#]", line) if i.strip()]
    if len(items) < 3 or not tags:
        return False
    known = {t.casefold() for t in tags}
    return sum(1 for i in items if i in known) >= 0.6 * len(items)


def is_headline_list(text: str) -> bool:
    """True for a list of linked headlines ("Related: - Big Storm Hits Coast - ...")."""
    items = [line.lstrip("-•* ").strip() for line in text.splitlines() if line.strip()]
    if len(items) < 2 or any(len(i.split()) > 14 or i.endswith(tuple(".!?:;")) for i in items):
        return False
    if is_quantity_list(items):
        return False
    words = [w for i in items for w in i.split()[1:] if len(w) > 3 and w[0].isalpha()]
    return bool(words) and sum(w[0].isupper() for w in words) >= 0.7 * len(words)


_QUANTITY = re.compile(r"^(\d+([,.]\d+)?(?![.:/-]?\d)|[½⅓⅔¼¾⅛])")
"""A number that starts an item, not a date or time ("12.03.2024", "20:15")."""


def is_quantity_list(items: list[str]) -> bool:
    """Half the items or more start with a quantity ("200 g Mehl", "½ cup milk"): an
    ingredient or parts list, content even when its nouns are capitalised (German)."""
    return sum(_starts_with_quantity(i.lstrip("-•* ")) for i in items) * 2 >= len(items)


def _starts_with_quantity(item: str) -> bool:
    """ "200 g Mehl", "3 Eier", "½ cup milk"; not a listicle headline ("15 Amazing Images
    of Stars": longer, and the number is followed by a capitalised word)."""
    words = item.split()
    if not words or not _QUANTITY.match(item):
        return False
    return len(words) <= 4 or (len(words) > 1 and words[1][:1].islower())


_BY_PREFIX = re.compile(r"^(by|von|par|por|di|door|av|af)\s+(\S.*)$", re.I)
_NAME_JOINERS = frozenset(
    {"and", "und", "y", "et", "e", "og", "en", "och", "i", "de", "van", "von", "der", "den"}
    | {"da", "di", "la", "le", "del", "dos", "das", "du", "bin", "al"}
)


def _names_only(text: str) -> bool:
    """True for "Jane Doe and John Roe, AP": capitalised names, joiners, short agency codes
    ("dpa") and dates, but no lower-case word ("By then, it was too late", "Por eso, ...")."""
    tokens = [t for t in re.split(r"[\s,|/&;:()–—-]+", text) if t]
    return bool(tokens) and all(
        t[0].isupper() or t[0].isdigit() or t.casefold() in _NAME_JOINERS or len(t) <= 3
        for t in tokens
    )


def is_byline(line: str, authors: tuple[str, ...]) -> bool:
    """True for a short line naming the authors ("By Jane Doe", "Jane Doe | Reuters")."""
    words = line.split()
    if not words or len(words) > 12:
        return False
    prefixed = _BY_PREFIX.match(line)
    if prefixed and len(words) <= 8 and _names_only(prefixed.group(2)):
        return True
    folded = line.casefold()
    named = [a for a in authors if a and a.casefold() in folded]
    return bool(named) and len(words) <= 3 * len(named) + 4
