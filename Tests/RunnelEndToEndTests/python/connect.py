"""End-to-end tests of the connect worker: the real `runnel serve` driven over Kafka Connect's REST API with
`requests` and with the third-party client `kafka-connect-py`, as a Kafka Connect user would. Usage:
connect.py RUNNEL_BINARY [TEST_NAME...]; prints one line per test and exits non-zero when any fails."""

import base64
import json
import os
import signal
import subprocess
import tempfile
import time

import requests

from rest_proxy import RUNNEL, V2_BINARY, Server, consumer, create_topic, expect_error, post, produce_json, read_until, run_suite, wait_for


def create(server, name, config, status=201, **extra):
    response = requests.post(server.connect + "/connectors", json={"name": name, "config": config, **extra})
    assert response.status_code == status, response.text
    return response


def state(server, name):
    response = requests.get(f"{server.connect}/connectors/{name}/status")
    if response.status_code != 200:
        return None
    body = response.json()
    return body["connector"]["state"], [task["state"] for task in body["tasks"]]


def wait_state(server, name, connector, tasks):
    return wait_for(lambda: state(server, name) == (connector, tasks), what=f"{name} {connector} {tasks}: {state(server, name)}")


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as file:
        return file.read().splitlines()


def wait_lines(path, count, seconds=30):
    wait_for(lambda: len(lines(path)) >= count, seconds, f"{count} lines in {path} (have {len(lines(path))})")
    return lines(path)


def append(path, new_lines):
    with open(path, "a") as file:
        file.write("".join(line + "\n" for line in new_lines))


def consume_all(server, topic, count, group):
    base = consumer(server, group, "c", format="binary", **{"auto.offset.reset": "earliest"})
    post(base + "/subscription", {"topics": [topic]})
    records = read_until(base, count, fmt=V2_BINARY)
    requests.delete(base)
    return records


def decode(text):
    return None if text is None else base64.b64decode(text).decode()


# MARK: - Tests


