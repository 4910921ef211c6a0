"""Real databases for the SQL connector's tests: one small shop, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Uuid,
    make_url,
    text,
)
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import postgres_database, run_coroutine

MARIADB_ADMIN_URL = os.environ.get("BRIDGEHEAD_TEST_MARIADB", "mysql+aiomysql://root@127.0.0.1:3306/test")

KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "mariadb"]

ORDER_COUNT = 120
# Slow on every backend (about 2·10^8 row combinations) yet harmless: a read that only counts.
SLOW_QUERY = (
    "SELECT count(*) FROM orders a, orders b, orders c, orders d WHERE a.total + b.total + c.total > d.total"
)

metadata = MetaData()
customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False, comment="Full name"),
    Column("region", String(20), nullable=False, server_default="emea"),
    Column("signed_up", Date),
    comment="People and companies that buy from us",
)
orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("total", Numeric(10, 2), nullable=False),
    Column("placed_at", DateTime),
    Column("note", Text),
    Column("payload", LargeBinary),
    Column("ref", Uuid),
    Index("orders_customer_idx", "customer_id"),
)
secrets = Table(
    "secrets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", Text),
)
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("message", String(200), nullable=False),
)

CUSTOMERS = [
    {"id": 1, "name": "Ada", "region": "emea", "signed_up": dt.date(2024, 1, 15)},
    {"id": 2, "name": "Grace", "region": "amer", "signed_up": dt.date(2023, 6, 1)},
    {"id": 3, "name": "Linus", "region": "emea", "signed_up": None},
]
FIRST_REF = uuid.UUID("12345678-1234-5678-1234-567812345678")


def order_rows() -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "customer_id": 1 + i % 3,
            "total": Decimal(i) * Decimal("2.5"),
            "placed_at": dt.datetime(2025, 1, 1) + dt.timedelta(hours=i),
            "note": None if i % 10 == 0 else f"order {i}",
            "payload": bytes([i % 256, 0, 255]),
            "ref": FIRST_REF if i == 1 else uuid.UUID(int=i),
        }
        for i in range(1, ORDER_COUNT + 1)
    ]


async def seed(url: str) -> None:
    """Create the shop's tables, a view and rows; gather statistics for ``orders`` only."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(customers.insert(), CUSTOMERS)
            await conn.execute(orders.insert(), order_rows())
            await conn.execute(secrets.insert(), [{"id": 1, "value": "the vault code"}])
            await conn.execute(
                text("CREATE VIEW big_orders AS SELECT id, customer_id, total FROM orders WHERE total > 100")
            )
        async with engine.connect() as conn:
            # customers stays without statistics, so its estimate comes from a count.
            statement = "ANALYZE TABLE orders" if engine.dialect.name == "mysql" else "ANALYZE orders"
            await conn.exec_driver_sql(statement)
            await conn.commit()
    finally:
        await engine.dispose()


async def _mariadb_admin(statement: str) -> None:
    engine = create_async_engine(MARIADB_ADMIN_URL)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@contextmanager
def mariadb_database() -> Iterator[str]:
    """A fresh, empty MariaDB database on the local server; dropped afterwards."""
    name = f"bh_test_{uuid.uuid4().hex[:12]}"
    run_coroutine(_mariadb_admin(f"CREATE DATABASE `{name}`"))
    try:
        yield make_url(MARIADB_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        run_coroutine(_mariadb_admin(f"DROP DATABASE IF EXISTS `{name}`"))


@contextmanager
def empty_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a fresh, empty database of this kind."""
    if kind == "sqlite":
        path = folder / "shop.db"
        path.touch()
        yield f"sqlite+aiosqlite:///{path}"
    elif kind == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        with mariadb_database() as url:
            yield url


@contextmanager
def shop_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a fresh database of this kind holding the seeded shop."""
    with empty_database(kind, folder) as url:
        run_coroutine(seed(url))
        yield url


async def scalar(url: str, sql: str) -> Any:
    """One value read with a plain connection, outside the connector under test."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text(sql))
    finally:
        await engine.dispose()
