"""End-to-end tests of the built-in SQLite source and S3-layout sink connectors: the real `runnel serve` driven over
the Kafka Connect REST API with `requests`, a SQLite database written by another process (python's sqlite3), and the
bucket read back from the file system. Usage: pipeline.py RUNNEL_BINARY [TEST_NAME...]; prints one line per test and
exits non-zero when any fails. (`pipeline.py --writer SPEC` is the writer process the tests start.)"""

import base64
import calendar
import gzip
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

import requests

from connect import create, state, wait_for, wait_state
from rest_proxy import V2_BINARY, Server, b64, create_topic, expect_error, produce_json, run_suite

# Short intervals keep each test to seconds.
FAST_SOURCE = {"poll.interval.ms": "200", "value.converter.schemas.enable": "false"}
FAST_SINK = {"offset.flush.interval.ms": "500", "value.converter.schemas.enable": "false",
             "key.converter.schemas.enable": "false"}


# MARK: - The SQLite side

ORDERS = """CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer TEXT NOT NULL,
    amount REAL NOT NULL,
    note TEXT,
    payload BLOB,
    version INTEGER NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL
)"""


def now_ms():
    return int(time.time() * 1000)


def iso(ms):
    """Epoch milliseconds as SQLite-style UTC text: 2024-06-01 13:00:00.123."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000)) + ".%03d" % (ms % 1000)


def iso_to_ms(text):
    seconds, _, fraction = text.partition(".")
    return calendar.timegm(time.strptime(seconds, "%Y-%m-%d %H:%M:%S")) * 1000 + int((fraction + "000")[:3])


def row_fields(row_id, version):
    """The columns of row `row_id` at `version`, other than id, version and updated_at (a pure function, so any
    version of a row read from a topic can be checked). Every 7th row is a 'skip' customer (the query mode filters
    them), every 5th has a NULL note, every 6th an empty BLOB, every 11th a NULL BLOB."""
    return {
        "customer": "skip" if row_id % 7 == 0 else f"cust-{row_id % 13} ü",
        "amount": round(row_id * 1.25 + version, 2),
        "note": None if row_id % 5 == 0 else f"note {row_id} v{version}",
        "payload": None if row_id % 11 == 0 else bytes((row_id * 31 + version + i) % 256 for i in range(row_id % 6)),
    }


def expected_json(row_id, version, updated_ms):
    """A row as the source's value (schemaless JSON): BLOB as base64, NULL as null, TIMESTAMP as epoch ms."""
    fields = row_fields(row_id, version)
    payload = fields["payload"]
    return {"id": row_id, "customer": fields["customer"], "amount": fields["amount"], "note": fields["note"],
            "payload": None if payload is None else base64.b64encode(payload).decode(), "version": version,
            "updated_at": updated_ms}


def make_db(path, tables=("orders",)):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for table in tables:
        db.execute(ORDERS.replace("orders", table, 1))
    db.close()
    return path


def insert_rows(path, ids, table="orders", ts=None):
    """Inserts rows `ids` (version 0) in one transaction; returns their timestamp."""
    ts = ts or now_ms()
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("BEGIN IMMEDIATE")
    for row_id in ids:
        f = row_fields(row_id, 0)
        db.execute(f"INSERT INTO {table} (id, customer, amount, note, payload, version, updated_at) VALUES (?,?,?,?,?,?,?)",
                   (row_id, f["customer"], f["amount"], f["note"], f["payload"], 0, iso(ts)))
    db.execute("COMMIT")
    db.close()
    return ts


def run_sql(path, sql, parameters=()):
    """One statement in its own connection (autocommit), as another process would run it."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        db.execute(sql, parameters)
    finally:
        db.close()


def final_rows(path, table="orders"):
    """The table as it is now, as the source would show each row: id -> expected value."""
    db = sqlite3.connect(path, timeout=30)
    rows = db.execute(f"SELECT id, version, updated_at FROM {table} ORDER BY id").fetchall()
    db.close()
    return {row_id: expected_json(row_id, version, iso_to_ms(updated)) for row_id, version, updated in rows}


def writer_main(spec):
    """The writer process: inserts `rows` rows from `start_id` in small transactions over about `seconds` seconds,
    one transaction of `group` rows sharing one timestamp half-way (never updated), and `updates` updates of earlier
    rows (version + 1, new timestamp). Timestamps grow strictly from one transaction to the next (one writer: timestamp mode is exact)."""
    rng = random.Random(spec.get("seed", 1))
    db = sqlite3.connect(spec["db"], isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    table = spec.get("table", "orders")
    next_id = spec.get("start_id", 1)
    end_id = next_id + spec["rows"]
    group_at = next_id + spec["rows"] // 2
    group = spec.get("group", 0)
    updates = spec.get("updates", 0)
    transactions = max(1, spec["rows"] // 3)
    pause = spec.get("seconds", 3) / transactions
    versions = {}
    group_ids = set()  # never updated: they keep their shared timestamp
    last_ts = 0
    while next_id < end_id:
        ts = max(now_ms(), last_ts + 1)
        last_ts = ts
        db.execute("BEGIN IMMEDIATE")
        count = min(group if group and next_id >= group_at else rng.randint(1, 5), end_id - next_id)
        grouped = count == group
        if grouped:
            group = 0
        for _ in range(count):
            f = row_fields(next_id, 0)
            db.execute(f"INSERT INTO {table} (id, customer, amount, note, payload, version, updated_at) VALUES (?,?,?,?,?,?,?)",
                       (next_id, f["customer"], f["amount"], f["note"], f["payload"], 0, iso(ts)))
            versions[next_id] = 0
            if grouped:
                group_ids.add(next_id)
            next_id += 1
        if updates and not grouped and rng.random() < 0.4:
            updates -= 1
            row_id = rng.choice([i for i in versions if i not in group_ids])
            versions[row_id] += 1
            f = row_fields(row_id, versions[row_id])
            db.execute(f"UPDATE {table} SET amount=?, note=?, payload=?, version=?, updated_at=? WHERE id=?",
                       (f["amount"], f["note"], f["payload"], versions[row_id], iso(ts), row_id))
        db.execute("COMMIT")
        time.sleep(pause)
    db.close()
    print(json.dumps({"rows": spec["rows"], "last_ts": last_ts}), flush=True)


def start_writer(db, **spec):
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--writer", json.dumps({"db": db, **spec})],
                            stdout=subprocess.PIPE, text=True)


def finish_writer(process, seconds=60):
    out, _ = process.communicate(timeout=seconds)
    assert process.returncode == 0, f"writer failed: {process.returncode} {out}"
    return json.loads(out)


# MARK: - The Kafka side

def partitions_of(server, topic):
    response = requests.get(f"{server.v3}/topics/{topic}/partitions")
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    return sorted(p["partition_id"] for p in response.json()["data"])


def partition_records(server, topic, partition):
    """Every record of a partition, read with the v3 stateless API: dicts of offset, timestamp (ISO text), key and
    value (bytes or None) and headers."""
    records = []
    offset = 0
    while True:
        response = requests.get(f"{server.v3}/topics/{topic}/partitions/{partition}/records", params={"offset": offset})
        if response.status_code == 416:
            break
        assert response.status_code == 200, response.text
        page = response.json()
        for r in page["data"]:
            records.append({
                "partition": partition, "offset": r["offset"], "timestamp": r["timestamp"],
                "key": None if r["key"] is None else base64.b64decode(r["key"]["data"]),
                "value": None if r["value"] is None else base64.b64decode(r["value"]["data"]),
                "headers": r.get("headers") or [],
            })
        if not page["data"] or page["next_offset"] >= page["high_watermark"]:
            break
        offset = page["next_offset"]
    return records


def topic_records(server, topic):
    return [r for p in partitions_of(server, topic) for r in partition_records(server, topic, p)]


def topic_values(server, topic):
    """The JSON values of a topic, partition by partition in offset order."""
    return [json.loads(r["value"]) for r in topic_records(server, topic)]


def produce_v3(server, topic, records):
    """Produces v3 records (dicts with value, and optionally key, partition_id, timestamp, headers) in one stream;
    returns the reports, each checked."""
    body = "\n".join(json.dumps(r) for r in records)
    response = requests.post(f"{server.v3}/topics/{topic}/records", headers={"Content-Type": "application/json"}, data=body)
    assert response.status_code == 200, response.text
    reports = [json.loads(line) for line in response.text.split("\n") if line.strip()]
    assert len(reports) == len(records) and all(r["error_code"] == 200 for r in reports), reports
    return reports


def offsets(server, name):
    response = requests.get(f"{server.connect}/connectors/{name}/offsets")
    assert response.status_code == 200, response.text
    return response.json()["offsets"]


def trace(server, name, task=0):
    return requests.get(f"{server.connect}/connectors/{name}/status").json()["tasks"][task].get("trace") or ""


def wait_values(server, topic, check, seconds=30, what=None):
    """Waits until check(values of topic) is true; returns the values."""
    result = {}

    def ready():
        result["values"] = topic_values(server, topic)
        return check(result["values"])

    wait_for(ready, seconds, what or f"records of {topic}")
    return result["values"]


def ids_of(values):
    return [v["id"] for v in values]


def duplicates(items):
    seen, dups = set(), set()
    for item in items:
        (dups if item in seen else seen).add(item)
    return dups


def source_config(db, mode, **extra):
    config = {"connector.class": "SqliteSource", "connection.url": "jdbc:sqlite:" + db, "mode": mode,
              "table.whitelist": "orders", "topic.prefix": "src-", **FAST_SOURCE}
    if "timestamp" in mode:
        config["timestamp.column.name"] = "updated_at"
    config.update(extra)
    return config


def check_row(value, final):
    """A row read from a topic: all of its fields as row_fields says for its version, and exactly the final row when it
    is the final version."""
    row_id, version = value["id"], value["version"]
    assert set(value) == {"id", "customer", "amount", "note", "payload", "version", "updated_at"}, value
    expected = expected_json(row_id, version, value["updated_at"])
    assert value == expected, (value, expected)
    assert isinstance(value["updated_at"], int) and abs(value["updated_at"] - now_ms()) < 600_000, value
    assert version <= final[row_id]["version"], (value, final[row_id])
    if version == final[row_id]["version"]:
        assert value == final[row_id], (value, final[row_id])


def check_timestamp_mode(values, final):
    """Timestamp modes: every row's final version arrives, no version arrives twice, versions of a row in order."""
    for value in values:
        check_row(value, final)
    pairs = [(v["id"], v["version"]) for v in values]
    assert not duplicates(pairs), f"rows delivered twice: {sorted(duplicates(pairs))[:20]}"
    missing = [i for i, row in final.items() if (i, row["version"]) not in set(pairs)]
    assert not missing, f"final versions never delivered: {missing[:20]}"
    last = {}
    for row_id, version in pairs:
        assert version > last.get(row_id, -1), f"row {row_id}: version {version} after {last[row_id]}"
        last[row_id] = version


# MARK: - Source tests

def run_source_mode(mode, topic_check, rows=240, group=60, updates=30, batch=7, **extra):
    """A source in `mode` reading `orders` while the writer process writes it; returns what topic_check returns."""
    server = Server()
    work = tempfile.mkdtemp(prefix="pipeline-src-")
    try:
        db = make_db(os.path.join(work, "shop.db"))
        insert_rows(db, range(1, 11), ts=now_ms() - 60_000)  # rows from before the connector
        writer = start_writer(db, start_id=11, rows=rows, seconds=3, group=group, updates=updates, seed=7)
        time.sleep(0.3)
        config = source_config(db, mode, **{"batch.max.rows": str(batch), **extra})
        create(server, "src", config)
        wait_state(server, "src", "RUNNING", ["RUNNING"])
        finish_writer(writer)
        final = final_rows(db)
        assert len(final) == rows + 10, len(final)
        return topic_check(server, final, db)
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


