"""A crash loop: `runnel serve` under mixed load (producers on the v2 and v3 APIs, a consumer group committing offsets,
a SQLite source -> bucket sink pipeline fed by a writer) is killed with SIGKILL at random moments and started again
on the same data directory, N times. After each restart: every acknowledged record is at its acknowledged partition
and offset, once, with its value; committed group offsets are at least the last acknowledged commit. At the end the
bucket holds every row of the table, each record of the topic exactly once.

Usage: crash.py RUNNEL_BINARY [test_crash_loop]. RUNNEL_CRASH_ROUNDS (default 5) sets the number of kills and
RUNNEL_CRASH_SEED the random seed (printed; default fixed), so a failing run can be repeated. Progress goes to standard
error, one line per round."""

import base64
import json
import os
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time

import requests

from connect import create, state, wait_state
from pipeline import (OBJECT_NAME, all_files, bucket_files, check_row, duplicates, final_rows, ids_of, make_db, ndjson,
                      now_ms, iso, offsets, partition_records, row_fields, sink_config, source_config, stored_offsets)
from rest_proxy import V2, V2_BINARY, Server, b64, create_topic, produce_json, run_suite, wait_for

TOPIC = "crash"
PARTITIONS = 4
GROUP = "crash-group"
SOURCE, SINK, SOURCE_TOPIC, BUCKET = "crash-src", "crash-sink", "src-orders", "lake"
SOURCE_BATCH, FLUSH = 20, 10
PRODUCERS, CONSUMERS = 4, 2
SEGMENT_BYTES = 256 * 1024  # small segments: kills land around segment rolls, and recovery spans many segments
TIMEOUT = 15  # seconds, for every request: a hung server fails the test instead of hanging it


def log(message):
    print(message, file=sys.stderr, flush=True)


class Failure(AssertionError):
    pass


class Load:
    """What the load threads were told, shared across rounds (guarded by `lock`)."""

    def __init__(self, seed):
        self.lock = threading.Lock()
        self.commit_lock = threading.Lock()  # one commit in flight at a time: "the last acknowledged" is well defined
        self.seed = seed
        self.sent = set()  # every value ever sent (acknowledged or not); each is sent once, never retried
        self.acked = {}  # value -> (partition, offset), for produce responses that said success
        self.acked_at = {}  # (partition, offset) -> value
        self.seen = {}  # (partition, offset) -> value, records the consumers read
        self.committed = {}  # partition -> highest acknowledged committed offset (the next offset to read)
        self.sequences = [0] * PRODUCERS
        self.reset_round()

    def reset_round(self):
        self.round_acked = 0
        self.round_unacked = 0
        self.round_rejected = {}  # HTTP status or error code -> count, answers that said failure while the server ran
        self.samples = {}  # reason -> the first such answer
        self.round_commits = 0
        self.round_read = 0

    def ack(self, value, partition, offset, context):
        with self.lock:
            if value in self.acked:
                raise Failure(f"{value} acknowledged twice: {self.acked[value]} and {(partition, offset)} ({context})")
            other = self.acked_at.get((partition, offset))
            if other is not None:
                raise Failure(f"offset {(partition, offset)} acknowledged for {other} and for {value} ({context})")
            self.acked[value] = (partition, offset)
            self.acked_at[(partition, offset)] = value
            self.round_acked += 1

    def reject(self, reason, count, response=None):
        """An answer that said failure while the server ran: counted by reason; the first of each reason is shown."""
        with self.lock:
            self.round_rejected[reason] = self.round_rejected.get(reason, 0) + count
            if response is not None and reason not in self.samples:
                self.samples[reason] = response.text[:300]


# MARK: - Load threads

