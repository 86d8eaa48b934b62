"""Run Alembic migrations programmatically on a node's database."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

__all__ = ["alembic_config", "upgrade"]


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", "redline.store:migrations")
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema. Idempotent."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
