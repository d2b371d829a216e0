"""A real PostgreSQL server for tests: a throwaway cluster started on 127.0.0.1 (Debian's postgresql package).

initdb refuses to run as root, so as root the server runs as the `postgres` system user.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from geoseek.cli.launch import free_port


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: apt-get install -y postgresql (make test does)")
    return found[-1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL on a free 127.0.0.1 port; yield its SQLAlchemy URL (psycopg 3 driver); stop it."""
    root = tempfile.mkdtemp(prefix="geoseek-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(root, "data"), free_port()
    try:
        subprocess.run([*as_user, pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "geoseek", "--no-sync"],
                       check=True, capture_output=True)
        subprocess.run([*as_user, pg_bin("pg_ctl"), "-D", data, "-l", os.path.join(root, "log"), "-w", "-o",
                        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True)
        yield f"postgresql+psycopg://geoseek@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