def test_lifecycle(server):
    """Kafka's quick start: a file source and a file sink, then pause, resume, restart, stop, offsets, delete."""
    work = tempfile.mkdtemp(prefix="connect-life-")
    source_file, sink_file = os.path.join(work, "in.txt"), os.path.join(work, "out.txt")
    append(source_file, [f"line {i}" for i in range(100)])
    response = create(server, "life-src", {"connector.class": "FileStreamSource", "file": source_file, "topic": "life", "tasks.max": 1})
    assert response.headers["Location"].endswith("/connectors/life-src"), response.headers
    info = response.json()
    assert info["name"] == "life-src" and info["type"] == "source" and info["config"]["name"] == "life-src", info
    assert info["config"]["tasks.max"] == "1", info  # numbers are taken as their text
    create(server, "life-sink", {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "file": sink_file,
        "topics": "life", "offset.flush.interval.ms": "200"})
    wait_state(server, "life-src", "RUNNING", ["RUNNING"])
    wait_state(server, "life-sink", "RUNNING", ["RUNNING"])
    assert wait_lines(sink_file, 100) == [f"line {i}" for i in range(100)]

    names = requests.get(server.connect + "/connectors").json()
    assert {"life-src", "life-sink"} <= set(names), names
    expanded = requests.get(server.connect + "/connectors?expand=status&expand=info").json()
    assert expanded["life-sink"]["status"]["connector"]["state"] == "RUNNING", expanded
    assert expanded["life-sink"]["info"]["type"] == "sink", expanded
    assert requests.get(server.connect + "/connectors/life-src").json()["tasks"] == [{"connector": "life-src", "task": 0}]
    tasks = requests.get(server.connect + "/connectors/life-sink/tasks").json()
    assert tasks[0]["id"] == {"connector": "life-sink", "task": 0}, tasks
    assert tasks[0]["config"]["task.class"] == "org.apache.kafka.connect.file.FileStreamSinkTask", tasks
    assert tasks[0]["config"]["topics"] == "life", tasks
    task = requests.get(server.connect + "/connectors/life-sink/tasks/0/status").json()
    assert task["id"] == 0 and task["state"] == "RUNNING" and task["worker_id"], task
    assert requests.get(server.connect + "/connectors/life-src/topics").json() == {"life-src": {"topics": ["life"]}}
    assert requests.get(server.connect + "/connectors/life-sink/topics").json() == {"life-sink": {"topics": ["life"]}}

    # Pause stops the flow; resume restarts it where it stopped.
    assert requests.put(server.connect + "/connectors/life-src/pause").status_code == 202
    wait_state(server, "life-src", "PAUSED", ["PAUSED"])
    append(source_file, [f"line {i}" for i in range(100, 150)])
    time.sleep(1.5)
    assert len(lines(sink_file)) == 100, "a paused source must not read"
    assert requests.put(server.connect + "/connectors/life-src/resume").status_code == 202
    wait_state(server, "life-src", "RUNNING", ["RUNNING"])
    assert wait_lines(sink_file, 150) == [f"line {i}" for i in range(150)]

    # Restarts: plain (204), with tasks (202 and RESTARTING), one task (204).
    assert requests.post(server.connect + "/connectors/life-sink/restart").status_code == 204
    restart = requests.post(server.connect + "/connectors/life-sink/restart?includeTasks=true&onlyFailed=false")
    assert restart.status_code == 202, restart.text
    assert restart.json()["connector"]["state"] == "RESTARTING" and restart.json()["tasks"][0]["state"] == "RESTARTING", restart.text
    wait_state(server, "life-sink", "RUNNING", ["RUNNING"])
    only_failed = requests.post(server.connect + "/connectors/life-sink/restart?includeTasks=true&onlyFailed=true")
    assert only_failed.status_code == 202 and only_failed.json()["tasks"][0]["state"] == "RUNNING", only_failed.text
    assert only_failed.json()["connector"]["state"] == "RUNNING", only_failed.text
    assert requests.post(server.connect + "/connectors/life-sink/tasks/0/restart").status_code == 204
    wait_state(server, "life-sink", "RUNNING", ["RUNNING"])
    append(source_file, ["after restart"])
    assert wait_lines(sink_file, 151)[-1] == "after restart"

    # Offsets: shown, refused while running, altered once stopped.
    offsets = requests.get(server.connect + "/connectors/life-src/offsets").json()
    assert offsets["offsets"][0]["partition"] == {"filename": source_file}, offsets
    assert offsets["offsets"][0]["offset"]["position"] == os.path.getsize(source_file), offsets
    sink_offsets = wait_for(lambda: (lambda o: o if o["offsets"] and o["offsets"][0]["offset"]["kafka_offset"] == 151 else None)(
        requests.get(server.connect + "/connectors/life-sink/offsets").json()), what="sink offsets")
    assert sink_offsets["offsets"][0]["partition"] == {"kafka_topic": "life", "kafka_partition": 0}, sink_offsets
    rewind = {"offsets": [{"partition": {"filename": source_file}, "offset": {"position": 0}}]}
    expect_error(requests.patch(server.connect + "/connectors/life-src/offsets", json=rewind), 400, 400, "STOPPED")
    expect_error(requests.delete(server.connect + "/connectors/life-src/offsets"), 400, 400, "STOPPED")
    assert requests.put(server.connect + "/connectors/life-src/stop").status_code == 204
    wait_state(server, "life-src", "STOPPED", [])
    assert requests.get(server.connect + "/connectors/life-src/tasks").json() == []
    altered = requests.patch(server.connect + "/connectors/life-src/offsets", json=rewind)
    assert altered.status_code == 200 and "altered successfully" in altered.json()["message"], altered.text
    assert requests.get(server.connect + "/connectors/life-src/offsets").json() == rewind
    # Resuming a stopped connector re-reads the file from the altered offset.
    assert requests.put(server.connect + "/connectors/life-src/resume").status_code == 202
    assert wait_lines(sink_file, 302)[151:] == [f"line {i}" for i in range(150)] + ["after restart"]

    # Sink offsets: moved back by a PATCH once stopped, reset by a DELETE.
    assert requests.put(server.connect + "/connectors/life-sink/stop").status_code == 204
    wait_state(server, "life-sink", "STOPPED", [])
    moved = requests.patch(server.connect + "/connectors/life-sink/offsets", json={
        "offsets": [{"partition": {"kafka_topic": "life", "kafka_partition": 0}, "offset": {"kafka_offset": 300}}]})
    assert moved.status_code == 200, moved.text
    assert requests.get(server.connect + "/connectors/life-sink/offsets").json()["offsets"][0]["offset"] == {"kafka_offset": 300}
    reset = requests.delete(server.connect + "/connectors/life-sink/offsets")
    assert reset.status_code == 200 and "reset successfully" in reset.json()["message"], reset.text
    assert requests.get(server.connect + "/connectors/life-sink/offsets").json() == {"offsets": []}

    # Config: PUT updates (200) or creates (201); PATCH changes keys; DELETE removes.
    config = requests.get(server.connect + "/connectors/life-sink/config").json()
    config["offset.flush.interval.ms"] = "250"
    updated = requests.put(server.connect + "/connectors/life-sink/config", json=config)
    assert updated.status_code == 200 and updated.json()["config"]["offset.flush.interval.ms"] == "250", updated.text
    patched = requests.patch(server.connect + "/connectors/life-sink/config", json={"offset.flush.interval.ms": None, "tasks.max": "2"})
    assert patched.status_code == 200, patched.text
    assert "offset.flush.interval.ms" not in patched.json()["config"] and patched.json()["config"]["tasks.max"] == "2", patched.text
    made = requests.put(server.connect + "/connectors/life-copy/config", json={
        "connector.class": "FileStreamSink", "file": os.path.join(work, "copy.txt"), "topics": "life"})
    assert made.status_code == 201 and made.headers["Location"].endswith("/connectors/life-copy"), made.text
    assert wait_lines(os.path.join(work, "copy.txt"), 302)[:3] == ["line 0", "line 1", "line 2"]
    # Pause and resume release what a task holds: no file descriptor is left behind.
    fds = lambda: len(os.listdir(f"/proc/{server.process.pid}/fd"))
    before = fds()
    for _ in range(5):
        assert requests.put(server.connect + "/connectors/life-copy/pause").status_code == 202
        wait_state(server, "life-copy", "PAUSED", ["PAUSED"])
        assert requests.put(server.connect + "/connectors/life-copy/resume").status_code == 202
        wait_state(server, "life-copy", "RUNNING", ["RUNNING"])
    assert fds() <= before + 2, (before, fds())
    for name in ("life-src", "life-sink", "life-copy"):
        assert requests.delete(f"{server.connect}/connectors/{name}").status_code == 204
        expect_error(requests.get(f"{server.connect}/connectors/{name}"), 404, 404, "not found")
    assert "life-src" not in requests.get(server.connect + "/connectors").json()

    # Deleted and at once created again under the same name: only the new connector runs.
    first, second = os.path.join(work, "first.txt"), os.path.join(work, "second.txt")
    create(server, "again", {"connector.class": "FileStreamSink", "file": first, "topics": "life"})
    wait_lines(first, 302)
    assert requests.delete(server.connect + "/connectors/again").status_code == 204
    create(server, "again", {"connector.class": "FileStreamSink", "file": second, "topics": "life"})
    wait_state(server, "again", "RUNNING", ["RUNNING"])
    append(source_file, ["after re-create"])
    create(server, "life-src2", {"connector.class": "FileStreamSource", "file": source_file, "topic": "life"})
    wait_for(lambda: "after re-create" in lines(second), what="the new connector to write")
    time.sleep(1)
    assert "after re-create" not in lines(first), "the deleted connector still runs"
    assert requests.get(server.connect + "/connectors/again/status").json()["tasks"][0]["state"] == "RUNNING"

    # A sink pointed at another, existing file leaves that file's content alone.
    assert requests.put(server.connect + "/connectors/again/stop").status_code == 204
    other = os.path.join(work, "other.txt")
    append(other, [f"keep {i}" for i in range(1000)])
    patched = requests.patch(server.connect + "/connectors/again/config", json={"file": other})
    assert patched.status_code == 200, patched.text
    assert requests.put(server.connect + "/connectors/again/resume").status_code == 202
    wait_state(server, "again", "RUNNING", ["RUNNING"])
    append(source_file, ["into the other file"])
    wait_for(lambda: "into the other file" in lines(other), what="the sink to write the other file")
    assert lines(other)[:1000] == [f"keep {i}" for i in range(1000)], lines(other)[:5]
    for name in ("again", "life-src2"):
        requests.delete(f"{server.connect}/connectors/{name}")