def test_source_incrementing():
    """incrementing: every row exactly once (as inserted, or updated before it was read), with its fields."""
    def check(server, final, db):
        values = wait_values(server, "src-orders", lambda v: set(ids_of(v)) >= set(final), what="every id")
        time.sleep(1.0)
        values = topic_values(server, "src-orders")
        assert not duplicates(ids_of(values)), f"ids twice: {sorted(duplicates(ids_of(values)))[:20]}"
        assert ids_of(values) == sorted(final), "ids out of order or missing"
        for value in values:
            check_row(value, final)
        assert all(r["key"] is None for r in topic_records(server, "src-orders"))
        got = offsets(server, "src")
        assert got == [{"partition": {"protocol": "1", "table": "orders"}, "offset": {"incrementing": max(final)}}], got
    run_source_mode("incrementing", check)


def test_source_timestamp():
    """timestamp: the final version of every row once; a group of 60 rows sharing one timestamp is read whole although
    batch.max.rows is 7."""
    def check(server, final, db):
        done = lambda v: {(x["id"], x["version"]) for x in v} >= {(i, r["version"]) for i, r in final.items()}
        wait_values(server, "src-orders", done, what="every final version")
        time.sleep(1.0)
        values = topic_values(server, "src-orders")
        check_timestamp_mode(values, final)
        stamps = [v["updated_at"] for v in values]
        assert max(stamps.count(s) for s in set(stamps)) == 60, "the writer's group of 60 rows is not there"
        latest = max(r["updated_at"] for r in final.values())
        got = offsets(server, "src")
        assert got == [{"partition": {"protocol": "1", "table": "orders"},
                        "offset": {"timestamp": latest, "timestamp_nanos": latest % 1000 * 1_000_000}}], got
    run_source_mode("timestamp", check)


def test_source_timestamp_incrementing():
    """timestamp+incrementing: the same, paging through the group of 60 by (timestamp, id) 7 rows at a time."""
    def check(server, final, db):
        done = lambda v: {(x["id"], x["version"]) for x in v} >= {(i, r["version"]) for i, r in final.items()}
        wait_values(server, "src-orders", done, what="every final version")
        time.sleep(1.0)
        values = topic_values(server, "src-orders")
        check_timestamp_mode(values, final)
        stamps = [v["updated_at"] for v in values]
        assert max(stamps.count(s) for s in set(stamps)) == 60, "the writer's group of 60 rows is not there"
        last = max(final.values(), key=lambda r: (r["updated_at"], r["id"]))
        got = offsets(server, "src")
        assert got == [{"partition": {"protocol": "1", "table": "orders"},
                        "offset": {"timestamp": last["updated_at"], "timestamp_nanos": last["updated_at"] % 1000 * 1_000_000,
                                   "incrementing": last["id"]}}], got
    run_source_mode("timestamp+incrementing", check)


def test_source_bulk():
    """bulk: once the writer is done, whole passes of the table, each exactly the table."""
    def check(server, final, db):
        expected = [final[i] for i in sorted(final)]

        def full_pass(values):
            ids = ids_of(values)
            for start in [i for i, row_id in enumerate(ids) if row_id == 1]:
                if values[start:start + len(expected)] == expected:
                    return True
            return False

        values = wait_values(server, "src-orders", full_pass, what="a full pass of the final table")
        for value in values:
            check_row(value, final)
        # Passes repeat: the table again, whole.
        count = len(values)
        wait_values(server, "src-orders", lambda v: len(v) >= count + len(expected), what="another pass")
        assert offsets(server, "src") in ([], [{"partition": {"protocol": "1", "table": "orders"}, "offset": {}}]), offsets(server, "src")
    run_source_mode("bulk", check, rows=120, group=30, updates=10, batch=50, **{"poll.interval.ms": "1000"})


def test_source_query():
    """query mode: a custom query with its own WHERE (and a join), wrapped by the mode's conditions: incrementing and
    timestamp+incrementing read each matching row once, and never the rows the query filters out."""
    server = Server()
    work = tempfile.mkdtemp(prefix="pipeline-query-")
    try:
        db = make_db(os.path.join(work, "shop.db"))
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("CREATE TABLE customers (name TEXT PRIMARY KEY, tier TEXT NOT NULL)")
        conn.executemany("INSERT INTO customers VALUES (?, ?)", [(f"cust-{i} ü", "gold" if i % 2 else "basic") for i in range(13)])
        conn.close()
        writer = start_writer(db, start_id=1, rows=240, seconds=3, group=60, updates=30, seed=3)
        query = ("SELECT o.id, o.customer, o.amount, o.note, o.payload, o.version, o.updated_at, c.tier FROM orders o "
                 "LEFT JOIN customers c ON c.name = o.customer WHERE o.customer <> 'skip' AND o.id % 10 <> 3")
        base = {"connector.class": "io.runnel.connect.sqlite.SqliteSourceConnector", "connection.url": db, "query": query,
                "batch.max.rows": "7", **FAST_SOURCE}
        create(server, "q-inc", {**base, "mode": "incrementing", "incrementing.column.name": "id", "topic.prefix": "q-inc"})
        create(server, "q-ts", {**base, "mode": "timestamp+incrementing", "incrementing.column.name": "id",
                                "timestamp.column.name": "updated_at", "topic.prefix": "q-ts"})
        wait_state(server, "q-inc", "RUNNING", ["RUNNING"])
        wait_state(server, "q-ts", "RUNNING", ["RUNNING"])
        finish_writer(writer)
        final = final_rows(db)
        wanted = {i: row for i, row in final.items() if row["customer"] != "skip" and i % 10 != 3}
        tiers = {f"cust-{i} ü": "gold" if i % 2 else "basic" for i in range(13)}

        def strip(values):
            for v in values:
                assert v.pop("tier") == tiers[v["customer"]], v
            return values

        values = wait_values(server, "q-inc", lambda v: set(ids_of(v)) >= set(wanted), what="every matching id")
        time.sleep(1.0)
        values = strip(topic_values(server, "q-inc"))
        assert ids_of(values) == sorted(wanted), f"unexpected ids: {sorted(set(ids_of(values)) ^ set(wanted))[:20]}, dups {sorted(duplicates(ids_of(values)))[:20]}"
        for value in values:
            check_row(value, final)
        done = lambda v: {(x["id"], x["version"]) for x in v} >= {(i, r["version"]) for i, r in wanted.items()}
        wait_values(server, "q-ts", done, what="every final version of the matching rows")
        time.sleep(1.0)
        values = strip(topic_values(server, "q-ts"))
        assert all(v["id"] in wanted for v in values), "a row the query's WHERE excludes was read"
        check_timestamp_mode(values, wanted)
        assert offsets(server, "q-inc") == [{"partition": {"query": "query"}, "offset": {"incrementing": max(wanted)}}], offsets(server, "q-inc")
        assert offsets(server, "q-ts")[0]["partition"] == {"query": "query"}, offsets(server, "q-ts")
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


def stored_offsets(data_dir, connector):
    """The source offsets in the worker's store, read from its file (the server is not running)."""
    db = sqlite3.connect(os.path.join(data_dir, "connect.db"), timeout=30)
    rows = db.execute("SELECT partition, offset FROM source_offset WHERE connector = ?", (connector,)).fetchall()
    db.close()
    return {json.dumps(json.loads(p), sort_keys=True): json.loads(o) for p, o in rows}


def test_source_restart():
    """A clean stop and a kill -9: the sources resume from their offsets. After the clean stop no row is read twice; after
    the kill only rows past the stored offset may be (the batch in flight); rows written meanwhile arrive."""
    server = Server()
    work = tempfile.mkdtemp(prefix="pipeline-restart-")
    try:
        db = make_db(os.path.join(work, "shop.db"))
        insert_rows(db, range(1, 51), ts=now_ms() - 10_000)
        create(server, "r-inc", source_config(db, "incrementing", **{"topic.prefix": "ri-", "batch.max.rows": "10"}))
        create(server, "r-ts", source_config(db, "timestamp+incrementing", **{"topic.prefix": "rt-", "batch.max.rows": "10"}))
        for topic in ("ri-orders", "rt-orders"):
            wait_values(server, topic, lambda v: len(v) >= 50, what=f"50 rows in {topic}")
        partition = {"protocol": "1", "table": "orders"}
        assert offsets(server, "r-inc") == [{"partition": partition, "offset": {"incrementing": 50}}], offsets(server, "r-inc")
        ts50 = final_rows(db)[50]["updated_at"]
        expected_ts = [{"partition": partition, "offset": {"timestamp": ts50, "timestamp_nanos": ts50 % 1000 * 1_000_000, "incrementing": 50}}]
        assert offsets(server, "r-ts") == expected_ts, offsets(server, "r-ts")

        # A clean stop; rows written while the server is down; a start on the same data dir.
        assert server.stop() == 0, server.log_text()[-2000:]
        insert_rows(db, range(51, 81), ts=now_ms() - 5_000)
        insert_rows(db, range(81, 101))
        server.start()
        wait_state(server, "r-inc", "RUNNING", ["RUNNING"])
        for topic in ("ri-orders", "rt-orders"):
            wait_values(server, topic, lambda v: set(ids_of(v)) >= set(range(1, 101)), what=f"rows 1-100 in {topic}")
        time.sleep(1.0)
        final = final_rows(db)
        for topic in ("ri-orders", "rt-orders"):
            values = topic_values(server, topic)
            assert ids_of(values) == list(range(1, 101)), (topic, duplicates(ids_of(values)), len(values))
            for value in values:
                check_row(value, final)
        assert offsets(server, "r-inc") == [{"partition": partition, "offset": {"incrementing": 100}}], offsets(server, "r-inc")

        # kill -9 while a writer inserts; the writer goes on while the server is down.
        writer = start_writer(db, start_id=101, rows=300, seconds=3, seed=11)
        time.sleep(1.2)
        server.stop(signal.SIGKILL)
        stored = stored_offsets(server.data_dir, "r-inc")
        stored_ts = stored_offsets(server.data_dir, "r-ts")
        key = json.dumps(partition, sort_keys=True)
        committed = stored[key]["incrementing"]
        committed_ts = (stored_ts[key]["timestamp"], stored_ts[key]["incrementing"])
        assert 100 <= committed < 400, ("the kill came too late or too early to prove anything", committed)
        time.sleep(0.5)
        server.start()
        finish_writer(writer)
        final = final_rows(db)
        assert len(final) == 400
        for name, topic in (("r-inc", "ri-orders"), ("r-ts", "rt-orders")):
            wait_values(server, topic, lambda v: set(ids_of(v)) >= set(final), what=f"rows 1-400 in {topic}")
        time.sleep(1.0)
        for topic, done in (("ri-orders", lambda r: r["id"] <= committed),
                            ("rt-orders", lambda r: (r["updated_at"], r["id"]) <= committed_ts)):
            values = topic_values(server, topic)
            for value in values:
                check_row(value, final)
            ids = ids_of(values)
            again = duplicates(ids)
            assert set(ids) == set(final), (topic, sorted(set(final) - set(ids))[:20])
            assert not [i for i in again if done(final[i])], (topic, "rows before the stored offset read twice", sorted(again), committed, committed_ts)
            assert len(again) <= 10, (topic, "more rows read twice than one batch", sorted(again))
            assert all(ids.count(i) == 2 for i in again), (topic, "a row read three times")
        assert offsets(server, "r-inc") == [{"partition": partition, "offset": {"incrementing": 400}}], offsets(server, "r-inc")
        last = max(final.values(), key=lambda r: (r["updated_at"], r["id"]))
        assert offsets(server, "r-ts") == [{"partition": partition, "offset": {
            "timestamp": last["updated_at"], "timestamp_nanos": last["updated_at"] % 1000 * 1_000_000, "incrementing": 400}}], offsets(server, "r-ts")
        before = ids_of(topic_values(server, "ri-orders"))

        # Deleted and created again under the same name: it resumes from its offsets.
        assert requests.delete(server.connect + "/connectors/r-inc").status_code == 204
        create(server, "r-inc", source_config(db, "incrementing", **{"topic.prefix": "ri-", "batch.max.rows": "10"}))
        insert_rows(db, range(401, 406))
        values = wait_values(server, "ri-orders", lambda v: 405 in ids_of(v), what="rows 401-405")
        time.sleep(0.7)
        assert ids_of(topic_values(server, "ri-orders")) == before + [401, 402, 403, 404, 405]
        # Offsets moved back while stopped are where it resumes: the protocol 1 partition, and the legacy (protocol 0)
        # partition of Confluent's older JDBC source when no protocol 1 offset is stored.
        for moved, legacy in ((398, False), (403, True)):
            assert requests.put(server.connect + "/connectors/r-inc/stop").status_code == 204
            wait_state(server, "r-inc", "STOPPED", [])
            if legacy:
                assert requests.delete(server.connect + "/connectors/r-inc/offsets").status_code == 200
            where = {"table": "orders"} if legacy else partition
            patched = requests.patch(server.connect + "/connectors/r-inc/offsets",
                                     json={"offsets": [{"partition": where, "offset": {"incrementing": moved}}]})
            assert patched.status_code == 200, patched.text
            count = len(topic_values(server, "ri-orders"))
            assert requests.put(server.connect + "/connectors/r-inc/resume").status_code == 202
            values = wait_values(server, "ri-orders", lambda v: len(v) >= count + 405 - moved, what=f"rows after {moved} again")
            time.sleep(0.7)
            values = topic_values(server, "ri-orders")
            assert ids_of(values)[count:] == list(range(moved + 1, 406)), ids_of(values)[count:]
            expected = [{"partition": partition, "offset": {"incrementing": 405}}] + (
                [{"partition": {"table": "orders"}, "offset": {"incrementing": 403}}] if legacy else [])
            assert sorted(offsets(server, "r-inc"), key=json.dumps) == sorted(expected, key=json.dumps), offsets(server, "r-inc")
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


