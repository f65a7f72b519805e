"""What the intake's views need, built once in create_app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from celery import Celery
from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pressroom_intake.formats.base import Formats, load_formats
from pressroom_shared.config import Settings
from pressroom_shared.outlets_config import OutletConfig
from pressroom_shared.steps import StepPolicy


@dataclass(frozen=True)
class IntakeContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    celery: Celery  # a producer only: intake sends tasks by name and imports no worker code
    outlets: tuple[OutletConfig, ...]
    policy: StepPolicy
    formats: Formats = field(default_factory=load_formats)  # the installed input formats


def intake() -> IntakeContext:
    return cast(IntakeContext, current_app.extensions["pressroom"])