def producer(server, load, index, stop, errors):
    """Keyed records, each value unique (p<index>-<seq>), in requests of 1-20 records: even threads on v2
    (POST /topics/{t}, binary embedded format), odd ones on v3 (a stream to POST .../topics/{t}/records)."""
    rng = random.Random(load.seed * 1000 + index * 7 + load.sequences[index])
    session = requests.Session()
    try:
        while not stop.is_set():
            count = rng.randint(1, 20)
            start = load.sequences[index]
            load.sequences[index] += count
            values = [f"p{index}-{start + i}" for i in range(count)]
            keys = [f"key-{rng.randrange(200)}" for _ in values]
            with load.lock:
                load.sent.update(values)
            try:
                if index % 2 == 0:
                    body = {"records": [{"key": b64(k), "value": b64(v)} for k, v in zip(keys, values)]}
                    response = session.post(f"{server.url}/topics/{TOPIC}", headers={"Content-Type": V2_BINARY},
                                            data=json.dumps(body), timeout=TIMEOUT)
                    if response.status_code != 200:
                        load.reject(f"v2 {response.status_code}", count, response)
                        continue
                    reports = response.json()["offsets"]
                    if len(reports) != count:
                        raise Failure(f"v2 produce of {count} records answered {len(reports)} offsets: {response.text[:500]}")
                    for value, report in zip(values, reports):
                        if report.get("error_code") is None and report.get("error") is None:
                            load.ack(value, report["partition"], report["offset"], "v2")
                        else:
                            load.reject(f"v2 record {report.get('error_code')}", 1)
                else:
                    body = "\n".join(json.dumps({"key": {"type": "STRING", "data": k}, "value": {"type": "STRING", "data": v}})
                                     for k, v in zip(keys, values))
                    response = session.post(f"{server.v3}/topics/{TOPIC}/records", headers={"Content-Type": "application/json"},
                                            data=body, timeout=TIMEOUT)
                    if response.status_code != 200:
                        load.reject(f"v3 {response.status_code}", count, response)
                        continue
                    reports = [json.loads(line) for line in response.text.split("\n") if line.strip()]
                    if len(reports) != count:
                        raise Failure(f"v3 produce of {count} records answered {len(reports)} reports: {response.text[:500]}")
                    for value, report in zip(values, reports):
                        if report.get("error_code") == 200:
                            load.ack(value, report["partition_id"], report["offset"], "v3")
                        else:
                            load.reject(f"v3 record {report.get('error_code')}", 1)
            except (requests.RequestException, ValueError):
                # The server died under the request (or cut its answer): not acknowledged, maybe written.
                with load.lock:
                    load.round_unacked += count
                time.sleep(0.02)
    except Failure as failure:
        errors.append(failure)
    except Exception as error:  # a bug in the test itself: fail loudly, not silently
        errors.append(Failure(f"producer {index}: {error!r}"))
    finally:
        session.close()


