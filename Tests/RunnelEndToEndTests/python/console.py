"""End-to-end tests of the console: GET /metrics on both ports, read the way Prometheus reads it, and the server's
JSON logs. Usage:
console.py RUNNEL_BINARY [TEST_NAME...]; prints one line per test and exits non-zero when any fails."""

import os
import re
import shutil
import subprocess
import tempfile
import time

import requests

from rest_proxy import Server, consumer, create_topic, post, produce_json, read_until, run_suite, wait_for

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(base):
    """{(name, frozenset(labels)): value} of an exposition, checking its content type."""
    response = requests.get(base + "/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain"), response.headers
    samples = {}
    for line in response.text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        labels = frozenset(LABEL.findall(match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples, response.text


def value(samples, name, **labels):
    return samples.get((name, frozenset((k, str(v)) for k, v in labels.items())))


def test_metrics_follow_the_data(server):
    """Produce, consume with a group that commits part of the way, run a connector: the metrics say so."""
    before, _ = scrape(server.url)
    create_topic(server, "metered", partitions=2)
    produce_json(server, "metered", [{"value": {"n": i}, "partition": i % 2} for i in range(10)])
    samples, _ = scrape(server.url)
    assert value(samples, "runnel_broker_messages_in_total", topic="metered") == 10, samples
    assert value(samples, "runnel_broker_bytes_in_total", topic="metered") > 0
    assert value(samples, "runnel_topics") == (value(before, "runnel_topics") or 0) + 1
    assert value(samples, "runnel_partition_log_end_offset", topic="metered", partition=0) == 5
    assert value(samples, "runnel_partition_log_end_offset", topic="metered", partition=1) == 5
    assert value(samples, "runnel_broker_produce_request_duration_seconds_count") >= 1
    assert value(samples, "runnel_partition_size_bytes", topic="metered", partition=0) > 0
    assert value(samples, "runnel_partition_segments", topic="metered", partition=0) == 1
    # A topic that fsyncs every append (flush.messages=1): the fsyncs are timed.
    create_topic(server, "synced", partitions=1, configs=[("flush.messages", "1")])
    produce_json(server, "synced", [{"value": {"n": 1}}])
    assert value(scrape(server.url)[0], "runnel_log_flush_duration_seconds_count") >= 1
    # Requests are counted by route template, never by raw path.
    produced = value(samples, "runnel_http_requests_total", listener="proxy", method="POST",
                     route="/topics/{topic_name}", status=200)
    assert produced == 1, [k for k in samples if k[0] == "runnel_http_requests_total"]
    assert not any("metered" in dict(k[1]).get("route", "") for k in samples), "a raw path became a label"

    # A group that read everything but committed only 2 records of partition 0 (v2 commits name the last record
    # consumed: the committed offset is one more).
    base = consumer(server, "metering", "c", format="json", **{"auto.offset.reset": "earliest"})
    post(base + "/subscription", {"topics": ["metered"]})
    read_until(base, 10)
    assert post(base + "/offsets", {"offsets": [{"topic": "metered", "partition": 0, "offset": 1},
                                                {"topic": "metered", "partition": 1, "offset": 4}]}).status_code == 200
    samples, _ = scrape(server.url)
    lags = {k: v for k, v in samples.items() if k[0] == "runnel_consumer_group_lag"}
    assert value(samples, "runnel_consumer_group_lag", group="metering", topic="metered", partition=0) == 3, lags
    assert value(samples, "runnel_consumer_group_lag", group="metering", topic="metered", partition=1) == 0
    assert value(samples, "runnel_consumer_group_members", group="metering") == 1
    assert value(samples, "runnel_consumer_group_state", group="metering", state="Stable") == 1
    assert value(samples, "runnel_broker_bytes_out_total", topic="metered") > 0
    requests.delete(base)

    # A sink connector: its status, its records, and its offset commits.
    work = tempfile.mkdtemp(prefix="console-")
    response = requests.post(server.connect + "/connectors", json={"name": "metered-sink", "config": {
        "connector.class": "FileStreamSink", "file": os.path.join(work, "out.txt"), "topics": "metered",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter", "offset.flush.interval.ms": "200"}})
    assert response.status_code == 201, response.text
    samples = wait_for(lambda: (lambda s: s if value(s, "runnel_connect_sink_records_put_total",
                                                     connector="metered-sink") == 10 else None)(scrape(server.connect)[0]),
                       what="10 records put by the sink")
    assert value(samples, "runnel_connector_status", connector="metered-sink", type="sink", state="RUNNING") == 1
    assert value(samples, "runnel_connector_task_status", connector="metered-sink", task=0, state="RUNNING") == 1
    wait_for(lambda: value(scrape(server.connect)[0], "runnel_connect_offset_commit_duration_seconds_count",
                           connector="metered-sink"), what="an offset commit")
    # A connector whose records fail conversion: its errors are counted and its task shows FAILED.
    response = requests.post(server.connect + "/connectors", json={"name": "metered-bad", "config": {
        "connector.class": "FileStreamSink", "file": os.path.join(work, "bad.txt"), "topics": "metered"}})
    assert response.status_code == 201, response.text
    def failed_with_errors():
        samples = scrape(server.connect)[0]
        failed = value(samples, "runnel_connector_task_status", connector="metered-bad", task=0, state="FAILED")
        errors = value(samples, "runnel_connect_record_errors_total", connector="metered-bad") or 0
        return failed and errors >= 1
    try:
        wait_for(failed_with_errors, what="the failing connector's errors counted and its task FAILED")
    except AssertionError as error:
        status = requests.get(f"{server.connect}/connectors/metered-bad/status").text
        raise AssertionError(f"{error}; status: {status}")
    for name in ("metered-sink", "metered-bad"):
        requests.delete(f"{server.connect}/connectors/{name}")
    samples, _ = scrape(server.connect)
    assert not any(dict(k[1]).get("connector") == "metered-sink" and k[0] == "runnel_connector_status"
                   for k in samples), "a deleted connector still has a status"
    shutil.rmtree(work, ignore_errors=True)


def test_process_metrics(server):
    samples, _ = scrape(server.connect)
    assert value(samples, "process_resident_memory_bytes") > 1_000_000
    assert value(samples, "process_open_fds") > 3
    assert value(samples, "process_cpu_seconds_total") >= 0
    first = value(samples, "runnel_uptime_seconds")
    time.sleep(1.1)
    assert value(scrape(server.url)[0], "runnel_uptime_seconds") > first
    assert abs(value(samples, "process_start_time_seconds") - time.time()) < 3600


def test_promtool_accepts_the_exposition(server):
    """`promtool check metrics` (Prometheus's own linter) on both ports, after traffic of every kind."""
    create_topic(server, "linted", partitions=1)
    produce_json(server, "linted", [{"value": {"n": 1}}])
    requests.get(server.url + "/topics/does-not-exist")
    requests.get(server.url + "/no/such/route")
    for base in (server.url, server.connect):
        _, text = scrape(base)
        result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    samples, _ = scrape(server.url)
    assert value(samples, "runnel_http_requests_total", listener="proxy", method="GET", route="NotFound",
                 status=404) >= 1, [k for k in samples if k[0] == "runnel_http_requests_total"]


def test_json_logs():
    """--log-format json: every line of standard error is one JSON object with the fields log shippers key on, the
    lifecycle lines included; an unknown format is refused before anything starts."""
    import json
    import signal
    from rest_proxy import RUNNEL
    data = tempfile.mkdtemp(prefix="console-logs-")
    process = subprocess.Popen([RUNNEL, "serve", "--data-dir", data + "/data", "--proxy-port", "0", "--connect-port",
                                "0", "--log-format", "json"], stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            line = process.stderr.readline()
            assert line, "the server ended: " + "".join(lines)
            lines.append(line)
            if json.loads(line)["message"] == "Runnel is listening":
                break
        listening = json.loads(lines[-1])
        assert listening["level"] == "info" and listening["logger"] == "runnel", listening
        assert listening["proxy"].startswith("http://") and listening["connect"].startswith("http://"), listening
        assert requests.get(listening["proxy"] + "/v3/clusters").status_code == 200
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=60)
        lines += rest.splitlines(keepends=True)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, lines[-5:]
    for line in lines:
        entry = json.loads(line)
        assert set(entry) >= {"time", "level", "logger", "message", "source"}, entry
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", entry["time"]), entry
    assert json.loads(lines[-1])["message"] == "Runnel stopped", lines[-3:]
    refused = subprocess.run([RUNNEL, "serve", "--data-dir", data + "/other", "--log-format", "xml"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "Unknown log format xml" in refused.stderr, refused
    assert not os.path.exists(data + "/other"), "a refused start created its data directory"
    shutil.rmtree(data, ignore_errors=True)


def test_log_topic():
    """--log-topic: the server's log lines land in a topic as JSON objects, from the first one on; an S3-layout sink
    ships them to a bucket, as managed Kafka delivers broker logs to S3. A name the broker refuses stops the start."""
    import json
    from rest_proxy import RUNNEL, Server
    server = Server(extra=["--log-topic", "runnel-logs"])
    try:
        def messages():
            read = requests.get(f"{server.v3}/topics/runnel-logs/partitions/0/records?format=string&timeout=500")
            assert read.status_code == 200, read.text
            return [json.loads(r["value"]["data"]) for r in read.json()["data"]]
        lines = wait_for(lambda: [m for m in messages() if m["message"] == "Runnel is listening"] and messages(),
                         what="the listening line in the log topic")
        assert all(set(m) >= {"time", "level", "logger", "message", "source"} for m in lines), lines
        # Lines from before the broker opened wait for it: the first line of the log is in the topic.
        assert lines[0]["message"] != "Runnel is listening", lines[:3]
        described = requests.get(f"{server.v3}/topics/runnel-logs/configs/retention.ms").json()
        assert described["value"] == "604800000", described

        sink = {"name": "ship-logs", "config": {
            "connector.class": "S3Sink", "topics": "runnel-logs", "s3.bucket.name": "logs", "flush.size": "1",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false"}}
        created = requests.post(server.connect + "/connectors", json=sink)
        assert created.status_code == 201, created.text
        folder = os.path.join(server.data_dir, "buckets", "logs", "topics", "runnel-logs", "partition=0")

        def shipped():
            if not os.path.isdir(folder):
                return []
            entries = []
            for name in sorted(os.listdir(folder)):
                with open(os.path.join(folder, name)) as file:
                    entries += [json.loads(line) for line in file if line.strip()]
            return entries
        # The connector's own start is logged, and shipped too.
        entries = wait_for(lambda: (lambda e: e if any("ship-logs" in json.dumps(x) for x in e) else None)(shipped()),
                           what="the connector's log lines in the bucket")
        assert any(e["message"] == "Runnel is listening" for e in entries), entries[:5]
    finally:
        server.close()
    refused = subprocess.run([RUNNEL, "serve", "--data-dir", tempfile.mkdtemp(prefix="console-logs-"), "--proxy-port",
                              "0", "--connect-port", "0", "--log-topic", "no spaces"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "--log-topic no spaces" in refused.stderr, refused.stderr[-500:]


SHARED = [test_metrics_follow_the_data, test_process_metrics, test_promtool_accepts_the_exposition]
OWN_SERVER = [test_json_logs, test_log_topic]


def main():
    run_suite(SHARED, OWN_SERVER)


if __name__ == "__main__":
    main()
