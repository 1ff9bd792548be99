"""SQLite storage of what the emulator committed: one row per committed batch, plus channels.

A batch's rows are kept as the NDJSON they arrived in (valid lines only) and expanded when
read, so storing costs one INSERT per request, not one per row.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    database_name TEXT NOT NULL,
    schema_name TEXT NOT NULL,
    pipe_name TEXT NOT NULL,
    channel_name TEXT NOT NULL,
    offset_token TEXT,
    row_count INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_pipe
    ON batches (database_name, schema_name, pipe_name, channel_name);
CREATE TABLE IF NOT EXISTS channels (
    database_name TEXT NOT NULL,
    schema_name TEXT NOT NULL,
    pipe_name TEXT NOT NULL,
    channel_key TEXT NOT NULL,
    channel_name TEXT NOT NULL,
    committed_offset_token TEXT,
    rows_inserted INTEGER NOT NULL,
    rows_parsed INTEGER NOT NULL,
    rows_error_count INTEGER NOT NULL,
    created_on_ms INTEGER NOT NULL,
    nonce TEXT NOT NULL DEFAULT '',
    client_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (database_name, schema_name, pipe_name, channel_key)
);
CREATE TABLE IF NOT EXISTS identities (
    database_name TEXT NOT NULL,
    schema_name TEXT NOT NULL,
    table_name TEXT NOT NULL,
    column_name TEXT NOT NULL,
    last_value INTEGER NOT NULL,
    PRIMARY KEY (database_name, schema_name, table_name, column_name)
);
"""
#: Columns added since the first schema, for databases written by an older emulator.
_ADDED_COLUMNS = (
    ("nonce", "TEXT NOT NULL DEFAULT ''"),
    ("client_seq", "INTEGER NOT NULL DEFAULT 0"),
)


class Store:
    """A SQLite database (a file, or in memory); safe to use from several threads."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or ":memory:"
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(channels)")}
            for name, decl in _ADDED_COLUMNS:
                if name not in have:
                    self._conn.execute(f"ALTER TABLE channels ADD COLUMN {name} {decl}")

    def commit_batch(
        self,
        key: tuple[str, str, str],
        channel: str,
        offset_token: str | None,
        row_count: int,
        data: bytes,
        channel_row: tuple[Any, ...],
    ) -> None:
        """Store a committed batch and the channel's new state in one transaction."""
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.execute(
                "INSERT INTO batches (database_name, schema_name, pipe_name, channel_name, "
                "offset_token, row_count, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*key, channel, offset_token, row_count, data),
            )
            self._save_channel(channel_row)
            self._conn.execute("COMMIT")

    def save_channel(self, channel_row: tuple[Any, ...]) -> None:
        with self._lock:
            self._save_channel(channel_row)

    def _save_channel(self, row: tuple[Any, ...]) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO channels (database_name, schema_name, pipe_name, "
            "channel_key, channel_name, committed_offset_token, rows_inserted, rows_parsed, "
            "rows_error_count, created_on_ms, nonce, client_seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )

    def delete_channel(self, key: tuple[str, str, str], channel_key: str) -> None:
        with self._lock:
            self._conn.execute(
                "DELETE FROM channels WHERE database_name=? AND schema_name=? AND pipe_name=? "
                "AND channel_key=?",
                (*key, channel_key),
            )

    def channels(self) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(
                "SELECT database_name, schema_name, pipe_name, channel_key, channel_name, "
                "committed_offset_token, rows_inserted, rows_parsed, rows_error_count, "
                "created_on_ms, nonce, client_seq FROM channels"
            ).fetchall()

    def batches(self, key: tuple[str, str, str], channel: str | None = None) -> Iterator[bytes]:
        """The NDJSON of every committed batch of a pipe (or one channel), in commit order."""
        sql = "SELECT id FROM batches WHERE database_name=? AND schema_name=? AND pipe_name=?"
        args: tuple[Any, ...] = key
        if channel is not None:
            sql += " AND channel_name=?"
            args = (*key, channel)
        with self._lock:
            ids = self._conn.execute(sql + " ORDER BY id", args).fetchall()
        for (batch_id,) in ids:  # one batch in memory at a time
            with self._lock:
                row = self._conn.execute(
                    "SELECT data FROM batches WHERE id=?", (batch_id,)
                ).fetchone()
            if row is not None:
                yield bytes(row[0])

    def identities(self) -> dict[tuple[tuple[str, str, str], str], int]:
        """The last AUTOINCREMENT value given, per (table, column): a restart goes on from it."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT database_name, schema_name, table_name, column_name, last_value "
                "FROM identities"
            ).fetchall()
        return {((db, sc, t), c): int(v) for db, sc, t, c, v in rows}

    def save_identities(self, values: dict[tuple[tuple[str, str, str], str], int]) -> None:
        with self._lock:
            self._conn.executemany(
                "INSERT OR REPLACE INTO identities VALUES (?, ?, ?, ?, ?)",
                [(*table, column, value) for (table, column), value in values.items()],
            )

    def committed_rows(self) -> int:
        with self._lock:
            (n,) = self._conn.execute("SELECT COALESCE(SUM(row_count), 0) FROM batches").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
