"""Fuzzes every operation of openapi.yaml against a live `runnel serve` with schemathesis: no 5xx, and every
response conforms to the spec (status code, content type, schema). Usage: fuzz_api.py RUNNEL_BINARY SPEC
[MAX_EXAMPLES] [--auth]; with --auth the server requires an API key and schemathesis sends a super user's."""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request


def main():
    arguments = [a for a in sys.argv[1:] if a != "--auth"]
    authenticate = "--auth" in sys.argv
    runnel, spec = arguments[0], arguments[1]
    examples = arguments[2] if len(arguments) > 2 else "25"
    data = tempfile.mkdtemp(prefix="runnel-fuzz-")
    scratch = tempfile.mkdtemp(prefix="runnel-fuzz-scratch-")
    log_path = data + ".log"
    headers = {}
    credentials = []
    flags = []
    if authenticate:
        key = json.loads(subprocess.run(
            [runnel, "api-key", "create", "--data-dir", data, "--super-user", "-o", "json"],
            check=True, capture_output=True, text=True,
        ).stdout)
        headers["Authorization"] = "Basic " + base64.b64encode(f"{key['key']}:{key['secret']}".encode()).decode()
        credentials = ["--auth", f"{key['key']}:{key['secret']}"]
        flags = ["--auth", "required"]
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [runnel, "serve", "--data-dir", data, "--proxy-port", "0", "--connect-port", "0", "--idle-timeout-ms", "5000",
             "--connector-file-roots", scratch, *flags],
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.time() + 60
        proxy = connect = None
        while time.time() < deadline and not proxy:
            match = re.search(r"connect=(http://\S+) .*proxy=(http://\S+)", open(log_path).read())
            if match:
                connect, proxy = match.groups()
            time.sleep(0.05)
        assert proxy, open(log_path).read()
        # Something for the generated requests to find: a topic with records and a consumer instance.
        cluster = json.loads(urllib.request.urlopen(
            urllib.request.Request(proxy + "/v3/clusters", headers=headers)).read())["data"][0]["cluster_id"]
        request = urllib.request.Request(
            f"{proxy}/v3/clusters/{cluster}/topics",
            data=b'{"topic_name":"fuzz","partitions_count":2}',
            headers={"Content-Type": "application/json", **headers},
        )
        urllib.request.urlopen(request).read()
        request = urllib.request.Request(
            f"{proxy}/consumers/fuzz-group",
            data=b'{"name":"fuzz-consumer"}',
            headers={"Content-Type": "application/vnd.kafka.v2+json", **headers},
        )
        urllib.request.urlopen(request).read()
        request = urllib.request.Request(
            f"{connect}/connectors",
            data=json.dumps({"name": "fuzz-connector", "config": {
                "connector.class": "FileStreamSink", "topics": "fuzz", "file": os.path.join(scratch, "fuzz-sink.txt")}}).encode(),
            headers={"Content-Type": "application/json", **headers},
        )
        urllib.request.urlopen(request).read()
        # Real identifiers for the path parameters, so requests reach the routes' logic instead of 404s.
        config = data + ".toml"
        with open(config, "w") as file:
            file.write(
                "[parameters]\n"
                f'"path.cluster_id" = "{cluster}"\n'
                '"path.topic_name" = "fuzz"\n'
                '"path.group_name" = "fuzz-group"\n'
                '"path.instance" = "fuzz-consumer"\n'
                '"path.partition_id" = 1\n'
                '"path.broker_id" = 1\n'
                '"path.connector" = "fuzz-connector"\n'
                '"path.task" = 0\n'
                '"path.plugin" = "FileStreamSink"\n'
                '"path.logger" = "runnel.connect"\n'
            )
        schemathesis = os.path.join(os.path.dirname(sys.executable), "schemathesis")
        spec = os.path.abspath(spec)
        failed = False
        for tag, url in (("proxy", proxy), ("connect", connect)):
            command = [
                schemathesis, "--config-file", config, "run", spec, "--url", url, "--include-tag", tag,
                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples", examples, "--phases", "examples,coverage,fuzzing", "--workers", "1",
                "--request-timeout", "30", "--suppress-health-check", "all", "--seed", "1", "--no-shrink",
                *credentials,
            ]
            print("$", " ".join(command), flush=True)
            # Run in the scratch directory: schemathesis keeps a cache in its working directory.
            result = subprocess.run(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=scratch,
                env={**os.environ, "NO_COLOR": "1"},
            )
            print(result.stdout[-20000:], flush=True)
            failed |= result.returncode != 0
        assert server.poll() is None, "the server died:\n" + open(log_path).read()[-5000:]
        sys.exit(1 if failed else 0)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
        os.remove(log_path)
        if os.path.exists(data + ".toml"):
            os.remove(data + ".toml")


if __name__ == "__main__":
    main()