def consumer_thread(server, load, round_number, index, stop, errors):
    """A v2 instance of the group: subscribe, read, and after each read commit the last offset read of each partition
    (POST .../offsets), only forward of what was acknowledged already. A commit answered 200 [] is acknowledged."""
    session = requests.Session()
    try:
        response = session.post(f"{server.url}/consumers/{GROUP}", headers={"Content-Type": V2}, timeout=TIMEOUT,
                                data=json.dumps({"name": f"r{round_number}-c{index}", "format": "binary",
                                                 "auto.offset.reset": "earliest", "auto.commit.enable": "false"}))
        if response.status_code != 200:
            load.reject(f"create instance {response.status_code}", 1, response)
            return
        base = response.json()["base_uri"]
        response = session.post(base + "/subscription", headers={"Content-Type": V2}, data=json.dumps({"topics": [TOPIC]}),
                                timeout=TIMEOUT)
        if response.status_code != 204:
            load.reject(f"subscribe {response.status_code}", 1, response)
            return
        while not stop.is_set():
            response = session.get(base + "/records", headers={"Accept": V2_BINARY},
                                   params={"timeout": 300, "max_bytes": 32768}, timeout=TIMEOUT)
            if response.status_code != 200:
                load.reject(f"read {response.status_code}", 1, response)
                time.sleep(0.05)
                continue
            last = {}
            records = response.json()
            with load.lock:
                load.round_read += len(records)
                for record in records:
                    if record["topic"] != TOPIC:
                        raise Failure(f"a record of another topic: {record}")
                    key = (record["partition"], record["offset"])
                    value = b64decode(record["value"])
                    if load.seen.setdefault(key, value) != value:
                        raise Failure(f"{key} read as {load.seen[key]} and later as {value}")
                    last[record["partition"]] = max(last.get(record["partition"], -1), record["offset"])
            with load.commit_lock:
                wanted = {p: o for p, o in last.items() if o + 1 > load.committed.get(p, 0)}
                if not wanted:
                    continue
                body = {"offsets": [{"topic": TOPIC, "partition": p, "offset": o} for p, o in sorted(wanted.items())]}
                response = session.post(base + "/offsets", headers={"Content-Type": V2}, data=json.dumps(body), timeout=TIMEOUT)
                if response.status_code == 200 and response.json() == []:
                    for p, o in wanted.items():
                        load.committed[p] = o + 1
                    with load.lock:
                        load.round_commits += 1
                else:
                    load.reject(f"commit {response.status_code}", 1, response)
    except (requests.RequestException, ValueError):
        pass  # the server died
    except Failure as failure:
        errors.append(failure)
    except Exception as error:
        errors.append(Failure(f"consumer {index}: {error!r}"))
    finally:
        session.close()


def b64decode(data):
    return None if data is None else base64.b64decode(data).decode()


class Writer(threading.Thread):
    """Inserts rows into the source's table, 1-4 per transaction, about 40 rows a second, until stopped; runs on while
    the server is down."""

    def __init__(self, db, seed):
        super().__init__(daemon=True)
        self.db, self.rng, self.stop, self.next_id, self.error = db, random.Random(seed), threading.Event(), 1, None

    def run(self):
        try:
            db = sqlite3.connect(self.db, isolation_level=None, timeout=30)
            while not self.stop.is_set():
                ts = now_ms()
                db.execute("BEGIN IMMEDIATE")
                for _ in range(self.rng.randint(1, 4)):
                    f = row_fields(self.next_id, 0)
                    db.execute("INSERT INTO orders (id, customer, amount, note, payload, version, updated_at) VALUES (?,?,?,?,?,?,?)",
                               (self.next_id, f["customer"], f["amount"], f["note"], f["payload"], 0, iso(ts)))
                    self.next_id += 1
                db.execute("COMMIT")
                time.sleep(self.rng.uniform(0.03, 0.08))
            db.close()
        except Exception as error:
            self.error = error


# MARK: - Checks

def read_partition(session, server, partition):
    """offset -> value of every record of a partition (v3 stateless reads), and its high watermark."""
    records, offset, high = {}, 0, None
    while True:
        response = session.get(f"{server.v3}/topics/{TOPIC}/partitions/{partition}/records",
                               params={"offset": offset, "max_bytes": 4 << 20}, timeout=TIMEOUT)
        if response.status_code == 416 and offset in (0, high):
            break  # empty, or read to the end
        if response.status_code != 200:
            raise Failure(f"reading partition {partition} at {offset}: {response.status_code} {response.text[:300]}")
        page = response.json()
        high = page["high_watermark"]
        if page["log_start_offset"] != 0:
            raise Failure(f"partition {partition} starts at {page['log_start_offset']}, not 0")
        for record in page["data"]:
            if record["offset"] in records:
                raise Failure(f"partition {partition}: offset {record['offset']} returned twice")
            records[record["offset"]] = b64decode(record["value"]["data"]) if record["value"] else None
        if not page["data"] or page["next_offset"] >= high:
            break
        offset = page["next_offset"]
    return records, (high if high is not None else 0)