def test_bad_input(server):
    """Clear errors in Kafka Connect's format, and nothing changes."""
    url = server.connect + "/connectors"
    expect_error(requests.post(url, data="{not json", headers={"Content-Type": "application/json"}), 400, 400)
    expect_error(requests.post(url, json=["a"]), 400, 400)
    expect_error(requests.post(url, json={"name": "x"}), 400, 400, "config")
    expect_error(requests.post(url, json={"name": "x", "config": {"file": "/tmp/x"}}), 400, 400, "connector type")
    expect_error(requests.post(url, json={"name": "x", "config": {"connector.class": "NoSuchConnector"}}), 400, 400, "NoSuchConnector")
    expect_error(requests.post(url, json={"name": "x", "config": {"connector.class": "FileStreamSink", "topics": "t", "file": "/tmp/x", "tasks.max": "abc"}}),
                 400, 400, "Invalid value abc for configuration tasks.max")
    invalid = requests.post(url, json={"name": "x", "config": {"connector.class": "FileStreamSink", "file": "/tmp/x"}})
    expect_error(invalid, 400, 400, "Must configure one of topics or topics.regex")
    assert "1 error(s)" in invalid.json()["message"], invalid.text
    expect_error(requests.post(url, json={"name": "x", "config": {"connector.class": "FileStreamSink", "topics": "t", "file": "/tmp/x", "name": "y"}}),
                 400, 400, "doesn't match")
    expect_error(requests.put(url + "/x/config", json={"connector.class": "FileStreamSink", "topics": "t", "file": "/tmp/x", "name": "y"}),
                 400, 400, "doesn't match")
    expect_error(requests.post(url, json={"name": "x", "config": {"connector.class": "FileStreamSink", "topics": ["t"]}}), 400, 400)
    expect_error(requests.post(url, json={"name": "x", "config": {"connector.class": "FileStreamSink", "topics": "t", "file": "/tmp/x"}, "initial_state": "SLEEPING"}),
                 400, 400, "initial_state")
    expect_error(requests.post(url, json={"name": "  ", "config": {"connector.class": "FileStreamSink", "topics": "t", "file": "/tmp/x"}}), 400, 400)
    assert "x" not in requests.get(url).json()

    work = tempfile.mkdtemp(prefix="connect-bad-")
    good = {"connector.class": "FileStreamSink", "topics": "bad-t", "file": os.path.join(work, "out.txt")}
    create(server, "dup", good, initial_state="PAUSED")
    wait_state(server, "dup", "PAUSED", ["PAUSED"])
    expect_error(requests.post(url, json={"name": "dup", "config": good}), 409, 409, "already exists")
    expect_error(requests.put(url + "/dup/config", json={**good, "tasks.max": "0"}), 400, 400, "tasks.max")
    assert requests.get(url + "/dup/config").json()["topics"] == "bad-t"
    expect_error(requests.patch(url + "/dup/offsets", json={"offsets": []}), 400, 400)
    expect_error(requests.patch(url + "/dup/offsets", data="nope", headers={"Content-Type": "application/json"}), 400, 400)
    # A body must say it is JSON (as Kafka Connect's Jersey resources require).
    expect_error(requests.patch(url + "/dup/offsets", data="nope"), 415, 415)

    for method, path in [
        ("get", "/missing"), ("get", "/missing/config"), ("put", "/missing/pause"), ("put", "/missing/resume"),
        ("put", "/missing/stop"), ("delete", "/missing"), ("get", "/missing/status"), ("post", "/missing/restart"),
        ("get", "/missing/tasks"), ("get", "/missing/tasks/0/status"), ("post", "/missing/tasks/0/restart"),
        ("get", "/missing/topics"), ("put", "/missing/topics/reset"), ("get", "/missing/offsets"),
        ("delete", "/missing/offsets"), ("patch", "/missing/config"),
    ]:
        response = getattr(requests, method)(url + path, json={"k": "v"} if method == "patch" else None)
        expect_error(response, 404, 404)
    expect_error(requests.get(url + "/missing/status"), 404, 404, "No status found for connector missing")
    expect_error(requests.post(url + "/missing/restart"), 404, 404, "Unknown connector: missing")
    expect_error(requests.get(url + "/dup/tasks/7/status"), 404, 404, "No status found for task dup-7")
    expect_error(requests.post(url + "/dup/tasks/7/restart"), 404, 404, "Unknown task: dup-7")
    expect_error(requests.post(url + "/dup/restart?includeTasks=maybe"), 400, 400)
    expect_error(requests.get(server.connect + "/connector-plugins/NoSuch/config"), 404, 404)
    expect_error(requests.put(server.connect + "/connector-plugins/FileStreamSink/config/validate", json={"topics": "t"}), 400, 400, "contains no connector type")
    expect_error(requests.put(server.connect + "/connector-plugins/FileStreamSink/config/validate", json={"connector.class": "FileStreamSource"}),
                 400, 400, "does not match")
    expect_error(requests.put(server.connect + "/admin/loggers/runnel.connect", json={}), 400, 400, "level")
    expect_error(requests.put(server.connect + "/admin/loggers/runnel.connect", json={"level": "LOUD"}), 404, 404, "invalid log level")
    expect_error(requests.get(server.connect + "/admin/loggers/no.such.logger"), 404, 404)
    expect_error(requests.get(server.connect + "/no/such/route"), 404, 404)
    assert requests.delete(url + "/dup").status_code == 204
    expect_error(requests.post(url, json={"name": "badtopic", "config": {"connector.class": "FileStreamSource", "file": "/tmp/x", "topic": "no spaces!"}}),
                 400, 400, "configuration topic")
    # Names with spaces and slashes work, percent-encoded in paths.
    odd = create(server, "a b/c", good, initial_state="STOPPED")
    assert odd.headers["Location"].endswith("/connectors/a%20b%2Fc"), odd.headers
    assert requests.get(url + "/a%20b%2Fc").json()["name"] == "a b/c"
    assert requests.delete(url + "/a%20b%2Fc").status_code == 204


