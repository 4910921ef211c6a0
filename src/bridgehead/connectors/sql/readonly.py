"""The first of three guards on ``run_query``: is this text one read-only query?

The SQL is parsed with sqlglot in the database's own dialect and accepted only
when it is a single ``SELECT`` (optionally ``WITH …``, ``UNION`` and friends) that
contains nothing that writes, locks, waits or reaches outside the database. The
other two guards — a read-only transaction and a read-only session — are in
``backends.py``; this one exists so that the model hears *why* a query was
refused, before anything reaches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

# SQLAlchemy backend name → sqlglot dialect.
SQLGLOT_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}


class StatementRejected(Exception):
    """The SQL is not one read-only query; the message says what was found."""


@dataclass(frozen=True)
class TableReference:
    """A table or view a query reads, as written (``schema`` is None when unqualified)."""

    schema: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class ReadQuery:
    """A query that passed the check, and the tables it names."""

    sql: str
    tables: tuple[TableReference, ...]


def _node_types(*names: str) -> dict[type[exp.Expr], str]:
    found: dict[type[exp.Expr], str] = {}
    for name in names:
        node = getattr(exp, name, None)
        if isinstance(node, type) and issubclass(node, exp.Expr):
            found[node] = name
    return found


# Statement kinds that may appear nested inside a SELECT (a data-modifying CTE) or stand alone.
_FORBIDDEN_NODES = _node_types(
    "Insert",
    "Update",
    "Delete",
    "Merge",
    "Create",
    "Drop",
    "Alter",
    "TruncateTable",
    "Copy",
    "Grant",
    "Revoke",
    "Set",
    "Use",
    "Transaction",
    "Commit",
    "Rollback",
    "LoadData",
    "Pragma",
    "Attach",
    "Detach",
    "Analyze",
    "Comment",
    "Kill",
    "Cache",
    "Uncache",
    "Refresh",
    "Command",
    "Into",
    "NextValueFor",
)

_WAITS = "makes the database wait"
_CHANGES = "changes state in the database or the server"
_FILES = "reads or writes files on the database server"
_REMOTE = "runs SQL of its own or reaches another server"
_LOCKS = "takes a lock"

# Functions that write, wait, lock or escape the database, by lowercase name, for every dialect:
# the names are distinctive enough that refusing a PostgreSQL name in MySQL costs nothing.
FORBIDDEN_FUNCTIONS: dict[str, str] = {
    # PostgreSQL
    "pg_sleep": _WAITS,
    "pg_sleep_for": _WAITS,
    "pg_sleep_until": _WAITS,
    "nextval": _CHANGES,
    "setval": _CHANGES,
    "set_config": _CHANGES,
    "pg_notify": _CHANGES,
    "txid_current": _CHANGES,
    "pg_current_xact_id": _CHANGES,
    "pg_export_snapshot": _CHANGES,
    "pg_terminate_backend": _CHANGES,
    "pg_cancel_backend": _CHANGES,
    "pg_reload_conf": _CHANGES,
    "pg_rotate_logfile": _CHANGES,
    "pg_switch_wal": _CHANGES,
    "pg_create_restore_point": _CHANGES,
    "pg_promote": _CHANGES,
    "pg_stat_reset": _CHANGES,
    "pg_stat_reset_shared": _CHANGES,
    "pg_stat_reset_single_table_counters": _CHANGES,
    "pg_logical_emit_message": _CHANGES,
    "pg_create_physical_replication_slot": _CHANGES,
    "pg_create_logical_replication_slot": _CHANGES,
    "pg_drop_replication_slot": _CHANGES,
    "pg_replication_origin_create": _CHANGES,
    "pg_advisory_lock": _LOCKS,
    "pg_advisory_lock_shared": _LOCKS,
    "pg_advisory_xact_lock": _LOCKS,
    "pg_advisory_xact_lock_shared": _LOCKS,
    "pg_try_advisory_lock": _LOCKS,
    "pg_try_advisory_lock_shared": _LOCKS,
    "pg_try_advisory_xact_lock": _LOCKS,
    "pg_try_advisory_xact_lock_shared": _LOCKS,
    "pg_advisory_unlock": _LOCKS,
    "pg_advisory_unlock_shared": _LOCKS,
    "pg_advisory_unlock_all": _LOCKS,
    "pg_read_file": _FILES,
    "pg_read_binary_file": _FILES,
    "pg_ls_dir": _FILES,
    "pg_stat_file": _FILES,
    "pg_file_write": _FILES,
    "lo_import": _FILES,
    "lo_export": _FILES,
    "lo_create": _CHANGES,
    "lo_creat": _CHANGES,
    "lo_unlink": _CHANGES,
    "lo_put": _CHANGES,
    "lo_from_bytea": _CHANGES,
    "lowrite": _CHANGES,
    "dblink": _REMOTE,
    "dblink_exec": _REMOTE,
    "dblink_connect": _REMOTE,
    "dblink_send_query": _REMOTE,
    "query_to_xml": _REMOTE,
    "query_to_xmlschema": _REMOTE,
    "query_to_xml_and_xmlschema": _REMOTE,
    "cursor_to_xml": _REMOTE,
    # MySQL and MariaDB
    "sleep": _WAITS,
    "benchmark": _WAITS,
    "get_lock": _LOCKS,
    "release_lock": _LOCKS,
    "release_all_locks": _LOCKS,
    "load_file": _FILES,
    "master_pos_wait": _WAITS,
    "source_pos_wait": _WAITS,
    "master_gtid_wait": _WAITS,
    "sys_exec": _REMOTE,
    "sys_eval": _REMOTE,
    # SQLite
    "load_extension": _FILES,
    "readfile": _FILES,
    "writefile": _FILES,
    "fts3_tokenizer": _CHANGES,
}


def check_read_only(sql: str, dialect: str) -> ReadQuery:
    """The query and the tables it reads, or StatementRejected naming what is not allowed.

    ``dialect`` is SQLAlchemy's backend name (``sqlite``, ``postgresql``, ``mysql``, ``mariadb``).
    """
    read = SQLGLOT_DIALECTS.get(dialect)
    if read is None:
        raise StatementRejected(f"queries against {dialect} databases cannot be checked")
    if not sql.strip():
        raise StatementRejected("the query is empty")
    try:
        if read == "mysql":
            _reject_executable_comments(sql)
        statements = [s for s in sqlglot.parse(sql, read=read) if s is not None]
    except (ParseError, TokenError) as exc:
        raise StatementRejected(
            f"it could not be parsed as {_DIALECT_NAMES[read]} SQL: {_parse_problem(exc)}"
        ) from exc
    if not statements:
        raise StatementRejected("the query is empty")
    if len(statements) > 1:
        kinds = ", ".join(_statement_kind(s) for s in statements)
        raise StatementRejected(
            f"it holds {len(statements)} statements ({kinds}); send exactly one SELECT, without semicolons between"
        )
    [statement] = statements
    if not isinstance(statement, exp.Query):
        kind = _statement_kind(statement)
        what = f"it is {kind}" if kind != "unrecognised" else "it is not a query"
        raise StatementRejected(f"{what}; only a SELECT query (optionally WITH …) can run here")
    _reject_forbidden_parts(statement)
    return ReadQuery(sql, _tables_read(statement))


_DIALECT_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MySQL/MariaDB"}


def _parse_problem(exc: Exception) -> str:
    if isinstance(exc, ParseError) and exc.errors:
        first = exc.errors[0]
        where = f" (line {first.get('line')}, column {first.get('col')})" if first.get("line") else ""
        near = (first.get("highlight") or "").strip()
        near_text = f" near {near!r}" if near else ""
        description = _TOKEN_REPR.sub(_token_name, str(first.get("description") or "syntax error"))
        return f"{description}{near_text}{where}"
    return str(exc).splitlines()[0] if str(exc) else "syntax error"


_TOKEN_REPR = re.compile(r"<Token token_type: TokenType\.(\w+)[^>]*>")


def _token_name(match: re.Match[str]) -> str:
    name = match.group(1)
    return "the end of the query" if name == "SENTINEL" else name.replace("_", " ").lower()


def _reject_executable_comments(sql: str) -> None:
    # MySQL runs the inside of /*! … */ and MariaDB of /*M! … */: text no parser here can see.
    for token in sqlglot.tokenize(sql, read="mysql"):
        for comment in token.comments:
            if comment.lstrip().startswith(("!", "M!")):
                raise StatementRejected(
                    "it contains an executable comment (/*! … */), which MySQL and MariaDB would run as SQL"
                )


_KIND_NAMES = {"TruncateTable": "TRUNCATE", "LoadData": "LOAD DATA", "Transaction": "BEGIN"}
_OTHER_STATEMENTS = _node_types("Show", "Describe", "Values", "Lock", "Execute", "Declare")


def _statement_kind(statement: exp.Expr) -> str:
    """The statement's keyword (``DROP``, ``EXPLAIN``…), or ``unrecognised``."""
    if isinstance(statement, exp.Command):
        return str(statement.this).upper() or "unrecognised"
    if isinstance(statement, exp.Query):
        return "SELECT"
    key = _FORBIDDEN_NODES.get(type(statement)) or _OTHER_STATEMENTS.get(type(statement))
    if key is None:
        return "unrecognised"
    return _KIND_NAMES.get(key, key.upper())