def task_tables(server, name):
    """The tables of each task of a source connector, from GET /connectors/{name}/tasks."""
    tasks = requests.get(f"{server.connect}/connectors/{name}/tasks").json()
    return [json.loads(t["config"]["tables"])["tables"] for t in tasks]


def test_source_new_tables_and_tasks():
    """tasks.max=2 splits the tables over two tasks; a table created later is picked up (table.poll.interval.ms); a table
    dropped at runtime is skipped while the tasks keep running."""
    server = Server()
    work = tempfile.mkdtemp(prefix="pipeline-tables-")
    try:
        db = make_db(os.path.join(work, "shop.db"), tables=("alpha", "beta", "gamma"))
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute(ORDERS.replace("orders", '"sales.eu-1"', 1))
        conn.close()
        for table in ("alpha", "beta", "gamma", '"sales.eu-1"'):
            insert_rows(db, range(1, 6), table=table)
        create(server, "multi", {"connector.class": "SqliteSourceConnector", "connection.url": "jdbc:sqlite:" + db,
                                 "mode": "incrementing", "topic.prefix": "m-", "tasks.max": "2",
                                 "table.poll.interval.ms": "500", **FAST_SOURCE})
        wait_state(server, "multi", "RUNNING", ["RUNNING", "RUNNING"])
        split = task_tables(server, "multi")
        assert len(split) == 2 and all(split), split
        assert sorted(split[0] + split[1]) == ["alpha", "beta", "gamma", "sales.eu-1"], split
        for table in ("alpha", "beta", "gamma", "sales.eu-1"):
            values = wait_values(server, "m-" + table, lambda v: len(v) >= 5, what=f"rows of {table}")
            assert ids_of(values) == [1, 2, 3, 4, 5], (table, values)
        # A new table, made by another process, is read without touching the connector.
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute(ORDERS.replace("orders", "delta", 1))
        conn.close()
        insert_rows(db, range(1, 4), table="delta")
        values = wait_values(server, "m-delta", lambda v: len(v) >= 3, what="rows of the new table")
        assert ids_of(values) == [1, 2, 3], values
        wait_for(lambda: sorted(sum(task_tables(server, "multi"), [])) == ["alpha", "beta", "delta", "gamma", "sales.eu-1"],
                 what="delta in the task configs")
        wait_state(server, "multi", "RUNNING", ["RUNNING", "RUNNING"])
        # A dropped table: the tasks go on reading the others.
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("DROP TABLE alpha")
        conn.close()
        insert_rows(db, range(6, 9), table="beta")
        insert_rows(db, range(4, 6), table="delta")
        wait_values(server, "m-beta", lambda v: len(v) >= 8, what="new rows of beta after the drop")
        wait_values(server, "m-delta", lambda v: len(v) >= 5, what="new rows of delta after the drop")
        wait_for(lambda: sorted(sum(task_tables(server, "multi"), [])) == ["beta", "delta", "gamma", "sales.eu-1"],
                 what="alpha gone from the task configs")
        time.sleep(1.0)
        assert state(server, "multi") == ("RUNNING", ["RUNNING", "RUNNING"]), state(server, "multi")
        assert ids_of(topic_values(server, "m-beta")) == list(range(1, 9))
        assert ids_of(topic_values(server, "m-delta")) == [1, 2, 3, 4, 5]
        assert ids_of(topic_values(server, "m-alpha")) == [1, 2, 3, 4, 5]
        got = {o["partition"]["table"]: o["offset"] for o in offsets(server, "multi")}
        assert got["beta"] == {"incrementing": 8} and got["delta"] == {"incrementing": 5} and got["sales.eu-1"] == {"incrementing": 5}, got
        topics = requests.get(server.connect + "/connectors/multi/topics").json()["multi"]["topics"]
        assert {"m-beta", "m-delta", "m-gamma", "m-sales.eu-1"} <= set(topics), topics
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


def validate_errors(server, plugin, config):
    response = requests.put(f"{server.connect}/connector-plugins/{plugin}/config/validate", json={"name": "v", **config})
    assert response.status_code == 200, response.text
    body = response.json()
    errors = {c["value"]["name"]: c["value"]["errors"] for c in body["configs"] if c["value"]["errors"]}
    assert body["error_count"] == sum(len(e) for e in errors.values()), body
    return errors


