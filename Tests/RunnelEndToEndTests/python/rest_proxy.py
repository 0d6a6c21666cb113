"""End-to-end tests of `runnel serve`: the real binary driven over HTTP with `requests`, as a user of Confluent REST
Proxy would drive it. Usage: rest_proxy.py RUNNEL_BINARY [TEST_NAME...]; prints one line per test and exits non-zero
when any fails."""

import base64
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import requests
from kafka.partitioner.default import murmur2

RUNNEL = sys.argv[1]
V2 = "application/vnd.kafka.v2+json"
V2_JSON = "application/vnd.kafka.json.v2+json"
V2_BINARY = "application/vnd.kafka.binary.v2+json"


class Server:
    """A `runnel serve` process on free ports, with its own data directory."""

    def __init__(self, data_dir=None, config=None, extra=(), env=None, flags=True, auth=None, verify=None,
                 file_roots=(tempfile.gettempdir(),), nofile=None):
        """`auth`: (key, secret) for the first request (with authentication on); `verify`: the CA file that signed
        the server's certificate (with TLS); `file_roots`: the folders connectors may use (the tests' work folders
        are temporary directories); `nofile`: the process's open-file limit (soft and hard)."""
        self.owned = data_dir is None
        self.auth = auth
        self.verify = verify
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="runnel-e2e-")
        self.config = config
        self.extra = list(extra)
        self.env = env
        self.flags = flags
        self.file_roots = list(file_roots or ())
        self.nofile = nofile
        self.process = None
        self.start()

    def start(self):
        args = [RUNNEL, "serve"]
        if self.flags:
            args += ["--data-dir", self.data_dir, "--proxy-port", "0", "--connect-port", "0"]
            if self.file_roots:
                args += ["--connector-file-roots", ",".join(self.file_roots)]
        if self.config:
            path = os.path.join(self.data_dir, "..", os.path.basename(self.data_dir) + ".properties")
            with open(path, "w") as file:
                file.write(self.config)
            args += ["--config", path]
        self.log_path = self.data_dir.rstrip("/") + ".log"
        self.log = open(self.log_path, "a")
        start = self.log.tell()
        env = {**os.environ, **(self.env or {})}
        limit = self.nofile
        preexec = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))) if limit else None
        self.process = subprocess.Popen(args + self.extra, stdout=self.log, stderr=self.log, env=env,
                                        preexec_fn=preexec)
        deadline = time.time() + 60
        while time.time() < deadline:
            with open(self.log_path) as file:
                file.seek(start)
                text = file.read()
            match = re.findall(r"connect=(https?://[^ ]+) .*proxy=(https?://[^ ]+) .*Runnel is listening", text)
            if match:
                self.connect, self.url = match[-1]
                break
            if self.process.poll() is not None:
                raise AssertionError("runnel serve exited: " + text[-2000:])
            time.sleep(0.05)
        else:
            raise AssertionError("runnel serve did not start")
        clusters = requests.get(self.url + "/v3/clusters", auth=self.auth, verify=True if self.verify is None else self.verify)
        self.cluster = clusters.json()["data"][0]["cluster_id"]
        self.v3 = f"{self.url}/v3/clusters/{self.cluster}"

    def stop(self, sig=signal.SIGTERM):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=60)
        self.log.close()
        return self.process.returncode

    def close(self):
        self.stop()
        if self.owned:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_text(self):
        with open(self.log_path) as file:
            return file.read()


def create_topic(server, name, partitions=1, configs=()):
    response = requests.post(
        server.v3 + "/topics",
        json={"topic_name": name, "partitions_count": partitions, "configs": [{"name": k, "value": v} for k, v in configs]},
    )
    assert response.status_code == 201, response.text
    return response.json()


def produce_json(server, topic, records, partition=None):
    path = f"/topics/{topic}" + (f"/partitions/{partition}" if partition is not None else "")
    response = requests.post(server.url + path, headers={"Content-Type": V2_JSON}, data=json.dumps({"records": records}))
    assert response.status_code == 200, response.text
    return response.json()["offsets"]


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def expect_error(response, status, code, text=None):
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert body["error_code"] == code, f"expected error_code {code}: {body}"
    assert isinstance(body["message"], str) and body["message"], body
    if text:
        assert text.lower() in body["message"].lower(), body


def consumer(server, group, name, **config):
    body = {"name": name, **config}
    response = requests.post(f"{server.url}/consumers/{group}", headers={"Content-Type": V2}, data=json.dumps(body))
    assert response.status_code == 200, response.text
    base = response.json()["base_uri"]
    assert base.endswith(f"/consumers/{group}/instances/{name}"), base
    return base


def post(url, body=None, content_type=V2):
    return requests.post(url, headers={"Content-Type": content_type}, data=None if body is None else json.dumps(body))


