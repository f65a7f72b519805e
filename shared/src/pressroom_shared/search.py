"""Russian and English full-text search over `search_documents`, on SQLite and PostgreSQL.

Text is normalized (NFC, case-folded, ё→е), split into word tokens (letters and digits only, so
punctuation never matters and "телеграм-канала" is the two words "телеграм" and "канала") and
stemmed with Snowball, so every word form of a query word matches (пленный finds «пленными»).

- SQLite: the FTS5 table `search_fts(headline, body)` holds the space-joined stems, with
  rowid = the `search_documents` rowid. A query is an AND of quoted stems (user input can never
  become FTS5 syntax), ranked by bm25 with the headline weighted 3:1.
- PostgreSQL: `search_documents.tsv` is built by `to_tsvector` over the same word tokens with the
  document language's configuration (headline weight A, body B). A query is `plainto_tsquery`
  over the `russian`, `english` and `simple` configurations OR-ed, ranked by `ts_rank_cd`.

Both backends are fed the same word tokens, and query words that PostgreSQL drops as stopwords
(its Snowball lists, embedded below) are dropped on SQLite too, so results agree. A query of
stopwords only ("и", "the or") matches nothing on either backend. Scores are comparable within
one backend only. Snippets are computed in Python from the stored text, identically on both.

This module is shared by the intake and the workers: it must not import Flask, Celery or either
service's packages. The caller owns the transaction.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import Stemmer
from sqlalchemy import Float, Integer, String, Text, column, literal_column, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from pressroom_shared.models import SearchDocument, UTCDateTime
from pressroom_shared.timeutil import utcnow

__all__ = [
    "SearchHit",
    "index_document",
    "normalize",
    "remove_document",
    "search",
    "snippet",
    "stem_words",
    "words",
]

MAX_QUERY_TERMS = 32
"""Distinct query words kept (the rest are ignored), so one request cannot build a huge query."""

SNIPPET_WORDS = 30
_SNIPPET_BEFORE = 10  # words of context kept before the first match
_SNIPPET_MAX_RUN = 80  # longest word or run of separators shown whole

# Removed before tokenizing: soft hyphen, zero-width (non-)joiner, word joiner, BOM, and the
# combining acute and grave accents that mark stress in Russian (ударе́ние). After NFC the accents
# only survive on letters without a precomposed form, so Latin é/è are untouched.
_IGNORABLE = dict.fromkeys(map(ord, "\u00ad\u200c\u200d\u2060\ufeff\u0301\u0300"))

_WORD = re.compile(r"[^\W_]+")
# A word in the original (unnormalized) text, for snippets: also spans the characters that
# normalize() removes or composes, so its words are those of the normalized text.
_RAW_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f\u0483-\u0489\u00ad\u200c\u200d\u2060\ufeff])+")
_CYRILLIC = re.compile(r"[\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f]")
_LATIN = re.compile(r"[a-z\u00c0-\u024f\u1e00-\u1eff]")
_DIGIT = re.compile(r"\d")
_SPACES = re.compile(r"\s+")

# PostgreSQL 15's Snowball stopword lists (tsearch_data/russian.stop and english.stop), which its
# `russian` and `english` configurations drop from both documents and queries.
_RUSSIAN_STOP = """
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне
    было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него
    до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней для мы
    тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто этот того потому
    этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда зачем всех
    никогда можно при наконец два об другой хоть после над больше тот через эти нас про всего них
    какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя
    такой им более всегда конечно всю между
"""
_ENGLISH_STOP = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she
    her hers herself it its itself they them their theirs themselves what which who whom this that
    these those am is are was were be been being have has had having do does did doing a an the
    and but if or because as until while of at by for with about against between into through
    during before after above below to from up down in out on off over under again further then
    once here there when where why how all any both each few more most other some such no nor not
    only own same so than too very s t can will just don should now
"""
_RUSSIAN_STOPWORDS = frozenset(_RUSSIAN_STOP.split())
_ENGLISH_STOPWORDS = frozenset(_ENGLISH_STOP.split())

_PG_CONFIGS = {"ru": "russian", "en": "english"}