def check_records(server, load):
    """Every acknowledged record at its offset with its value; no value twice in the topic; only values we sent;
    offsets dense; what the consumers read still there. Returns the high watermarks."""
    session = requests.Session()
    try:
        topic_log, highs = {}, {}
        for p in range(PARTITIONS):
            topic_log[p], highs[p] = read_partition(session, server, p)
    finally:
        session.close()
    problems = []
    for p in range(PARTITIONS):
        if sorted(topic_log[p]) != list(range(highs[p])):
            gaps = sorted(set(range(highs[p])) - set(topic_log[p]))
            problems.append(f"partition {p}: offsets not dense below the high watermark {highs[p]}: missing {gaps[:10]}")
    lost, changed = [], []
    for value, (p, o) in load.acked.items():
        found = topic_log.get(p, {}).get(o)
        if found is None:
            lost.append((value, p, o, highs.get(p)))
        elif found != value:
            changed.append((value, p, o, found))
    if lost:
        problems.append(f"{len(lost)} acknowledged records LOST (value, partition, offset, high watermark now): {lost[:10]}")
    if changed:
        problems.append(f"{len(changed)} acknowledged offsets hold ANOTHER value (acked value, p, o, found): {changed[:10]}")
    where = {}
    for p, records in topic_log.items():
        for o, value in records.items():
            where.setdefault(value, []).append((p, o))
    twice = {v: w for v, w in where.items() if len(w) > 1}
    if twice:
        acked_twice = {v: w for v, w in twice.items() if v in load.acked}
        problems.append(f"{len(twice)} values at more than one offset ({len(acked_twice)} of them acknowledged): "
                        f"{sorted(twice.items())[:10]}")
    unknown = [v for v in where if v not in load.sent]
    if unknown:
        problems.append(f"{len(unknown)} values in the topic that were never sent: {unknown[:10]}")
    vanished = [(k, v, topic_log.get(k[0], {}).get(k[1])) for k, v in load.seen.items() if topic_log.get(k[0], {}).get(k[1]) != v]
    if vanished:
        problems.append(f"{len(vanished)} records a consumer read before the kill are gone or changed ((p, o), read, now): "
                        f"{sorted(vanished)[:10]}")
    if problems:
        raise Failure("; ".join(problems))
    return highs, sum(len(r) for r in topic_log.values())


def check_group(server, load, highs, round_number):
    """The group's committed offsets, from a new instance (v2 GET .../offsets) and from v3 lags: never below the last
    acknowledged commit, never past the log end."""
    session = requests.Session()
    try:
        response = session.post(f"{server.url}/consumers/{GROUP}", headers={"Content-Type": V2}, timeout=TIMEOUT,
                                data=json.dumps({"name": f"r{round_number}-check", "format": "binary", "auto.commit.enable": "false"}))
        if response.status_code != 200:
            raise Failure(f"creating a checking instance after the restart: {response.status_code} {response.text[:300]}")
        base = response.json()["base_uri"]
        body = {"partitions": [{"topic": TOPIC, "partition": p} for p in range(PARTITIONS)]}
        response = session.get(base + "/offsets", headers={"Content-Type": V2}, data=json.dumps(body), timeout=TIMEOUT)
        if response.status_code != 200:
            raise Failure(f"v2 committed offsets: {response.status_code} {response.text[:300]}")
        v2 = {o["partition"]: o["offset"] for o in response.json()["offsets"]}
        session.delete(base, timeout=TIMEOUT)
        response = session.get(f"{server.v3}/consumer-groups/{GROUP}/lags", timeout=TIMEOUT)
        v3 = {}
        if load.committed:
            if response.status_code != 200:
                raise Failure(f"v3 lags: {response.status_code} {response.text[:300]}")
            v3 = {l["partition_id"]: l["current_offset"] for l in response.json()["data"] if l["topic_name"] == TOPIC}
    finally:
        session.close()
    problems = []
    for p in range(PARTITIONS):
        acked = load.committed.get(p)
        stored = v2.get(p, -1)
        if acked is not None:
            if stored < acked:
                problems.append(f"partition {p}: committed offset went BACKWARDS: last acknowledged commit {acked}, "
                                f"after the restart {stored} (v2)")
            v3_stored = v3.get(p)
            if v3_stored is None or v3_stored < acked:
                problems.append(f"partition {p}: v3 lags shows current_offset {v3_stored}, last acknowledged commit {acked}")
            elif v3_stored != stored:
                problems.append(f"partition {p}: v2 says {stored}, v3 lags says {v3_stored}")
        if stored > highs[p]:
            problems.append(f"partition {p}: committed offset {stored} is past the log end {highs[p]}")
    if problems:
        raise Failure("; ".join(problems))
    return v2