def test_plugins_validate_and_secrets(server):
    plugins = requests.get(server.connect + "/connector-plugins").json()
    classes = {p["class"]: p["type"] for p in plugins}
    assert classes["org.apache.kafka.connect.file.FileStreamSourceConnector"] == "source", plugins
    assert classes["org.apache.kafka.connect.file.FileStreamSinkConnector"] == "sink", plugins
    assert all("version" in p for p in plugins), plugins
    everything = requests.get(server.connect + "/connector-plugins?connectorsOnly=false").json()
    kinds = {p["type"] for p in everything}
    assert {"source", "sink", "transformation", "predicate", "converter"} <= kinds, kinds
    everything_classes = {p["class"] for p in everything}
    for smt in ["InsertField$Value", "ReplaceField$Value", "MaskField$Value", "ValueToKey", "ExtractField$Key",
                "HoistField$Value", "Cast$Value", "TimestampConverter$Value", "RegexRouter", "TimestampRouter",
                "Filter", "InsertHeader", "DropHeaders"]:
        assert "org.apache.kafka.connect.transforms." + smt in everything_classes, smt
    for predicate in ["TopicNameMatches", "HasHeaderKey", "RecordIsTombstone"]:
        assert "org.apache.kafka.connect.transforms.predicates." + predicate in everything_classes, predicate
    for alias in ["FileStreamSink", "FileStreamSinkConnector", "org.apache.kafka.connect.file.FileStreamSinkConnector"]:
        keys = requests.get(f"{server.connect}/connector-plugins/{alias}/config").json()
        assert [k["name"] for k in keys] == ["file"], keys
        assert keys[0]["required"] is True and keys[0]["type"] == "STRING" and keys[0]["importance"] == "HIGH", keys

    validate = requests.put(server.connect + "/connector-plugins/FileStreamSink/config/validate", json={
        "connector.class": "FileStreamSink", "tasks.max": "zero", "errors.tolerance": "some",
        "transforms": "t", "transforms.t.type": "org.apache.kafka.connect.transforms.NoSuch", "my.extra": "1"})
    assert validate.status_code == 200, validate.text
    body = validate.json()
    assert body["name"] == "FileStreamSink", body
    assert {"Common", "Transforms", "Predicates", "Error Handling"} <= set(body["groups"]), body["groups"]
    errors = {c["value"]["name"]: c["value"]["errors"] for c in body["configs"]}
    assert errors["tasks.max"] and "tasks.max" in errors["tasks.max"][0], errors
    assert errors["errors.tolerance"], errors
    assert errors["file"] == ['Missing required configuration "file" which has no default value.'], errors
    assert errors["topics"] == ["Must configure one of topics or topics.regex"], errors
    assert errors["transforms.t.type"], errors
    assert errors["name"], errors
    assert body["error_count"] == sum(len(e) for e in errors.values()) == 6, (body["error_count"], errors)
    extra = [c for c in body["configs"] if c["value"]["name"] == "my.extra"]
    assert extra and extra[0]["definition"] is None, extra
    ok = requests.put(server.connect + "/connector-plugins/org.apache.kafka.connect.file.FileStreamSinkConnector/config/validate", json={
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "name": "v", "topics": "t", "file": "/tmp/v"}).json()
    assert ok["error_count"] == 0, ok

    # Secrets: hidden wherever the API shows a config, used in full by the connector.
    work = tempfile.mkdtemp(prefix="connect-secret-")
    secret_file = os.path.join(work, "secret-out.txt")
    response = create(server, "secretive", {
        "connector.class": "FileStreamSink", "topics": "secret-t", "file": secret_file,
        "db.password": "hunter2", "api.secret": "s3cr3t"}, initial_state="STOPPED")
    for shown in (response.json()["config"], requests.get(server.connect + "/connectors/secretive/config").json(),
                  requests.get(server.connect + "/connectors/secretive").json()["config"]):
        assert shown["db.password"] == "[hidden]" and shown["api.secret"] == "[hidden]", shown
    # Sending [hidden] back keeps the secret; PATCHing other keys keeps it too.
    config = requests.get(server.connect + "/connectors/secretive/config").json()
    assert requests.put(server.connect + "/connectors/secretive/config", json=config).status_code == 200
    assert requests.patch(server.connect + "/connectors/secretive/config", json={"tasks.max": "1"}).status_code == 200
    assert "hunter2" not in server.log_text() and "s3cr3t" not in server.log_text()
    with open(os.path.join(server.data_dir, "connect.db"), "rb") as file:
        stored = file.read()
    if b"hunter2" not in stored:
        # WAL mode: the newest pages may still be in the write-ahead log.
        with open(os.path.join(server.data_dir, "connect.db-wal"), "rb") as file:
            stored += file.read()
    assert b"hunter2" in stored and b"s3cr3t" in stored, "the connector must get its secrets in full"
    assert requests.delete(server.connect + "/connectors/secretive").status_code == 204

    # Loggers: root and runnel's, changed at runtime.
    loggers = requests.get(server.connect + "/admin/loggers").json()
    assert loggers["root"]["level"] == "INFO", loggers
    changed = requests.put(server.connect + "/admin/loggers/runnel.connect", json={"level": "DEBUG"})
    assert changed.status_code == 200 and "runnel.connect" in changed.json(), changed.text
    assert requests.get(server.connect + "/admin/loggers/runnel.connect").json()["level"] == "DEBUG"
    assert requests.get(server.connect + "/admin/loggers").json()["runnel.connect"]["last_modified"] > 0
    # The level takes effect at once: at ERROR the worker's "Connector created" line is not logged, at INFO it is.
    assert requests.put(server.connect + "/admin/loggers/runnel.connect", json={"level": "ERROR"}).status_code == 200
    create(server, "quiet-one", {"connector.class": "FileStreamSink", "topics": "q", "file": os.path.join(work, "q.txt")}, initial_state="STOPPED")
    assert "connector=quiet-one" not in server.log_text()
    assert requests.put(server.connect + "/admin/loggers/runnel.connect?scope=cluster", json={"level": "INFO"}).status_code == 204
    assert requests.get(server.connect + "/admin/loggers/runnel.connect").json()["level"] == "INFO"
    create(server, "loud-one", {"connector.class": "FileStreamSink", "topics": "q", "file": os.path.join(work, "q.txt")}, initial_state="STOPPED")
    assert "connector=loud-one" in server.log_text()
    for name in ("quiet-one", "loud-one"):
        requests.delete(f"{server.connect}/connectors/{name}")
    health = requests.get(server.connect + "/health").json()
    assert health["status"] == "healthy", health


