"""SQLite writers inside one process queue on a lock instead of SQLite's sleep-and-retry."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from idgate.store.db import make_engine, session_factory, transaction


def test_concurrent_sqlite_transactions_take_turns_without_busy_polling(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    sessions = session_factory(engine)
    inside = threading.Event()
    order: list[str] = []

    def holder() -> None:
        with transaction(sessions) as s:
            s.execute(text("INSERT INTO t VALUES (1)"))
            inside.set()
            time.sleep(0.3)  # a long write transaction
            order.append("first committed")

    def second() -> None:
        inside.wait()
        started = time.monotonic()
        with transaction(sessions) as s:
            order.append(f"second entered after {time.monotonic() - started:.2f}s")
            s.execute(text("INSERT INTO t VALUES (2)"))

    threads = [threading.Thread(target=holder), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order[0] == "first committed"  # the second waited for the whole first transaction...
    waited = float(order[1].split()[-1][:-1])
    assert 0.2 <= waited < 2.0  # ...and went in once it had committed
    with transaction(sessions) as s:
        assert s.execute(text("SELECT count(*) FROM t")).scalar() == 2
        with transaction(sessions) as inner:  # re-entrant on the same thread: no self-deadlock
            assert inner.execute(text("SELECT count(*) FROM t")).scalar() == 2
    engine.dispose()