def source_committed(data_dir):
    """The incrementing offset the source had stored in connect.db (read while the server is down), or 0."""
    for partition, offset in stored_offsets(data_dir, SOURCE).items():
        if json.loads(partition).get("table") == "orders":
            return offset["incrementing"]
    return 0


def source_killed(server, kills_committed):
    """After a kill: the source's stored offset, which must not have gone back, is noted (the rows after it, at most
    one batch, may reach the topic twice)."""
    committed = source_committed(server.data_dir)
    if kills_committed and committed < kills_committed[-1]:
        raise Failure(f"the source's stored offset went BACKWARDS: {kills_committed[-1]} -> {committed}")
    kills_committed.append(committed)
    return committed


def check_bucket(server, root, db, kills_committed):
    """After the writer stopped: every row reaches the topic, the topic's partitions are padded to whole objects, the
    sink commits to the end; then each topic offset is in exactly one object with its record, every row of the table
    is in the bucket, and a row is there twice only where the source wrote it twice to the topic, which it may do only
    for the batch in flight at a kill (rows past its stored offset, at most batch.max.rows of them per kill)."""
    final = final_rows(db)
    want = set(final)

    def topic_ids():
        records = [r for p in (0, 1) for r in partition_records(server, SOURCE_TOPIC, p)]
        return records if {json.loads(r["value"]).get("id") for r in records} >= want else None

    try:
        wait_for(topic_ids, 60, "every row in the source topic")
    except AssertionError:
        ids = {json.loads(r["value"]).get("id") for p in (0, 1) for r in partition_records(server, SOURCE_TOPIC, p)}
        raise Failure(f"rows never reached {SOURCE_TOPIC}: {len(want - ids)} of {len(want)}, e.g. {sorted(want - ids)[:20]}; "
                      f"source offsets {offsets(server, SOURCE)}, status {state(server, SOURCE)}")
    time.sleep(1.0)
    topic = {p: partition_records(server, SOURCE_TOPIC, p) for p in (0, 1)}
    ends = {}
    for p in (0, 1):
        pads = (-len(topic[p])) % FLUSH
        if pads:
            produce_json(server, SOURCE_TOPIC, [{"value": {"pad": i}, "partition": p} for i in range(pads)])
        ends[p] = len(topic[p]) + pads

    def sink_offsets():
        return {o["partition"]["kafka_partition"]: o["offset"]["kafka_offset"] for o in offsets(server, SINK)
                if o["partition"]["kafka_topic"] == SOURCE_TOPIC}

    try:
        wait_for(lambda: sink_offsets() == ends, 60, "the sink to commit to the end")
    except AssertionError:
        raise Failure(f"the sink did not reach the end {ends}: committed {sink_offsets()}, status {state(server, SINK)}")
    topic = {p: partition_records(server, SOURCE_TOPIC, p) for p in (0, 1)}
    files = bucket_files(root, BUCKET)
    problems, seen = [], []
    for path in files:
        if not OBJECT_NAME.match(os.path.basename(path)):
            problems.append(f"not an object name: {path}")
    for p in (0, 1):
        prefix = f"topics/{SOURCE_TOPIC}/partition={p}/"
        starts = sorted(int(OBJECT_NAME.match(os.path.basename(f)).group("offset")) for f in files if f.startswith(prefix))
        if starts != list(range(0, ends[p], FLUSH)):
            problems.append(f"partition {p}: objects start at {starts[:30]}..., expected every {FLUSH} up to {ends[p]}")
        for start in starts:
            lines = ndjson(files[f"{prefix}{SOURCE_TOPIC}+{p}+{start:010d}.json"])
            expected = [json.loads(r["value"]) for r in topic[p][start:start + FLUSH]]
            if lines != expected:
                problems.append(f"partition {p}: object at {start} holds {lines[:3]}..., the topic {expected[:3]}...")
            seen += [line for line in lines if "pad" not in line]
    if len(files) != sum(ends[p] // FLUSH for p in (0, 1)):
        problems.append(f"{len(files)} objects, expected {sum(ends[p] // FLUSH for p in (0, 1))}")
    staged = all_files(os.path.join(root, ".runnel-staging"))
    if staged:
        problems.append(f"staged files left behind: {staged[:10]}")
    for value in seen:
        try:
            check_row(value, final)
        except AssertionError as error:
            problems.append(f"a row in the bucket is not the table's: {error}")
            break
    ids = ids_of(seen)
    missing = sorted(want - set(ids))
    if missing:
        problems.append(f"{len(missing)} rows MISSING from the bucket: {missing[:20]}")
    topic_row_ids = [json.loads(r["value"])["id"] for p in (0, 1) for r in topic[p] if "id" in json.loads(r["value"])]
    if sorted(ids) != sorted(topic_row_ids):
        problems.append(f"the bucket's rows are not the topic's: bucket twice {sorted(duplicates(ids))[:20]}, "
                        f"topic twice {sorted(duplicates(topic_row_ids))[:20]}")
    twice = duplicates(ids)
    windows = lambda i: sum(1 for committed in kills_committed if committed < i <= committed + SOURCE_BATCH)
    unexplained = sorted(i for i in twice if ids.count(i) > 1 + windows(i))
    if unexplained:
        problems.append(f"rows in the bucket more than once that were not in flight at a kill: {unexplained[:20]} "
                        f"(counts {[ids.count(i) for i in unexplained[:20]]}; source offsets at the kills {kills_committed})")
    if problems:
        raise Failure("; ".join(problems))
    return len(final), len(ids), len(files), sorted(twice)


# MARK: - The test

def test_crash_loop():
    rounds = int(os.environ.get("RUNNEL_CRASH_ROUNDS", "5"))
    seed = int(os.environ.get("RUNNEL_CRASH_SEED", "20261122"))
    log(f"crash loop: seed {seed} (RUNNEL_CRASH_SEED), {rounds} rounds (RUNNEL_CRASH_ROUNDS)")
    rng = random.Random(seed)
    started = time.time()
    work = tempfile.mkdtemp(prefix="runnel-crash-")
    server, writer, stop, threads = None, None, threading.Event(), []
    round_number = 0
    try:
        root = os.path.join(work, "store")
        os.makedirs(os.path.join(work, "data"))
        server = Server(data_dir=os.path.join(work, "data"))
        load = Load(seed)
        db = make_db(os.path.join(work, "shop.db"))
        create_topic(server, TOPIC, partitions=PARTITIONS, configs=[("segment.bytes", str(SEGMENT_BYTES))])
        create_topic(server, SOURCE_TOPIC, partitions=2)
        create(server, SOURCE, source_config(db, "incrementing", **{"batch.max.rows": str(SOURCE_BATCH)}))
        create(server, SINK, sink_config(SOURCE_TOPIC, BUCKET, root, FLUSH))
        wait_state(server, SOURCE, "RUNNING", ["RUNNING"])
        wait_state(server, SINK, "RUNNING", ["RUNNING"])
        writer = Writer(db, seed)
        writer.start()
        kills_committed = []

        for round_number in range(1, rounds + 1):
            load.reset_round()
            stop = threading.Event()
            errors = []
            threads = [threading.Thread(target=producer, args=(server, load, i, stop, errors)) for i in range(PRODUCERS)]
            threads += [threading.Thread(target=consumer_thread, args=(server, load, round_number, i, stop, errors))
                        for i in range(CONSUMERS)]
            kill_after = rng.uniform(0.3, 4.0)
            round_start = time.time()
            for thread in threads:
                thread.start()
            time.sleep(kill_after)
            server.stop(signal.SIGKILL)
            stop.set()
            for thread in threads:
                thread.join(TIMEOUT + 15)
            if any(t.is_alive() for t in threads):
                raise Failure("a load thread did not finish after the kill")
            threads = []
            if errors:
                raise errors[0]
            committed_source = source_killed(server, kills_committed)
            # Some rounds kill the restarted server again while it starts its connectors and reloads its groups.
            again = rng.uniform(0.0, 0.6) if rng.random() < 0.3 else None
            restart = time.time()
            try:
                server.start()
                if again is not None:
                    time.sleep(again)
                    server.stop(signal.SIGKILL)
                    source_killed(server, kills_committed)
                    server.start()
            except AssertionError as error:
                code = server.process.poll()
                raise Failure(f"the server would not restart (exit status {code}): {error}; "
                              f"the end of its log: {server.log_text()[-3000:]}")
            restart = time.time() - restart
            highs, total = check_records(server, load)
            group = check_group(server, load, highs, round_number)
            try:
                wait_state(server, SOURCE, "RUNNING", ["RUNNING"])
                wait_state(server, SINK, "RUNNING", ["RUNNING"])
            except AssertionError as error:
                raise Failure(f"the connectors did not come back: {error}")
            rejected = f", rejected {load.round_rejected} (first answers: {load.samples})" if load.round_rejected else ""
            twice_killed = f" and {again:.2f}s after the restart" if again is not None else ""
            log(f"round {round_number}/{rounds}: kill after {kill_after:.2f}s{twice_killed}, acked {load.round_acked} "
                f"(total {len(load.acked)}, topic holds {total}), unacked {load.round_unacked}, read {load.round_read}, "
                f"commits acked {load.round_commits}{rejected}; source stored id {committed_source} "
                f"(table has {writer.next_id - 1}); restart {restart:.2f}s; checks ok: records, group offsets "
                f"{[group.get(p) for p in range(PARTITIONS)]} >= acked {[load.committed.get(p) for p in range(PARTITIONS)]}, "
                f"connectors RUNNING ({time.time() - round_start:.1f}s)")

        writer.stop.set()
        writer.join(30)
        if writer.error:
            raise Failure(f"the writer failed: {writer.error!r}")
        rows, in_bucket, objects, twice = check_bucket(server, root, db, kills_committed)
        if len(load.acked) < 100 * rounds:
            raise Failure(f"only {len(load.acked)} records acknowledged in {rounds} rounds: the load did not run")
        log(f"pipeline: {rows} rows, {in_bucket} row records in {objects} objects, every row there; "
            f"{len(twice)} rows twice, all in flight at a kill{': ' + str(twice) if twice else ''}; "
            f"total {time.time() - started:.1f}s")
    except Failure as failure:
        raise Failure(f"[seed {seed}, round {round_number}] {failure}") from None
    finally:
        stop.set()
        if writer:
            writer.stop.set()
        for thread in threads:
            thread.join(TIMEOUT + 15)
        if server and server.process and server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(timeout=20)
            except Exception:
                server.process.kill()
                server.process.wait()
        if server and not server.log.closed:
            server.log.close()
        if os.environ.get("RUNNEL_CRASH_KEEP"):
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run_suite([], [test_crash_loop])