def test_source_bad_input(server):
    """Configs the source cannot run are refused at create time (400, naming the problem) and by validate, key by key;
    a Confluent JDBC source config is taken as it is."""
    work = tempfile.mkdtemp(prefix="pipeline-bad-src-")
    db = make_db(os.path.join(work, "shop.db"))
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE loose (seq INTEGER, code TEXT NOT NULL, name TEXT, at TIMESTAMP)")
    conn.execute("CREATE TABLE nokey (a TEXT, b TEXT)")
    conn.close()
    url = server.connect + "/connectors"
    base = {"connector.class": "SqliteSourceConnector", "connection.url": "jdbc:sqlite:" + db, "mode": "incrementing"}
    cases = [
        ({**base, "connection.url": "jdbc:sqlite:" + os.path.join(work, "missing.db")}, "connection.url", "missing.db"),
        ({**base, "connection.url": os.path.join(work, "nowhere", "x.db")}, "connection.url", "does not exist"),
        ({**base, "table.whitelist": "orders,nosuch"}, "table.whitelist", "nosuch"),
        ({**base, "table.whitelist": "loose", "incrementing.column.name": "seq"}, "incrementing.column.name", "nullable"),
        ({**base, "table.whitelist": "loose", "incrementing.column.name": "code"}, "incrementing.column.name", "code"),
        ({**base, "table.whitelist": "loose", "incrementing.column.name": "nope"}, "incrementing.column.name", "nope"),
        ({**base, "table.whitelist": "nokey"}, "incrementing.column.name", "INTEGER PRIMARY KEY"),
        ({**base, "connection.url": "jdbc:postgresql://localhost:5432/shop"}, "connection.url", "jdbc:postgresql"),
        ({**base, "query": "SELECT * FROM orders", "table.whitelist": "orders"}, "query", "query"),
        ({**base, "mode": ""}, "mode", "mode"),
        ({**base, "mode": "sometimes"}, "mode", "sometimes"),
        ({**base, "mode": "timestamp", "table.whitelist": "orders"}, "timestamp.column.name", "column"),
        ({**base, "mode": "timestamp", "table.whitelist": "loose", "timestamp.column.name": "at"}, "timestamp.column.name", "nullable"),
        ({**base, "query": "SELECT * FROM nosuch", "topic.prefix": "q"}, "query", "nosuch"),
        ({**base, "query": "SELECT * FROM orders", "topic.prefix": "bad topic!"}, "topic.prefix", "topic"),
        ({**base, "query.suffix": "LIMIT 5"}, "query.suffix", "query.suffix"),
        ({**base, "batch.max.rows": "0"}, "batch.max.rows", "batch.max.rows"),
    ]
    for number, (config, key, text) in enumerate(cases):
        name = f"bad-src-{number}"
        response = requests.post(url, json={"name": name, "config": config})
        expect_error(response, 400, 400, text)
        errors = validate_errors(server, "SqliteSourceConnector", config)
        assert key in errors and any(text.lower() in e.lower() for e in errors[key]), (config, key, errors)
        assert name not in requests.get(url).json()
    # The error names the column's problem precisely.
    message = requests.post(url, json={"name": "x", "config": {**base, "table.whitelist": "loose", "incrementing.column.name": "code"}}).json()["message"]
    assert "TEXT" in message and "integer" in message.lower(), message
    # A valid config validates with no errors.
    assert validate_errors(server, "SqliteSourceConnector", {**base, "table.whitelist": "orders"}) == {}
    assert validate_errors(server, "io.confluent.connect.jdbc.JdbcSourceConnector", {
        **base, "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector", "table.whitelist": "orders"}) == {}

    # A Confluent JDBC source config, as its quick start writes it, is accepted unchanged.
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name VARCHAR(255))")
    conn.execute("INSERT INTO accounts (name) VALUES ('alice'), ('bob')")
    conn.close()
    confluent = {"connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector", "tasks.max": "1",
                 "connection.url": "jdbc:sqlite:" + db, "mode": "incrementing", "incrementing.column.name": "id",
                 "topic.prefix": "test-sqlite-jdbc-", "table.whitelist": "accounts", "poll.interval.ms": "200",
                 "key.converter": "org.apache.kafka.connect.storage.StringConverter",
                 "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "true"}
    response = create(server, "test-sqlite-jdbc-autoincrement", confluent)
    assert response.json()["config"] == {**confluent, "name": "test-sqlite-jdbc-autoincrement"}, response.json()
    wait_state(server, "test-sqlite-jdbc-autoincrement", "RUNNING", ["RUNNING"])
    values = wait_values(server, "test-sqlite-jdbc-accounts", lambda v: len(v) >= 2)
    assert [v["payload"] for v in values] == [{"id": 1, "name": "alice"}, {"id": 2, "name": "bob"}], values
    schema = values[0]["schema"]
    assert schema["type"] == "struct" and schema["name"] == "accounts", schema
    assert [(f["field"], f["type"], f["optional"]) for f in schema["fields"]] == [("id", "int64", False), ("name", "string", True)], schema
    requests.delete(url + "/test-sqlite-jdbc-autoincrement")
    shutil.rmtree(work, ignore_errors=True)


def test_source_schema_changes():
    """Columns added, renamed and dropped while the source runs (by another process): later rows carry the new columns,
    nothing is lost, and the task keeps running."""
    server = Server()
    work = tempfile.mkdtemp(prefix="pipeline-schema-")
    try:
        db = make_db(os.path.join(work, "shop.db"))
        insert_rows(db, range(1, 6))
        create(server, "sc", source_config(db, "incrementing", **{"batch.max.rows": "3"}))
        create(server, "sc-ts", source_config(db, "timestamp+incrementing", **{"topic.prefix": "sct-", "batch.max.rows": "3"}))
        for topic in ("src-orders", "sct-orders"):
            wait_values(server, topic, lambda v: len(v) >= 5, what=f"the first rows in {topic}")
        topics = ("src-orders", "sct-orders")

        def phase(sql, insert, row_id):
            run_sql(db, sql)
            insert()
            for topic in topics:
                wait_values(server, topic, lambda v: row_id in ids_of(v), what=f"row {row_id} in {topic}")
            return {topic: topic_values(server, topic) for topic in topics}

        # A column added: later rows have it.
        got = phase("ALTER TABLE orders ADD COLUMN extra TEXT DEFAULT 'none'", lambda: insert_rows(db, range(6, 9)), 8)
        for topic, values in got.items():
            assert ids_of(values) == list(range(1, 9)), (topic, ids_of(values))
            assert "extra" not in values[0] and values[0]["note"] == "note 1 v0", values[0]
            for value in values[5:8]:
                expected = {**expected_json(value["id"], 0, value["updated_at"]), "extra": "none"}
                assert value == expected, (topic, "after ADD COLUMN", value, expected)
        # A column renamed.
        ts = now_ms()
        insert9 = lambda: run_sql(db,
            "INSERT INTO orders (id, customer, amount, remark, payload, version, updated_at, extra) VALUES (9, 'c', 1.5, 'r9', X'01', 0, ?, 'x9')", (iso(ts),))
        got = phase("ALTER TABLE orders RENAME COLUMN note TO remark", insert9, 9)
        for topic, values in got.items():
            assert values[8] == {"id": 9, "customer": "c", "amount": 1.5, "remark": "r9", "payload": "AQ==", "version": 0,
                                 "updated_at": ts, "extra": "x9"}, (topic, "after RENAME COLUMN", values[8])
        # A column dropped.
        insert10 = lambda: run_sql(db,
            "INSERT INTO orders (id, customer, amount, remark, version, updated_at, extra) VALUES (10, 'c', 2.5, 'r10', 0, ?, 'x10')", (iso(ts + 1),))
        got = phase("ALTER TABLE orders DROP COLUMN payload", insert10, 10)
        for topic, values in got.items():
            assert ids_of(values) == list(range(1, 11)), (topic, ids_of(values))
            assert values[9] == {"id": 10, "customer": "c", "amount": 2.5, "remark": "r10", "version": 0,
                                 "updated_at": ts + 1, "extra": "x10"}, (topic, "after DROP COLUMN", values[9])
        for name in ("sc", "sc-ts"):
            assert state(server, name) == ("RUNNING", ["RUNNING"]), (name, state(server, name), trace(server, name))
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


def test_source_types():
    """Column types as Connect types: DATETIME/TIMESTAMP text (with T, Z, an offset), integer epoch seconds and
    Julian-day reals as epoch ms; DATE as days; BOOLEAN; NUMERIC as a number; quoted mixed-case names; COALESCE of two
    timestamp columns; a WITHOUT ROWID table and a view in bulk mode."""
    server = Server()
    work = tempfile.mkdtemp(prefix="pipeline-types-")
    try:
        db = os.path.join(work, "types.db")
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute('CREATE TABLE "Mixed.Case" ("Row Id" INTEGER PRIMARY KEY, "When" DATETIME, day DATE, flag BOOLEAN, '
                     'price NUMERIC, modified TIMESTAMP, created TIMESTAMP NOT NULL, raw BLOB, "quote""d" TEXT)')
        rows = [
            (1, "2024-06-01 13:00:00", "2024-06-01", 1, 9.5, None, "2024-06-01T10:00:00Z", b"\x00\x01", "a"),
            (2, "2024-06-01T13:00:00.250Z", "1970-01-02", 0, 10, "2024-06-01 11:00:00", "2024-06-01 10:00:00", b"", "b"),
            (3, "2024-06-01T15:00:00+02:00", None, "true", "12.25", None, "2024-06-01 10:30:00", None, None),
            (4, 1717246800, "2024-02-29", None, None, None, "2024-06-01 10:45:00", b"\xff" * 3, "d"),
            (5, 2460463.0416666665, "1969-12-31", 1, -1, None, "2024-06-01 10:50:00", b"x", "e"),
        ]
        conn.executemany('INSERT INTO "Mixed.Case" VALUES (?,?,?,?,?,?,?,?,?)', rows)
        conn.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID")
        conn.executemany("INSERT INTO kv VALUES (?, ?)", [(f"key{i}", i) for i in range(7)])
        conn.execute('CREATE VIEW flagged AS SELECT "Row Id" AS rid, flag FROM "Mixed.Case" WHERE flag')
        conn.close()
        create(server, "types", {"connector.class": "SqliteSource", "connection.url": db, "mode": "incrementing",
                                 "table.whitelist": "Mixed.Case", "topic.prefix": "ty-", **FAST_SOURCE})
        create(server, "types-ts", {"connector.class": "SqliteSource", "connection.url": db, "mode": "timestamp",
                                    "timestamp.column.name": "modified,created", "table.whitelist": "Mixed.Case",
                                    "topic.prefix": "tyts-", "batch.max.rows": "2", **FAST_SOURCE})
        create(server, "types-bulk", {"connector.class": "SqliteSource", "connection.url": db, "mode": "bulk",
                                      "table.whitelist": "kv", "topic.prefix": "tyb-", "batch.max.rows": "3",
                                      **FAST_SOURCE, "poll.interval.ms": "60000"})
        create(server, "types-view", {"connector.class": "SqliteSource", "connection.url": db, "mode": "bulk",
                                      "table.types": "VIEW", "topic.prefix": "tyv-", **FAST_SOURCE, "poll.interval.ms": "60000"})
        ms = lambda text: iso_to_ms(text)
        day = 86_400_000
        expected = [
            {"Row Id": 1, "When": ms("2024-06-01 13:00:00.000"), "day": ms("2024-06-01 00:00:00.000") // day, "flag": True,
             "price": 9.5, "modified": None, "created": ms("2024-06-01 10:00:00.000"), "raw": b64(b"\x00\x01"), 'quote"d': "a"},
            {"Row Id": 2, "When": ms("2024-06-01 13:00:00.250"), "day": 1, "flag": False, "price": 10,
             "modified": ms("2024-06-01 11:00:00.000"), "created": ms("2024-06-01 10:00:00.000"), "raw": "", 'quote"d': "b"},
            {"Row Id": 3, "When": ms("2024-06-01 13:00:00.000"), "day": None, "flag": True, "price": 12.25, "modified": None,
             "created": ms("2024-06-01 10:30:00.000"), "raw": None, 'quote"d': None},
            {"Row Id": 4, "When": 1717246800000, "day": ms("2024-02-29 00:00:00.000") // day, "flag": None, "price": None,
             "modified": None, "created": ms("2024-06-01 10:45:00.000"), "raw": b64(b"\xff" * 3), 'quote"d': "d"},
            {"Row Id": 5, "When": ms("2024-06-01 13:00:00.000"), "day": -1, "flag": True, "price": -1, "modified": None,
             "created": ms("2024-06-01 10:50:00.000"), "raw": b64(b"x"), 'quote"d': "e"},
        ]
        values = wait_values(server, "ty-Mixed.Case", lambda v: len(v) >= 5)
        assert values == expected, (values, expected)
        # COALESCE(modified, created), two rows a batch: ordered by that time, each once.
        values = wait_values(server, "tyts-Mixed.Case", lambda v: len(v) >= 5)
        time.sleep(0.5)
        assert ids_of([{"id": v["Row Id"]} for v in topic_values(server, "tyts-Mixed.Case")]) == [1, 3, 4, 5, 2], values
        values = wait_values(server, "tyb-kv", lambda v: len(v) >= 7)
        assert values == [{"k": f"key{i}", "v": i} for i in range(7)], values
        # Schema'd JSON: the logical types are named as Kafka Connect names them.
        create(server, "types-schema", {"connector.class": "SqliteSource", "connection.url": db, "mode": "incrementing",
                                        "table.whitelist": "Mixed.Case", "topic.prefix": "tys-", "poll.interval.ms": "200"})
        envelope = wait_values(server, "tys-Mixed.Case", lambda v: len(v) >= 5)[0]
        assert envelope["payload"] == expected[0], envelope
        fields = {f["field"]: f for f in envelope["schema"]["fields"]}
        assert fields["When"]["name"] == "org.apache.kafka.connect.data.Timestamp" and fields["When"]["type"] == "int64", fields
        assert fields["day"]["name"] == "org.apache.kafka.connect.data.Date" and fields["day"]["type"] == "int32", fields
        assert fields["flag"]["type"] == "boolean" and fields["raw"]["type"] == "bytes" and fields["price"]["type"] == "double", fields
        assert fields["Row Id"] == {"field": "Row Id", "type": "int64", "optional": False}, fields
        assert fields["created"]["optional"] is False and fields["modified"]["optional"] is True, fields
        for name in ("types", "types-ts", "types-bulk", "types-view", "types-schema"):
            assert state(server, name) == ("RUNNING", ["RUNNING"]), (name, trace(server, name))
        # A view has no rowid: bulk mode pages it by count.
        # (SQLite's WHERE flag is false for the text 'true' of row 3: the view holds rows 1 and 5.)
        wait_values(server, "tyv-flagged", lambda v: len(v) >= 2, seconds=10, what="the rows of the view")
        time.sleep(0.5)
        values = topic_values(server, "tyv-flagged")
        assert values == [{"rid": 1, "flag": True}, {"rid": 5, "flag": True}], values
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
db.execute("UPDATE orders SET note = 'locked' WHERE id = 1")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def test_source_locks_and_time_settings():
    """A rollback-journal database held under an exclusive lock longer than the source's busy timeout: the source waits
    and goes on (task RUNNING, nothing lost). timestamp.delay.interval.ms holds rows back until they are that old;
    timestamp.initial skips older rows."""
    server = Server()
    work = tempfile.mkdtemp(prefix="pipeline-locks-")
    try:
        db = os.path.join(work, "journal.db")
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute(ORDERS)
        conn.close()
        cut = now_ms() - 30_000
        insert_rows(db, range(1, 4), ts=cut - 60_000)
        insert_rows(db, range(4, 7), ts=cut + 1_000)
        create(server, "lock-inc", source_config(db, "incrementing", **{"topic.prefix": "lk-"}))
        create(server, "initial", source_config(db, "timestamp", **{"topic.prefix": "in-", "timestamp.initial": str(cut)}))
        wait_values(server, "lk-orders", lambda v: len(v) >= 6)
        values = wait_values(server, "in-orders", lambda v: len(v) >= 3)
        time.sleep(0.5)
        assert ids_of(topic_values(server, "in-orders")) == [4, 5, 6], "timestamp.initial: rows before it were read"
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, db, "7"], stdout=subprocess.PIPE, text=True)
        assert locker.stdout.readline().strip() == "locked"
        time.sleep(6.0)
        assert state(server, "lock-inc") == ("RUNNING", ["RUNNING"]), trace(server, "lock-inc")
        locker.wait(timeout=30)
        insert_rows(db, range(7, 10))
        values = wait_values(server, "lk-orders", lambda v: len(v) >= 9, what="rows after the lock")
        time.sleep(0.5)
        assert ids_of(topic_values(server, "lk-orders")) == list(range(1, 10))
        assert state(server, "lock-inc") == ("RUNNING", ["RUNNING"]), trace(server, "lock-inc")

        create(server, "delayed", source_config(db, "timestamp+incrementing", **{"topic.prefix": "dl-", "timestamp.delay.interval.ms": "2500"}))
        wait_values(server, "dl-orders", lambda v: len(v) >= 9)
        written = insert_rows(db, [10])
        time.sleep(1.0)
        early = ids_of(topic_values(server, "dl-orders"))
        assert 10 not in early or now_ms() - written >= 2500, "a row read before timestamp.delay.interval.ms passed"
        wait_values(server, "dl-orders", lambda v: 10 in ids_of(v), what="the delayed row")
        assert now_ms() - written >= 2500
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