def _reject_forbidden_parts(statement: exp.Expr) -> None:
    for node in statement.walk():
        kind = _FORBIDDEN_NODES.get(type(node))
        if kind == "Into":
            raise StatementRejected("it is SELECT … INTO, which writes the result somewhere")
        if kind == "NextValueFor":
            raise StatementRejected("it advances a sequence (NEXT VALUE FOR)")
        if kind is not None:
            raise StatementRejected(
                f"it contains {_statement_kind(node)} inside the query; only reads can run"
            )
        if isinstance(node, exp.Select):
            if node.args.get("into"):
                raise StatementRejected("it is SELECT … INTO, which writes the result somewhere")
            if node.args.get("locks"):
                raise StatementRejected(
                    "it locks rows (FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE); drop the locking clause"
                )
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            reason = FORBIDDEN_FUNCTIONS.get(name)
            if reason is not None:
                raise StatementRejected(f"it calls {name}(), which {reason}")


def _tables_read(statement: exp.Expr) -> tuple[TableReference, ...]:
    cte_names = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    seen: dict[tuple[str | None, str], TableReference] = {}
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function such as generate_series(); its name was checked above
        schema = table.db or None
        if schema is None and table.name.lower() in cte_names:
            continue
        ref = TableReference(schema, table.name)
        seen.setdefault((schema.lower() if schema else None, table.name.lower()), ref)
    return tuple(seen.values())