def read(base, fmt=V2_JSON, timeout=2000, max_bytes=None):
    params = {"timeout": timeout}
    if max_bytes:
        params["max_bytes"] = max_bytes
    response = requests.get(base + "/records", headers={"Accept": fmt}, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith(fmt), response.headers
    return response.json()


def read_until(base, count, fmt=V2_JSON, seconds=20):
    records = []
    deadline = time.time() + seconds
    while len(records) < count and time.time() < deadline:
        records += read(base, fmt, timeout=500)
    return records


# MARK: - Tests


def test_quickstart(server):
    """Confluent's quick start: produce json and binary, create a consumer, subscribe, read, commit, delete."""
    create_topic(server, "jsontest")
    offsets = produce_json(server, "jsontest", [{"value": {"name": "testUser"}}])
    assert offsets == [{"partition": 0, "offset": 0, "error_code": None, "error": None}], offsets
    create_topic(server, "binarytest")
    response = requests.post(
        server.url + "/topics/binarytest",
        headers={"Content-Type": V2_BINARY},
        data=json.dumps({"records": [{"key": b64("k"), "value": b64("confluent")}]}),
    )
    assert response.status_code == 200 and response.json()["offsets"][0]["offset"] == 0, response.text
    assert response.json()["key_schema_id"] is None and response.json()["value_schema_id"] is None

    base = consumer(server, "my_json_consumer", "my_consumer_instance", format="json", **{"auto.offset.reset": "earliest"})
    assert post(base + "/subscription", {"topics": ["jsontest"]}).status_code == 204
    subscription = requests.get(base + "/subscription").json()
    assert subscription == {"topics": ["jsontest"]}, subscription
    records = read_until(base, 1)
    assert records[0]["topic"] == "jsontest" and records[0]["value"] == {"name": "testUser"}, records
    assert records[0]["key"] is None and records[0]["partition"] == 0 and records[0]["offset"] == 0
    assert isinstance(records[0]["timestamp"], int) and abs(records[0]["timestamp"] / 1000 - time.time()) < 600
    assert post(base + "/offsets", {"offsets": [{"topic": "jsontest", "partition": 0, "offset": 0}]}).json() == []
    committed = requests.get(
        base + "/offsets", headers={"Content-Type": V2}, data=json.dumps({"partitions": [{"topic": "jsontest", "partition": 0}]})
    ).json()
    assert committed == {"offsets": [{"topic": "jsontest", "partition": 0, "offset": 1, "metadata": ""}]}, committed
    assert requests.delete(base).status_code == 204
    expect_error(requests.get(base + "/subscription"), 404, 40403)

    # A binary consumer reads both topics as base64 (the JSON value as its compact UTF-8 text).
    base = consumer(server, "bin", "b1", format="binary", **{"auto.offset.reset": "earliest"})
    partitions = [{"topic": "jsontest", "partition": 0}, {"topic": "binarytest", "partition": 0}]
    assert post(base + "/assignments", {"partitions": partitions}).status_code == 204
    records = sorted(read_until(base, 2, fmt=V2_BINARY), key=lambda r: r["topic"])
    assert [base64.b64decode(r["value"]) for r in records] == [b"confluent", b'{"name":"testUser"}'], records
    assert records[0]["key"] == b64("k")
    # A JSON consumer cannot show data that is not JSON: a clear error, not a crash.
    json_base = consumer(server, "bin", "j1", format="json", **{"auto.offset.reset": "earliest"})
    post(json_base + "/assignments", {"partitions": [{"topic": "binarytest", "partition": 0}]})
    expect_error(requests.get(json_base + "/records", headers={"Accept": V2_JSON}), 422, 42203)
    requests.delete(json_base)
    # A binary consumer also answers the plain v2 type; a JSON Accept is the wrong format (40601).
    expect_error(requests.get(base + "/records", headers={"Accept": V2_JSON}), 406, 40601)
    assert requests.get(base + "/records", headers={"Accept": V2}, params={"timeout": 10}).status_code == 200
    assert requests.delete(base).status_code == 204


def test_v2_metadata(server):
    create_topic(server, "meta", partitions=3, configs=[("retention.ms", "3600000")])
    topics = requests.get(server.url + "/topics")
    assert topics.status_code == 200 and topics.headers["Content-Type"].startswith(V2), topics.headers
    assert "meta" in topics.json()
    topic = requests.get(server.url + "/topics/meta").json()
    assert topic["name"] == "meta" and topic["configs"]["retention.ms"] == "3600000", topic
    assert topic["configs"]["cleanup.policy"] == "delete"
    assert [p["partition"] for p in topic["partitions"]] == [0, 1, 2]
    assert topic["partitions"][0]["replicas"] == [{"broker": 1, "leader": True, "in_sync": True}], topic
    partitions = requests.get(server.url + "/topics/meta/partitions").json()
    assert len(partitions) == 3 and partitions[2]["leader"] == 1
    assert requests.get(server.url + "/topics/meta/partitions/2").json()["partition"] == 2
    produce_json(server, "meta", [{"value": i} for i in range(5)], partition=1)
    assert requests.get(server.url + "/topics/meta/partitions/1/offsets").json() == {"beginning_offset": 0, "end_offset": 5}
    assert requests.get(server.url + "/brokers").json() == {"brokers": [1]}
    assert requests.get(server.url + "/topics", headers={"Accept": "application/json"}).headers["Content-Type"].startswith(
        "application/json"
    )
    assert requests.get(server.url + "/").json() == {}


def test_errors(server):
    create_topic(server, "errs", partitions=2)
    expect_error(requests.get(server.url + "/topics/nope"), 404, 40401)
    expect_error(requests.get(server.url + "/topics/errs/partitions/7"), 404, 40402)
    expect_error(requests.get(server.url + "/topics/errs/partitions/x"), 404, 40402)
    expect_error(requests.get(server.url + "/topics/errs/partitions/9/offsets"), 404, 40402)
    expect_error(post(server.url + "/topics/nope", {"records": [{"value": 1}]}, V2_JSON), 404, 40401)
    expect_error(post(server.url + "/topics/errs/partitions/5", {"records": [{"value": 1}]}, V2_JSON), 404, 40402)
    expect_error(post(server.url + "/topics/errs", {"records": [{"value": 1, "partition": 9}]}, V2_JSON), 404, 40402)
    # Content types as Confluent negotiates them.
    expect_error(post(server.url + "/topics/errs", {"records": [{"value": 1}]}, "application/json"), 415, 415)
    expect_error(requests.get(server.url + "/topics", headers={"Accept": "text/html"}), 406, 406)
    expect_error(post(server.url + "/topics/errs", {"records": [{"value": 1}]}, "application/vnd.kafka.avro.v2+json"), 422, 42206)
    # Bad bodies: nothing of the request is written.
    before = requests.get(server.url + "/topics/errs/partitions/0/offsets").json()["end_offset"]
    bad = [
        ('{"records": [', 400, 400),
        ('{"records": {}}', 400, 400),
        ('{"records": []}', 422, 42206),
        ("", 422, 42206),
        ('{"records": [{"value": "aGk="}, {"value": "not base64!"}]}', 400, 400),
        ('{"records": [{"value": 5}]}', 400, 400),
        ('{"records": [{"value": "aGk=", "partition": "x"}]}', 400, 400),
        ('{"records": [{"value": "aGk=", "partition": 0}, 7]}', 400, 400),
        ('{"records": [{"value": "aGk="}]} trailing', 400, 400),
        ('{"records": [{"value": "\\ud800"}]}', 400, 400),
    ]
    for body, status, code in bad:
        response = requests.post(server.url + "/topics/errs/partitions/0", headers={"Content-Type": V2_BINARY}, data=body)
        expect_error(response, status, code)
    expect_error(requests.post(server.url + "/topics/errs", headers={"Content-Type": V2_JSON}, data=b'{"records":[{"value":"\xff"}]}'), 400, 400)
    assert requests.get(server.url + "/topics/errs/partitions/0/offsets").json()["end_offset"] == before
    # A body over --max-request-bytes.
    expect_error(
        requests.post(server.url + "/topics/errs", headers={"Content-Type": V2_JSON}, data='{"records":[{"value":"' + "x" * 2_000_000 + '"}]}'),
        413,
        413,
    )
    # Consumers.
    expect_error(post(server.url + "/consumers/g/instances/none/subscription", {"topics": ["errs"]}), 404, 40403)
    base = consumer(server, "g", "dup")
    expect_error(post(server.url + "/consumers/g", {"name": "dup"}), 409, 40902)
    expect_error(post(server.url + "/consumers/g", {"name": "bad/name"}), 422, 42204)
    expect_error(post(server.url + "/consumers/g", {"name": "x", "auto.offset.reset": "sometimes"}), 422, 42204)
    expect_error(post(server.url + "/consumers/g", {"name": "x", "fetch.min.bytes": 20_000_000}), 422, 40001)
    expect_error(post(server.url + "/consumers/g", {"name": "x", "consumer.request.timeout.ms": 2**63 - 1}), 422, 40001)
    expect_error(post(server.url + "/consumers/g", {"name": "x", "format": "avro"}), 422, 42206)
    expect_error(post(server.url + "/consumers/g", {"name": "x", "format": "yaml"}), 422, 422)
    expect_error(requests.get(base + "/records", headers={"Accept": V2_BINARY}), 409, 40903)
    assert post(base + "/subscription", {"topics": ["errs"]}).status_code == 204
    expect_error(post(base + "/assignments", {"partitions": [{"topic": "errs", "partition": 0}]}), 409, 40903)
    expect_error(post(base + "/subscription", {"topic_pattern": "("}), 422, 42206)
    expect_error(post(base + "/subscription", {}), 422, 42206)
    assert requests.delete(base + "/subscription").status_code == 204
    assert post(base + "/assignments", {"partitions": [{"topic": "errs", "partition": 0}]}).status_code == 204
    expect_error(post(base + "/subscription", {"topics": ["errs"]}), 409, 40903)
    expect_error(post(base + "/assignments", {"partitions": [{"topic": "errs", "partition": 8}]}), 404, 40402)
    expect_error(post(base + "/positions", {"offsets": [{"topic": "errs", "partition": 0, "offset": -1}]}), 422, 42206)
    expect_error(post(base + "/offsets", {"offsets": [{"topic": "errs", "partition": 0, "offset": 2**63 - 1}]}), 422, 42206)
    expect_error(post(base + "/positions", {"offsets": [{"topic": "errs", "partition": 1, "offset": 0}]}), 409, 40903)
    expect_error(post(base + "/positions", "not an object"), 422, 42206)
    expect_error(post(base + "/positions", None) if False else requests.post(base + "/positions", headers={"Content-Type": V2}, data="{"), 400, 400)
    expect_error(requests.get(base + "/offsets", headers={"Content-Type": V2}), 404, 40402)
    expect_error(requests.post(base + "/subscription", headers={"Content-Type": "text/plain"}, data="x"), 415, 415)
    expect_error(requests.get(server.url + "/no/such/path"), 404, 404)
    expect_error(requests.put(server.url + "/topics"), 405, 405)
    assert requests.delete(base).status_code == 204
    expect_error(requests.delete(base), 404, 40403)
    # v3.
    expect_error(requests.get(server.url + "/v3/clusters/wrong"), 404, 404)
    expect_error(requests.get(server.v3 + "/topics/nope"), 404, 40403)
    expect_error(requests.post(server.v3 + "/topics", json={"topic_name": "bad name!"}), 422, 42206)
    expect_error(requests.post(server.v3 + "/topics", json={"topic_name": "errs"}), 400, 40002)
    expect_error(requests.post(server.v3 + "/topics", json={"topic_name": "rf", "replication_factor": 3}), 400, 40002)
    expect_error(requests.post(server.v3 + "/topics", data=""), 422, 42206)
    expect_error(requests.post(server.v3 + "/topics", json={"topic_name": "neg", "partitions_count": -1}), 422, 42206)
    expect_error(requests.post(server.v3 + "/topics", json={"topic_name": "c", "configs": [{"name": "retention.ms", "value": "soon"}]}), 400, 40002)
    expect_error(requests.patch(server.v3 + "/topics/errs", json={"partitions_count": 1}), 400, 40002)
    expect_error(requests.post(server.v3 + "/topics", headers={"Content-Type": "text/plain"}, data="x"), 415, 415)
    expect_error(requests.get(server.v3 + "/consumer-groups/none"), 404, 404)
    expect_error(requests.get(server.v3 + "/topics/errs/partitions/0/records", params={"offset": "-3"}), 400, 400)
    expect_error(requests.get(server.v3 + "/topics/errs/partitions/0/records", params={"offset": "99999"}), 416, 416)


def test_v3_admin(server):
    c = server.v3
    assert requests.get(server.url + "/v3/clusters").json()["kind"] == "KafkaClusterList"
    cluster = requests.get(c).json()
    assert cluster["kind"] == "KafkaCluster" and cluster["cluster_id"] == server.cluster
    assert cluster["metadata"]["self"] == c and cluster["topics"]["related"] == c + "/topics", cluster
    brokers = requests.get(c + "/brokers").json()
    assert brokers["kind"] == "KafkaBrokerList" and brokers["metadata"]["next"] is None
    assert brokers["data"][0]["broker_id"] == 1
    assert requests.get(c + "/brokers/1").json()["broker_id"] == 1
    expect_error(requests.get(c + "/brokers/5"), 404, 404)
    configs = requests.get(c + "/brokers/1/configs").json()["data"]
    names = {config["name"] for config in configs}
    assert "log.retention.hours" in names or "log.retention.ms" in names, names
    assert requests.get(c + "/brokers/-/configs").json()["kind"] == "KafkaBrokerConfigList"
    first = configs[0]["name"]
    assert requests.get(c + f"/brokers/1/configs/{first}").json()["name"] == first
    assert requests.get(c + "/broker-configs").json()["data"] == []

    # Topics: validate_only creates nothing; create answers 201 with Location.
    response = requests.post(c + "/topics", json={"topic_name": "v3t", "partitions_count": 2, "validate_only": True})
    assert response.status_code == 200, response.text
    expect_error(requests.get(c + "/topics/v3t"), 404, 40403)
    response = requests.post(
        c + "/topics",
        json={"topic_name": "v3t", "partitions_count": 2, "replication_factor": 1, "configs": [{"name": "cleanup.policy", "value": "compact"}]},
    )
    assert response.status_code == 201 and response.headers["Location"] == c + "/topics/v3t", response.headers
    topic = requests.get(c + "/topics/v3t").json()
    assert topic["kind"] == "KafkaTopic" and topic["partitions_count"] == 2 and topic["replication_factor"] == 1
    assert topic["is_internal"] is False and topic["metadata"]["resource_name"] == f"crn:///kafka={server.cluster}/topic=v3t"
    assert "v3t" in [t["topic_name"] for t in requests.get(c + "/topics").json()["data"]]
    assert requests.patch(c + "/topics/v3t", json={"partitions_count": 4}).json()["partitions_count"] == 4
    # Configs: get, set, reset, batch alter.
    config = requests.get(c + "/topics/v3t/configs/cleanup.policy").json()
    assert config["value"] == "compact" and config["source"] == "DYNAMIC_TOPIC_CONFIG" and not config["is_default"], config
    assert requests.put(c + "/topics/v3t/configs/retention.ms", json={"value": "60000"}).status_code == 204
    assert requests.get(c + "/topics/v3t/configs/retention.ms").json()["value"] == "60000"
    assert requests.delete(c + "/topics/v3t/configs/retention.ms").status_code == 204
    assert requests.get(c + "/topics/v3t/configs/retention.ms").json()["is_default"] is True
    response = requests.post(
        c + "/topics/v3t/configs:alter",
        json={"data": [{"name": "retention.ms", "value": "1000"}, {"name": "cleanup.policy", "operation": "DELETE"}]},
    )
    assert response.status_code == 204, response.text
    listed = {e["name"]: e for e in requests.get(c + "/topics/v3t/configs").json()["data"]}
    assert listed["retention.ms"]["value"] == "1000" and listed["cleanup.policy"]["value"] == "delete", listed["cleanup.policy"]
    # A batch with one bad entry changes nothing.
    expect_error(
        requests.post(c + "/topics/v3t/configs:alter", json={"data": [{"name": "retention.ms", "value": "5"}, {"name": "nope", "value": "1"}]}),
        400,
        40002,
    )
    assert requests.get(c + "/topics/v3t/configs/retention.ms").json()["value"] == "1000"
    assert any(e["topic_name"] == "v3t" for e in requests.get(c + "/topics/-/configs").json()["data"])
    # Partitions and replicas.
    partitions = requests.get(c + "/topics/v3t/partitions").json()["data"]
    assert [p["partition_id"] for p in partitions] == [0, 1, 2, 3]
    partition = requests.get(c + "/topics/v3t/partitions/3").json()
    assert partition["leader"]["related"] == c + "/topics/v3t/partitions/3/replicas/1", partition
    replica = requests.get(partition["leader"]["related"]).json()
    assert replica["is_leader"] and replica["is_in_sync"] and replica["broker_id"] == 1
    assert len(requests.get(c + "/topics/v3t/partitions/3/replicas").json()["data"]) == 1
    on_broker = requests.get(c + "/brokers/1/partition-replicas").json()["data"]
    assert {(r["topic_name"], r["partition_id"]) for r in on_broker} >= {("v3t", p) for p in range(4)}, on_broker
    # One broker: never a reassignment in progress.
    assert requests.get(cluster["partition_reassignments"]["related"]).json()["data"] == []
    assert requests.get(topic["partition_reassignments"]["related"]).json()["data"] == []
    expect_error(requests.get(partition["reassignment"]["related"]), 404, 404)
    # Delete.
    assert requests.delete(c + "/topics/v3t").status_code == 204
    expect_error(requests.get(c + "/topics/v3t"), 404, 40403)
    expect_error(requests.delete(c + "/topics/v3t"), 404, 40403)


def test_v3_produce_and_read(server):
    create_topic(server, "v3p", partitions=2)
    c = server.v3
    # One record.
    response = requests.post(
        c + "/topics/v3p/records",
        json={
            "partition_id": 1,
            "headers": [{"name": "Header-1", "value": b64("h1")}, {"name": "Header-1", "value": None}],
            "key": {"type": "STRING", "data": "REST"},
            "value": {"type": "JSON", "data": "ONE"},
            "timestamp": "2021-02-05T19:14:42Z",
        },
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["error_code"] == 200 and report["partition_id"] == 1 and report["offset"] == 0, report
    assert report["timestamp"] == "2021-02-05T19:14:42.000Z" and report["key"] == {"type": "STRING", "size": 4}, report
    assert report["value"] == {"type": "JSON", "size": 5} and report["cluster_id"] == server.cluster

    # A stream: one report per record, in order, errors in place.
    records = [
        {"partition_id": 0, "value": {"type": "BINARY", "data": b64(f"r{i}")}} for i in range(50)
    ] + [{"value": {"type": "BINARY", "data": "no base64!"}}, {"partition_id": 7, "value": {"data": 1}}, {"value": {"type": "AVRO", "data": 1}}]
    body = "\n".join(json.dumps(r) for r in records)

    def chunks():
        for index in range(0, len(body), 97):
            yield body[index : index + 97].encode()

    response = requests.post(c + "/topics/v3p/records", headers={"Content-Type": "application/json"}, data=chunks())
    assert response.status_code == 200
    reports = [json.loads(line) for line in response.text.split("\n")]
    assert len(reports) == 53, response.text
    assert [r["offset"] for r in reports[:50]] == list(range(50)) and all(r["partition_id"] == 0 for r in reports[:50])
    assert reports[50]["error_code"] == 400 and "base64" in reports[50]["message"], reports[50]
    assert reports[51]["error_code"] == 40402, reports[51]
    assert reports[52]["error_code"] == 422 and reports[52]["message"].startswith("Error: 42206"), reports[52]

    expect_error(requests.post(server.url + "/v3/clusters/x/topics/v3p/records", json={"value": {"data": 1}}), 404, 404)
    expect_error(requests.post(c + "/topics/none/records", json={"value": {"data": 1}}), 404, 40401)

    # A batch: 207 with successes and failures under their ids.
    entries = [
        {"id": "a", "partition_id": 1, "value": {"type": "STRING", "data": "batch"}},
        {"value": {"type": "BINARY", "data": "not base64!"}, "id": "b"},
    ]
    response = requests.post(c + "/topics/v3p/records:batch", json={"entries": entries})
    assert response.status_code == 207, response.text
    batch = response.json()
    assert [s["id"] for s in batch["successes"]] == ["a"] and batch["successes"][0]["partition_id"] == 1, batch
    assert batch["successes"][0]["value"] == {"type": "STRING", "size": 5}, batch
    assert [(f["id"], f["error_code"]) for f in batch["failures"]] == [("b", 400)], batch
    expect_error(requests.post(c + "/topics/v3p/records:batch", json={"entries": []}), 422, 42208)
    expect_error(requests.post(c + "/topics/v3p/records:batch", json={"entries": [{"id": "x"}, {"id": "x"}]}), 422, 42208)
    expect_error(requests.post(c + "/topics/v3p/records:batch", json={"entries": [{"value": {"data": 1}}]}), 422, 42208)
    expect_error(requests.post(c + "/topics/v3p/records:batch", json={"entries": [{"id": str(i)} for i in range(11)]}), 422, 42208)
    expect_error(requests.post(c + "/topics/v3p/records:batch", data="{", headers={"Content-Type": "application/json"}), 400, 400)
    # v3 bodies are application/json: one without a Content-Type is refused (415), as Confluent's REST Proxy does.
    expect_error(requests.post(c + "/topics/v3p/records:batch", data="{"), 415, 415)
    before = requests.get(c + "/topics/v3p/partitions/1/records", params={"offset": 0}).json()["high_watermark"]
    # (the batch's one good record went to partition 1: offset 1 there, after the single record above)
    assert before == 2, before

    # The stateless read shows timestamps and headers, and pages with next.
    page = requests.get(c + "/topics/v3p/partitions/1/records", params={"offset": 0, "max_bytes": 1}).json()
    assert page["kind"] == "KafkaRecordList" and page["next_offset"] == 1 and page["high_watermark"] == 2, page
    record = page["data"][0]
    assert record["timestamp"] == "2021-02-05T19:14:42.000Z" and record["timestamp_type"] == "CREATE_TIME", record
    assert record["key"] == {"type": "BINARY", "data": b64("REST")} and record["value"]["data"] == b64('"ONE"'), record
    assert record["headers"] == [{"name": "Header-1", "value": b64("h1")}, {"name": "Header-1", "value": None}], record
    as_text = requests.get(c + "/topics/v3p/partitions/1/records", params={"offset": 0, "format": "string"}).json()
    assert as_text["data"][0]["key"] == {"type": "STRING", "data": "REST"}, as_text
    assert as_text["data"][0]["value"] == {"type": "STRING", "data": '"ONE"'}, as_text
    # The key is not JSON, so the record cannot be shown as JSON: a clear error.
    as_json = requests.get(c + "/topics/v3p/partitions/1/records", params={"offset": 0, "format": "json"})
    expect_error(as_json, 422, 42203)
    seen = []
    url = c + "/topics/v3p/partitions/0/records?offset=0&max_bytes=10"
    while True:
        page = requests.get(url).json()
        if not page["data"]:
            break
        seen += [base64.b64decode(r["value"]["data"]).decode() for r in page["data"]]
        url = page["metadata"]["next"]
    assert seen == [f"r{i}" for i in range(50)], seen
    # v2 consumers see headers and timestamps too.
    base = consumer(server, "hdr", "h", format="binary", **{"auto.offset.reset": "earliest"})
    post(base + "/assignments", {"partitions": [{"topic": "v3p", "partition": 1}]})
    got = read_until(base, 1, fmt=V2_BINARY)
    assert got[0]["headers"] == [{"key": "Header-1", "value": b64("h1")}, {"key": "Header-1", "value": None}], got
    assert got[0]["timestamp"] == 1612552482000, got
    requests.delete(base)

    # Malformed JSON ends the stream with an error report after the good records.
    response = requests.post(c + "/topics/v3p/records", headers={"Content-Type": "application/json"}, data='{"value":{"data":1}} {"value":')
    reports = [json.loads(line) for line in response.text.split("\n")]
    assert reports[0]["error_code"] == 200 and reports[1]["error_code"] == 400, reports
    # A value that is not a record, at the very end of the body, is reported as such.
    response = requests.post(c + "/topics/v3p/records", headers={"Content-Type": "application/json"}, data='{"value":{"data":1}} 7')
    reports = [json.loads(line) for line in response.text.split("\n")]
    assert reports[1]["error_code"] == 400 and "JSON object" in reports[1]["message"], reports


def test_keyed_partitioning(server):
    create_topic(server, "keyed", partitions=7)
    keys = [f"key-{i}".encode() for i in range(60)]
    offsets = requests.post(
        server.url + "/topics/keyed",
        headers={"Content-Type": V2_BINARY},
        data=json.dumps({"records": [{"key": b64(k), "value": b64("v")} for k in keys]}),
    ).json()["offsets"]
    for key, offset in zip(keys, offsets):
        assert offset["partition"] == (murmur2(key) & 0x7FFFFFFF) % 7, (key, offset)
    # v3 keys go through the same partitioner (a STRING key is its UTF-8 bytes).
    for key in keys[:10]:
        report = requests.post(server.v3 + "/topics/keyed/records", json={"key": {"type": "STRING", "data": key.decode()}, "value": {"data": 1}}).json()
        assert report["partition_id"] == (murmur2(key) & 0x7FFFFFFF) % 7, report


def test_seek_and_commit(server):
    create_topic(server, "seek", partitions=1)
    produce_json(server, "seek", [{"value": i} for i in range(10)])
    base = consumer(server, "sk", "s", format="json", **{"auto.offset.reset": "earliest", "auto.commit.enable": "false"})
    assert post(base + "/assignments", {"partitions": [{"topic": "seek", "partition": 0}]}).status_code == 204
    assert requests.get(base + "/assignments").json() == {"partitions": [{"topic": "seek", "partition": 0}]}
    assert [r["value"] for r in read_until(base, 10)] == list(range(10))
    assert post(base + "/positions", {"offsets": [{"topic": "seek", "partition": 0, "offset": 7}]}).status_code == 204
    assert [r["value"] for r in read_until(base, 3)] == [7, 8, 9]
    assert post(base + "/positions/beginning", {"partitions": [{"topic": "seek", "partition": 0}]}).status_code == 204
    assert read(base, max_bytes=1)[0]["value"] == 0  # max_bytes still returns one record
    assert post(base + "/positions/end", {"partitions": [{"topic": "seek", "partition": 0}]}).status_code == 204
    assert read(base, timeout=200) == []
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    assert post(base + "/positions", {"timestamps": [{"topic": "seek", "partition": 0, "timestamp": ts}]}).status_code == 204
    assert read_until(base, 10)[0]["value"] == 0
    # Commit without a body commits the positions.
    assert post(base + "/offsets").json() == []
    committed = requests.get(base + "/offsets", headers={"Content-Type": V2}, data=json.dumps({"partitions": [{"topic": "seek", "partition": 0}]}))
    assert committed.json()["offsets"][0]["offset"] == 10, committed.text
    requests.delete(base)
    # A new instance of the group starts from the committed offset.
    produce_json(server, "seek", [{"value": 10}])
    base = consumer(server, "sk", "s2", format="json")
    post(base + "/subscription", {"topic_pattern": "se.k"})
    assert [r["value"] for r in read_until(base, 1)] == [10]
    assert requests.get(base + "/subscription").json() == {"topics": ["seek"]}
    requests.delete(base)


def test_long_poll(server):
    """A read waiting for data answers as soon as it arrives."""
    create_topic(server, "poll")
    base = consumer(server, "lp", "c", format="json")
    post(base + "/assignments", {"partitions": [{"topic": "poll", "partition": 0}]})
    assert read(base, timeout=100) == []
    result = {}

    def reader():
        started = time.time()
        result["records"] = requests.get(base + "/records", headers={"Accept": V2_JSON}, params={"timeout": 20000}).json()
        result["seconds"] = time.time() - started

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.5)
    produce_json(server, "poll", [{"value": "now"}])
    thread.join(30)
    assert [r["value"] for r in result["records"]] == ["now"], result
    assert result["seconds"] < 15, result
    requests.delete(base)


def group_assignment(bases):
    return {base: sorted(p["partition"] for p in requests.get(base + "/assignments").json()["partitions"]) for base in bases}


def wait_for(condition, seconds=30, what="condition"):
    """The first truthy value of `condition()`, polled every 0.1 s; fails after `seconds` naming `what`."""
    deadline = time.time() + seconds
    last = None
    while time.time() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def test_consumer_group(server):
    """Two instances split the partitions; deleting one hands its partitions to the other; an idle one expires."""
    create_topic(server, "grp", partitions=4)
    produce_json(server, "grp", [{"value": i, "partition": i % 4} for i in range(40)])
    a = consumer(server, "split", "a", format="json", **{"auto.offset.reset": "earliest"})
    b = consumer(server, "split", "b", format="json", **{"auto.offset.reset": "earliest"})
    post(a + "/subscription", {"topics": ["grp"]})
    post(b + "/subscription", {"topics": ["grp"]})
    split = wait_for(lambda: (lambda s: s if len(s[a]) == 2 and len(s[b]) == 2 else None)(group_assignment([a, b])))
    assert sorted(split[a] + split[b]) == [0, 1, 2, 3], split
    group = requests.get(server.v3 + "/consumer-groups/split").json()
    assert group["state"] == "STABLE" and group["partition_assignor"] in ("range", "cooperative-sticky"), group
    consumers = requests.get(server.v3 + "/consumer-groups/split/consumers").json()["data"]
    assert len(consumers) == 2, consumers
    assignments = requests.get(consumers[0]["assignments"]["related"]).json()["data"]
    assert len(assignments) == 2, assignments
    one = requests.get(assignments[0]["metadata"]["self"]).json()
    assert one["kind"] == "KafkaConsumerAssignment" and one["partition_id"] == assignments[0]["partition_id"], one
    assert requests.get(one["lag"]["related"]).status_code == 200
    seen = read_until(a, 20) + read_until(b, 20)
    assert sorted(r["value"] for r in seen) == list(range(40)), sorted(r["value"] for r in seen)
    assert post(a + "/offsets").status_code == 200 and post(b + "/offsets").status_code == 200
    lags = requests.get(server.v3 + "/consumer-groups/split/lags").json()["data"]
    assert sorted((l["partition_id"], l["current_offset"], l["lag"]) for l in lags) == [(p, 10, 0) for p in range(4)], lags
    summary = requests.get(server.v3 + "/consumer-groups/split/lag-summary").json()
    assert summary["total_lag"] == 0 and summary["max_lag"] == 0, summary
    produce_json(server, "grp", [{"value": 100, "partition": 3}])
    lag = requests.get(server.v3 + "/consumer-groups/split/lags/grp/partitions/3").json()
    assert lag["lag"] == 1 and lag["log_end_offset"] == 11, lag
    # Deleting one hands its partitions to the other.
    assert requests.delete(b).status_code == 204
    wait_for(lambda: group_assignment([a])[a] == [0, 1, 2, 3])
    assert [r["value"] for r in read_until(a, 1)] == [100]
    requests.delete(a)


def test_instance_expiry():
    """An instance unused for consumer.instance.timeout.ms is closed and its group rebalances."""
    server = Server(config="consumer.instance.timeout.ms=3000\n")
    try:
        create_topic(server, "exp", partitions=2)
        a = consumer(server, "eg", "a")
        b = consumer(server, "eg", "b")
        post(a + "/subscription", {"topics": ["exp"]})
        post(b + "/subscription", {"topics": ["exp"]})
        wait_for(lambda: len(group_assignment([a, b])[a]) == 1 and len(group_assignment([a, b])[b]) == 1)
        # Keep a alive; b goes idle and expires.
        deadline = time.time() + 30
        while time.time() < deadline:
            if requests.get(b.replace("/instances/b", "/instances/a") + "/assignments").json()["partitions"].__len__() == 2:
                break
            time.sleep(0.5)
        assert len(requests.get(a + "/assignments").json()["partitions"]) == 2
        expect_error(requests.get(b + "/assignments"), 404, 40403)
        assert "Closing an idle consumer instance" in server.log_text()
    finally:
        server.close()


def test_environment_and_config():
    """Every setting also comes from RUNNEL_* variables; unknown config keys are reported; a busy port is said plainly."""
    data_dir = tempfile.mkdtemp(prefix="runnel-env-")
    config = os.path.join(data_dir + ".properties")
    with open(config, "w") as file:
        file.write("num.partitions=3\nconsumer.request.timeout.ms=250\nno.such.setting=1\n")
    env = {
        "RUNNEL_DATA_DIR": data_dir,
        "RUNNEL_PROXY_PORT": "0",
        "RUNNEL_CONNECT_PORT": "0",
        "RUNNEL_CONFIG": config,
        "RUNNEL_MAX_REQUEST_BYTES": "1000",
    }
    server = Server(data_dir=data_dir, env=env, flags=False)
    try:
        assert os.path.exists(os.path.join(data_dir, "meta.properties")), os.listdir(data_dir)
        assert "no.such.setting" in server.log_text() and "consumer.request.timeout.ms" not in server.log_text()
        # num.partitions from the file; the request limit from the environment.
        created = requests.post(server.v3 + "/topics", json={"topic_name": "envtopic"}).json()
        assert created["partitions_count"] == 3, created
        big = json.dumps({"records": [{"value": "x" * 2000}]})
        expect_error(requests.post(server.url + "/topics/envtopic", headers={"Content-Type": V2_JSON}, data=big), 413, 413)
        # consumer.request.timeout.ms caps a read's wait.
        base = consumer(server, "envg", "c")
        post(base + "/assignments", {"partitions": [{"topic": "envtopic", "partition": 0}]})
        started = time.time()
        assert read(base, fmt=V2_BINARY, timeout=20000) == []
        assert time.time() - started < 10
        # A second server on the same proxy port says so, and exits with an error.
        port = server.url.rsplit(":", 1)[1]
        other = subprocess.run(
            [RUNNEL, "serve", "--data-dir", data_dir + "-2", "--proxy-port", port, "--connect-port", "0"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode != 0 and "already in use" in other.stderr, other.stderr[-2000:]
    finally:
        server.close()
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(data_dir + "-2", ignore_errors=True)
        os.remove(config)


def test_restart_and_kill(server_factory=None):
    """Data survives a graceful restart and a kill -9; a graceful stop exits 0 and marks a clean shutdown."""
    server = Server()
    try:
        create_topic(server, "durable", partitions=3)
        acked = []
        for batch in range(20):
            offsets = produce_json(server, "durable", [{"key": f"k{batch}-{i}", "value": f"v{batch}-{i}"} for i in range(25)])
            acked += [(o["partition"], o["offset"]) for o in offsets]
        assert server.stop(signal.SIGTERM) == 0
        server.start()
        assert "cleanShutdown=true" in server.log_text(), server.log_text()[-3000:]

        # Produce in a thread and kill -9 mid-stream; everything acknowledged must be there.
        stop = threading.Event()
        more = []

        def producer():
            while not stop.is_set():
                try:
                    offsets = produce_json(server, "durable", [{"value": "late"} for _ in range(10)])
                except Exception:
                    return
                more.extend((o["partition"], o["offset"]) for o in offsets)

        thread = threading.Thread(target=producer)
        thread.start()
        time.sleep(1.0)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        stop.set()
        thread.join(30)
        server.log.close()
        server.start()
        ends = {p: requests.get(f"{server.url}/topics/durable/partitions/{p}/offsets").json()["end_offset"] for p in range(3)}
        for partition, offset in acked + more:
            assert offset < ends[partition], (partition, offset, ends)
        assert len(more) > 0
        # The records read back are the ones written.
        page = requests.get(server.v3 + "/topics/durable/partitions/0/records", params={"offset": 0, "format": "json"}).json()
        assert page["data"][0]["value"]["data"].startswith("v"), page["data"][0]
    finally:
        server.close()


def raw_exchange(server, data):
    """Sends raw bytes on a new connection and returns the status line and body of the answer."""
    host, port = server.url[7:].split(":")
    with socket.create_connection((host, int(port))) as connection:
        connection.settimeout(10)
        connection.sendall(data)
        answer = b""
        while b"\r\n\r\n" not in answer:
            piece = connection.recv(65536)
            if not piece:
                break
            answer += piece
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body


def test_malformed_http(server):
    """Broken HTTP gets a 4xx, never a 500, and the server keeps serving."""
    create_topic(server, "raw")
    produce = b"POST /topics/raw HTTP/1.1\r\nHost: localhost\r\nContent-Type: " + V2_JSON.encode() + b"\r\n"
    cases = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        produce + b"Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n",
        produce + b"Content-Length: 5\r\nContent-Length: 7\r\n\r\n{}",
        b"GET /topics/raw/partitions/99999999999999999999 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ]
    for data in cases:
        status, body = raw_exchange(server, data)
        code = int(status.split(" ")[1])
        assert 400 <= code < 500, (data[:80], status, body[:200])
    assert requests.get(server.url + "/topics/raw/partitions/0/offsets").json()["end_offset"] == 0
    assert requests.get(server.url + "/brokers").status_code == 200


def test_connections(server):
    """Idle and half-open connections do not stop the server serving others."""
    sockets = []
    try:
        for _ in range(1000):
            sockets.append(socket.create_connection(socket.getaddrinfo(*server.url[7:].split(":"))[0][4][:2]))
        half = sockets[0]
        half.sendall(b"POST /topics/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{")
        assert requests.get(server.url + "/topics").status_code == 200
        # The idle timeout (1 s for this server) closes the half-sent request.
        half.settimeout(10)
        data = half.recv(4096)
        while data:
            data = half.recv(4096)
    finally:
        for s in sockets:
            s.close()
    assert requests.get(server.url + "/brokers").status_code == 200


def test_connect_root(server):
    root = requests.get(server.connect + "/").json()
    assert root["kafka_cluster_id"] == server.cluster and root["version"] and root["commit"], root
    spec = requests.get(server.connect + "/openapi.yaml")
    assert spec.status_code == 200 and spec.text.startswith("openapi:"), spec.text[:100]
    assert requests.get(server.url + "/openapi.yaml").text == spec.text


SHARED = [
    test_quickstart,
    test_v2_metadata,
    test_errors,
    test_v3_admin,
    test_v3_produce_and_read,
    test_keyed_partitioning,
    test_seek_and_commit,
    test_long_poll,
    test_consumer_group,
    test_connections,
    test_malformed_http,
    test_connect_root,
]
OWN_SERVER = [test_instance_expiry, test_environment_and_config, test_restart_and_kill]


def run_suite(shared_tests, own_server_tests, make_server=Server):
    """Runs the tests named on the command line (all when none is): `shared_tests` on one server, the others on
    their own; exits non-zero when any fails."""
    selected = set(sys.argv[2:])
    failures = 0
    shared = [t for t in shared_tests if not selected or t.__name__ in selected]
    own = [t for t in own_server_tests if not selected or t.__name__ in selected]
    if shared:
        server = make_server()
        try:
            for test in shared:
                failures += run(test, server)
        finally:
            server.close()
    for test in own:
        failures += run(test)
    sys.exit(1 if failures else 0)


def main():
    run_suite(SHARED, OWN_SERVER, lambda: Server(extra=["--max-request-bytes", "1048576", "--idle-timeout-ms", "1000"]))


def run(test, *args):
    started = time.time()
    try:
        test(*args)
        print(f"PASS {test.__name__} ({time.time() - started:.1f}s)", flush=True)
        return 0
    except Exception:
        print(f"FAIL {test.__name__}\n{traceback.format_exc()}", flush=True)
        return 1


if __name__ == "__main__":
    main()