# MARK: - Sink tests

OBJECT_NAME = re.compile(r"^(?P<topic>[^/+]+)\+(?P<partition>\d+)\+(?P<offset>\d+)(?P<ext>(\.keys|\.headers)?\.(json|bin)(\.gz)?)$")


def bucket_files(root, bucket):
    """Every file under the bucket folder: relative path -> bytes."""
    base = os.path.join(root, bucket)
    files = {}
    for folder, _, names in os.walk(base):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as file:
                files[os.path.relpath(path, base)] = file.read()
    return files


def all_files(folder):
    return sorted(os.path.relpath(os.path.join(d, n), folder) for d, _, names in os.walk(folder) for n in names)


def ndjson(data):
    text = data.decode()
    assert text.endswith("\n") or not text, text[-50:]
    return [json.loads(line) for line in text.splitlines()]


def sink_config(topic, bucket, root, flush, **extra):
    config = {"connector.class": "S3Sink", "topics": topic, "s3.bucket.name": bucket, "flush.size": str(flush), **FAST_SINK}
    if root:
        config["store.url"] = "file://" + root
    config.update(extra)
    return config


def wait_objects(root, bucket, count, seconds=30):
    """Waits until the bucket holds `count` files, then a little more to see that no more come; returns them."""
    wait_for(lambda: len(bucket_files(root, bucket)) >= count, seconds,
             f"{count} files in bucket {bucket} (have {sorted(bucket_files(root, bucket)) if os.path.isdir(os.path.join(root, bucket)) else 'none'})")
    time.sleep(0.7)
    files = bucket_files(root, bucket)
    assert len(files) == count, sorted(files)
    return files


def wait_sink_offsets(server, name, expected, seconds=30):
    """Waits until the sink's committed offsets are `expected` ({(topic, partition): offset})."""
    def current():
        return {(o["partition"]["kafka_topic"], o["partition"]["kafka_partition"]): o["offset"]["kafka_offset"]
                for o in offsets(server, name)}
    wait_for(lambda: current() == expected, seconds, f"offsets {expected} of {name} (have {current()})")


VALUES = [
    {"n": 0, "text": "plain"}, {"n": 1, "text": "ünïcödé ✓", "nested": {"a": [1, 2, {"b": None}]}}, [1, "two", 3.5],
    "just a string", 42, 2.5, True, {"n": 7, "quote": "say \"hi\"\nnew line\ttab"}, {}, [],
]


def test_sink_objects():
    """JSON records of a 2-partition topic become objects named topic+partition+startoffset.json, records in offset
    order, each partition's objects holding exactly its records; nothing but objects in the bucket; offsets committed
    only past published records."""
    server = Server()
    work = tempfile.mkdtemp(prefix="pipeline-sink-")
    try:
        root = os.path.join(work, "store")
        create_topic(server, "events", partitions=2)
        records = [{"value": {"seq": i, "v": VALUES[i % len(VALUES)]}, "partition": i % 2} for i in range(60)]
        for start in range(0, 60, 20):
            produce_json(server, "events", records[start:start + 20])
        create(server, "objects", sink_config("events", "my-bucket", root, 10))
        create(server, "defaults", sink_config("events", "other.bucket-1", None, 6, **{
            "connector.class": "io.confluent.connect.s3.S3SinkConnector", "topics.dir": "exports/raw",
            "filename.offset.zero.pad.width": "4"}))
        create(server, "partial", sink_config("events", "partial-bucket", root, 7, **{"connector.class": "S3SinkConnector"}))
        for name in ("objects", "defaults", "partial"):
            wait_state(server, name, "RUNNING", ["RUNNING"])

        topic = {p: partition_records(server, "events", p) for p in (0, 1)}
        assert [len(topic[p]) for p in (0, 1)] == [30, 30]
        files = wait_objects(root, "my-bucket", 6)
        assert sorted(files) == sorted(f"topics/events/partition={p}/events+{p}+{o:010d}.json" for p in (0, 1) for o in (0, 10, 20)), sorted(files)
        for p in (0, 1):
            got = []
            for o in (0, 10, 20):
                lines = ndjson(files[f"topics/events/partition={p}/events+{p}+{o:010d}.json"])
                assert len(lines) == 10, (p, o, lines)
                got += lines
            assert got == [json.loads(r["value"]) for r in topic[p]], p
            # Record by record, in offset order.
            assert [g["seq"] for g in got] == [i for i in range(60) if i % 2 == p]
        wait_sink_offsets(server, "objects", {("events", 0): 30, ("events", 1): 30})

        # The default store is the data directory's buckets folder; topics.dir and the zero padding as configured.
        default_root = os.path.join(server.data_dir, "buckets")
        files = wait_objects(default_root, "other.bucket-1", 10)
        assert sorted(files) == sorted(f"exports/raw/events/partition={p}/events+{p}+{o:04d}.json" for p in (0, 1) for o in range(0, 30, 6)), sorted(files)
        for p in (0, 1):
            got = sum((ndjson(files[f"exports/raw/events/partition={p}/events+{p}+{o:04d}.json"]) for o in range(0, 30, 6)), [])
            assert got == [json.loads(r["value"]) for r in topic[p]]

        # flush.size 7 of 30: four objects per partition; the last two records wait, and the committed offset stays
        # at the first of them.
        files = wait_objects(root, "partial-bucket", 8)
        assert sorted(files) == sorted(f"topics/events/partition={p}/events+{p}+{o:010d}.json" for p in (0, 1) for o in (0, 7, 14, 21))
        wait_sink_offsets(server, "partial", {("events", 0): 28, ("events", 1): 28})
        staging = os.path.join(root, ".runnel-staging")
        assert os.path.isdir(staging) and all_files(staging), "the unpublished records are staged outside the bucket"
        # Five more records in partition 0 complete its object at 28.
        produce_json(server, "events", [{"value": {"seq": 100 + i}, "partition": 0} for i in range(5)])
        files = wait_objects(root, "partial-bucket", 9)
        assert [g["seq"] for g in ndjson(files["topics/events/partition=0/events+0+0000000028.json"])] == [56, 58, 100, 101, 102, 103, 104]
        wait_sink_offsets(server, "partial", {("events", 0): 35, ("events", 1): 28})

        # Nothing in the buckets but objects; staging lives beside them.
        for base, bucket in ((root, "my-bucket"), (root, "partial-bucket"), (default_root, "other.bucket-1")):
            for path in bucket_files(base, bucket):
                assert OBJECT_NAME.match(os.path.basename(path)), (bucket, path)
        assert sorted(os.listdir(root)) == [".runnel-staging", "my-bucket", "partial-bucket"], os.listdir(root)
        assert os.listdir(os.path.join(root, "my-bucket")) == ["topics"]
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


def test_sink_field_partitioner(server):
    """FieldPartitioner: folders field=value (nested fields, several fields); a value holding '/' or '..' stays one
    folder inside the topic's folder."""
    work = tempfile.mkdtemp(prefix="pipeline-field-")
    root = os.path.join(work, "store")
    regions = ["eu", "a/b", "../up"]
    create_topic(server, "fp")
    produce_json(server, "fp", [{"value": {"i": i, "region": regions[i % 3], "meta": {"kind": "k%d" % (i % 2)}}} for i in range(12)])
    create(server, "field", sink_config("fp", "fields", root, 6, **{
        "partitioner.class": "io.confluent.connect.storage.partitioner.FieldPartitioner", "partition.field.name": "region"}))
    create(server, "fields2", sink_config("fp", "fields2", root, 12, **{
        "partitioner.class": "FieldPartitioner", "partition.field.name": "meta.kind,region"}))
    files = wait_objects(root, "fields", 6)
    folders = {"eu": "region=eu", "a/b": "region=a%2Fb", "../up": "region=..%2Fup"}
    expected = {}
    for batch in (0, 6):
        for j, region in enumerate(regions):
            expected[f"topics/fp/{folders[region]}/fp+0+{batch + j:010d}.json"] = [
                i for i in range(batch, batch + 6) if regions[i % 3] == region]
    assert sorted(files) == sorted(expected), sorted(files)
    for path, ids in expected.items():
        assert [v["i"] for v in ndjson(files[path])] == ids, (path, ndjson(files[path]))
    assert sorted(os.listdir(os.path.join(root, "fields", "topics", "fp"))) == sorted(folders.values())
    assert not os.path.exists(os.path.join(root, "fields", "topics", "up")) and not os.path.exists(os.path.join(root, "up"))
    files = wait_objects(root, "fields2", 6)
    expected = {f"topics/fp/meta.kind=k{i % 2}/{folders[regions[i % 3]]}/fp+0+{i:010d}.json" for i in range(6)}
    assert set(files) == expected, sorted(files)
    for path, data in files.items():
        first = int(path[-15:-5])
        assert [v["i"] for v in ndjson(data)] == [first, first + 6], (path, data)
    # flush.size 5 of 12: two publishes of three folders each; the two open records hold the committed offset back.
    create(server, "fields3", sink_config("fp", "fields3", root, 5, **{
        "partitioner.class": "FieldPartitioner", "partition.field.name": "region"}))
    files = wait_objects(root, "fields3", 6)
    expected = {"topics/fp/region=eu/fp+0+0000000000.json": [0, 3], "topics/fp/region=a%2Fb/fp+0+0000000001.json": [1, 4],
                "topics/fp/region=..%2Fup/fp+0+0000000002.json": [2], "topics/fp/region=..%2Fup/fp+0+0000000005.json": [5, 8],
                "topics/fp/region=eu/fp+0+0000000006.json": [6, 9], "topics/fp/region=a%2Fb/fp+0+0000000007.json": [7]}
    assert {path: [v["i"] for v in ndjson(data)] for path, data in files.items()} == expected, sorted(files)
    wait_sink_offsets(server, "fields3", {("fp", 0): 10})
    for name in ("field", "fields2", "fields3"):
        requests.delete(f"{server.connect}/connectors/{name}")
    shutil.rmtree(work, ignore_errors=True)


