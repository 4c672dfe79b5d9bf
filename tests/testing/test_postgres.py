"""pos.testing.postgres: a throwaway PostgreSQL cluster, databases copied from a template, a given server."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, inspect, text

from pos.testing import postgres as pg
from pos.testing.system import unavailable


def _scalar(url: str, sql: str):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


@pytest.fixture
def cluster():
    try:
        started = pg.start_cluster()
    except pg.PostgresUnavailable as exc:
        unavailable(str(exc))
    try:
        yield started
    finally:
        started.stop()


def test_a_cluster_starts_answers_on_its_socket_and_stop_removes_every_trace(cluster):
    assert _scalar(cluster.url(), "SELECT current_user") == pg.SUPERUSER
    assert _scalar(cluster.url(), "SHOW fsync") == "off"
    assert _scalar(cluster.url(), "SHOW listen_addresses") == ""  # no TCP port taken
    assert (cluster.socket_dir / ".s.PGSQL.5432").exists()
    if os.geteuid() == 0:  # initdb refuses root: the cluster is the postgres user's
        assert cluster.data.stat().st_uid != 0
    cluster.stop()
    assert not cluster.root.exists()
    with pytest.raises(Exception, match=r"(?i)connect|no such file"):
        _scalar(cluster.url(), "SELECT 1")


def test_databases_are_copies_of_the_template_and_are_dropped(postgres):
    server = postgres.server
    first = server.create_database(template=postgres.template)
    second = server.create_database(template=postgres.template)
    assert first != second
    try:
        engine = create_engine(server.url(first))
        try:
            assert "sales" in inspect(engine).get_table_names()  # migrated, without migrating again
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE only_in_first (x int)"))
        finally:
            engine.dispose()
        engine = create_engine(server.url(second))
        try:
            assert "only_in_first" not in inspect(engine).get_table_names()
        finally:
            engine.dispose()
        empty = server.create_database()
        assert _scalar(server.url(empty), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        server.drop_database(empty)
    finally:
        server.drop_database(first)
        lingering = create_engine(server.url(second))
        lingering.connect()  # a test that forgot to close its connection does not block the drop
        server.drop_database(second)
        lingering.dispose()
    listed = f"SELECT count(*) FROM pg_database WHERE datname IN ('{first}', '{second}')"
    assert _scalar(server.admin_url, listed) == 0


def test_a_given_server_is_used_and_left_as_found(postgres):
    before = _scalar(postgres.server.admin_url, "SELECT count(*) FROM pg_database")
    with pg.postgres_server(postgres.server.admin_url) as given:
        given.create_database(prefix="pos_given")
        assert _scalar(given.admin_url, "SELECT count(*) FROM pg_database") == before + 1
    assert _scalar(postgres.server.admin_url, "SELECT count(*) FROM pg_database") == before


def test_no_binaries_or_no_server_is_said_plainly(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert pg.find_bindir(str(tmp_path)) is None
    monkeypatch.setattr(pg, "find_bindir", lambda: None)
    with pytest.raises(pg.PostgresUnavailable, match="apt-get install postgresql"):
        pg.start_cluster()
    unreachable = f"postgresql+psycopg://nobody@/postgres?host={tmp_path}"
    with pytest.raises(pg.PostgresUnavailable, match="cannot reach"), pg.postgres_server(unreachable):
        pass


@pytest.mark.parametrize("name", ["pos_test; DROP", "Upper", "x y"])
def test_only_plain_names_are_created_or_dropped(name):
    server = pg.Server("postgresql+psycopg://nobody@/postgres")
    with pytest.raises(ValueError, match="not a database name"):
        server.drop_database(name)
    with pytest.raises(ValueError, match="not a database name"):
        server.create_database(template=name)