def test_converters(server):
    """JsonConverter with and without the schema envelope, StringConverter and ByteArrayConverter, per connector."""
    work = tempfile.mkdtemp(prefix="connect-conv-")
    source_file = os.path.join(work, "in.txt")
    append(source_file, ["hello", "wörld"])
    cases = {
        "conv-json": ({}, ['{"schema":{"type":"string","optional":false},"payload":"hello"}',
                           '{"schema":{"type":"string","optional":false},"payload":"wörld"}']),
        "conv-plain": ({"value.converter.schemas.enable": "false"}, ['"hello"', '"wörld"']),
        "conv-string": ({"value.converter": "org.apache.kafka.connect.storage.StringConverter"}, ["hello", "wörld"]),
    }
    for name, (extra, expected) in cases.items():
        create(server, name, {"connector.class": "FileStreamSource", "file": source_file, "topic": name, **extra})
        records = consume_all(server, name, 2, "g-" + name)
        assert [decode(r["value"]) for r in records] == expected, (name, records)
        assert all(r["key"] is None for r in records), records
    # A converter that cannot take the source's data fails the task; with errors.tolerance=all the records are skipped
    # and the source's offsets still move on.
    bytes_config = {"connector.class": "FileStreamSource", "file": source_file, "topic": "conv-bytes",
                    "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter"}
    create(server, "conv-bytes-strict", bytes_config)
    wait_state(server, "conv-bytes-strict", "RUNNING", ["FAILED"])
    assert "Invalid schema type for ByteArrayConverter" in requests.get(server.connect + "/connectors/conv-bytes-strict/status").json()["tasks"][0]["trace"]
    create(server, "conv-bytes-tolerant", {**bytes_config, "errors.tolerance": "all"})
    wait_for(lambda: (requests.get(server.connect + "/connectors/conv-bytes-tolerant/offsets").json()["offsets"] or [{}])[0]
             .get("offset", {}).get("position") == os.path.getsize(source_file), what="offsets past the skipped records")
    assert state(server, "conv-bytes-tolerant") == ("RUNNING", ["RUNNING"])
    for name in ("conv-bytes-strict", "conv-bytes-tolerant"):
        requests.delete(f"{server.connect}/connectors/{name}")
    # Sinks read back what they are given: plain JSON objects, bytes as they are.
    create_topic(server, "conv-in")
    produce_json(server, "conv-in", [{"value": {"a": 1, "b": "x"}}, {"value": [1, 2]}])
    create(server, "conv-sink-json", {"connector.class": "FileStreamSink", "topics": "conv-in",
                                      "file": os.path.join(work, "json.txt"), "value.converter.schemas.enable": "false"})
    assert wait_lines(os.path.join(work, "json.txt"), 2) == ["{a=1, b=x}", "[1, 2]"]
    create(server, "conv-sink-bytes", {"connector.class": "FileStreamSink", "topics": "conv-in", "file": os.path.join(work, "bytes.txt"),
                                       "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter"})
    assert wait_lines(os.path.join(work, "bytes.txt"), 2) == ['{"a":1,"b":"x"}', "[1,2]"]
    # The envelope turned back into data by a sink with the default JsonConverter.
    create(server, "conv-sink-envelope", {"connector.class": "FileStreamSink", "topics": "conv-json", "file": os.path.join(work, "envelope.txt")})
    assert wait_lines(os.path.join(work, "envelope.txt"), 2) == ["hello", "wörld"]
    # A sink whose converter cannot read the data fails its task with a trace, and can be restarted.
    create(server, "conv-fail", {"connector.class": "FileStreamSink", "topics": "conv-in", "file": os.path.join(work, "fail.txt")})
    wait_state(server, "conv-fail", "RUNNING", ["FAILED"])
    status = requests.get(server.connect + "/connectors/conv-fail/status").json()
    assert "DataException" in status["tasks"][0]["trace"] and "schemas.enable" in status["tasks"][0]["trace"], status
    assert requests.get(server.connect + "/connectors/conv-fail/tasks/0/status").json()["trace"], status
    # A failed task stays failed across pause and resume, until it is restarted or reconfigured.
    assert requests.put(server.connect + "/connectors/conv-fail/pause").status_code == 202
    wait_state(server, "conv-fail", "PAUSED", ["FAILED"])
    assert requests.put(server.connect + "/connectors/conv-fail/resume").status_code == 202
    wait_state(server, "conv-fail", "RUNNING", ["FAILED"])
    requests.patch(server.connect + "/connectors/conv-fail/config", json={"value.converter.schemas.enable": "false"})
    wait_state(server, "conv-fail", "RUNNING", ["RUNNING"])
    assert wait_lines(os.path.join(work, "fail.txt"), 2) == ["{a=1, b=x}", "[1, 2]"]
    for name in list(cases) + ["conv-sink-json", "conv-sink-bytes", "conv-sink-envelope", "conv-fail"]:
        requests.delete(f"{server.connect}/connectors/{name}")


def smt_sink(server, work, name, topic, transforms, predicates=None, extra=None):
    """A file sink reading plain JSON through `transforms` (alias → config); returns its output path."""
    config = {"connector.class": "FileStreamSink", "topics": topic, "file": os.path.join(work, name + ".txt"),
              "value.converter.schemas.enable": "false", "key.converter.schemas.enable": "false",
              "transforms": ",".join(transforms)}
    for alias, settings in transforms.items():
        for key, value in settings.items():
            config[f"transforms.{alias}.{key}"] = value
    if predicates:
        config["predicates"] = ",".join(predicates)
        for alias, settings in predicates.items():
            for key, value in settings.items():
                config[f"predicates.{alias}.{key}"] = value
    config.update(extra or {})
    create(server, name, config)
    return os.path.join(work, name + ".txt")