def test_sink_time_partitioners(server):
    """Time-based partitioners with the Record extractor and produced timestamps (UTC and other zones), Daily and
    Hourly, the RecordField extractor, and rotate.interval.ms by record time."""
    work = tempfile.mkdtemp(prefix="pipeline-time-")
    root = os.path.join(work, "store")
    stamps = ["2024-06-01T13:05:00Z", "2024-06-01T13:20:00Z", "2024-06-01T13:35:00Z", "2024-06-01T13:50:00Z",
              "2024-06-01T14:10:00Z", "2024-06-01T14:25:00Z", "2024-06-01T14:40:00Z", "2024-06-01T14:55:00Z",
              "2024-06-02T02:00:00Z", "2024-06-02T02:15:00Z", "2024-06-02T02:30:00Z", "2024-06-02T02:45:00Z"]
    create_topic(server, "tb")
    # RecordField: "at" is ten days after the record's timestamp, as ISO text for even records and epoch ms for odd.
    at = lambda i: iso_to_ms(stamps[i].replace("T", " ").replace("Z", "") + ".000") + 10 * 86_400_000
    produce_v3(server, "tb", [{"value": {"type": "JSON", "data": {"i": i, "at": at(i) if i % 2 else
                                                                   time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at(i) / 1000))}},
                               "timestamp": stamp} for i, stamp in enumerate(stamps)])
    hourly_path = "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH"
    time_based = {"partitioner.class": "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
                  "path.format": hourly_path, "partition.duration.ms": "3600000", "locale": "en-US", "timezone": "UTC",
                  "timestamp.extractor": "Record"}
    create(server, "t-hour", sink_config("tb", "t-hour", root, 12, **time_based))
    create(server, "t-daily-ny", sink_config("tb", "t-daily-ny", root, 12, **{
        "partitioner.class": "io.confluent.connect.storage.partitioner.DailyPartitioner", "locale": "en-US",
        "timezone": "America/New_York", "timestamp.extractor": "Record"}))
    create(server, "t-hourly-paris", sink_config("tb", "t-hourly-paris", root, 12, **{
        "partitioner.class": "HourlyPartitioner", "locale": "fr-FR", "timezone": "Europe/Paris", "timestamp.extractor": "Record"}))
    create(server, "t-field", sink_config("tb", "t-field", root, 12, **{
        **time_based, "path.format": "'dt'=YYYY-MM-dd", "partition.duration.ms": "86400000",
        "timestamp.extractor": "RecordField", "timestamp.field": "at"}))
    create(server, "t-rotate", sink_config("tb", "t-rotate", root, 100, **{**time_based, "rotate.interval.ms": "1800000"}))

    def check(bucket, expected):
        files = wait_objects(root, bucket, len(expected))
        assert sorted(files) == sorted(expected), (bucket, sorted(files))
        for path, ids in expected.items():
            assert [v["i"] for v in ndjson(files[path])] == ids, (bucket, path)

    check("t-hour", {"topics/tb/year=2024/month=06/day=01/hour=13/tb+0+0000000000.json": [0, 1, 2, 3],
                     "topics/tb/year=2024/month=06/day=01/hour=14/tb+0+0000000004.json": [4, 5, 6, 7],
                     "topics/tb/year=2024/month=06/day=02/hour=02/tb+0+0000000008.json": [8, 9, 10, 11]})
    # In New York (UTC-4 in June) all twelve fall on 1 June.
    check("t-daily-ny", {"topics/tb/year=2024/month=06/day=01/tb+0+0000000000.json": list(range(12))})
    check("t-hourly-paris", {"topics/tb/year=2024/month=06/day=01/hour=15/tb+0+0000000000.json": [0, 1, 2, 3],
                             "topics/tb/year=2024/month=06/day=01/hour=16/tb+0+0000000004.json": [4, 5, 6, 7],
                             "topics/tb/year=2024/month=06/day=02/hour=04/tb+0+0000000008.json": [8, 9, 10, 11]})
    check("t-field", {"topics/tb/dt=2024-06-11/tb+0+0000000000.json": list(range(8)),
                      "topics/tb/dt=2024-06-12/tb+0+0000000008.json": [8, 9, 10, 11]})
    # rotate.interval.ms=30 min of record time (and on a change of hour): pairs; the last pair waits for a later record.
    check("t-rotate", {"topics/tb/year=2024/month=06/day=01/hour=13/tb+0+0000000000.json": [0, 1],
                       "topics/tb/year=2024/month=06/day=01/hour=13/tb+0+0000000002.json": [2, 3],
                       "topics/tb/year=2024/month=06/day=01/hour=14/tb+0+0000000004.json": [4, 5],
                       "topics/tb/year=2024/month=06/day=01/hour=14/tb+0+0000000006.json": [6, 7],
                       "topics/tb/year=2024/month=06/day=02/hour=02/tb+0+0000000008.json": [8, 9]})
    wait_sink_offsets(server, "t-rotate", {("tb", 0): 10})
    wait_sink_offsets(server, "t-hour", {("tb", 0): 12})
    for name in ("t-hour", "t-daily-ny", "t-hourly-paris", "t-field", "t-rotate"):
        requests.delete(f"{server.connect}/connectors/{name}")
    shutil.rmtree(work, ignore_errors=True)


def test_sink_formats(server):
    """gzip (.json.gz, one gzip stream python reads), ByteArrayFormat with a separator (.bin, bytes as they are), keys
    (.keys.json) and headers (.headers.json) beside the values."""
    work = tempfile.mkdtemp(prefix="pipeline-formats-")
    root = os.path.join(work, "store")
    create_topic(server, "fmt")
    produce_json(server, "fmt", [{"key": {"k": i}, "value": {"i": i, "v": VALUES[i % len(VALUES)]}} for i in range(8)])
    create(server, "f-gzip", sink_config("fmt", "f-gzip", root, 4, **{"s3.compression.type": "gzip", "store.kafka.keys": "true"}))
    files = wait_objects(root, "f-gzip", 4)
    assert sorted(files) == ["topics/fmt/partition=0/fmt+0+0000000000.json.gz", "topics/fmt/partition=0/fmt+0+0000000000.keys.json.gz",
                             "topics/fmt/partition=0/fmt+0+0000000004.json.gz", "topics/fmt/partition=0/fmt+0+0000000004.keys.json.gz"], sorted(files)
    values = [json.loads(r["value"]) for r in partition_records(server, "fmt", 0)]
    for start in (0, 4):
        data = files[f"topics/fmt/partition=0/fmt+0+{start:010d}.json.gz"]
        assert data[:2] == b"\x1f\x8b", data[:10]
        assert ndjson(gzip.decompress(data)) == values[start:start + 4]
        assert ndjson(gzip.decompress(files[f"topics/fmt/partition=0/fmt+0+{start:010d}.keys.json.gz"])) == [{"k": i} for i in range(start, start + 4)]

    # Raw bytes: ByteArrayConverter in, ByteArrayFormat out, with a two-byte separator.
    create_topic(server, "raw")
    raw = [b"alpha", b"\x00\xff\xfe binary", b"", "ünï".encode(), b"line\nbreak", b"last"]
    response = requests.post(server.url + "/topics/raw", headers={"Content-Type": V2_BINARY},
                             data=json.dumps({"records": [{"value": b64(v), "key": b64(f"key{i}")} for i, v in enumerate(raw)]}))
    assert response.status_code == 200, response.text
    create(server, "f-bytes", sink_config("raw", "f-bytes", root, 3, **{
        "format.class": "io.confluent.connect.s3.format.bytearray.ByteArrayFormat", "format.bytearray.separator": "||",
        "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "key.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "store.kafka.keys": "true", "keys.format.class": "io.confluent.connect.s3.format.bytearray.ByteArrayFormat"}))
    files = wait_objects(root, "f-bytes", 4)
    assert files["topics/raw/partition=0/raw+0+0000000000.bin"] == b"alpha||\x00\xff\xfe binary||||", files
    assert files["topics/raw/partition=0/raw+0+0000000003.bin"] == "ünï".encode() + b"||line\nbreak||last||", files
    assert files["topics/raw/partition=0/raw+0+0000000000.keys.bin"] == b"key0||key1||key2||", files

    # Headers beside the values (v3 produce with headers).
    create_topic(server, "hdr")
    produce_v3(server, "hdr", [{"value": {"type": "JSON", "data": {"i": i}}, "key": {"type": "JSON", "data": f"k{i}"},
                                "headers": [{"name": "trace", "value": b64(f"t{i}")}, {"name": "empty", "value": None}]} for i in range(2)])
    create(server, "f-headers", sink_config("hdr", "f-headers", root, 2, **{"store.kafka.headers": "true", "store.kafka.keys": "true"}))
    files = wait_objects(root, "f-headers", 3)
    assert sorted(files) == ["topics/hdr/partition=0/hdr+0+0000000000.headers.json", "topics/hdr/partition=0/hdr+0+0000000000.json",
                             "topics/hdr/partition=0/hdr+0+0000000000.keys.json"], sorted(files)
    assert ndjson(files["topics/hdr/partition=0/hdr+0+0000000000.json"]) == [{"i": 0}, {"i": 1}]
    assert ndjson(files["topics/hdr/partition=0/hdr+0+0000000000.keys.json"]) == ["k0", "k1"]
    headers = ndjson(files["topics/hdr/partition=0/hdr+0+0000000000.headers.json"])
    assert [[h["key"] for h in line] for line in headers] == [["trace", "empty"], ["trace", "empty"]], headers
    assert [[h["value"] for h in line] for line in headers] == [["t0", None], ["t1", None]], headers
    for name in ("f-gzip", "f-bytes", "f-headers"):
        requests.delete(f"{server.connect}/connectors/{name}")
    shutil.rmtree(work, ignore_errors=True)


def test_sink_null_values(server):
    """behavior.on.null.values: ignore skips tombstones (and offsets move past them), fail fails the task naming the
    setting, write puts them under <topic>/tombstone with their keys."""
    work = tempfile.mkdtemp(prefix="pipeline-null-")
    root = os.path.join(work, "store")
    create_topic(server, "tomb")
    values = [{"v": "a"}, None, {"v": "b"}, {"v": "c"}, None, {"v": "d"}]
    produce_json(server, "tomb", [{"key": f"k{i}", "value": v} for i, v in enumerate(values)])
    assert [r["value"] for r in partition_records(server, "tomb", 0)][1] is None, "the producer did not write a tombstone"
    create(server, "n-ignore", sink_config("tomb", "n-ignore", root, 2, **{"behavior.on.null.values": "ignore"}))
    files = wait_objects(root, "n-ignore", 2)
    assert {p: ndjson(d) for p, d in files.items()} == {
        "topics/tomb/partition=0/tomb+0+0000000000.json": [{"v": "a"}, {"v": "b"}],
        "topics/tomb/partition=0/tomb+0+0000000003.json": [{"v": "c"}, {"v": "d"}]}, files
    wait_sink_offsets(server, "n-ignore", {("tomb", 0): 6})

    create(server, "n-fail", sink_config("tomb", "n-fail", root, 2))
    wait_state(server, "n-fail", "RUNNING", ["FAILED"])
    assert "behavior.on.null.values" in trace(server, "n-fail"), trace(server, "n-fail")
    assert bucket_files(root, "n-fail") == {}, "a failed task published an object"

    create(server, "n-write", sink_config("tomb", "n-write", root, 2, **{"behavior.on.null.values": "write", "store.kafka.keys": "true"}))
    files = wait_objects(root, "n-write", 8)
    keys = {p: ndjson(d) for p, d in files.items() if ".keys." in p}
    assert keys == {"topics/tomb/partition=0/tomb+0+0000000000.keys.json": ["k0"],
                    "topics/tomb/tombstone/tomb+0+0000000001.keys.json": ["k1"],
                    "topics/tomb/partition=0/tomb+0+0000000002.keys.json": ["k2", "k3"],
                    "topics/tomb/tombstone/tomb+0+0000000004.keys.json": ["k4"]}, sorted(files)
    assert ndjson(files["topics/tomb/partition=0/tomb+0+0000000002.json"]) == [{"v": "b"}, {"v": "c"}]
    assert ndjson(files["topics/tomb/partition=0/tomb+0+0000000000.json"]) == [{"v": "a"}]
    assert ndjson(files["topics/tomb/tombstone/tomb+0+0000000001.json"]) == [None]
    assert ndjson(files["topics/tomb/tombstone/tomb+0+0000000004.json"]) == [None]
    wait_sink_offsets(server, "n-write", {("tomb", 0): 5})
    for name in ("n-ignore", "n-fail", "n-write"):
        requests.delete(f"{server.connect}/connectors/{name}")
    shutil.rmtree(work, ignore_errors=True)


