"""Search against real databases: one suite, run on a SQLite file and on PostgreSQL.

The schema comes from the real migrations. PostgreSQL runs in a throwaway database
`pressroom_search_<random>` created through the `postgres` maintenance database and dropped
afterwards; the PostgreSQL half is skipped, with the reason, when the server is unreachable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from pressroom_shared.config import Settings
from pressroom_shared.db import make_engine, make_sessionmaker, transaction
from pressroom_shared.migrate import upgrade
from pressroom_shared.models import Article, SearchDocument
from pressroom_shared.search import SearchHit, index_document, remove_document, search
from tests.support.fixtures import SEED_ARTICLE

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SAMPLE = "a0000000-0000-4000-8000-000000000001"
ENGLISH = "a0000000-0000-4000-8000-000000000002"
YO = "a0000000-0000-4000-8000-000000000003"
YE = "a0000000-0000-4000-8000-000000000004"
MIXED = "a0000000-0000-4000-8000-000000000005"
GERMAN = "a0000000-0000-4000-8000-000000000006"

SAMPLE_PUBLISHED = datetime(2025, 5, 27, 2, 39, tzinfo=UTC)  # 05:39 Moscow time

ENGLISH_BODY = (
    "Officials in Istanbul exchanged lists of prisoners on Tuesday. "
    "The talks ran late into the night, and negotiators said the process keeps running smoothly."
)


def seed_body() -> str:
    raw = SEED_ARTICLE.read_text(encoding="utf-8")
    return "\n".join(raw.splitlines()[1:])  # line 1 is "date, byline, rubric, views"


# --- databases ----------------------------------------------------------------------------------


def _throwaway_postgres() -> Iterator[str]:
    admin = create_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        try:
            connection = admin.connect()
        except OperationalError as exc:
            pytest.skip(f"PostgreSQL is unreachable at {POSTGRES_ADMIN_URL}: {exc.orig}")
        name = f"pressroom_search_{uuid.uuid4().hex[:12]}"
        with connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('search') / 'search.db'}"])
    else:
        urls = _throwaway_postgres()
    for url in urls:
        database = make_engine(Settings(database_url=url))
        try:
            upgrade(database)
            yield database
        finally:
            database.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text("DELETE FROM search_fts"))
        connection.execute(text("DELETE FROM search_documents"))
        connection.execute(text("DELETE FROM articles"))
    return make_sessionmaker(engine)


Index = Callable[..., None]
Find = Callable[..., list[SearchHit]]


@pytest.fixture
def index(factory: sessionmaker[Session]) -> Index:
    def run(
        article_id: str,
        headline: str,
        body: str,
        *,
        version: int = 1,
        language: str = "ru",
        published_at: datetime | None = None,
        rubric: str | None = None,
        byline: str | None = None,
    ) -> None:
        with transaction(factory) as session:
            if session.get(Article, article_id) is None:
                session.add(
                    Article(
                        id=article_id, slug=article_id, current_version=version, pubstatus="usable"
                    )
                )
                session.flush()
            index_document(
                session,
                article_id=article_id,
                version=version,
                language=language,
                headline=headline,
                body_text=body,
                rubric=rubric,
                byline=byline,
                published_at=published_at,
            )

    return run


@pytest.fixture
def find(factory: sessionmaker[Session]) -> Find:
    def run(query: str, **page: int) -> list[SearchHit]:
        with transaction(factory) as session:
            return search(session, query, **page)

    return run


def ids(hits: list[SearchHit]) -> list[str]:
    return [hit.article_id for hit in hits]


@pytest.fixture
def corpus(index: Index) -> None:
    index(
        SAMPLE,
        "Путин поблагодарил Лукашенко за помощь",
        seed_body(),
        published_at=SAMPLE_PUBLISHED,
        rubric="Новости СВО и мобилизации",
        byline="Виктория Любимова",
    )
    index(ENGLISH, "Istanbul talks continue", ENGLISH_BODY, language="en")
    index(YO, "Главная ёлка страны", "Ёлку привезли на площадь.")
    index(YE, "Ель на вокзале", "Елка стоит у входа.")
    index(MIXED, "Агентства о переговорах", "Агентство Reuters reported: talks ended.")
    index(GERMAN, "Neue Häuser", "In der Stadt entstehen neue Häuser.", language="de")


# --- word forms, case, ё ------------------------------------------------------------------------


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize(
    "query",
    [
        "пленный",  # the text only says «пленными»
        "пленных",
        "Белоруссией",
        "ОБМЕН",
        "обмена",
        "пленных белоруссией",
        "телеграм-канала",
        "«Пул первого»!",
        "белорусско-российской",
    ],
)
def test_any_word_form_finds_the_sample(find: Find, query: str) -> None:
    assert ids(find(query)) == [SAMPLE]


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize("query", ["ёлка", "елка", "ЁЛКА", "Елку"])
def test_yo_and_ye_match_each_other(find: Find, query: str) -> None:
    assert set(ids(find(query))) == {YO, YE}


@pytest.mark.usefixtures("corpus")
def test_all_words_must_match(find: Find) -> None:
    assert ids(find("обмен гиппопотам")) == []
    assert ids(find("ёлка вход")) == [YE]


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize("query", ["exchanges", "Prisoner", "runs", "exchanging prisoners"])
def test_english_word_forms_find_only_the_english_article(find: Find, query: str) -> None:
    assert ids(find(query)) == [ENGLISH]


@pytest.mark.usefixtures("corpus")
def test_latin_words_in_a_russian_article(find: Find) -> None:
    assert set(ids(find("reporting"))) == {MIXED}
    assert set(ids(find("talk"))) == {ENGLISH, MIXED}


@pytest.mark.usefixtures("corpus")
def test_article_in_another_language_is_found_by_its_words(find: Find) -> None:
    assert ids(find("HÄUSER")) == [GERMAN]


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize("query", ["гиппопотам", "hippopotamus", "обменник", "12345"])
def test_a_word_in_no_article_finds_nothing(find: Find, query: str) -> None:
    assert find(query) == []


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize("query", ["", "   ", "«»!? — …", "и", "The or AND", "всё или ничего"])
def test_queries_without_searchable_words_find_nothing(find: Find, query: str) -> None:
    assert find(query) == []


@pytest.mark.usefixtures("corpus")
def test_stopwords_in_a_query_are_ignored(find: Find) -> None:
    assert ids(find("обмен и пленные")) == [SAMPLE]
    assert ids(find("the prisoners")) == [ENGLISH]


# --- hits ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("corpus")
def test_hit_carries_the_document_and_a_safe_snippet(find: Find) -> None:
    [hit] = find("пленный Белоруссией")
    assert hit.article_id == SAMPLE
    assert hit.version == 1
    assert hit.headline == "Путин поблагодарил Лукашенко за помощь"
    assert hit.rubric == "Новости СВО и мобилизации"
    assert hit.byline == "Виктория Любимова"
    assert hit.language == "ru"
    assert hit.published_at == SAMPLE_PUBLISHED
    assert hit.published_at is not None
    assert hit.published_at.tzinfo is not None
    assert hit.score > 0
    # Same snippet on both backends: it is computed in Python from the stored text.
    assert hit.snippet == (
        "За последние дни тема обмена <mark>пленными</mark> между Россией, Украиной и "
        "<mark>Белоруссией</mark> вышла на первый план международной повестки. Подробности "
        "телефонного разговора президента Российской Федерации Владимира Путина и белорусского "
        "лидера Александра Лукашенко …"
    )


def test_snippet_escapes_stored_markup(index: Index, find: Find) -> None:
    index(SAMPLE, "Заголовок", 'Текст <script>alert("обмен")</script> & обмен пленными')
    [hit] = find("обмен")
    assert "<script>" not in hit.snippet
    assert "&lt;script&gt;" in hit.snippet
    assert hit.snippet.count("<mark>обмен</mark>") == 2


def test_headline_only_match_snippet_comes_from_the_headline(index: Index, find: Find) -> None:
    index(SAMPLE, "Обмен пленными завершён", "Подробности позже.")
    [hit] = find("обмены")
    assert hit.snippet == "<mark>Обмен</mark> пленными завершён"


def test_headline_matches_rank_above_body_matches(index: Index, find: Find) -> None:
    filler = " ".join(["Погода в городе была ясной, ветер слабым."] * 5)
    # The body-only match is newer, so a tie would put it first: the order comes from the score.
    index(
        SAMPLE,
        "Фестиваль воздушных змеев",
        filler,
        published_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    index(
        ENGLISH,
        "Праздник в парке",
        filler + " Дети запускали змея.",
        published_at=datetime(2025, 6, 1, tzinfo=UTC),
    )
    hits = find("змей")
    assert ids(hits) == [SAMPLE, ENGLISH]
    assert hits[0].score > hits[1].score


def test_limit_and_offset_page_through_hits(index: Index, find: Find) -> None:
    for n in range(5):
        index(
            f"a0000000-0000-4000-8000-00000000010{n}",
            f"Сводка {n}",
            "Обмен " * (n + 1),
            published_at=datetime(2025, 1, n + 1, tzinfo=UTC),
        )
    everything = ids(find("обмен"))
    assert len(everything) == 5
    pages = [ids(find("обмен", limit=2, offset=offset)) for offset in (0, 2, 4)]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [article for page in pages for article in page] == everything
    assert find("обмен", limit=0) == []
    with pytest.raises(ValueError, match="negative"):
        find("обмен", offset=-1)


# --- versions and removal -----------------------------------------------------------------------


def _stored_versions(factory: sessionmaker[Session]) -> list[int]:
    with transaction(factory) as session:
        return list(session.scalars(select(SearchDocument.version)))


def _fts_rows(factory: sessionmaker[Session]) -> int | None:
    with transaction(factory) as session:
        if session.get_bind().dialect.name != "sqlite":
            return None
        return session.scalar(select(func.count()).select_from(text("search_fts")))


def test_reindexing_replaces_the_text(
    index: Index, find: Find, factory: sessionmaker[Session]
) -> None:
    index(SAMPLE, "Старый заголовок", "Черновик текста", version=1)
    index(SAMPLE, "Новый заголовок", "Окончательный текст", version=2)
    assert find("черновик") == []
    assert find("старый") == []
    [hit] = find("окончательный")
    assert (hit.version, hit.headline) == (2, "Новый заголовок")
    assert _stored_versions(factory) == [2]
    assert _fts_rows(factory) in (None, 1)


def test_the_same_version_can_be_indexed_again(index: Index, find: Find) -> None:
    index(SAMPLE, "Заголовок", "Первый текст", version=3)
    index(SAMPLE, "Заголовок", "Исправленный текст", version=3)
    assert find("первый") == []
    assert ids(find("исправленный")) == [SAMPLE]


def test_an_older_version_never_replaces_a_newer_one(
    index: Index, find: Find, factory: sessionmaker[Session]
) -> None:
    index(SAMPLE, "Новая версия", "Окончательный текст", version=2)
    index(SAMPLE, "Старая версия", "Черновик текста", version=1)
    assert find("черновик") == []
    assert find("старая") == []
    [hit] = find("окончательный")
    assert (hit.version, hit.headline) == (2, "Новая версия")
    assert _stored_versions(factory) == [2]
    assert _fts_rows(factory) in (None, 1)


@pytest.mark.usefixtures("corpus")
def test_remove_document(factory: sessionmaker[Session], find: Find) -> None:
    assert ids(find("пленный")) == [SAMPLE]
    with transaction(factory) as session:
        remove_document(session, SAMPLE)
    assert find("пленный") == []
    assert SAMPLE not in ids(find("Путин"))
    assert ids(find("exchanges")) == [ENGLISH]  # the others stay
    assert _fts_rows(factory) in (None, 5)
    with transaction(factory) as session:
        remove_document(session, SAMPLE)  # removing what is not indexed is fine
        remove_document(session, "no-such-article")


# --- hostile queries ----------------------------------------------------------------------------


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"обмен',
        'обмен"пленными',
        "*",
        "обмен*",
        "NEAR(",
        "NEAR(обмен пленными, 2)",
        "-",
        "-обмен",
        "обмен -пленными",
        "OR",
        "обмен OR пленными",
        "AND NOT",
        ":",
        "headline:обмен",
        "body : обмен",
        "{headline body}: обмен",
        "^обмен",
        "обмен + пленными",
        "(обмен)",
        "обмен & !пленными | x <-> y",
        "'; DROP TABLE search_documents; --",
        "\\",
        "\x00",
        "обмен " * 200,
    ],
)
def test_query_syntax_characters_never_raise(find: Find, query: str) -> None:
    hits = find(query)
    assert isinstance(hits, list)


@pytest.mark.usefixtures("corpus")
@pytest.mark.parametrize("query", ['"обмен', "обмен*", "-обмен", "(обмен)", "^обмен", "обмен:"])
def test_syntax_characters_are_just_punctuation(find: Find, query: str) -> None:
    assert ids(find(query)) == [SAMPLE]