def test_transforms(server):
    """Each single message transform and predicate, configured with Kafka's class names and keys."""
    work = tempfile.mkdtemp(prefix="connect-smt-")
    T = "org.apache.kafka.connect.transforms."
    P = "org.apache.kafka.connect.transforms.predicates."
    create_topic(server, "smt-in")
    produce_json(server, "smt-in", [
        {"value": {"id": 1, "name": "ann", "card": "4111", "ts": 1700000000000, "n": "42"}},
        {"value": {"id": 2, "name": "bob", "card": "5500", "ts": 1700000001000, "n": "7"}},
    ])
    cases = [
        ("smt-insert", {"i": {"type": T + "InsertField$Value", "static.field": "src", "static.value": "runnel",
                              "topic.field": "t", "offset.field": "o"}},
         "{id=1, name=ann, card=4111, ts=1700000000000, n=42, t=smt-in, o=0, src=runnel}"),
        ("smt-replace", {"r": {"type": T + "ReplaceField$Value", "exclude": "card", "renames": "name:who"}},
         "{id=1, who=ann, ts=1700000000000, n=42}"),
        ("smt-include", {"r": {"type": T + "ReplaceField$Value", "include": "id,name"}}, "{id=1, name=ann}"),
        ("smt-mask", {"m": {"type": T + "MaskField$Value", "fields": "card", "replacement": "****"}},
         "{id=1, name=ann, card=****, ts=1700000000000, n=42}"),
        ("smt-extract", {"e": {"type": T + "ExtractField$Value", "field": "name"}}, "ann"),
        ("smt-hoist", {"e": {"type": T + "ExtractField$Value", "field": "id"}, "h": {"type": T + "HoistField$Value", "field": "wrapped"}},
         "{wrapped=1}"),
        ("smt-cast", {"c": {"type": T + "Cast$Value", "spec": "n:int32,id:string"}, "e": {"type": T + "ExtractField$Value", "field": "n"}}, "42"),
        ("smt-ts", {"c": {"type": T + "TimestampConverter$Value", "field": "ts", "target.type": "string", "format": "yyyy-MM-dd'T'HH:mm:ss"},
                    "e": {"type": T + "ExtractField$Value", "field": "ts"}}, "2023-11-14T22:13:20"),
        ("smt-vtk", {"k": {"type": T + "ValueToKey", "fields": "id"}, "x": {"type": T + "ExtractField$Key", "field": "id"},
                     "r": {"type": T + "ReplaceField$Value", "include": "name"}}, "{name=ann}"),
    ]
    outputs = {name: smt_sink(server, work, name, "smt-in", transforms) for name, transforms, _ in cases}
    for name, _, first in cases:
        got = wait_lines(outputs[name], 2)
        assert got[0] == first, (name, got)
    # Filter with predicates, and negate.
    kept = smt_sink(server, work, "smt-filter", "smt-in", {"f": {"type": T + "Filter", "predicate": "isOther", "negate": "true"},
                                                           "e": {"type": T + "ExtractField$Value", "field": "name"}},
                    predicates={"isOther": {"type": P + "TopicNameMatches", "pattern": "smt-i.*"}})
    assert wait_lines(kept, 2) == ["ann", "bob"]
    dropped = smt_sink(server, work, "smt-drop", "smt-in", {"f": {"type": T + "Filter", "predicate": "isIn"}},
                       predicates={"isIn": {"type": P + "TopicNameMatches", "pattern": "smt-in"}})
    # Headers: InsertHeader then a filter keeping only records that have it; DropHeaders removes it again.
    with_header = smt_sink(server, work, "smt-header", "smt-in", {
        "h": {"type": T + "InsertHeader", "header": "origin", "value.literal": "smt"},
        "f": {"type": T + "Filter", "predicate": "hasOrigin", "negate": "true"},
        "e": {"type": T + "ExtractField$Value", "field": "id"}},
        predicates={"hasOrigin": {"type": P + "HasHeaderKey", "name": "origin"}})
    assert wait_lines(with_header, 2) == ["1", "2"]
    no_header = smt_sink(server, work, "smt-noheader", "smt-in", {
        "h": {"type": T + "InsertHeader", "header": "origin", "value.literal": "smt"},
        "d": {"type": T + "DropHeaders", "headers": "origin"},
        "f": {"type": T + "Filter", "predicate": "hasOrigin"}},
        predicates={"hasOrigin": {"type": P + "HasHeaderKey", "name": "origin"}})
    # Tombstones: RecordIsTombstone drops them.
    create_topic(server, "smt-tomb")
    produce_json(server, "smt-tomb", [{"value": {"a": 1}}, {"value": None}, {"value": {"a": 2}}])
    tomb = smt_sink(server, work, "smt-tomb", "smt-tomb", {"f": {"type": T + "Filter", "predicate": "tomb"}},
                    predicates={"tomb": {"type": P + "RecordIsTombstone"}})
    assert wait_lines(tomb, 2) == ["{a=1}", "{a=2}"]
    time.sleep(1)
    # The header was dropped again before the filter looked for it: everything passes.
    assert len(wait_lines(no_header, 2)) == 2
    assert lines(dropped) == [], lines(dropped)
    # Routers rename the topic on the way in (source side): RegexRouter and TimestampRouter.
    source_file = os.path.join(work, "in.txt")
    append(source_file, ["routed"])
    create(server, "smt-regex", {"connector.class": "FileStreamSource", "file": source_file, "topic": "raw-orders",
                                 "transforms": "route", "transforms.route.type": T + "RegexRouter",
                                 "transforms.route.regex": "raw-(.*)", "transforms.route.replacement": "clean-$1"})
    create(server, "smt-tsroute", {"connector.class": "FileStreamSource", "file": source_file, "topic": "daily",
                                   "transforms": "route", "transforms.route.type": T + "TimestampRouter",
                                   "transforms.route.topic.format": "${topic}-${timestamp}",
                                   "transforms.route.timestamp.format": "yyyy"})
    assert [decode(r["value"]) for r in consume_all(server, "clean-orders", 1, "g-regex")] == [
        '{"schema":{"type":"string","optional":false},"payload":"routed"}']
    wait_for(lambda: requests.get(server.connect + "/connectors/smt-tsroute/topics").json()["smt-tsroute"]["topics"], what="routed topic")
    routed = requests.get(server.connect + "/connectors/smt-tsroute/topics").json()["smt-tsroute"]["topics"]
    assert routed == ["daily-" + time.strftime("%Y", time.gmtime())], routed
    # Key transforms on the source side: the line becomes the key.
    create(server, "smt-key", {"connector.class": "FileStreamSource", "file": source_file, "topic": "keyed",
                               "key.converter": "org.apache.kafka.connect.storage.StringConverter",
                               "transforms": "hoist,tokey,extract",
                               "transforms.hoist.type": T + "HoistField$Value", "transforms.hoist.field": "line",
                               "transforms.tokey.type": T + "ValueToKey", "transforms.tokey.fields": "line",
                               "transforms.extract.type": T + "ExtractField$Key", "transforms.extract.field": "line"})
    record = consume_all(server, "keyed", 1, "g-key")[0]
    assert decode(record["key"]) == "routed", record
    assert json.loads(decode(record["value"]))["payload"] == {"line": "routed"}, record
    # A transform with a bad config is refused at create time and by validate.
    expect_error(requests.post(server.connect + "/connectors", json={"name": "smt-bad", "config": {
        "connector.class": "FileStreamSink", "topics": "smt-in", "file": "/tmp/x", "transforms": "c",
        "transforms.c.type": T + "Cast$Value"}}), 400, 400, "transforms.c.spec")


def test_topics_regex(server):
    """A sink with topics.regex reads every matching topic, including ones created after it started."""
    work = tempfile.mkdtemp(prefix="connect-regex-")
    out = os.path.join(work, "out.txt")
    create_topic(server, "metrics.cpu")
    produce_json(server, "metrics.cpu", [{"value": "cpu 1"}])
    create(server, "regex-sink", {"connector.class": "FileStreamSink", "topics.regex": r"metrics\..*", "file": out,
                                  "value.converter.schemas.enable": "false"})
    assert wait_lines(out, 1) == ['cpu 1']
    create_topic(server, "metrics.disk", partitions=2)
    create_topic(server, "other")
    produce_json(server, "metrics.disk", [{"value": "disk 1"}, {"value": "disk 2"}])
    produce_json(server, "other", [{"value": "not mine"}])
    assert sorted(wait_lines(out, 3)) == ["cpu 1", "disk 1", "disk 2"]
    time.sleep(0.5)
    assert "not mine" not in lines(out)
    topics = requests.get(server.connect + "/connectors/regex-sink/topics").json()["regex-sink"]["topics"]
    assert topics == ["metrics.cpu", "metrics.disk"], topics
    assert requests.put(server.connect + "/connectors/regex-sink/topics/reset").status_code == 202
    assert requests.get(server.connect + "/connectors/regex-sink/topics").json() == {"regex-sink": {"topics": []}}
    expect_error(requests.post(server.connect + "/connectors", json={"name": "both", "config": {
        "connector.class": "FileStreamSink", "topics": "a", "topics.regex": "b", "file": out}}), 400, 400, "mutually exclusive")
    requests.delete(server.connect + "/connectors/regex-sink")