def test_sink_bad_input(server):
    """Sink configs that could write outside the store, or that cannot work, are refused (400, naming the problem) and
    reported by validate under their key."""
    work = tempfile.mkdtemp(prefix="pipeline-bad-sink-")
    root = os.path.join(work, "store")
    base = sink_config("bad-in", "good-bucket", root, 10)
    cases = [
        ({**base, "s3.bucket.name": "../x"}, "s3.bucket.name", "../x"),
        ({**base, "s3.bucket.name": "A_B"}, "s3.bucket.name", "A_B"),
        ({**base, "s3.bucket.name": "ab"}, "s3.bucket.name", "bucket"),
        ({**base, "s3.bucket.name": "a..b"}, "s3.bucket.name", "bucket"),
        ({**base, "s3.bucket.name": "a/b-c"}, "s3.bucket.name", "bucket"),
        ({**base, "topics.dir": "../../etc"}, "topics.dir", "topics.dir"),
        ({**base, "topics.dir": "/etc"}, "topics.dir", "topics.dir"),
        ({**base, "topics.dir": "a/./b"}, "topics.dir", "topics.dir"),
        ({**base, "store.url": "http://example.com/store"}, "store.url", "store.url"),
        ({**base, "store.url": "s3://bucket/path"}, "store.url", "store.url"),
        ({**base, "store.url": "file://relative/path"}, "store.url", "store.url"),
        ({k: v for k, v in base.items() if k != "flush.size"}, "flush.size", "flush.size"),
        ({**base, "flush.size": "0"}, "flush.size", "flush.size"),
        ({**base, "partitioner.class": "io.confluent.connect.storage.partitioner.NoSuchPartitioner"}, "partitioner.class", "NoSuchPartitioner"),
        ({**base, "partitioner.class": "FieldPartitioner"}, "partition.field.name", "partition.field.name"),
        ({**base, "partitioner.class": "TimeBasedPartitioner", "path.format": "YYYY", "partition.duration.ms": "1000", "locale": "en"}, "timezone", "timezone"),
        ({**base, "partitioner.class": "TimeBasedPartitioner", "path.format": "'..'/YYYY", "partition.duration.ms": "1000", "locale": "en", "timezone": "UTC"},
         "path.format", "path.format"),
        ({**base, "partitioner.class": "DailyPartitioner", "timezone": "Mars/Olympus"}, "timezone", "Mars/Olympus"),
        ({**base, "format.class": "io.confluent.connect.s3.format.avro.AvroFormat"}, "format.class", "AvroFormat"),
        ({**base, "rotate.schedule.interval.ms": "1000"}, "timezone", "timezone"),
        ({**base, "behavior.on.null.values": "write"}, "behavior.on.null.values", "store.kafka.keys"),
        ({**base, "s3.compression.type": "zstd"}, "s3.compression.type", "zstd"),
    ]
    url = server.connect + "/connectors"
    for number, (config, key, text) in enumerate(cases):
        name = f"bad-sink-{number}"
        expect_error(requests.post(url, json={"name": name, "config": config}), 400, 400, text)
        errors = validate_errors(server, "S3SinkConnector", config)
        assert key in errors and any(text.lower() in e.lower() for e in errors[key]), (config, key, errors)
        assert name not in requests.get(url).json()
    assert validate_errors(server, "io.confluent.connect.s3.S3SinkConnector", base) == {}
    assert not os.path.exists(root), "a refused config created folders"
    shutil.rmtree(work, ignore_errors=True)


def test_sink_symlinks(server):
    """A bucket folder, or a folder inside it, that is a symbolic link out of the store: the task fails with a clear
    trace and nothing is written outside."""
    work = tempfile.mkdtemp(prefix="pipeline-link-")
    root, outside, outside2 = (os.path.join(work, n) for n in ("store", "outside", "outside2"))
    for folder in (root, outside, outside2):
        os.makedirs(folder)
    os.symlink(outside, os.path.join(root, "evil"))
    os.makedirs(os.path.join(root, "inner"))
    os.symlink(outside2, os.path.join(root, "inner", "topics"))
    create_topic(server, "linked")
    produce_json(server, "linked", [{"value": {"i": i}} for i in range(4)])
    create(server, "l-bucket", sink_config("linked", "evil", root, 2))
    create(server, "l-inner", sink_config("linked", "inner", root, 2))
    wait_state(server, "l-bucket", "RUNNING", ["FAILED"])
    wait_state(server, "l-inner", "RUNNING", ["FAILED"])
    assert "outside" in trace(server, "l-bucket") and "evil" in trace(server, "l-bucket"), trace(server, "l-bucket")
    assert "outside" in trace(server, "l-inner"), trace(server, "l-inner")
    time.sleep(1.0)
    assert all_files(outside) == [] and all_files(outside2) == [], (all_files(outside), all_files(outside2))
    # The same sink into a real folder works.
    create(server, "l-good", sink_config("linked", "fine", root, 2))
    assert sorted(wait_objects(root, "fine", 2)) == ["topics/linked/partition=0/linked+0+0000000000.json",
                                                     "topics/linked/partition=0/linked+0+0000000002.json"]
    for name in ("l-bucket", "l-inner", "l-good"):
        requests.delete(f"{server.connect}/connectors/{name}")
    shutil.rmtree(work, ignore_errors=True)


def test_sink_unformattable(server):
    """A record ByteArrayFormat cannot write (a JSON object) fails the task; with errors.tolerance=all and a DLQ it goes
    to the DLQ as consumed, and the others are written."""
    work = tempfile.mkdtemp(prefix="pipeline-dlq-")
    root = os.path.join(work, "store")
    create_topic(server, "mixed")
    produce_json(server, "mixed", [{"value": v} for v in ["a", "b", {"x": 1}, "c", "d", "e"]])
    byte_array = {"format.class": "ByteArrayFormat"}
    create(server, "u-strict", sink_config("mixed", "u-strict", root, 5, **byte_array))
    wait_state(server, "u-strict", "RUNNING", ["FAILED"])
    assert "ByteArrayFormat" in trace(server, "u-strict"), trace(server, "u-strict")
    assert bucket_files(root, "u-strict") == {}
    create(server, "u-dlq", sink_config("mixed", "u-dlq", root, 5, **byte_array, **{
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "mixed-dlq",
        "errors.deadletterqueue.context.headers.enable": "true"}))
    files = wait_objects(root, "u-dlq", 1)
    assert files == {"topics/mixed/partition=0/mixed+0+0000000000.bin": b"a\nb\nc\nd\ne\n"}, files
    dead = wait_for(lambda: topic_records(server, "mixed-dlq"), what="the DLQ record")
    assert len(dead) == 1 and json.loads(dead[0]["value"]) == {"x": 1}, dead
    headers = {h["name"]: base64.b64decode(h["value"]).decode() for h in dead[0]["headers"]}
    assert headers["__connect.errors.offset"] == "2" and headers["__connect.errors.topic"] == "mixed", headers
    assert "ByteArrayFormat" in headers["__connect.errors.exception.message"], headers
    wait_sink_offsets(server, "u-dlq", {("mixed", 0): 6})
    assert state(server, "u-dlq") == ("RUNNING", ["RUNNING"])
    for name in ("u-strict", "u-dlq"):
        requests.delete(f"{server.connect}/connectors/{name}")
    shutil.rmtree(work, ignore_errors=True)


def expect_objects(root, bucket, topic, partition, starts_and_values, seconds=30):
    """Waits for exactly these objects of one partition ({start offset: values}) and checks their contents."""
    folder = f"topics/{topic}/partition={partition}/"
    wanted = {f"{folder}{topic}+{partition}+{start:010d}.json": values for start, values in starts_and_values.items()}

    def current():
        return {p: d for p, d in bucket_files(root, bucket).items() if p.startswith(folder)}

    wait_for(lambda: len(current()) >= len(wanted), seconds, f"{len(wanted)} objects in {bucket}/{folder} (have {sorted(current())})")
    time.sleep(0.5)
    files = current()
    assert sorted(files) == sorted(wanted), sorted(files)
    for path, values in wanted.items():
        assert ndjson(files[path]) == values, (path, ndjson(files[path]), values)


def test_sink_restarts():
    """The open (staged) records of a sink are neither lost nor written twice across a task restart, a clean server
    restart, pause and resume, delete and re-create, and a config change."""
    server = Server()
    work = tempfile.mkdtemp(prefix="pipeline-sink-restart-")
    try:
        root = os.path.join(work, "store")
        create_topic(server, "rs")
        values = [{"n": i} for i in range(100)]
        produce = lambda a, b: produce_json(server, "rs", [{"value": v} for v in values[a:b]])
        config = sink_config("rs", "restarts", root, 10)
        produce(0, 25)
        create(server, "rs", config)
        expect_objects(root, "restarts", "rs", 0, {0: values[0:10], 10: values[10:20]})
        wait_sink_offsets(server, "rs", {("rs", 0): 20})
        # A task restart drops the five open records; they are read again.
        assert requests.post(server.connect + "/connectors/rs/tasks/0/restart").status_code == 204
        wait_state(server, "rs", "RUNNING", ["RUNNING"])
        produce(25, 33)
        expect_objects(root, "restarts", "rs", 0, {0: values[0:10], 10: values[10:20], 20: values[20:30]})
        wait_sink_offsets(server, "rs", {("rs", 0): 30})
        # A clean stop with three records open.
        assert server.stop() == 0
        server.start()
        wait_state(server, "rs", "RUNNING", ["RUNNING"])
        produce(33, 40)
        expect_objects(root, "restarts", "rs", 0, {0: values[0:10], 10: values[10:20], 20: values[20:30], 30: values[30:40]})
        # Paused while records arrive; resumed.
        produce(40, 45)
        time.sleep(0.5)
        assert requests.put(server.connect + "/connectors/rs/pause").status_code == 202
        wait_state(server, "rs", "PAUSED", ["PAUSED"])
        produce(45, 50)
        assert requests.put(server.connect + "/connectors/rs/resume").status_code == 202
        expect_objects(root, "restarts", "rs", 0, {o: values[o:o + 10] for o in range(0, 50, 10)})
        # Deleted and created again: it resumes from its committed offsets.
        produce(50, 53)
        wait_sink_offsets(server, "rs", {("rs", 0): 50})
        assert requests.delete(server.connect + "/connectors/rs").status_code == 204
        create(server, "rs", config)
        produce(53, 60)
        expect_objects(root, "restarts", "rs", 0, {o: values[o:o + 10] for o in range(0, 60, 10)})
        # flush.size changed (while stopped, so that no task of the old config reads on): objects of five from the
        # committed offset on.
        produce(60, 62)
        assert requests.put(server.connect + "/connectors/rs/stop").status_code == 204
        wait_state(server, "rs", "STOPPED", [])
        patched = requests.put(server.connect + "/connectors/rs/config", json={**config, "flush.size": "5"})
        assert patched.status_code == 200, patched.text
        assert requests.put(server.connect + "/connectors/rs/resume").status_code == 202
        wait_state(server, "rs", "RUNNING", ["RUNNING"])
        produce(62, 70)
        expect_objects(root, "restarts", "rs", 0, {**{o: values[o:o + 10] for o in range(0, 60, 10)}, 60: values[60:65], 65: values[65:70]})
        wait_sink_offsets(server, "rs", {("rs", 0): 70})
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


