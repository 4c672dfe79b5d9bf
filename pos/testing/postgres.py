"""A PostgreSQL server for tests: a throwaway cluster from Debian's binaries, or one the user gives.

The ledger runs on PostgreSQL for a chain of shops, so the suite runs on it too. Nobody has to
set a server up for that: :func:`start_cluster` runs ``initdb`` and ``pg_ctl`` from the
``postgresql`` package in a temporary folder, listening only on a Unix socket in that folder (no
TCP port to collide with anything), and :meth:`Cluster.stop` removes every trace. ``initdb``
refuses to run as root, so under root (as in CI) the cluster belongs to the ``postgres`` user.
Durability is switched off (``fsync=off``): a test database that a power cut loses costs nothing,
and each test's ``CREATE DATABASE`` gets faster.

:class:`Server` is what tests use: an admin URL plus fresh databases copied from a template
(``CREATE DATABASE ... TEMPLATE``), so each test starts from a migrated, empty ledger without
running the migrations again.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

PACKAGE = "postgresql"  # the Debian package with initdb and pg_ctl
SUPERUSER = "postgres"
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")  # database names we create and accept
_SETTINGS = {
    "listen_addresses": "''",  # the Unix socket only
    "fsync": "off",  # throwaway: speed over durability
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "wal_level": "minimal",  # no replicas: copying a template database writes no WAL
    "max_wal_senders": "0",
}


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL here: the binaries are missing, or the cluster would not start (says why)."""


def find_bindir(search: str = "/usr/lib/postgresql") -> Path | None:
    """Folder holding ``initdb`` and ``pg_ctl``: Debian's newest version, else the ones on PATH."""
    versions = sorted(
        (p for p in Path(search).glob("*/bin") if (p / "initdb").is_file() and (p / "pg_ctl").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


@dataclass
class Cluster:
    """A running throwaway cluster: its folder, its socket folder, and how to stop it."""

    bindir: Path
    root: Path
    run_as: str | None  # the user owning the cluster when we are root
    max_connections: int = 300  # a bench of many processes asks for more (see start_cluster)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) for ``database`` over the cluster's Unix socket."""
        return URL.create(
            "postgresql+psycopg", username=SUPERUSER, database=database, query={"host": str(self.socket_dir)}
        ).render_as_string(hide_password=False)

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return subprocess.run(
            [*prefix, *command], capture_output=True, text=True, check=check, timeout=120, cwd=self.root
        )

    def start_server(self) -> None:
        """``pg_ctl start`` with the throwaway settings, listening on the cluster's socket folder only;
        its output goes to ``server.log`` (never to our pipes, which it would hold open)."""
        settings = {**_SETTINGS, "max_connections": str(self.max_connections)}
        options = " ".join(f"-c {name}={value}" for name, value in settings.items())
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-k {self.socket_dir} {options}",
            "start",
        )

    def stop_server(self) -> None:
        """``pg_ctl stop -m fast``: every client's connection is cut, as when a server goes down;
        the folder stays, so :meth:`start_server` brings the same databases back."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-m", "fast", "stop")

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is worth a checkpoint) and delete its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                    check=False,
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(bindir: Path | None = None, *, max_connections: int = 300) -> Cluster:
    """initdb + pg_ctl start in a new temporary folder; raises :class:`PostgresUnavailable`.

    ``max_connections``: 300 holds a test's several engines; ``bench/chain.py`` passes its
    connection budget (K till processes, each with a pool and a LISTEN connection)."""
    bindir = bindir or find_bindir()
    if bindir is None:
        raise PostgresUnavailable(f"initdb and pg_ctl are not installed (apt-get install {PACKAGE})")
    run_as = None
    if os.geteuid() == 0:  # initdb refuses root
        try:
            owner = pwd.getpwnam(SUPERUSER)
        except KeyError as exc:
            raise PostgresUnavailable(
                f"running as root and there is no {SUPERUSER!r} user to own a cluster"
            ) from exc
        run_as = SUPERUSER
    # Short path: a Unix socket's path must fit in about 100 bytes.
    root = Path(tempfile.mkdtemp(prefix="pos-pg-"))
    (root / "run").mkdir()
    if run_as:
        for path in (root, root / "run"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    cluster = Cluster(bindir, root, run_as, max_connections)
    try:
        cluster._run(
            str(bindir / "initdb"),
            "-D",
            str(cluster.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        cluster.start_server()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        log = (
            (root / "server.log").read_text(errors="replace")[-2000:]
            if (root / "server.log").exists()
            else ""
        )
        output = getattr(exc, "stderr", "") or ""
        cluster.stop()
        raise PostgresUnavailable(f"could not start a PostgreSQL cluster: {exc}\n{output}{log}") from exc
    return cluster


@dataclass
class Server:
    """A PostgreSQL server tests may create databases on: ``admin_url`` names a superuser (or a
    role with CREATEDB) and its maintenance database."""

    admin_url: str
    _created: list[str] = field(default_factory=list)
    _version: int | None = None

    def url(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    def _admin(self, *statements: str) -> object:
        """Run ``statements`` outside a transaction (CREATE DATABASE needs that); the last one's value."""
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        value = None
        try:
            with engine.connect() as conn:
                for statement in statements:
                    result = conn.execute(text(statement))
                    value = result.scalar() if result.returns_rows else None
        finally:
            engine.dispose()
        return value

    def version(self) -> int:
        """The server's ``server_version_num`` (150000 for 15.0)."""
        if self._version is None:
            self._version = int(str(self._admin("SHOW server_version_num")))
        return self._version

    def create_database(self, template: str | None = None, prefix: str = "pos_test") -> str:
        """A new, uniquely named database (a copy of ``template`` if given); returns its name.

        A template must have no other connection open while it is copied (PostgreSQL's rule).
        """
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        for part in (name, template or name):
            if not _NAME.match(part):
                raise ValueError(f"not a database name we create: {part!r}")
        statement = f"CREATE DATABASE {name}"
        if template:
            statement += f" TEMPLATE {template}"
            if self.version() >= 150000:  # copy the files: a small database's WAL copy is slower
                statement += " STRATEGY FILE_COPY"
        self._admin(statement)
        self._created.append(name)
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending any connection a test left open to it."""
        if not _NAME.match(name):
            raise ValueError(f"not a database name we create: {name!r}")
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        with contextlib.suppress(ValueError):
            self._created.remove(name)

    def drop_all(self) -> None:
        """Drop every database this object created (a server the user gave is left as found)."""
        for name in reversed(list(self._created)):
            self.drop_database(name)


@contextlib.contextmanager
def postgres_server(given_url: str | None = None) -> Iterator[Server]:
    """``given_url`` (a server the user runs) or a throwaway cluster, for the ``with`` block."""
    if given_url:
        server = Server(given_url)
        try:
            server._admin("SELECT 1")
        except Exception as exc:
            raise PostgresUnavailable(
                f"cannot reach {make_url(given_url).render_as_string()}: {exc}"
            ) from exc
        try:
            yield server
        finally:
            server.drop_all()
        return
    cluster = start_cluster()
    try:
        yield Server(cluster.url())
    finally:
        cluster.stop()