def test_dead_letter_queue(server):
    """errors.tolerance=all skips records a converter or transform cannot handle; they land in the DLQ as consumed,
    with __connect.errors.* headers saying why."""
    work = tempfile.mkdtemp(prefix="connect-dlq-")
    create_topic(server, "dlq-in")
    good, bad = base64.b64encode(b'{"ok":1}').decode(), base64.b64encode(b"not json at all").decode()
    response = requests.post(server.url + "/topics/dlq-in", headers={"Content-Type": V2_BINARY}, data=json.dumps({"records": [
        {"value": good}, {"value": bad, "key": base64.b64encode(b'"k1"').decode()}, {"value": good}]}))
    assert response.status_code == 200, response.text
    out = os.path.join(work, "out.txt")
    create(server, "dlq-sink", {
        "connector.class": "FileStreamSink", "topics": "dlq-in", "file": out,
        "value.converter.schemas.enable": "false", "key.converter.schemas.enable": "false",
        "errors.tolerance": "all", "errors.log.enable": "true",
        "errors.deadletterqueue.topic.name": "dlq-out", "errors.deadletterqueue.context.headers.enable": "true"})
    assert wait_lines(out, 2) == ["{ok=1}", "{ok=1}"]
    dead = consume_all(server, "dlq-out", 1, "g-dlq")
    assert len(dead) == 1, dead
    assert base64.b64decode(dead[0]["value"]) == b"not json at all" and base64.b64decode(dead[0]["key"]) == b'"k1"', dead
    headers = {h["key"]: base64.b64decode(h["value"]).decode() for h in dead[0]["headers"]}
    assert headers["__connect.errors.topic"] == "dlq-in" and headers["__connect.errors.partition"] == "0", headers
    assert headers["__connect.errors.offset"] == "1" and headers["__connect.errors.connector.name"] == "dlq-sink", headers
    assert headers["__connect.errors.task.id"] == "0" and headers["__connect.errors.stage"] == "VALUE_CONVERTER", headers
    assert headers["__connect.errors.class.name"] == "org.apache.kafka.connect.json.JsonConverter", headers
    assert headers["__connect.errors.exception.class.name"] == "org.apache.kafka.connect.errors.DataException", headers
    assert headers["__connect.errors.exception.message"] and headers["__connect.errors.exception.stacktrace"], headers
    assert "Error encountered in task" in server.log_text()
    # Without tolerance the same record fails the task.
    create(server, "dlq-strict", {"connector.class": "FileStreamSink", "topics": "dlq-in", "file": os.path.join(work, "strict.txt"),
                                  "value.converter.schemas.enable": "false"})
    wait_state(server, "dlq-strict", "RUNNING", ["FAILED"])
    assert lines(os.path.join(work, "strict.txt")) == ["{ok=1}"] or lines(os.path.join(work, "strict.txt")) == []
    # The DLQ topic may not be one the sink reads.
    expect_error(requests.post(server.connect + "/connectors", json={"name": "dlq-loop", "config": {
        "connector.class": "FileStreamSink", "topics": "dlq-in", "file": out, "errors.deadletterqueue.topic.name": "dlq-in"}}), 400, 400, "DLQ")
    for name in ("dlq-sink", "dlq-strict"):
        requests.delete(f"{server.connect}/connectors/{name}")


def test_kafka_connect_py(server):
    """A third-party client, kafka-connect-py, drives create, list, status, pause, resume and delete."""
    from kafka_connect import KafkaConnect

    client = KafkaConnect(url=server.connect)
    info = client.get_cluster_info()
    assert info["kafka_cluster_id"] == server.cluster, info
    work = tempfile.mkdtemp(prefix="connect-py-")
    append(os.path.join(work, "in.txt"), ["a", "b"])
    created = client.create_connector({"name": "py-src", "config": {
        "connector.class": "FileStreamSource", "file": os.path.join(work, "in.txt"), "topic": "py-topic"}})
    assert created["name"] == "py-src", created
    assert "py-src" in client.list_connectors()
    wait_for(lambda: client.get_connector_status("py-src")["connector"]["state"] == "RUNNING", what="py-src running")
    expanded = client.list_connectors(expand="status")
    assert expanded["py-src"]["status"]["connector"]["state"] == "RUNNING", expanded
    client.pause_connector("py-src")
    wait_for(lambda: client.get_connector_status("py-src")["connector"]["state"] == "PAUSED", what="paused")
    client.resume_connector("py-src")
    wait_for(lambda: client.get_connector_status("py-src")["tasks"][0]["state"] == "RUNNING", what="resumed")
    assert client.list_connector_tasks("py-src")[0]["id"]["task"] == 0
    assert client.get_connector_config("py-src")["topic"] == "py-topic"
    plugins = client.list_connector_plugins()
    assert any(p["class"].endswith("FileStreamSourceConnector") for p in plugins), plugins
    validation = client.validate_connector_config("FileStreamSource", {"connector.class": "FileStreamSource", "topic": "x"})
    assert validation["error_count"] >= 1, validation
    client.delete_connector("py-src")
    assert "py-src" not in client.list_connectors()


