"""A failover cluster's multi-host URL reaches Alembic in SQLAlchemy's form of it."""

from tickerdesk.adapters.postgres.db import sqlalchemy_url


def test_a_multi_host_url_becomes_host_parameters_and_keeps_its_own() -> None:
    url = "postgresql://postgres@127.0.0.1:6011,127.0.0.1:6012/tickerdesk?target_session_attrs=read-write"
    assert sqlalchemy_url(url) == ("postgresql+asyncpg://postgres@/tickerdesk?host=127.0.0.1:6011&host=127.0.0.1:6012"
                                   "&target_session_attrs=read-write")


def test_a_single_host_url_only_changes_its_driver() -> None:
    single = "u:p@db:5432/x?sslmode=require"
    assert sqlalchemy_url(f"postgresql://{single}") == f"postgresql+asyncpg://{single}"
