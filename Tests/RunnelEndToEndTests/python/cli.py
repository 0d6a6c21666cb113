"""End-to-end tests of the `runnel` CLI: the binary run as a process against a real `runnel serve`, the way a user
runs kafka-topics, kafka-console-producer/-consumer, kafka-consumer-groups and the confluent CLI. Usage:
cli.py RUNNEL_BINARY [TEST_NAME...]; prints one line per test and exits non-zero when any fails."""

import json
import os
import signal
import subprocess
import tempfile
import time

import requests

from rest_proxy import RUNNEL, Server, create_topic, run_suite


def cli(server, *args, stdin=None, env=None, check=True, timeout=60):
    """Runs `runnel ARGS --url <server>`; returns the completed process (text)."""
    url = ["--url", server.url] if server else []
    process = subprocess.run(
        [RUNNEL, *args, *url],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    process.out = process.stdout.decode("utf-8", "replace")
    process.err = process.stderr.decode("utf-8", "replace")
    if check:
        assert process.returncode == 0, f"runnel {' '.join(args)} exited {process.returncode}: {process.err}"
    return process


def cli_json(server, *args, **kwargs):
    return json.loads(cli(server, *args, "--output", "json", **kwargs).out)


def records(server, topic, count, *extra):
    """The first `count` records of a topic, read with `runnel consume --output json`."""
    out = cli(server, "consume", topic, "--from-beginning", "--max-messages", str(count), "-o", "json", *extra).out
    return [json.loads(line) for line in out.splitlines()]


def test_topic_commands(server):
    created = cli_json(server, "topic", "create", "clicks", "--partitions", "3", "--config", "retention.ms=3600000")
    assert created == {"topic_name": "clicks", "partitions_count": 3, "replication_factor": 1}, created
    listed = cli_json(server, "topic", "list")
    assert {"name": "clicks", "partitions": 3, "replication_factor": 1, "internal": False} in listed, listed
    assert all(not topic["internal"] for topic in listed)
    assert "clicks" in cli(server, "topic", "list").out.split()

    described = cli_json(server, "topic", "describe", "clicks")
    assert described["partitions_count"] == 3
    assert [p["partition"] for p in described["partitions"]] == [0, 1, 2]
    assert described["configs"] == {"retention.ms": "3600000"}, described["configs"]
    assert "cleanup.policy" in cli_json(server, "topic", "describe", "clicks", "--all-configs")["configs"]

    cli(server, "topic", "alter", "clicks", "--partitions", "5", "--config", "cleanup.policy=compact",
        "--delete-config", "retention.ms")
    described = cli_json(server, "topic", "describe", "clicks")
    assert described["partitions_count"] == 5
    assert described["configs"] == {"cleanup.policy": "compact"}, described["configs"]

    again = cli(server, "topic", "create", "clicks", check=False)
    assert again.returncode == 1 and again.err.strip() == "Error: Topic 'clicks' already exists.", again.err
    cli(server, "topic", "create", "clicks", "--if-not-exists")
    shrink = cli(server, "topic", "alter", "clicks", "--partitions", "2", check=False)
    assert shrink.returncode == 1 and shrink.err.startswith("Error: ") and "partition" in shrink.err.lower(), shrink.err
    bad = cli(server, "topic", "create", "no/slash", check=False)
    assert bad.returncode == 1 and "no/slash" in bad.err, bad.err

    cli(server, "topic", "delete", "clicks")
    gone = cli(server, "topic", "describe", "clicks", check=False)
    assert gone.returncode == 1 and "clicks" in gone.err, gone.err
    missing = cli(server, "topic", "delete", "clicks", check=False)
    assert missing.returncode == 1, missing.err
    cli(server, "topic", "delete", "clicks", "--if-exists")


def test_produce_consume_round_trip(server):
    create_topic(server, "lines", partitions=3)
    lines = [b"alpha:1", b"beta:two words", b"gamma:\"quoted\" and \\ backslash", b"delta:", b"eps:\xc3\xa9t\xc3\xa9 \xe2\x9c\x93",
             b"zeta:tab\there", b"eta:\xff\xfe not utf-8", b"alpha:again"]
    with tempfile.NamedTemporaryFile(delete=False) as file:
        file.write(b"\n".join(lines) + b"\n")
    produced = cli_json(server, "produce", "lines", "--file", file.name, "--key-separator", ":",
                        "--header", "source=file", "--header", "run=1")
    assert produced["records"] == len(lines) and produced["failed"] == 0, produced
    os.unlink(file.name)

    got = records(server, "lines", len(lines))
    assert len(got) == len(lines)
    by_key = {}
    for record in got:
        assert record["headers"] == {"source": "file", "run": "1"}, record
        assert record["timestamp"].endswith("Z")
        by_key.setdefault(record["key"], []).append(record)
    # Keys decide partitions: both "alpha" records share one, in order.
    alphas = by_key["alpha"]
    assert [r["value"] for r in alphas] == ["1", "again"] and alphas[0]["partition"] == alphas[1]["partition"]
    assert alphas[0]["offset"] < alphas[1]["offset"]
    assert by_key["gamma"][0]["value"] == '"quoted" and \\ backslash'
    assert by_key["delta"][0]["value"] == ""
    assert by_key["eps"][0]["value"] == "été ✓"
    assert by_key["zeta"][0]["value"] == "tab\there"
    assert by_key["eta"][0]["value_base64"] == "//4gbm90IHV0Zi04", by_key["eta"]

    # The same records, read with the v3 API a Confluent user would check with.
    partition = alphas[0]["partition"]
    read = requests.get(f"{server.v3}/topics/lines/partitions/{partition}/records?format=string").json()
    assert [r["value"]["data"] for r in read["data"] if r["key"]["data"] == "alpha"] == ["1", "again"], read

    # Standard input, into one partition, with the console consumer's printed fields.
    cli(server, "produce", "lines", "--partition", "1", stdin=b"from stdin\r\nsecond\n\nlast without newline")
    out = cli(server, "consume", "lines", "--partition", "1", "--offset", "earliest", "--max-messages", "100",
              "--timeout-ms", "1500", "--print-offset", "--print-key", "--print-headers").out.splitlines()
    tail = out[-4:]
    assert [line.split("\t")[1:] for line in tail] == [
        ["NO_HEADERS", "null", "from stdin"], ["NO_HEADERS", "null", "second"], ["NO_HEADERS", "null", ""],
        ["NO_HEADERS", "null", "last without newline"],
    ], tail
    offsets = [int(line.split("\t")[0].removeprefix("Offset:")) for line in out]
    assert offsets == list(range(offsets[0], offsets[0] + len(out)))
    # --offset N starts there.
    second = cli(server, "consume", "lines", "--partition", "1", "--offset", str(offsets[-3]), "--max-messages", "1").out
    assert second == "second\n", second

    # A line without the key separator stops the producer with the line number; the lines before it are written.
    before = sum(p["log_end_offset"] for p in requests.get(server.url + "/ui/api/partitions").json()["partitions"]
                 if p["topic_name"] == "lines")
    failed = cli(server, "produce", "lines", "--key-separator", "=", stdin=b"a=1\nno separator\nb=2\n", check=False)
    assert failed.returncode == 1 and "Line 2" in failed.err, failed.err
    after = sum(p["log_end_offset"] for p in requests.get(server.url + "/ui/api/partitions").json()["partitions"]
                if p["topic_name"] == "lines")
    assert after == before + 1, (before, after)

    # A file on a terminal: a progress bar on standard error, ending at 100 %, then the summary.
    import pty
    with tempfile.NamedTemporaryFile(delete=False) as file:
        file.write(b"".join(b"row %d\n" % i for i in range(1000)))
    controller, terminal = pty.openpty()
    shown = subprocess.run([RUNNEL, "produce", "lines", "--file", file.name, "--url", server.url],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, timeout=60)
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    os.unlink(file.name)
    assert shown.returncode == 0 and shown.stdout == b"", shown
    text = drawn.decode("utf-8", "replace")
    assert "100%  1000 records" in text and "█" * 30 in text, text
    assert "Produced 1000 records to lines" in text, text

    missing = cli(server, "produce", "no-such-topic", stdin=b"x\n", check=False)
    assert missing.returncode == 1 and missing.err.startswith("Error: "), missing.err
    nofile = cli(server, "produce", "lines", "--file", "/nonexistent/file.txt", check=False)
    assert nofile.returncode == 1 and "Cannot open /nonexistent/file.txt" in nofile.err, nofile.err


def test_consume_follows_until_ctrl_c(server):
    create_topic(server, "live", partitions=2)
    follower = subprocess.Popen([RUNNEL, "consume", "live", "--url", server.url, "--print-partition"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    grouped = subprocess.Popen([RUNNEL, "consume", "live", "--group", "watchers", "--url", server.url],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The follower starts at the end: wait until the group member has joined, then write.
        deadline = time.time() + 30
        while time.time() < deadline:
            group = requests.get(f"{server.v3}/consumer-groups/watchers")
            if group.status_code == 200 and group.json()["state"] == "STABLE":
                break
            time.sleep(0.2)
        time.sleep(1.5)
        cli(server, "produce", "live", stdin="".join(f"event {i}\n" for i in range(20)).encode())
        deadline = time.time() + 20
        while time.time() < deadline:
            lag = requests.get(f"{server.v3}/consumer-groups/watchers/lags").json()["data"]
            if sum(p["current_offset"] or 0 for p in lag) == 20:
                break
            time.sleep(0.2)
        time.sleep(1)
    finally:
        for process in (follower, grouped):
            process.send_signal(signal.SIGINT)
    out, err = follower.communicate(timeout=15)
    assert follower.returncode == 0, err
    values = sorted(line.split("\t")[1] for line in out.decode().splitlines())
    assert values == sorted(f"event {i}" for i in range(20)), out
    assert "Processed a total of 20 messages" in err.decode(), err
    out, err = grouped.communicate(timeout=15)
    assert grouped.returncode == 0, err
    assert sorted(out.decode().splitlines()) == sorted(f"event {i}" for i in range(20)), out
    # Leaving on Ctrl-C: the group is empty again at once, and its offsets are committed.
    group = requests.get(f"{server.v3}/consumer-groups/watchers").json()
    assert group["state"] == "EMPTY", group
    described = cli_json(server, "group", "describe", "watchers")
    assert described["total_lag"] == 0 and described["members"] == 0, described


def test_group_lag_and_reset(server):
    create_topic(server, "jobs", partitions=1)
    cli(server, "produce", "jobs", stdin="".join(f"job {i}\n" for i in range(10)).encode())
    first = cli(server, "consume", "jobs", "--group", "workers", "--from-beginning", "--max-messages", "4").out
    assert first.splitlines() == [f"job {i}" for i in range(4)], first

    described = cli_json(server, "group", "describe", "workers")
    assert described["state"] == "EMPTY" and described["total_lag"] == 6, described
    [partition] = described["partitions"]
    assert (partition["topic"], partition["current_offset"], partition["log_end_offset"], partition["lag"]) == \
        ("jobs", 4, 10, 6), partition
    table = cli(server, "group", "describe", "workers").out
    assert "LAG" in table and "total lag 6" in table, table
    assert {"group": "workers", "state": "EMPTY", "assignor": "range", "simple": False} in \
        cli_json(server, "group", "list") or any(g["group"] == "workers" for g in cli_json(server, "group", "list"))

    # The group goes on where it stopped.
    rest = cli(server, "consume", "jobs", "--group", "workers", "--max-messages", "6").out
    assert rest.splitlines() == [f"job {i}" for i in range(4, 10)], rest
    assert cli_json(server, "group", "describe", "workers")["total_lag"] == 0

    # Reset: a dry run changes nothing; --execute moves the offsets.
    plan = cli_json(server, "group", "reset-offsets", "workers", "--topic", "jobs", "--to-earliest")
    assert plan == {"executed": False, "offsets": [{"group": "workers", "topic": "jobs", "partition": 0,
                                                    "new_offset": 0}]}, plan
    assert cli_json(server, "group", "describe", "workers")["total_lag"] == 0
    cli(server, "group", "reset-offsets", "workers", "--all-topics", "--to-offset", "7", "--execute")
    assert cli_json(server, "group", "describe", "workers")["partitions"][0]["current_offset"] == 7
    assert cli(server, "consume", "jobs", "--group", "workers", "--max-messages", "1").out == "job 7\n"
    cli(server, "group", "reset-offsets", "workers", "--topic", "jobs", "--to-earliest", "--execute")
    assert cli_json(server, "group", "describe", "workers")["total_lag"] == 10
    cli(server, "group", "reset-offsets", "workers", "--topic", "jobs", "--to-latest", "--execute")
    assert cli_json(server, "group", "describe", "workers")["total_lag"] == 0

    usage = cli(server, "group", "reset-offsets", "workers", "--topic", "jobs", check=False)
    assert usage.returncode == 2 and "--to-earliest" in usage.err, usage.err
    missing = cli(server, "group", "describe", "nobody", check=False)
    assert missing.returncode == 1 and "nobody" in missing.err, missing.err


def test_connector_lifecycle(server):
    folder = tempfile.mkdtemp(prefix="runnel-cli-")
    source = os.path.join(folder, "input.txt")
    with open(source, "w") as file:
        file.write("one\ntwo\nthree\n")
    template = os.path.join(folder, "source.json")
    with open(template, "w") as file:
        json.dump({"name": "lines-in", "config": {
            "connector.class": "FileStreamSource", "file": source, "topic": "from-file", "tasks.max": "1",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter"}}, file)
    created = cli_json(server, "connector", "create", "-f", template)
    assert created["name"] == "lines-in", created

    def state():
        return cli_json(server, "connector", "status", "lines-in")

    def wait_state(expected):
        deadline = time.time() + 30
        while time.time() < deadline:
            status = state()
            if status["connector"]["state"] == expected and all(t["state"] == expected for t in status["tasks"]):
                return status
            time.sleep(0.2)
        raise AssertionError(f"not {expected}: {state()}")

    wait_state("RUNNING")
    listed = cli_json(server, "connector", "list")
    assert listed == [{"name": "lines-in", "type": "source", "class": "FileStreamSource", "state": "RUNNING",
                       "tasks": "1/1 running"}], listed
    assert [r["value"] for r in records(server, "from-file", 3)] == ["one", "two", "three"]
    cli(server, "connector", "pause", "lines-in")
    wait_state("PAUSED")
    cli(server, "connector", "resume", "lines-in")
    wait_state("RUNNING")
    assert "Restarting connector lines-in." in cli(server, "connector", "restart", "lines-in", "--include-tasks").out
    wait_state("RUNNING")
    assert "RUNNING" in cli(server, "connector", "status", "lines-in").out

    # A .properties file, and --update replacing the config.
    properties = os.path.join(folder, "sink.properties")
    with open(properties, "w") as file:
        file.write(f"# a file sink\nname=lines-out\nconnector.class=FileStreamSink\ntopics=from-file\n"
                   f"file={os.path.join(folder, 'out.txt')}\n")
    cli(server, "connector", "create", "-f", properties)
    cli(server, "connector", "create", "-f", properties, "--update")
    deadline = time.time() + 30
    while time.time() < deadline and not os.path.exists(os.path.join(folder, "out.txt")):
        time.sleep(0.2)
    cli(server, "connector", "delete", "lines-out")

    # Bad files and bad configs: one clear line each, exit 1.
    broken = os.path.join(folder, "broken.json")
    with open(broken, "w") as file:
        file.write('{"name": "x", "config": {')
    bad = cli(server, "connector", "create", "-f", broken, check=False)
    assert bad.returncode == 1 and "is not valid JSON" in bad.err, bad.err
    nameless = os.path.join(folder, "nameless.json")
    with open(nameless, "w") as file:
        json.dump({"config": {"connector.class": "FileStreamSource"}}, file)
    bad = cli(server, "connector", "create", "-f", nameless, check=False)
    assert bad.returncode == 1 and "names no connector" in bad.err, bad.err
    invalid = os.path.join(folder, "invalid.json")
    with open(invalid, "w") as file:
        json.dump({"name": "bad-one", "config": {"connector.class": "FileStreamSource", "tasks.max": "1"}}, file)
    bad = cli(server, "connector", "create", "-f", invalid, check=False)
    assert bad.returncode == 1 and "topic" in bad.err, bad.err
    checked = cli(server, "connector", "validate", "-f", invalid, check=False)
    assert checked.returncode == 1 and "topic" in checked.out and "config errors" in checked.err, checked.out
    assert cli(server, "connector", "validate", "-f", template).returncode == 0
    duplicate = cli(server, "connector", "create", "-f", template, check=False)
    assert duplicate.returncode == 1 and "lines-in" in duplicate.err, duplicate.err

    cli(server, "connector", "delete", "lines-in")
    assert cli_json(server, "connector", "list") == []
    gone = cli(server, "connector", "status", "lines-in", check=False)
    assert gone.returncode == 1 and "lines-in" in gone.err, gone.err
    plugins = cli_json(server, "connector", "plugins")
    assert {p["type"] for p in plugins} == {"source", "sink"}, plugins
    assert any(p["type"] == "transformation" for p in cli_json(server, "connector", "plugins", "--all"))


def test_cluster_and_urls(server):
    described = cli_json(server, "cluster", "describe")
    assert described["cluster_id"] == server.cluster and described["connect_version"], described
    # RUNNEL_URL instead of --url; --connect-url at the connect port itself.
    env_run = cli(None, "cluster", "describe", "-o", "json", env={"RUNNEL_URL": server.url})
    assert json.loads(env_run.out)["cluster_id"] == server.cluster
    direct = cli(server, "connector", "list", "--connect-url", server.connect, "-o", "json")
    assert json.loads(direct.out) == cli_json(server, "connector", "list")
    assert cli_json(server, "cluster", "describe", "--connect-url", server.connect)["connect_version"]


def test_bad_input(server):
    for args in (["frobnicate"], ["topic", "list", "--bogus"], ["topic", "create"], ["consume"],
                 ["consume", "t", "--offset", "5"], ["produce", "t", "--header", "novalue"],
                 ["topic", "list", "--output", "xml"]):
        result = cli(server, *args, check=False)
        assert result.returncode == 2, f"{args}: {result.returncode} {result.err}"
        assert result.err.startswith("Error: ") and "Usage:" in result.err, f"{args}: {result.err}"
        assert result.out == ""
    started = time.time()
    down = subprocess.run([RUNNEL, "topic", "list", "--url", "http://127.0.0.1:9"], capture_output=True, text=True,
                          timeout=30)
    assert down.returncode == 1 and time.time() - started < 10, down
    assert down.stderr.strip().splitlines() == [
        "Error: Cannot reach Runnel at http://127.0.0.1:9: connection refused. Is `runnel serve` running there? "
        "(--url, RUNNEL_URL)"], down.stderr
    assert down.stdout == ""
    notaurl = cli(None, "topic", "list", "--url", "ftp://example", check=False)
    assert notaurl.returncode == 2 and "not an http" in notaurl.err, notaurl.err


def test_help_and_completion(server):
    top = cli(None, "--help").out
    for command in ("serve", "topic", "produce", "consume", "group", "connector", "cluster"):
        assert f"  {command}" in top, top
    assert "Quick start" in top
    consume = cli(None, "consume", "--help").out
    assert "--from-beginning" in consume and "Examples:" in consume and "--group" in consume
    assert "--to-earliest" in cli(None, "group", "reset-offsets", "--help").out
    script = cli(None, "--generate-completion-script", "bash").out
    assert "reset-offsets" in script and "complete" in script


def test_serve_settings():
    """`runnel serve` reads each setting from its flag, else from RUNNEL_<FLAG>, else its default; a bad variable
    is refused naming it."""
    import socket

    def free_port():
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    def serve(env, *flags):
        directory = tempfile.mkdtemp(prefix="runnel-serve-settings-")
        # The server's log goes to a file (a pipe nobody reads would fill up and stall it).
        log = open(os.path.join(directory, "serve.log"), "w+b")
        process = subprocess.Popen(
            [os.path.abspath(RUNNEL), "serve", *flags], cwd=directory, env={**os.environ, **env},
            stdout=subprocess.DEVNULL, stderr=log,
        )
        process.log = log
        return process, directory

    def output(process):
        process.log.seek(0)
        return process.log.read().decode("utf-8", "replace")

    def ready(port, process):
        for _ in range(200):
            assert process.poll() is None, output(process)
            try:
                if requests.get(f"http://127.0.0.1:{port}/v3/clusters", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"no answer on port {port}")

    # Variables alone: the port and the data directory they name.
    port = free_port()
    process, directory = serve({"RUNNEL_PROXY_PORT": str(port), "RUNNEL_CONNECT_PORT": "0",
                                "RUNNEL_DATA_DIR": "from-variable"})
    try:
        ready(port, process)
        assert os.path.isfile(os.path.join(directory, "from-variable", "metadata.db"))
        assert not os.path.exists(os.path.join(directory, "runnel-data"))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    # A flag wins over its variable.
    flag_port, ignored = free_port(), free_port()
    process, directory = serve({"RUNNEL_PROXY_PORT": str(ignored), "RUNNEL_CONNECT_PORT": "0"},
                               "--proxy-port", str(flag_port))
    try:
        ready(flag_port, process)
        assert os.path.isdir(os.path.join(directory, "runnel-data")), "the default data directory"
        try:
            requests.get(f"http://127.0.0.1:{ignored}/v3/clusters", timeout=1)
            raise AssertionError("the variable's port answered although the flag named another")
        except requests.ConnectionError:
            pass
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    # A value that does not parse is refused at start, naming the variable.
    process, _ = serve({"RUNNEL_PROXY_PORT": "eighty", "RUNNEL_CONNECT_PORT": "0"})
    assert process.wait(timeout=30) != 0
    assert "RUNNEL_PROXY_PORT=eighty is not a valid value" in output(process), output(process)


SHARED = [
    test_topic_commands, test_produce_consume_round_trip, test_consume_follows_until_ctrl_c, test_group_lag_and_reset,
    test_connector_lifecycle, test_cluster_and_urls, test_bad_input, test_help_and_completion,
]

if __name__ == "__main__":
    run_suite(SHARED, [test_serve_settings])