def test_restart_and_kill():
    """Configs, target states and offsets survive a clean restart and a kill -9: every connector comes back in its
    target state, and the quick-start pipeline resumes with no line lost and none written twice."""
    server = Server()
    try:
        work = tempfile.mkdtemp(prefix="connect-kill-")
        source_file, sink_file = os.path.join(work, "in.txt"), os.path.join(work, "out.txt")
        expected = [f"line {i:06d} " + "x" * 80 for i in range(500_000)]
        append(source_file, expected)
        create(server, "k-src", {"connector.class": "FileStreamSource", "file": source_file, "topic": "k"})
        create(server, "k-paused", {"connector.class": "FileStreamSource", "file": source_file, "topic": "k2"}, initial_state="PAUSED")
        create(server, "k-stopped", {"connector.class": "FileStreamSource", "file": source_file, "topic": "k3"}, initial_state="STOPPED")
        # The source finishes its file; the sink is killed half-way through the topic.
        wait_for(lambda: requests.get(server.connect + "/connectors/k-src/offsets").json()["offsets"] and
                 requests.get(server.connect + "/connectors/k-src/offsets").json()["offsets"][0]["offset"]["position"] == os.path.getsize(source_file),
                 60, "the source to read the whole file")
        create(server, "k-sink", {"connector.class": "FileStreamSink", "topics": "k", "file": sink_file, "offset.flush.interval.ms": "100",
                                  "value.converter": "org.apache.kafka.connect.storage.StringConverter",
                                  "key.converter": "org.apache.kafka.connect.storage.StringConverter"})
        # Kill as soon as the sink is under way (a release build writes the whole file in well under a second).
        deadline = time.time() + 60
        while time.time() < deadline and (not os.path.exists(sink_file) or os.path.getsize(sink_file) < 100_000):
            time.sleep(0.005)
        server.stop(signal.SIGKILL)
        written = len(lines(sink_file))
        assert written < len(expected), "the sink finished before the kill; the test proves nothing"
        server.start()
        wait_state(server, "k-paused", "PAUSED", ["PAUSED"])
        wait_state(server, "k-stopped", "STOPPED", [])
        wait_state(server, "k-src", "RUNNING", ["RUNNING"])
        append(source_file, ["after the kill"])
        got = wait_lines(sink_file, len(expected) + 1, 120)
        time.sleep(1)
        got = lines(sink_file)
        assert len(got) == len(expected) + 1, f"{len(got)} lines, expected {len(expected) + 1}"
        # The sink reads the source's JSON envelopes as strings, so each line is one envelope.
        envelope = lambda text: json.dumps({"schema": {"type": "string", "optional": False}, "payload": text}, separators=(",", ":"))
        assert got == [envelope(line) for line in expected + ["after the kill"]], "lines lost, duplicated or out of order"
        # A clean restart keeps everything too.
        server.stop()
        server.start()
        wait_state(server, "k-sink", "RUNNING", ["RUNNING"])
        append(source_file, ["after the restart"])
        assert wait_lines(sink_file, len(expected) + 2)[-1].endswith('"after the restart"}')
        time.sleep(1)
        assert len(lines(sink_file)) == len(expected) + 2
    finally:
        server.close()


def test_worker_config():
    """runnel serve --config sets the worker's default converters: connectors that do not say otherwise use them."""
    server = Server(config="value.converter=org.apache.kafka.connect.storage.StringConverter\n"
                           "key.converter=org.apache.kafka.connect.storage.StringConverter\n"
                           "offset.flush.interval.ms=100\n")
    try:
        assert "Ignoring unknown settings" not in server.log_text(), server.log_text()
        work = tempfile.mkdtemp(prefix="connect-worker-")
        source_file = os.path.join(work, "in.txt")
        append(source_file, ["plain text"])
        create(server, "wc-src", {"connector.class": "FileStreamSource", "file": source_file, "topic": "wc"})
        assert [decode(r["value"]) for r in consume_all(server, "wc", 1, "g-wc")] == ["plain text"]
        # A connector's own setting still wins over the worker's.
        create(server, "wc-json", {"connector.class": "FileStreamSource", "file": source_file, "topic": "wc-json",
                                   "value.converter": "org.apache.kafka.connect.json.JsonConverter"})
        assert [decode(r["value"]) for r in consume_all(server, "wc-json", 1, "g-wcj")] == [
            '{"schema":{"type":"string","optional":false},"payload":"plain text"}']
    finally:
        server.close()
    bad_config = os.path.join(tempfile.mkdtemp(prefix="connect-worker-bad-"), "worker.properties")
    with open(bad_config, "w") as file:
        file.write("offset.flush.interval.ms=soon\n")
    bad = subprocess.run([RUNNEL, "serve", "--data-dir", os.path.dirname(bad_config) + "/data", "--config", bad_config],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "offset.flush.interval.ms" in bad.stderr, (bad.returncode, bad.stderr)


def test_templates():
    """Every body in connectors/ validates against its plugin and creates a running connector, run from a folder
    holding the files they name (as connectors/README.md does): the SQLite rows reach the bucket."""
    import glob
    import sqlite3
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "connectors")
    paths = sorted(glob.glob(os.path.join(folder, "*.json")))
    assert [os.path.basename(p) for p in paths] == ["file-sink.json", "file-source.json", "s3-sink.json",
                                                    "sqlite-source.json"], paths
    work = tempfile.mkdtemp(prefix="connect-templates-")
    database = sqlite3.connect(os.path.join(work, "shop.db"))
    database.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, quantity INTEGER NOT NULL, "
                     "updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)")
    database.executemany("INSERT INTO orders (item, quantity) VALUES (?, ?)", [(f"item-{i}", i) for i in range(1000)])
    database.commit()
    append(os.path.join(work, "test.txt"), ["hello", "world"])
    previous = os.getcwd()
    os.chdir(work)
    try:
        server = Server()
    finally:
        os.chdir(previous)
    try:
        for path in paths:
            with open(path) as file:
                body = json.load(file)
            config = {**body["config"], "name": body["name"]}
            response = requests.put(f"{server.connect}/connector-plugins/{config['connector.class']}/config/validate",
                                    json=config)
            assert response.status_code == 200 and response.json()["error_count"] == 0, (path, response.text)
            response = requests.post(server.connect + "/connectors", data=open(path, "rb").read(),
                                     headers={"Content-Type": "application/json"})
            assert response.status_code == 201, (path, response.text)
            wait_state(server, body["name"], "RUNNING", ["RUNNING"])
        wait_lines(os.path.join(work, "test.sink.txt"), 2)
        bucket = os.path.join(server.data_dir, "buckets", "lake", "topics", "shop-orders", "partition=0")
        first = os.path.join(bucket, "shop-orders+0+0000000000.json")
        wait_for(lambda: os.path.exists(first), what=first)
        with open(first) as file:
            rows = [json.loads(line) for line in file]
        assert [row["id"] for row in rows] == list(range(1, 1001)), rows[:3]
    finally:
        server.close()


SHARED = [test_lifecycle, test_bad_input, test_plugins_validate_and_secrets, test_converters, test_transforms,
          test_topics_regex, test_dead_letter_queue, test_kafka_connect_py]
OWN_SERVER = [test_worker_config, test_restart_and_kill, test_templates]


def main():
    run_suite(SHARED, OWN_SERVER)


if __name__ == "__main__":
    main()
