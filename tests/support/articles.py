"""Realistic articles for tests.

`make_article()` is the Russian sample (abridged from samples/seed-article.txt): a heading, a
list, a footnote, typographic quotes and ё, in exactly the shape the intake's plain-text parser
and sanitiser emit (body_text is html_to_text(body_html)). `make_english_article()` is an
English one. Keyword overrides go to `Article` when they name one of its fields and
to `ArticleContent` otherwise, so `make_article(version=2, headline="…")` works.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from pressroom_shared.article import Article, ArticleContent, PubStatus

RU_PUBLISHED = datetime(2025, 5, 27, 2, 39, tzinfo=UTC)  # 27 мая 2025 05:39 по Москве
EN_PUBLISHED = datetime(2025, 6, 3, 9, 15, tzinfo=UTC)

RU_HEADLINE = "Обмен пленными: итоги стамбульских соглашений"
RU_BODY_HTML = (
    "<p>За последние дни тема обмена пленными между Россией, Украиной и Белоруссией вышла "
    "на первый план международной повестки. Собеседники уделили внимание итогам стамбульских "
    "соглашений, в том числе последнего этапа обмена по формату «1000 на 1000».</p>\n"
    "<h2>Ход обмена по стамбульским договорённостям</h2>\n"
    "<ul>\n"
    "<li>16 мая в Стамбуле делегации согласовали обмен по формату «1000 на 1000».</li>\n"
    "<li>24 мая прошёл второй этап передачи военнопленных.</li>\n"
    "<li>25 мая завершился третий этап — около 100 военнослужащих доставлены в Белоруссию.</li>\n"
    "</ul>\n"
    "<p>Заместитель министра обороны РФ Александр Фомин подтвердил исполнение всех "
    "обязательств в рамках стамбульского соглашения"
    '<sup><a href="#fn-1" id="fnref-1">1</a></sup>.</p>\n'
    "<h2>Итоги и перспективы</h2>\n"
    "<p>Стороны планируют расширить взаимодействие в гуманитарной сфере.</p>\n"
    '<section class="footnotes"><ol><li id="fn-1" value="1">По данным Министерства обороны '
    'РФ на 25 мая 2025 года. <a href="#fnref-1">↩</a></li></ol></section>'
)
RU_BODY_TEXT = (
    "За последние дни тема обмена пленными между Россией, Украиной и Белоруссией вышла "
    "на первый план международной повестки. Собеседники уделили внимание итогам стамбульских "
    "соглашений, в том числе последнего этапа обмена по формату «1000 на 1000».\n\n"
    "Ход обмена по стамбульским договорённостям\n\n"
    "- 16 мая в Стамбуле делегации согласовали обмен по формату «1000 на 1000».\n"
    "- 24 мая прошёл второй этап передачи военнопленных.\n"
    "- 25 мая завершился третий этап — около 100 военнослужащих доставлены в Белоруссию.\n\n"
    "Заместитель министра обороны РФ Александр Фомин подтвердил исполнение всех "
    "обязательств в рамках стамбульского соглашения[1].\n\n"
    "Итоги и перспективы\n\n"
    "Стороны планируют расширить взаимодействие в гуманитарной сфере.\n\n"
    "[1] По данным Министерства обороны РФ на 25 мая 2025 года."
)

EN_HEADLINE = "City council approves 40 km of new cycle lanes"
EN_BODY_HTML = (
    "<p>The city council on Tuesday approved a plan for 40 km of protected cycle lanes, "
    "the largest expansion of the network in a decade.</p>\n"
    "<h2>What changes</h2>\n"
    "<ul>\n<li>Three river crossings get separated lanes.</li>\n"
    "<li>Speed limits drop to 30 km/h on school streets.</li>\n</ul>\n"
    "<p>Work starts in <em>September</em>, according to the transport department"
    '<sup><a href="#fn-1" id="fnref-1">1</a></sup>.</p>\n'
    '<section class="footnotes"><ol><li id="fn-1" value="1">Council minutes, 3 June 2025. '
    '<a href="#fnref-1">↩</a></li></ol></section>'
)
EN_BODY_TEXT = (
    "The city council on Tuesday approved a plan for 40 km of protected cycle lanes, "
    "the largest expansion of the network in a decade.\n\n"
    "What changes\n\n"
    "- Three river crossings get separated lanes.\n"
    "- Speed limits drop to 30 km/h on school streets.\n\n"
    "Work starts in September, according to the transport department[1].\n\n"
    "[1] Council minutes, 3 June 2025."
)

_ARTICLE_FIELDS = {f.name for f in dataclasses.fields(Article)}
_CONTENT_FIELDS = {f.name for f in dataclasses.fields(ArticleContent)}


def _build(base: Article, overrides: dict[str, Any]) -> Article:
    unknown = set(overrides) - _ARTICLE_FIELDS - _CONTENT_FIELDS
    if unknown:
        raise TypeError(f"unknown article fields: {sorted(unknown)}")
    content_changes = {k: v for k, v in overrides.items() if k in _CONTENT_FIELDS}
    article_changes = {k: v for k, v in overrides.items() if k in _ARTICLE_FIELDS}
    content = article_changes.pop("content", base.content)
    if content_changes:
        content = dataclasses.replace(content, **content_changes)
    return dataclasses.replace(base, content=content, **article_changes)


def make_article(**overrides: Any) -> Article:
    """The Russian sample article, version 1, published."""
    base = Article(
        id="a1b2c3d4-0001",
        version=1,
        slug="obmen-plennymi-itogi-stambulskikh-soglashenii",
        pubstatus=PubStatus.USABLE,
        content=ArticleContent(
            headline=RU_HEADLINE,
            body_html=RU_BODY_HTML,
            body_text=RU_BODY_TEXT,
            language="ru",
            byline="Виктория Любимова",
            rubric="Новости СВО и мобилизации",
            tags=("обмен пленными", "Белоруссия", "Стамбул"),
            published_at=RU_PUBLISHED,
            urgency=3,
            source_format="text",
            extra={"views": 946},
        ),
        first_created=RU_PUBLISHED,
        version_created=RU_PUBLISHED,
    )
    return _build(base, overrides)


def make_english_article(**overrides: Any) -> Article:
    """An English article, version 1, published."""
    base = Article(
        id="e5f6a7b8-0002",
        version=1,
        slug="city-council-approves-40-km-of-new-cycle-lanes",
        pubstatus=PubStatus.USABLE,
        content=ArticleContent(
            headline=EN_HEADLINE,
            body_html=EN_BODY_HTML,
            body_text=EN_BODY_TEXT,
            language="en",
            byline="Jane Porter",
            rubric="City",
            tags=("transport", "cycling"),
            published_at=EN_PUBLISHED,
            urgency=5,
        ),
        first_created=EN_PUBLISHED,
        version_created=EN_PUBLISHED,
    )
    return _build(base, overrides)


def next_version(article: Article, **overrides: Any) -> Article:
    """The following version of `article`, created a few minutes later."""
    changes: dict[str, Any] = {
        "version": article.version + 1,
        "version_created": article.version_created + timedelta(minutes=7),
    }
    changes.update(overrides)
    return _build(article, changes)


def killed(article: Article) -> Article:
    """The version that withdraws `article` (pubstatus canceled)."""
    return next_version(article, pubstatus=PubStatus.CANCELED)
