"""The statement check alone: which SQL texts count as one read-only query, in each dialect."""

from __future__ import annotations

import pytest

from bridgehead.connectors.sql.readonly import StatementRejected, TableReference, check_read_only

DIALECTS = ["sqlite", "postgresql", "mysql", "mariadb"]

ACCEPTED = [
    "SELECT 1",
    "SELECT 1;",
    "  select id, name from customers where region = 'emea' order by name limit 5  ",
    "SELECT c.name, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name",
    "WITH recent AS (SELECT * FROM orders WHERE id > 10) SELECT count(*) FROM recent",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT sum(i) FROM n",
    "SELECT id FROM orders UNION SELECT id FROM customers",
    "(SELECT 1) UNION ALL (SELECT 2)",
    "SELECT * FROM (SELECT id FROM orders) AS sub",
    "SELECT (SELECT max(total) FROM orders) AS top",
    "SELECT 'DROP TABLE x; DELETE FROM y' AS harmless_text",
    "SELECT 1 -- DROP TABLE x",
    "SELECT 1 /* ; DROP TABLE x */",
    "SELECT id FROM orders WHERE note LIKE '%;%'",
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", ACCEPTED)
def test_single_selects_are_accepted(sql: str, dialect: str) -> None:
    assert check_read_only(sql, dialect).sql == sql


REJECTED = [
    ("", "empty"),
    ("   ", "empty"),
    ("-- only a comment", "empty"),
    ("DROP TABLE customers", "DROP"),
    ("drop table customers", "DROP"),
    ("DELETE FROM orders", "DELETE"),
    ("UPDATE orders SET total = 0", "UPDATE"),
    ("INSERT INTO orders (id) VALUES (1)", "INSERT"),
    ("INSERT INTO archive SELECT * FROM orders", "INSERT"),
    ("CREATE TABLE t (id INT)", "CREATE"),
    ("CREATE VIEW v AS SELECT 1", "CREATE"),
    ("ALTER TABLE orders ADD COLUMN x INT", "ALTER"),
    ("TRUNCATE TABLE orders", "TRUNCATE"),
    ("GRANT SELECT ON orders TO someone", "GRANT"),
    ("SELECT 1; DROP TABLE customers", "2 statements (SELECT, DROP)"),
    ("SELECT 1; SELECT 2", "2 statements (SELECT, SELECT)"),
    ("SELECT * INTO copy FROM orders", "SELECT … INTO"),
    ("SELECT * FROM orders FOR UPDATE", "locks rows"),
    ("SELECT * FROM orders FOR SHARE", "locks rows"),
    ("SELEC 1", "could not be parsed"),
    ("SELECT * FROM", "could not be parsed"),
    ("SELECT 'unterminated", "could not be parsed"),
    ("EXPLAIN ANALYZE SELECT 1", "only a SELECT query"),
    ("BEGIN", "BEGIN"),
    ("COMMIT", "COMMIT"),
    ("SET x = 1", "SET"),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("sql", "reason"), REJECTED)
def test_everything_else_is_rejected_with_a_reason(sql: str, reason: str, dialect: str) -> None:
    with pytest.raises(StatementRejected) as caught:
        check_read_only(sql, dialect)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("dialect", "sql", "reason"),
    [
        ("postgresql", "WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone", "DELETE inside"),
        ("postgresql", "WITH n AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM n", "INSERT inside"),
        ("postgresql", "WITH u AS (UPDATE t SET a = 1 RETURNING a) SELECT a FROM u", "UPDATE inside"),
        ("postgresql", "SELECT pg_sleep(10)", "pg_sleep()"),
        ("postgresql", "SELECT pg_catalog.pg_sleep(10)", "pg_sleep()"),
        ("postgresql", "SELECT nextval('orders_id_seq')", "nextval()"),
        ("postgresql", "SELECT set_config('default_transaction_read_only', 'off', false)", "set_config()"),
        ("postgresql", "SELECT pg_advisory_lock(1)", "takes a lock"),
        ("postgresql", "SELECT pg_read_file('/etc/passwd')", "files"),
        ("postgresql", "SELECT query_to_xml('DELETE FROM t', true, true, '')", "runs SQL of its own"),
        ("postgresql", "SELECT * FROM dblink('host=x', 'SELECT 1') AS t(a int)", "dblink()"),
        ("postgresql", "SELECT * FROM orders FOR NO KEY UPDATE", "locks rows"),
        ("postgresql", "COPY orders TO '/tmp/orders.csv'", "COPY"),
        ("postgresql", "VALUES (1), (2)", "VALUES"),
        ("postgresql", "DO $$ BEGIN DELETE FROM orders; END $$", "DO"),
        ("postgresql", "SELECT 'a\\'; DROP TABLE t; --'", "statements"),
        ("mysql", "SELECT SLEEP(5)", "sleep()"),
        ("mysql", "SELECT BENCHMARK(1000000, MD5('x'))", "benchmark()"),
        ("mysql", "SELECT GET_LOCK('x', 10)", "takes a lock"),
        ("mysql", "SELECT LOAD_FILE('/etc/passwd')", "files"),
        ("mysql", "SELECT * FROM orders LOCK IN SHARE MODE", "locks rows"),
        ("mysql", "SELECT 1 INTO @x", "SELECT … INTO"),
        ("mysql", "SELECT * FROM orders INTO OUTFILE '/tmp/x'", "could not be parsed"),
        ("mysql", "SELECT 1 /*! ; DROP TABLE t */", "executable comment"),
        ("mariadb", "SELECT 1 /*M! , 2 */", "executable comment"),
        ("mysql", "SHOW TABLES", "SHOW"),
        ("mysql", "REPLACE INTO t VALUES (1)", "REPLACE"),
        ("mysql", "SELECT 1 --1; DROP TABLE t", "2 statements"),
        ("mysql", "SELECT 1 # comment\n; DROP TABLE t", "2 statements"),
        ("sqlite", "PRAGMA query_only = 0", "PRAGMA"),
        ("sqlite", "ATTACH DATABASE '/tmp/x.db' AS x", "ATTACH"),
        ("sqlite", "SELECT load_extension('evil')", "load_extension()"),
        ("sqlite", "VACUUM INTO '/tmp/copy.db'", "only a SELECT query"),
    ],
)
def test_dialect_specific_writes_waits_and_escapes_are_rejected(dialect: str, sql: str, reason: str) -> None:
    with pytest.raises(StatementRejected) as caught:
        check_read_only(sql, dialect)
    assert reason in str(caught.value)


def test_mysql_strings_with_backslash_escapes_stay_one_statement() -> None:
    # In MySQL 'a\';…' is one string; the check must tokenise it as MySQL does.
    assert check_read_only("SELECT 'a\\'; DROP TABLE t; -- '", "mysql")


def test_the_tables_a_query_reads_are_reported_without_its_ctes() -> None:
    checked = check_read_only(
        "WITH recent AS (SELECT * FROM sales.orders) "
        "SELECT * FROM recent JOIN customers c ON true WHERE EXISTS (SELECT 1 FROM Notes)",
        "postgresql",
    )
    assert set(checked.tables) == {
        TableReference("sales", "orders"),
        TableReference(None, "customers"),
        TableReference(None, "Notes"),
    }
    assert check_read_only("SELECT * FROM generate_series(1, 3)", "postgresql").tables == ()


def test_an_unknown_dialect_is_never_guessed() -> None:
    with pytest.raises(StatementRejected, match="cannot be checked"):
        check_read_only("SELECT 1", "oracle")
