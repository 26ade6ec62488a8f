"""Cleaning and parsing: pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.article.assemble import (
    clean_blocks,
    clean_body,
    declared_language,
    parse_authors,
    parse_datetime,
)
from pipeline.article.boilerplate import is_boilerplate, is_byline, is_dateline
from pipeline.article.extract import Block, count_words
from pipeline.article.fields import strip_site_suffix
from pipeline.article.images import split_credit
from pipeline.article.language import detect_language, normalize_language
from pipeline.article.quality import check_quality
from pipeline.errors import NotAnArticle

HEADLINE = "US, Iraq Agree to Redeploy Coalition Forces"
CAPTION = "Officials of the International Coalition during a meeting in Baghdad (AFP)"
NOISY = "\n".join(
    [
        HEADLINE,
        "",
        CAPTION,
        CAPTION,
        "TT",
        "",
        HEADLINE,
        "",
        CAPTION,
        CAPTION,
        "",
        "Iraq’s Joint Operations Command announced the first technical meeting.",
        "Share",
        "12 comments",
        "Read more: Another story entirely",
        "The statement said that the US side reiterated its respect.",
        "Iraq’s Joint Operations Command announced the first technical meeting.",
    ]
)


def test_clean_body_removes_headline_echo_captions_repeats_and_ui_tokens() -> None:
    paragraphs = clean_body(NOISY, title=HEADLINE, captions=(CAPTION,)).split("\n\n")
    assert paragraphs == [
        "Iraq’s Joint Operations Command announced the first technical meeting.",
        "The statement said that the US side reiterated its respect.",
    ]


def test_clean_body_without_known_captions_keeps_one_copy() -> None:
    paragraphs = clean_body(NOISY, title=HEADLINE).split("\n\n")
    assert paragraphs.count(CAPTION) == 1 and HEADLINE not in paragraphs


def test_clean_body_normalises_unicode_and_spaces() -> None:
    text = "Cafe\u0301  con\u00a0leche\u200b  here\n\n\n  second   line "
    assert clean_body(text, title="") == "Café con leche here\n\nsecond line"


def test_parse_authors_splits_bylines() -> None:
    assert parse_authors("By Jane Doe and John Roe") == ("Jane Doe", "John Roe")
    assert parse_authors("Jane Doe; John Roe, Jane Doe") == ("Jane Doe", "John Roe")
    assert parse_authors("") == ()


def test_parse_datetime_to_utc() -> None:
    assert parse_datetime("2026-11-21T09:30:00+0100") == datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
    assert parse_datetime("2026-11-21T08:30:00Z") == datetime(2026, 11, 21, 8, 30, tzinfo=UTC)
    assert parse_datetime("2026-11-21") == datetime(2026, 11, 21, tzinfo=UTC)
    assert parse_datetime("yesterday") is None and parse_datetime(None) is None


def test_declared_language() -> None:
    assert declared_language('<!doctype html><html class="x" lang="pt-BR">') == "pt"
    assert declared_language("<html>") is None


def test_clean_blocks_keeps_list_lines_together_and_drops_repeats() -> None:
    blocks = (
        Block(kind="p", text="Intro paragraph about the two phones and what they cost."),
        Block(kind="list", text="- GPS\n- Share\n- Water resistant"),
        Block(kind="list", text="- GPS\n- Water resistant"),
        Block(kind="list", text="- GPS\n- Water resistant"),
    )
    kept = clean_blocks(blocks, titles=("Phones",))
    assert [b.text for b in kept] == [
        "Intro paragraph about the two phones and what they cost.",
        "- GPS\n- Water resistant",
    ]


def test_clean_blocks_drops_bylines_credits_promos_teasers_and_tag_lists() -> None:
    lines = [
        "Council approves bike lanes",
        "By Jane Doe and John Roe",
        "The council voted 31 to 12 on Tuesday night to build protected bike lanes.",
        "Updated 5:45 AM EST Nov. 19, 2026",
        "Sign up for our daily newsletter to get the latest news in your inbox.",
        "READ MORE: Ring road closures planned for the winter",
        "Ring road closures planned for the winter [VIDEO]",
        "Reporting by Jane Doe; editing by Sam Lee",
        "Jewels after Jewels, installation views, photos © Inexhibit, 2018",
        "bikes, council, transport",
        "___",
        "Work is due to begin in March.",
    ]
    blocks = tuple(Block(kind="p", text=line) for line in lines)
    kept = clean_blocks(
        blocks,
        titles=("Council approves bike lanes",),
        authors=("Jane Doe", "John Roe"),
        tags=("bikes", "council", "transport"),
    )
    assert [b.text for b in kept] == [
        "The council voted 31 to 12 on Tuesday night to build protected bike lanes.",
        "Work is due to begin in March.",
    ]


def test_dateline_needs_a_date_not_just_a_time() -> None:
    assert is_dateline("Updated at 1:23 p.m.")
    assert is_dateline("Nov. 19, 2019 5:45 AM PST")
    assert not is_dateline("10 p.m.")
    assert not is_dateline("The vote is on Nov. 19, 2019.")


def test_dateline_in_other_languages() -> None:
    assert is_dateline("sexta-feira, 22 de outubro de 2010 às 20:13")
    assert is_dateline("Mittwoch, 3. März 2021, 14:05 Uhr")
    assert is_dateline("lundi 5 février 2024 à 10h30")
    assert is_dateline("martes, 9 de enero de 2024")
    assert is_dateline("giovedì 12 settembre 2019")
    assert is_dateline("maandag 4 mei 2020")
    assert not is_dateline("A 22 de outubro de 2010 o piloto venceu a corrida.")
    assert not is_dateline("Am 3. März 2021 stimmte der Rat zu.")


def test_boilerplate_keeps_ordinary_sentences() -> None:
    for line in (
        "The minister said on Twitter that the plan would go ahead.",
        "Readers can subscribe?",
        "Twenty years ago we were worried the colony might disappear altogether.",
        "The letter was delivered to the embassy on Monday.",
        "Agents continued to follow him for weeks before the arrest.",
        "Refugees in the camp struggle to get access to clean water.",
        "The company continued to sign up subscribers throughout the outage.",
        "In a newsletter to investors, the fund said returns had fallen.",
        "Copyright law in the EU was overhauled in 2019 after years of lobbying.",
        "Most popular among young voters was the Green party, which won 20 percent.",
    ):
        assert not is_boilerplate(line), line


def test_section_labels_disclosures_and_update_lines_in_several_languages() -> None:
    for line in (
        "Weitere Informationen:",
        "Kontakt",
        "Pressekontakt:",
        "Quellenangaben:",
        "Zum Weiterlesen:",
        "Weiterführende Links:",
        "Más información",
        "Further reading:",
        "NOTAS RELACIONADAS",
        "Das Thema könnte dich auch interessieren:",
        "Quelle: Landesregierung",
        "Fuente: Ministerio de Salud",
        "Beitragsbild",
        "Bild anzeigen",
        "Aktualisiert am 17.01.2021.",
        "Last modified:",
        "*Werbung. Dieser Beitrag enthält Werbung für eine Marke.",
        "Anzeige, enthält Affiliate Links",
        "For the latest stories download the Ledger apps for iOS and Android.",
        "¡Mira lo que tiene nuestro canal de YouTube!",
    ):
        assert is_boilerplate(line), line


def test_labels_and_disclosure_words_inside_sentences_are_kept() -> None:
    for line in (
        "Die Werbung für Tabak ist in Deutschland seit 2021 stark eingeschränkt.",
        "Kontakt zu den Behörden hatte der Verein nach eigenen Angaben nie.",
        "Weitere Informationen gab die Polizei am Abend nicht heraus.",
        "Die Quelle des Flusses liegt auf 1.200 Metern Höhe.",
        "The app for iOS was released a week before the Android version.",
        "Last modified in 1998, the law has not kept up with the internet.",
    ):
        assert not is_boilerplate(line), line


def test_promos_and_notices_in_other_languages() -> None:
    for line in (
        "Abonnieren Sie jetzt unseren Newsletter und verpassen Sie nichts mehr.",
        "Dann abonnieren Sie unseren Newsletter!",
        "Suscríbete a nuestra newsletter para recibir las noticias.",
        "Abonnez-vous à notre lettre d'information.",
        "Sie sind aktuell nicht eingeloggt.",
        "If you are already a subscriber, you can log in for immediate access to this story.",
        "Advertising disclosure: We may receive compensation for some of the links.",
        "We want to hear what you think. Submit a letter to the editor.",
        "Lesen Sie auch die folgenden Beiträge:",
        "Weitere Informationen zum Hochwasser in der Region:",
        "| Weitere Artikel zum Thema |",
    ):
        assert is_boilerplate(line), line


def test_news_about_newsletters_comments_and_logins_is_kept() -> None:
    for line in (
        "In den Kommentaren wird vermutet, die Partei habe die Wahl schon verloren.",
        "Der Verlag stellte den Newsletter im März ein, sagte eine Sprecherin.",
        "Sie sagte, der Newsletter werde eingestellt.",
        "Weitere Informationen zum Unfall lagen am Abend nicht vor:",
    ):
        assert not is_boilerplate(line), line


def test_image_labels_file_links_and_dated_labels() -> None:
    for line in (
        "Titelbild: Jane Doe/Agency",
        "Beitragsbild: Titelseite vom 2.4.2019",
        "(Symbolbild)",
        "(Alle Angaben ohne Gewähr)",
        "Jahresbericht 2021 PDF | 38 KB | Datei ist nicht barrierefrei",
        "2021-10-16 | Botschaft",
        "24. März 2004, 19:49 | Genesis",
        "News date : 04/21/2022 Category : Press Releases",
        "Mehr zum Thema auf example.org",
        "Más sobre La Gaceta AM",
        "Veröffentlichung:",
    ):
        assert is_boilerplate(line), line


def test_table_rows_and_spec_lines_with_dates_or_categories_are_kept() -> None:
    for line in (
        "| Jahr | 2018 | 2019 | 2020 |",
        "| Kategorie: | Verschlüsselung |",
        "Kategorie: Erste Versuche",
        "The report, a 38-page PDF, was published on Monday.",
        "Mehr zum Thema Hochwasser sagte der Minister nicht.",
    ):
        assert not is_boilerplate(line), line


def test_navigation_labels_donations_and_compound_newsletters() -> None:
    for line in (
        '... weiter zu "Die Wortwahl"',
        "Top-Themen bei Example Magazin",
        "Über diese Reihe",
        "About the author:",
        "Schauen Sie mal in unseren Musiknewsletter!",
        "We need your help to keep this site free. Donate",
    ):
        assert is_boilerplate(line), line
    for line in (
        "Weiter zu den Vorwürfen äußerte sich der Konzern am Montag nicht, sagte ein Sprecher.",
        "The foundation asked readers to donate blood after the crash.",
        "Der Musiknewsletter des Verlags wurde 2019 eingestellt.",
    ):
        assert not is_boilerplate(line), line


def test_a_note_about_the_author_at_the_end_is_dropped() -> None:
    body = (
        "The council approved the new tram line on Tuesday after a long debate.",
        "Work on the tracks starts in spring and should take two years.",
        "Jane Doe is a reporter covering transport and city hall for the Ledger.",
    )
    blocks = tuple(Block(kind="p", text=t) for t in body)
    kept = clean_blocks(blocks, authors=("Jane Doe",))
    assert [b.text for b in kept] == list(body[:2])
    quote = (*body[:2], "Jane Doe is right about the costs, the mayor said on Tuesday evening.")
    opening = tuple(Block(kind="p", text=t) for t in (quote[2], *body[:2]))
    assert len(clean_blocks(opening, authors=("Jane Doe",))) == 3
    assert len(clean_blocks(blocks, authors=("Doe",))) == 3


def test_promos_speak_to_the_reader() -> None:
    for line in (
        "Sign up for our daily newsletter.",
        "Like this story? Share it with a friend!",
        "Have a tip? Jane Doe may be reached by email. Follow her on Twitter @jdoe.",
        "Get the best stories delivered to your inbox every morning.",
        "Click here to read the full report.",
        "Subscribe",
        "Copyright 2019 Example News. All rights reserved.",
        "copyright Example 2019 - ISSN: 1234-5678",
        "Most read in world news",
    ):
        assert is_boilerplate(line), line


def test_byline_prefix_needs_names() -> None:
    for line in ("By Jane Doe", "Von Max Mustermann, dpa", "Par Jean Dupont et Marie Curie"):
        assert is_byline(line, ()), line
    for line in (
        "By then, it was too late.",
        "By Monday, the fire was contained.",
        "Von der Leyen declined to comment.",
        "Por eso, el gobierno decidió esperar.",
    ):
        assert not is_byline(line, ()), line


def test_list_introduced_by_the_text_is_kept_at_the_end() -> None:
    names = "- Laura Frank, Director of Engineering at Example Corp\n- Rachel White, Design Lead"
    headlines = "- Storm Hits Coast Overnight\n- Mayor Unveils Budget Plan"
    for lead_in, kept in (
        ("Read about the other leaders we featured this month:", True),
        ("Related stories", False),
    ):
        blocks = (
            Block(kind="p", text="The council voted on Tuesday night to build new bike lanes."),
            Block(kind="p", text=lead_in),
            Block(kind="list", text=names if kept else headlines),
        )
        texts = [b.text for b in clean_blocks(blocks)]
        assert ((names if kept else headlines) in texts) is kept


def test_byline_matches_names_not_sentences() -> None:
    assert is_byline("By Jane Doe", ())
    assert is_byline("Jane Doe | Reuters", ("Jane Doe",))
    assert not is_byline(
        "Jane Doe told reporters the council had voted for the plan.", ("Jane Doe",)
    )


def test_quality_gate_reasons() -> None:
    prose = ("A long enough article paragraph. " * 20,)
    check_quality(prose, words=100, min_words=30, types=frozenset({"newsarticle"}), url="u")
    poem = tuple(f"Short line number {i} of the poem" for i in range(14))
    check_quality(poem, words=98, min_words=30, types=frozenset(), url="u")
    cases = [
        (("Too short.",), 2, frozenset(), "too_short"),
        (("We value your privacy. Accept all cookies to continue. " * 5,), 45, frozenset(), "wall"),
        (prose, 100, frozenset({"collectionpage"}), "listing"),
        (
            tuple(f"Headline number {i} here" for i in range(12)),
            48,
            frozenset({"website"}),
            "listing",
        ),
    ]
    for paragraphs, words, types, check in cases:
        with pytest.raises(NotAnArticle) as caught:
            check_quality(paragraphs, words=words, min_words=30, types=types, url="u")
        assert caught.value.check == check
        assert caught.value.reason == "not_an_article"


def test_short_news_about_traffic_or_cookies_is_not_a_wall() -> None:
    brief = ("Drivers should expect unusual traffic around the stadium on Saturday. " * 4,)
    check_quality(brief, words=44, min_words=30, types=frozenset(), url="u")
    google = ("Our systems have detected unusual traffic from your computer network. " * 4,)
    with pytest.raises(NotAnArticle):
        check_quality(google, words=40, min_words=30, types=frozenset(), url="u")


def test_count_words_counts_cjk_characters() -> None:
    assert count_words("Queen’s Road — don't stop.") == 4
    assert count_words("市立図書館 opens") == 6


def test_detect_language() -> None:
    assert (
        detect_language("The council said that it was going to be the first of the year.") == "en"
    )
    assert (
        detect_language("Die Bahn will ab dem Sommer eine Verbindung mit dem Zug anbieten.") == "de"
    )
    assert detect_language("市は十六日、市立中央図書館の開館時間を延長すると発表した。") == "ja"
    assert detect_language("Это новая линия метро в центре города") == "ru"
    assert detect_language("12 34") is None
    assert normalize_language("pt-BR") == "pt" and normalize_language("") is None


def test_split_credit() -> None:
    assert split_credit("Police at the scene (AFP)") == ("Police at the scene", "AFP")
    assert split_credit("A diver at the reef. Photo: Reuters") == (
        "A diver at the reef.",
        "Photo: Reuters",
    )
    assert split_credit("Ein Zug im Bahnhof. Foto: dpa") == ("Ein Zug im Bahnhof.", "Foto: dpa")
    assert split_credit("Ships at anchor, Reuters") == ("Ships at anchor", "Reuters")
    assert split_credit("Ships at anchor") == ("Ships at anchor", "")


def test_strip_site_suffix() -> None:
    assert strip_site_suffix("Big news today | The Gazette", "The Gazette") == "Big news today"
    assert strip_site_suffix("Big news today - Gazette", "The Gazette") == "Big news today"
    assert strip_site_suffix("Rates: what it means", "The Gazette") == "Rates: what it means"


def test_parse_datetime_formats() -> None:
    assert parse_datetime("Tue, 19 Nov 2019 10:00:00 GMT") == datetime(2019, 11, 19, 10, tzinfo=UTC)
    assert parse_datetime("2019-11-19T10:00:00.000-0500") == datetime(2019, 11, 19, 15, tzinfo=UTC)
    assert parse_datetime("0001-01-01") is None


def test_split_paragraph_keeps_markup_of_the_kept_lines_only() -> None:
    markup = "<p>First line of it here.<br/>Photo: Reuters<br/>Second line here.</p>"
    block = Block(
        kind="p", text="First line of it here.\nPhoto: Reuters\nSecond line here.", markup=markup
    )
    kept = clean_blocks((block,))
    assert [b.markup for b in kept] == ["<p>First line of it here.</p>", "<p>Second line here.</p>"]


def test_undeclared_page_of_many_link_lines_is_a_listing_but_short_lists_are_not() -> None:
    links = tuple(f"Council approves budget for harbour {i}" for i in range(60))
    with pytest.raises(NotAnArticle) as caught:
        check_quality(links, words=360, min_words=30, types=frozenset(), url="u")
    assert caught.value.check == "listing"
    steps = tuple(f"Step {i}: stir the sauce for a minute." for i in range(60))
    check_quality(steps, words=480, min_words=30, types=frozenset(), url="u")
    check_quality(links[:30], words=180, min_words=30, types=frozenset(), url="u")


def test_sentence_broken_by_line_breaks_stays_one_paragraph() -> None:
    text = (
        "Photos\nwhich were released online are making the rounds on social media,\n"
        "show the actress looking stunning.\nKate Doe\n"
        "The actress, who in 2008 won the award for Best Actress in a Leading Role, won the\n"
        "Africa Movie Academy Award for Best Actress in a Leading Role, as she said then.\n"
        "200 g flour\n3 eggs"
    )
    kept = clean_blocks((Block(kind="p", text=text),))
    assert [b.text for b in kept] == [
        "Photos which were released online are making the rounds on social media,"
        " show the actress looking stunning.",
        "Kate Doe",
        "The actress, who in 2008 won the award for Best Actress in a Leading Role, won the"
        " Africa Movie Academy Award for Best Actress in a Leading Role, as she said then.",
        "200 g flour",
        "3 eggs",
    ]


def test_teaser_labels_in_other_languages_are_boilerplate_as_short_lines_only() -> None:
    for label in (
        "Schon gelesen?",
        "Weitere Themen",
        "Mehr Themen:",
        "Das könnte Sie auch interessieren",
        "Lesen Sie auch: Neue Regeln für Mieter",
        "À lire aussi",
        "Le puede interesar",
        "Leia também",
        "Lees ook",
        "Leggi anche: la nuova legge",
    ):
        assert is_boilerplate(label), label
    assert not is_boilerplate("Weitere Themen der Sitzung waren die Finanzen und der Haushalt.")
    assert not is_boilerplate("Lire aussi les romans de Zola reste un plaisir pour beaucoup.")


def test_short_lines_that_come_back_further_down_are_structure_and_stay() -> None:
    lines = [
        "Day 1",
        "Pre-Workout Meal",
        "Eat 60-90 minutes before your workout",
        "Day 2",
        "Pre-Workout Meal",
        "Eat 60-90 minutes before your workout",
        "The plan repeats the same timing every day of the week.",
        "The plan repeats the same timing every day of the week.",
        "Drink water.",
        "The plan repeats the same timing every day of the week.",
    ]
    kept = clean_blocks(tuple(Block(kind="p", text=line) for line in lines))
    assert [b.text for b in kept] == [*lines[:7], "Drink water."]


def test_ingredient_lists_are_content_not_headlines_or_a_listing() -> None:
    ingredients = "- 200 g Mehl\n- 3 Eier\n- 1 Päckchen Backpulver\n- Saft einer Zitrone"
    blocks = (
        Block(kind="p", text="Der Kuchen ist schnell gemacht und schmeckt allen Gästen gut."),
        Block(kind="list", text=ingredients),
    )
    assert [b.text for b in clean_blocks(blocks)][-1] == ingredients
    lines = tuple(f"{i} g Zutat Nummer {i}" for i in range(1, 40))
    check_quality(lines, words=190, min_words=30, types=frozenset({"website"}), url="u")