def test_sink_tasks_and_rotation(server):
    """tasks.max=2 over a 4-partition topic written while it runs: two tasks, each partition's objects exact;
    rotate.schedule.interval.ms publishes partial objects on the clock."""
    work = tempfile.mkdtemp(prefix="pipeline-sink-tasks-")
    root = os.path.join(work, "store")
    create_topic(server, "quad", partitions=4)
    create(server, "quad", sink_config("quad", "quad", root, 10, **{"tasks.max": "2"}))
    for round_ in range(4):
        produce_json(server, "quad", [{"value": {"r": round_, "i": i}, "partition": i % 4} for i in range(40)])
        time.sleep(0.3)
    wait_state(server, "quad", "RUNNING", ["RUNNING", "RUNNING"])
    assert len(requests.get(server.connect + "/connectors/quad/tasks").json()) == 2
    for p in range(4):
        mine = [{"r": r, "i": i} for r in range(4) for i in range(40) if i % 4 == p]
        expect_objects(root, "quad", "quad", p, {o: mine[o:o + 10] for o in range(0, 40, 10)})
    wait_sink_offsets(server, "quad", {("quad", p): 40 for p in range(4)})

    create_topic(server, "clock")
    produce_json(server, "clock", [{"value": {"i": i}} for i in range(7)])
    create(server, "clock", sink_config("clock", "clock", root, 1000, **{"rotate.schedule.interval.ms": "1000", "timezone": "UTC"}))
    expect_objects(root, "clock", "clock", 0, {0: [{"i": i} for i in range(7)]})
    wait_sink_offsets(server, "clock", {("clock", 0): 7})
    produce_json(server, "clock", [{"value": {"i": i}} for i in range(7, 10)])
    expect_objects(root, "clock", "clock", 0, {0: [{"i": i} for i in range(7)], 7: [{"i": i} for i in range(7, 10)]})
    for name in ("quad", "clock"):
        requests.delete(f"{server.connect}/connectors/{name}")
    shutil.rmtree(work, ignore_errors=True)


def test_sink_field_traversal(server):
    """Field names and values that look like paths never lead out of the bucket: refused, or kept inside."""
    work = tempfile.mkdtemp(prefix="pipeline-traversal-")
    root = os.path.join(work, "a", "b", "store")
    create_topic(server, "trav")
    produce_json(server, "trav", [{"value": {"x": "..", "y": "../../../../escaped", "z": "%2F..%2F"}} for _ in range(2)])
    for number, field in enumerate(["x", "y", "z", "../../../../escaped", "x,y,z"]):
        name = f"trav-{number}"
        response = requests.post(server.connect + "/connectors", json={"name": name, "config": sink_config(
            "trav", f"trav-{number}", root, 2, **{"partitioner.class": "FieldPartitioner", "partition.field.name": field})})
        if response.status_code == 400:
            continue
        assert response.status_code == 201, response.text
        wait_for(lambda: bucket_files(root, f"trav-{number}") or (state(server, name) or ("", [""]))[1] == ["FAILED"],
                 what=f"{name} to write or fail")
        for path in bucket_files(root, f"trav-{number}"):
            assert ".." not in path.split("/"), path
        requests.delete(f"{server.connect}/connectors/{name}")
    time.sleep(0.5)
    written = [path for path in all_files(work) if not path.startswith("a/b/store/")]
    assert written == [], f"written outside the store: {written}"
    shutil.rmtree(work, ignore_errors=True)


def test_sink_transient_failure(server):
    """A publish that fails mid-put (a file stands where the partition's folder goes) fails the task, even with
    errors.retry.timeout (the batch is half in the open files and cannot be put again): nothing is published, the
    committed offset stays put, and once the obstacle is gone a restarted task writes exactly the objects it would have
    written, nothing twice, nothing lost, nothing out of order. (21 records, flush.size 10: a put that was retried on
    top of its own open records would show.)"""
    work = tempfile.mkdtemp(prefix="pipeline-transient-")
    root = os.path.join(work, "store")
    create_topic(server, "flaky")
    values = [{"i": i} for i in range(30)]
    produce_json(server, "flaky", [{"value": v} for v in values[:21]])
    blocker = os.path.join(root, "flaky", "topics", "flaky", "partition=0")
    os.makedirs(os.path.dirname(blocker))
    with open(blocker, "w") as file:
        file.write("not a folder")
    create(server, "flaky", sink_config("flaky", "flaky", root, 10, **{"errors.retry.timeout": "60000", "errors.retry.delay.max.ms": "1000"}))
    wait_state(server, "flaky", "RUNNING", ["FAILED"])
    assert "partition=0" in trace(server, "flaky"), trace(server, "flaky")
    time.sleep(0.5)
    assert bucket_files(root, "flaky") == {"topics/flaky/partition=0": b"not a folder"}, sorted(bucket_files(root, "flaky"))
    assert offsets(server, "flaky") in ([], [{"partition": {"kafka_topic": "flaky", "kafka_partition": 0}, "offset": {"kafka_offset": 0}}]), offsets(server, "flaky")
    os.remove(blocker)
    assert requests.post(server.connect + "/connectors/flaky/tasks/0/restart").status_code == 204
    expect_objects(root, "flaky", "flaky", 0, {0: values[0:10], 10: values[10:20]})
    wait_sink_offsets(server, "flaky", {("flaky", 0): 20})
    produce_json(server, "flaky", [{"value": v} for v in values[21:30]])
    expect_objects(root, "flaky", "flaky", 0, {0: values[0:10], 10: values[10:20], 20: values[20:30]})
    assert state(server, "flaky") == ("RUNNING", ["RUNNING"]), trace(server, "flaky")
    requests.delete(server.connect + "/connectors/flaky")
    shutil.rmtree(work, ignore_errors=True)


def test_sink_folder_removed(server):
    """Objects (and their folders) removed from the bucket while the sink runs, as one cleans a bucket: later objects
    are still written, and the task keeps running."""
    work = tempfile.mkdtemp(prefix="pipeline-removed-")
    root = os.path.join(work, "store")
    create_topic(server, "cleaned")
    values = [{"i": i} for i in range(20)]
    produce_json(server, "cleaned", [{"value": v} for v in values[:10]])
    create(server, "cleaned", sink_config("cleaned", "cleaned", root, 10))
    expect_objects(root, "cleaned", "cleaned", 0, {0: values[0:10]})
    shutil.rmtree(os.path.join(root, "cleaned", "topics"))
    produce_json(server, "cleaned", [{"value": v} for v in values[10:20]])
    time.sleep(1.5)
    assert state(server, "cleaned") == ("RUNNING", ["RUNNING"]), trace(server, "cleaned")
    expect_objects(root, "cleaned", "cleaned", 0, {10: values[10:20]}, seconds=10)
    requests.delete(server.connect + "/connectors/cleaned")
    shutil.rmtree(work, ignore_errors=True)


# MARK: - The pipeline

def test_pipeline_kill():
    """SQLite -> topic -> bucket with default (schema'd JSON) converters, while a writer process inserts rows; the server
    is killed with SIGKILL twice and started again on the same data dir. In the end the bucket mirrors the topic exactly
    (every offset in one published object, full objects only, none overlapping) and holds every row; a row is there
    twice only if the source wrote it twice to the topic (at-least-once: the batch in flight at a kill), at most one
    batch per kill."""
    server = Server()
    work = tempfile.mkdtemp(prefix="pipeline-kill-")
    started = time.time()
    try:
        db = make_db(os.path.join(work, "shop.db"))
        root = os.path.join(work, "store")
        create_topic(server, "pipe-orders", partitions=2)
        rows, batch, flush, kills = 1500, 30, 10, 2
        create(server, "p-src", {"connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
                                 "connection.url": "jdbc:sqlite:" + db, "mode": "timestamp+incrementing",
                                 "timestamp.column.name": "updated_at", "table.whitelist": "orders", "topic.prefix": "pipe-",
                                 "poll.interval.ms": "200", "batch.max.rows": str(batch)})
        create(server, "p-sink", {"connector.class": "io.confluent.connect.s3.S3SinkConnector", "topics": "pipe-orders",
                                  "s3.bucket.name": "lake", "store.url": "file://" + root, "flush.size": str(flush),
                                  "offset.flush.interval.ms": "500"})
        writer = start_writer(db, start_id=1, rows=rows, seconds=6, group=100, seed=5)
        for _ in range(kills):
            time.sleep(1.8)
            server.stop(signal.SIGKILL)
            time.sleep(0.3)
            server.start()
        finish_writer(writer)
        final = final_rows(db)
        assert len(final) == rows
        wait_state(server, "p-src", "RUNNING", ["RUNNING"])
        wait_state(server, "p-sink", "RUNNING", ["RUNNING"])

        def in_topic():
            records = topic_records(server, "pipe-orders")
            return records if {json.loads(r["value"])["payload"]["id"] for r in records} >= set(final) else None

        wait_for(in_topic, 40, "every row in the topic")
        time.sleep(1.0)
        records = topic_records(server, "pipe-orders")
        # Pad each partition to a multiple of flush.size, so that every record ends in a full object.
        pad_schema = {"type": "struct", "fields": [{"field": "pad", "type": "int32", "optional": False}], "optional": False}
        ends = {}
        for p in (0, 1):
            count = len([r for r in records if r["partition"] == p])
            pads = (-count) % flush
            if pads:
                produce_json(server, "pipe-orders", [{"value": {"schema": pad_schema, "payload": {"pad": i}}, "partition": p} for i in range(pads)])
            ends[p] = count + pads
        wait_sink_offsets(server, "p-sink", {("pipe-orders", p): ends[p] for p in (0, 1)}, 30)
        files = bucket_files(root, "lake")
        topic = {p: partition_records(server, "pipe-orders", p) for p in (0, 1)}
        seen = []
        for p in (0, 1):
            starts = sorted(int(OBJECT_NAME.match(os.path.basename(path)).group("offset")) for path in files
                            if path.startswith(f"topics/pipe-orders/partition={p}/"))
            assert starts == list(range(0, ends[p], flush)), (p, starts, ends[p])
            for start in starts:
                lines = ndjson(files[f"topics/pipe-orders/partition={p}/pipe-orders+{p}+{start:010d}.json"])
                expected = [json.loads(r["value"])["payload"] for r in topic[p][start:start + flush]]
                assert lines == expected, (p, start, lines, expected)
                seen += [line for line in lines if "pad" not in line]
        assert len(files) == sum(ends[p] // flush for p in (0, 1)), sorted(files)
        for value in seen:
            check_row(value, final)
        ids = ids_of(seen)
        assert set(ids) == set(final), sorted(set(final) - set(ids))[:20]
        twice = duplicates(ids)
        topic_ids = [json.loads(r["value"])["payload"]["id"] for p in (0, 1) for r in topic[p] if "id" in json.loads(r["value"])["payload"]]
        assert len(ids) == len(topic_ids) and twice == duplicates(topic_ids), "the sink wrote a record twice"
        assert all(ids.count(i) == 2 for i in twice) and len(twice) <= kills * max(batch, 100), sorted(twice)
        if twice:
            print(f"note: the source wrote {len(twice)} rows twice (a batch in flight at a kill)", file=sys.stderr, flush=True)
        staging = os.path.join(root, ".runnel-staging")
        assert all_files(staging) == [], ("staged files left behind", all_files(staging))
        assert time.time() - started < 60, time.time() - started
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


# MARK: - Main

SHARED = [test_source_bad_input, test_sink_field_partitioner, test_sink_time_partitioners, test_sink_formats,
          test_sink_null_values, test_sink_bad_input, test_sink_symlinks, test_sink_unformattable,
          test_sink_tasks_and_rotation, test_sink_field_traversal, test_sink_transient_failure, test_sink_folder_removed]
OWN_SERVER = [
    test_source_incrementing, test_source_timestamp, test_source_timestamp_incrementing, test_source_bulk,
    test_source_query, test_source_restart, test_source_new_tables_and_tasks, test_source_schema_changes, test_source_types,
    test_source_locks_and_time_settings,
    test_sink_objects, test_sink_restarts, test_pipeline_kill,
]


def main():
    run_suite(SHARED, OWN_SERVER)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--writer"]:
        writer_main(json.loads(sys.argv[2]))
    else:
        main()
