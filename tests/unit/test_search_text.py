"""Text side of search: normalization, word tokens, stems and snippets (no database)."""

from __future__ import annotations

import threading

import pytest

from pressroom_shared import search
from pressroom_shared.search import normalize, snippet, stem_words, words
from tests.support.fixtures import SEED_ARTICLE


def stems(text: str) -> list[str]:
    return stem_words(words(text))


# --- normalize ----------------------------------------------------------------------------------


def test_normalize_casefolds_and_folds_yo() -> None:
    assert normalize("ЁЛКА Ёлка ёлка") == "елка елка елка"
    assert normalize("Straße") == "strasse"


def test_normalize_composes_decomposed_yo_before_folding_it() -> None:
    decomposed = "е\u0308лка"  # е + combining diaeresis, as some editors save ё
    assert normalize(decomposed) == "елка"
    assert normalize("и\u0306од") == "йод"  # й survives NFC, it is not a diacritic to strip


def test_normalize_drops_stress_marks_and_soft_hyphens() -> None:
    assert normalize("заме\u0301тка") == "заметка"
    assert normalize("теле\u00adграм") == "телеграм"
    assert normalize("café") == "café"  # Latin diacritics are kept


# --- words --------------------------------------------------------------------------------------


def test_words_ignore_punctuation_and_split_hyphenated_words() -> None:
    assert words("По данным телеграм-канала «Пул первого», — 15 минут!") == [
        "по",
        "данным",
        "телеграм",
        "канала",
        "пул",
        "первого",
        "15",
        "минут",
    ]


def test_words_of_nothing() -> None:
    assert words("") == []
    assert words(' "*:-() NEAR( — … ') == ["near"]
    assert words("__") == []


# --- stems (formats.md §8) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("пленными", "плен"),
        ("пленных", "плен"),
        ("пленный", "плен"),
        ("обмена", "обм"),
        ("обменялись", "обменя"),
        ("Белоруссии", "белорусс"),
        ("Белоруссией", "белорусс"),
        ("ёлка", "елк"),
        ("елка", "елк"),
        ("стамбульских", "стамбульск"),
    ],
)
def test_russian_stems(word: str, stem: str) -> None:
    assert stems(word) == [stem]


def test_word_forms_share_a_stem() -> None:
    assert len(set(stems("пленными пленных пленный"))) == 1
    assert stems("Белоруссии") == stems("Белоруссией")
    assert stems("ёлка") == stems("елка") == stems("ЁЛКА")


def test_english_words_get_english_stems() -> None:
    assert stems("runs running RUN") == ["run", "run", "run"]
    assert stems("exchanged exchanges") == ["exchang", "exchang"]


def test_stemmer_is_chosen_per_word_by_script() -> None:
    assert stems("обмен пленными prisoners exchanged") == ["обм", "плен", "prison", "exchang"]


def test_digits_and_other_scripts_are_kept_as_is() -> None:
    assert stems("1000 на 1000") == ["1000", "на", "1000"]
    assert stems("covid19 ελληνικά") == ["covid19", "ελληνικά"]


def test_stemmers_are_per_thread() -> None:
    seen: dict[str, object] = {}

    def run(name: str) -> None:
        search._stemmer("russian")
        seen[name] = search._stemmer("russian")

    threads = [threading.Thread(target=run, args=(str(i),)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen["0"] is not seen["1"]
    assert search._stemmer("russian") is search._stemmer("russian")


# --- query words --------------------------------------------------------------------------------


def test_query_words_drop_stopwords_like_postgresql() -> None:
    assert search._query_words("обмен и пленные") == ["обмен", "пленные"]
    assert search._query_words("The runners OR the running") == ["runners", "running"]
    assert search._query_words("всё или ничего") == []  # всё → все, a stopword
    assert search._query_words("обмен обмен, ОБМЕН") == ["обмен"]


def test_query_words_are_capped() -> None:
    query = " ".join(f"слово{i}" for i in range(100))
    assert len(search._query_words(query)) == search.MAX_QUERY_TERMS


def test_fts5_strings_are_quoted() -> None:
    assert search._fts5_string('a"b') == '"a""b"'


@pytest.mark.parametrize(
    ("language", "config"),
    [
        ("ru", "russian"),
        ("ru-RU", "russian"),
        ("EN_us", "english"),
        ("de", "simple"),
        ("", "simple"),
    ],
)
def test_postgresql_configuration_by_language(language: str, config: str) -> None:
    assert search._pg_config(language) == config


# --- snippets -----------------------------------------------------------------------------------


def test_snippet_escapes_html_and_marks_terms() -> None:
    html = snippet('<script>alert("x")</script> Обмен & пленными <b>завершён</b>', "пленный обмен")
    assert "<script>" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;" in html
    assert "&amp;" in html
    assert "<mark>Обмен</mark> &amp; <mark>пленными</mark>" in html
    assert html.count("<mark>") == 2


def test_snippet_marks_a_word_inside_markup_like_text_safely() -> None:
    html = snippet("<mark>пленными</mark>", "пленный")
    assert html == "&lt;mark&gt;<mark>пленными</mark>&lt;/mark&gt;"


def test_snippet_is_about_thirty_words_around_the_first_match() -> None:
    text = (
        " ".join(f"w{i}" for i in range(100)) + " пленными " + " ".join(f"v{i}" for i in range(100))
    )
    html = snippet(text, "пленный")
    assert html.startswith("… ")
    assert html.endswith(" …")
    assert len(html.removeprefix("… ").removesuffix(" …").split()) == search.SNIPPET_WORDS
    assert "… w90 w91" in html
    assert "v18 …" in html
    before = html.split("<mark>")[0].removeprefix("… ").split()
    assert len(before) == 10


def test_snippet_near_the_end_shows_more_before() -> None:
    text = " ".join(f"w{i}" for i in range(100)) + " пленными."
    html = snippet(text, "пленный")
    assert html.endswith("<mark>пленными</mark>.")
    assert len(html.removeprefix("… ").split()) == search.SNIPPET_WORDS


def test_snippet_of_a_short_text_keeps_its_punctuation() -> None:
    assert snippet("  «Обмен пленными»,\n\n завершён.  ", "обмены") == (
        "«<mark>Обмен</mark> пленными», завершён."
    )


def test_snippet_without_a_match_shows_the_opening() -> None:
    html = snippet(" ".join(f"w{i}" for i in range(50)), "пленный")
    assert "<mark>" not in html
    assert html.startswith("w0 w1")
    assert html.endswith("w29 …")


def test_snippet_of_seed_article_marks_other_word_forms() -> None:
    body = "\n".join(SEED_ARTICLE.read_text(encoding="utf-8").splitlines()[1:])
    html = snippet(body, "пленный Белоруссией")
    assert "<mark>пленными</mark>" in html
    assert "<mark>Белоруссией</mark>" in html
    assert "\n" not in html


def test_snippet_folds_yo_and_hyphens() -> None:
    assert snippet("Новогодняя ёлка-гигант", "елка") == "Новогодняя <mark>ёлка</mark>-гигант"
    assert snippet("По данным телеграм-канала", "канал") == "По данным телеграм-<mark>канала</mark>"


def test_snippet_clips_huge_runs() -> None:
    html = snippet("пленными " + "x" * 10_000 + " " + "-" * 10_000, "пленный")
    assert len(html) < 300