def normalize(text: str) -> str:
    """NFC, case-folded, ё→е, with soft hyphens, zero-width joiners and stress marks removed."""
    text = unicodedata.normalize("NFC", text).translate(_IGNORABLE).casefold()
    # casefold() may decompose (İ → i + dot above) or leave marks a removal exposed: NFC again,
    # and fold ё last so nothing can recompose it.
    text = unicodedata.normalize("NFC", text.replace("i\u0307", "i"))
    return text.replace("ё", "е")


def words(text: str) -> list[str]:
    """The word tokens of the normalized text: runs of letters and digits, nothing else."""
    return _WORD.findall(normalize(text))


# Stemmer objects are not thread-safe: one set per thread.
_local = threading.local()


def _stemmer(language: str) -> Any:
    stemmers: dict[str, Any] | None = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {}
    stemmer = stemmers.get(language)
    if stemmer is None:
        stemmer = stemmers[language] = Stemmer.Stemmer(language)
    return stemmer


def _stem(word: str) -> str:
    # Words with digits are kept whole, as PostgreSQL's parser files them under `simple`.
    if _DIGIT.search(word):
        return word
    if _CYRILLIC.search(word):
        return str(_stemmer("russian").stemWord(word))
    if _LATIN.search(word):
        return str(_stemmer("english").stemWord(word))
    return word


def stem_words(words: list[str]) -> list[str]:
    """Snowball stems, per word by script: Cyrillic → russian, Latin → english, else as is.

    Expects normalized words (as `words()` returns them): the stemmers are case-sensitive.
    """
    return [_stem(word) for word in words]


def _is_stopword(word: str) -> bool:
    return word in _RUSSIAN_STOPWORDS or word in _ENGLISH_STOPWORDS


def _query_words(query: str) -> list[str]:
    """Distinct non-stopword words of a query, in order, at most MAX_QUERY_TERMS."""
    kept: dict[str, None] = {}
    for word in words(query):
        if not _is_stopword(word):
            kept.setdefault(word, None)
            if len(kept) == MAX_QUERY_TERMS:
                break
    return list(kept)


def _pg_config(language: str) -> str:
    primary = language.strip().lower().replace("_", "-").split("-", 1)[0]
    return _PG_CONFIGS.get(primary, "simple")


def _dialect(session: Session) -> str:
    name = session.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"full-text search is not implemented for {name}")
    return name


# --- indexing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """An article's words and their stems, worked out before the writing transaction: the
    stemming is the indexer's CPU time, and SQLite's write lock need not be held for it."""

    headline_words: str
    body_words: str
    headline_stems: str
    body_stems: str

    @classmethod
    def of(cls, headline: str, body_text: str) -> Terms:
        head, body = words(headline), words(body_text)
        return cls(
            " ".join(head), " ".join(body), " ".join(stem_words(head)), " ".join(stem_words(body))
        )


def index_document(
    session: Session,
    *,
    terms: Terms | None = None,
    article_id: str,
    version: int,
    language: str,
    headline: str,
    body_text: str,
    rubric: str | None,
    byline: str | None,
    published_at: datetime | None,
) -> None:
    """Insert or replace the article's search document, unless a newer version is indexed.

    Re-indexing the same version replaces it (idempotent); an older version is ignored. The
    upsert is one conditional statement, so concurrent indexers cannot lose the newest version.
    """
    dialect = _dialect(session)
    values = {
        "article_id": article_id,
        "version": version,
        "language": language,
        "headline": headline,
        "body_text": body_text,
        "rubric": rubric,
        "byline": byline,
        "published_at": published_at,
        "indexed_at": utcnow(),
    }
    if dialect == "sqlite":
        stmt: Any = sqlite_insert(SearchDocument).values(values)
        returning: Any = literal_column("search_documents.rowid")
    else:
        stmt = pg_insert(SearchDocument).values(values)
        returning = SearchDocument.article_id
    stmt = stmt.on_conflict_do_update(
        index_elements=[SearchDocument.article_id],
        set_={name: stmt.excluded[name] for name in values if name != "article_id"},
        where=SearchDocument.version <= stmt.excluded.version,
    ).returning(returning)
    row = session.execute(stmt).first()
    if row is None:  # a newer version is already indexed
        return
    terms = terms or Terms.of(headline, body_text)

    if dialect == "sqlite":
        rowid = row[0]
        session.execute(text("DELETE FROM search_fts WHERE rowid = :rowid"), {"rowid": rowid})
        session.execute(
            text(
                "INSERT INTO search_fts (rowid, headline, body) VALUES (:rowid, :headline, :body)"
            ),
            {
                "rowid": rowid,
                "headline": terms.headline_stems,
                "body": terms.body_stems,
            },
        )
    else:
        # to_tsvector sees only our word tokens, so it tokenizes exactly as SQLite does
        # (no hyphenated compounds, URLs or "2.5" floats of its own).
        session.execute(
            text(
                "UPDATE search_documents SET tsv ="
                " setweight(to_tsvector(CAST(:config AS regconfig), :headline), 'A')"
                " || setweight(to_tsvector(CAST(:config AS regconfig), :body), 'B')"
                " WHERE article_id = :article_id"
            ),
            {
                "config": _pg_config(language),
                "headline": terms.headline_words,
                "body": terms.body_words,
                "article_id": article_id,
            },
        )


def remove_document(session: Session, article_id: str) -> None:
    """Remove the article from the index (no error when it is not indexed)."""
    if _dialect(session) == "sqlite":
        rowids = session.execute(
            text("DELETE FROM search_documents WHERE article_id = :article_id RETURNING rowid"),
            {"article_id": article_id},
        ).scalars()
        for rowid in list(rowids):
            session.execute(text("DELETE FROM search_fts WHERE rowid = :rowid"), {"rowid": rowid})
    else:
        session.execute(
            text("DELETE FROM search_documents WHERE article_id = :article_id"),
            {"article_id": article_id},
        )


# --- searching --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    article_id: str
    version: int
    headline: str
    rubric: str | None
    byline: str | None
    language: str
    published_at: datetime | None
    score: float  # higher is better; comparable within one backend only
    snippet: str  # safe HTML: matched words in <mark>, everything else escaped


_RESULT_COLUMNS = (
    column("article_id", String()),
    column("version", Integer()),
    column("headline", Text()),
    column("body_text", Text()),
    column("rubric", String()),
    column("byline", String()),
    column("language", String()),
    column("published_at", UTCDateTime()),
    column("score", Float()),
)

_SQLITE_SEARCH = text(
    """
    SELECT d.article_id, d.version, d.headline, d.body_text, d.rubric, d.byline, d.language,
           d.published_at, f.score
    FROM (SELECT rowid, -bm25(search_fts, 3.0, 1.0) AS score
          FROM search_fts WHERE search_fts MATCH :match) AS f
    JOIN search_documents AS d ON d.rowid = f.rowid
    ORDER BY f.score DESC, d.published_at DESC NULLS LAST, d.article_id
    LIMIT :limit OFFSET :offset
    """
).columns(*_RESULT_COLUMNS)

# Documents of either language match: each configuration stems the query its own way, and the
# `simple` one finds exact words in documents of other languages. Constant arguments, so the
# planner folds the tsquery and can use the GIN index.
_PG_SEARCH = text(
    """
    SELECT d.article_id, d.version, d.headline, d.body_text, d.rubric, d.byline, d.language,
           d.published_at, ts_rank_cd(d.tsv, q.query) AS score
    FROM search_documents AS d,
         (SELECT plainto_tsquery('russian', :query) || plainto_tsquery('english', :query)
                 || plainto_tsquery('simple', :query) AS query) AS q
    WHERE d.tsv @@ q.query
    ORDER BY score DESC, d.published_at DESC NULLS LAST, d.article_id
    LIMIT :limit OFFSET :offset
    """
).columns(*_RESULT_COLUMNS)


def _fts5_string(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def search(session: Session, query: str, *, limit: int = 20, offset: int = 0) -> list[SearchHit]:
    """Documents containing every query word in some form, best first.

    A query without words (empty, punctuation, stopwords only) returns [].
    """
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")
    query_words = _query_words(query)
    if not query_words or limit == 0:
        return []
    stems = list(dict.fromkeys(stem_words(query_words)))
    page = {"limit": limit, "offset": offset}
    if _dialect(session) == "sqlite":
        match = " ".join(_fts5_string(stem) for stem in stems)
        rows = session.execute(_SQLITE_SEARCH, {"match": match, **page}).all()
    else:
        rows = session.execute(_PG_SEARCH, {"query": " ".join(query_words), **page}).all()
    wanted = frozenset(stems)
    return [
        SearchHit(
            article_id=row.article_id,
            version=row.version,
            headline=row.headline,
            rubric=row.rubric,
            byline=row.byline,
            language=row.language,
            published_at=row.published_at,
            score=float(row.score),
            snippet=_snippet_of(row.body_text, row.headline, wanted),
        )
        for row in rows
    ]


# --- snippets ---------------------------------------------------------------------------------


def snippet(text: str, query: str, *, size: int = SNIPPET_WORDS) -> str:
    """Safe HTML: about `size` words of `text` around the first word matching the query.

    Every word with the stem of a query word is wrapped in <mark>; all text is HTML-escaped.
    Without a match, the opening words, unmarked.
    """
    wanted = frozenset(stem_words(_query_words(query)))
    return _render(text, _window(text, wanted, size) or _opening(text, size), wanted)


def _snippet_of(body_text: str, headline: str, wanted: frozenset[str]) -> str:
    for source in (body_text, headline):
        window = _window(source, wanted, SNIPPET_WORDS)
        if window:
            return _render(source, window, wanted)
    return _render(body_text, _opening(body_text, SNIPPET_WORDS), wanted)


_Span = tuple[int, int]


def _raw_words(text: str) -> Iterator[_Span]:
    for match in _RAW_WORD.finditer(text):
        yield match.span()


def _matches(text: str, span: _Span, wanted: frozenset[str]) -> bool:
    return bool(wanted) and any(
        stem in wanted for stem in stem_words(words(text[span[0] : span[1]]))
    )


def _window(text: str, wanted: frozenset[str], size: int) -> list[_Span]:
    """Spans of about `size` words around the first match; [] when nothing matches."""
    if not wanted:
        return []
    size = max(size, 1)
    before: deque[_Span] = deque(maxlen=size)
    spans = _raw_words(text)
    for span in spans:
        if _matches(text, span, wanted):
            window = [span]
            wanted_after = size - 1 - min(len(before), _SNIPPET_BEFORE)
            for after in spans:
                if len(window) > wanted_after:
                    break
                window.append(after)
            # Near the end of the text, show more of what came before instead.
            keep = size - len(window)
            return (list(before)[-keep:] if keep > 0 else []) + window
        before.append(span)
    return []


def _opening(text: str, size: int) -> list[_Span]:
    spans: list[_Span] = []
    for span in _raw_words(text):
        if len(spans) >= size:
            break
        spans.append(span)
    return spans


def _render(text: str, window: list[_Span], wanted: frozenset[str]) -> str:
    if not window:  # no words at all
        return _escape(_clip(text.strip()))
    first, last = window[0][0], window[-1][1]
    starts_text = not _RAW_WORD.search(text, 0, first)
    ends_text = not _RAW_WORD.search(text, last)
    parts: list[str] = []
    if starts_text:
        parts.append(_escape(_clip(text[:first])).lstrip())
    else:
        parts.append("… ")
    position = first
    for span in window:
        parts.append(_escape(_clip(text[position : span[0]])))
        word = html.escape(_clip(text[span[0] : span[1]]))
        parts.append(f"<mark>{word}</mark>" if _matches(text, span, wanted) else word)
        position = span[1]
    parts.append(_escape(_clip(text[last:])).rstrip() if ends_text else " …")
    return "".join(parts)


def _escape(text: str) -> str:
    return html.escape(_SPACES.sub(" ", text))


def _clip(text: str) -> str:
    # A run of punctuation or one giant "word" (a pasted blob) must not bloat the snippet.
    return text if len(text) <= _SNIPPET_MAX_RUN else text[:_SNIPPET_MAX_RUN] + "…"
