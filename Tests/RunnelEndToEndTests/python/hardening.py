"""Abuse tests of `runnel serve`: malformed HTTP from raw sockets, slow and idle clients, connection limits,
byte-rate quotas, and a full disk. The server must answer or close cleanly, keep serving everyone else, and lose or
damage nothing it acknowledged. Usage: hardening.py RUNNEL_BINARY [TEST_NAME...]; prints one line per test and exits
non-zero when any fails."""

import base64
import json
import os
import re
import resource
import socket
import subprocess
import threading
import time

import requests

from rest_proxy import RUNNEL, V2_BINARY, V2_JSON, Server, create_topic, produce_json, run_suite, wait_for


def address(url):
    host, port = url.split("://")[1].split(":")
    return host, int(port)


def exchange(url, data, timeout=10):
    """Sends raw bytes on a new connection; returns everything answered until the server closes or goes quiet
    (b"" when it closed without a word)."""
    with socket.create_connection(address(url), timeout=timeout) as connection:
        try:
            connection.sendall(data)
        except OSError:
            pass  # the server may close before reading everything (e.g. after refusing the head)
        answer = b""
        try:
            while True:
                piece = connection.recv(65536)
                if not piece:
                    break
                answer += piece
                if b"\r\n\r\n" in answer and b"Connection: close" not in answer and len(answer) > 20:
                    break
        except (socket.timeout, ConnectionResetError):
            pass
    return answer


def status_of(answer):
    line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    return int(line.split(" ")[1]) if line.startswith("HTTP/1.1 ") else None


def still_serving(server):
    assert requests.get(server.url + "/v3/clusters", timeout=10).status_code == 200
    assert requests.get(server.connect + "/connectors", timeout=10).status_code == 200


def test_malformed_http_corpus(server):
    """Broken requests on both ports get a 4xx or a clean close, never a 5xx; the server keeps serving."""
    create_topic(server, "corpus")
    produce = b"POST /topics/corpus HTTP/1.1\r\nHost: localhost\r\nContent-Type: " + V2_JSON.encode() + b"\r\n"
    corpus = [
        # Request lines.
        b"\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n",
        b"GET / FOO/1.1\r\nHost: localhost\r\n\r\n",
        b"G\x00T / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /\x01\x02 HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET " + b"/a" * 50_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /%zz%%%/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /../../../../etc/passwd HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"\xff\xfe\xfd\xfc" * 64,
        # Headers.
        b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(5_000)) + b"\r\n",
        b"GET / HTTP/1.1\r\nHost h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: localhost\r\n X-Folded: continued\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo\x00st: h\r\n\r\n",
        b"GET / HTTP/1.1\nHost: h\n\n",
        b"GET / HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic !!!notbase64\r\n\r\n",
        # Bodies and framing.
        produce + b"Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n",
        produce + b"Transfer-Encoding: chunked\r\n\r\n" + b"FFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n",
        produce + b"Transfer-Encoding: chunked\r\n\r\n5\r\nab\r\n0\r\n\r\n",
        produce + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        produce + b"Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        produce + b"Content-Length: 5\r\nContent-Length: 7\r\n\r\n{}",
        produce + b"Content-Length: -1\r\n\r\n{}",
        produce + b"Content-Length: 99999999999999999999999\r\n\r\n{}",
        produce + b"Content-Length: 2\r\n\r\n\xff\xfe",
        produce + b"Content-Length: 30000000\r\n\r\n" + b"{" * 1000,
        b"POST /v3/clusters/x/topics/corpus/records HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + b"Content-Length: 20\r\n\r\n" + b"[[[[[[[[[[[[[[[[[[[[",
        b"GET /topics/corpus/partitions/99999999999999999999 HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"DELETE /topics HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        # A TLS handshake on a plaintext port.
        bytes.fromhex("160301002d0100002903035b") + b"\x00" * 40,
    ]
    for url in (server.url, server.connect):
        for data in corpus:
            answer = exchange(url, data, timeout=5)
            status = status_of(answer)
            assert answer == b"" or (status is not None and status < 500), (url, data[:100], answer[:300])
        still_serving(server)
    # Nothing above was produced.
    assert requests.get(server.url + "/topics/corpus/partitions/0/offsets").json()["end_offset"] == 0


def test_slow_clients():
    """Slowloris (a head sent a byte at a time) and stalled bodies are cut off by the idle timeout; meanwhile
    others are served at once."""
    server = Server(extra=["--idle-timeout-ms", "1000"])
    try:
        create_topic(server, "slow")
        stop = threading.Event()
        closed = []

        def slowloris(data, pause):
            try:
                with socket.create_connection(address(server.url), timeout=30) as connection:
                    for i in range(len(data)):
                        if stop.is_set():
                            return
                        connection.sendall(data[i : i + 1])
                        time.sleep(pause)
                    connection.settimeout(5)
                    while connection.recv(4096):
                        pass
                    closed.append(True)
            except OSError:
                closed.append(True)

        head = b"GET /v3/clusters HTTP/1.1\r\nHost: localhost\r\n" + b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"
        stalled = b"POST /topics/slow HTTP/1.1\r\nHost: localhost\r\nContent-Type: " + V2_JSON.encode()
        stalled += b"\r\nContent-Length: 1000\r\n\r\n{\"records\":["
        threads = [threading.Thread(target=slowloris, args=(head, 0.05)) for _ in range(50)]
        # Stalls: everything sent at once, then nothing: the idle timeout closes them.
        threads += [threading.Thread(target=slowloris, args=(stalled, 0)) for _ in range(50)]
        for thread in threads:
            thread.start()
        started = time.time()
        for _ in range(20):
            still_serving(server)
        assert time.time() - started < 20, "the server was slow to answer while slow clients held connections"
        wait_for(lambda: len(closed) >= 50, 30, "the stalled connections to be closed by the idle timeout")
        stop.set()
        for thread in threads:
            thread.join(60)
        still_serving(server)
        assert requests.get(server.url + "/topics/slow/partitions/0/offsets").json()["end_offset"] == 0
    finally:
        server.close()


def test_idle_connections_and_limits():
    """5 000 idle connections do not stop the server; past --max-connections a connection gets 503 and is closed;
    past --max-connections-per-ip too; a freed slot is usable again."""
    server = Server(extra=["--max-connections", "6000", "--idle-timeout-ms", "60000"])
    sockets = []
    try:
        for _ in range(5000):
            sockets.append(socket.create_connection(address(server.url)))
        still_serving(server)
        for s in sockets:
            s.close()
        sockets = []
    finally:
        for s in sockets:
            s.close()
        server.close()

    # The global limit: the 11th connection of a server limited to 10 is refused.
    server = Server(extra=["--max-connections", "10"])
    try:
        held = [socket.create_connection(address(server.url)) for _ in range(10)]
        # (accepted asynchronously: give the listener time to take all ten)
        time.sleep(1.5)
        answer = exchange(server.url, b"GET /v3/clusters HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert status_of(answer) == 503, answer[:300]
        for s in held:
            s.close()
    finally:
        server.close()

    # The per-address limit, below the global one.
    server = Server(extra=["--max-connections", "20", "--max-connections-per-ip", "15"])
    try:
        held = [socket.create_connection(address(server.url)) for _ in range(15)]
        time.sleep(0.5)
        answer = exchange(server.url, b"GET /v3/clusters HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert status_of(answer) == 503 and b"Too many connections" in answer, answer[:300]
        for s in held:
            s.close()
        wait_for(
            lambda: status_of(exchange(server.url, b"GET /v3/clusters HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
            == 200,
            10,
            "the freed connections to be usable again",
        )
        still_serving(server)
    finally:
        server.close()


def test_quotas():
    """A principal over its byte rate is slowed (its answers delayed), one far over it gets 429 and nothing is
    written; quotas are kept across a restart and can be removed."""
    server = Server(extra=["--max-throttle-ms", "3000"])
    try:
        create_topic(server, "q")
        anonymous = "User:ANONYMOUS"
        out = subprocess.run(
            [RUNNEL, "quota", "set", "--principal", anonymous, "--producer-byte-rate", "20000", "--url", server.url],
            capture_output=True, text=True,
        )
        assert out.returncode == 0 and "20000" in out.stdout, (out.stdout, out.stderr)
        record = {"value": "x" * 10_000}
        started = time.time()
        for _ in range(5):
            produce_json(server, "q", [record])
        # 50 000 bytes at 20 000 per second with one second of burst: at least 1.5 s of delays.
        assert time.time() - started >= 1.4, time.time() - started
        refused = requests.post(
            server.url + "/topics/q", json={"records": [{"value": "x" * 100_000}]}, headers={"Content-Type": V2_JSON}
        )
        assert refused.status_code == 429 and refused.json()["error_code"] == 429, refused.text
        assert "quota" in refused.json()["message"]
        assert requests.get(server.url + "/topics/q/partitions/0/offsets").json()["end_offset"] == 5

        # Consumers: a fetch quota (here through the default entry) slows reads the same way. Each read of the
        # partition returns its 50 000 bytes; at 20 000 per second the second and third wait ~2.5 s each.
        default = requests.put(f"{server.url}/security/quotas/%3Cdefault%3E", json={"consumer_byte_rate": 20_000})
        assert default.status_code == 200 and default.json()["principal"] == "<default>", default.text
        started = time.time()
        for _ in range(3):
            page = requests.get(f"{server.v3}/topics/q/partitions/0/records", params={"offset": 0, "max_bytes": 1_000_000})
            assert page.status_code == 200 and len(page.json()["data"]) == 5, page.text[:300]
        assert time.time() - started >= 2.0, time.time() - started
        out = subprocess.run([RUNNEL, "quota", "list", "-o", "json", "--url", server.url], capture_output=True, text=True)
        listed = json.loads(out.stdout)
        assert {(q["principal"], q["producer_byte_rate"], q["consumer_byte_rate"]) for q in listed} == {
            (anonymous, 20_000, None), ("<default>", None, 20_000)}, listed
        bad = requests.put(f"{server.url}/security/quotas/{anonymous}", json={"producer_byte_rate": -5})
        assert bad.status_code == 400 and bad.json()["error_code"] == 40002, bad.text

        server.stop()
        server.start()
        assert len(requests.get(server.url + "/security/quotas").json()["data"]) == 2
        out = subprocess.run(
            [RUNNEL, "quota", "delete", "--principal", anonymous, "--url", server.url], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        started = time.time()
        for _ in range(5):
            produce_json(server, "q", [record])
        assert requests.get(f"{server.url}/security/quotas/{anonymous}").status_code == 404
    finally:
        server.close()


def test_disk_full():
    """With the data directory's files limited in size (as on a full disk), produce fails with 50002 and a clear
    message; everything acknowledged before is intact; writes succeed again once there is room, at the next
    offset, and a restart recovers cleanly."""
    server = Server()
    try:
        create_topic(server, "full")
        # The limit applies to every file the server writes from now on (ulimit -f of the running process).
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (2_000_000, resource.RLIM_INFINITY))
        acked = []
        failure = None
        for batch in range(100):
            response = requests.post(
                server.url + "/topics/full",
                json={"records": [{"value": f"{batch}-{i}-" + "x" * 990} for i in range(100)]},
                headers={"Content-Type": V2_JSON},
            )
            offsets = response.json()["offsets"]
            errors = [o for o in offsets if o["error_code"]]
            if errors:
                failure = errors[0]
                assert all(o["offset"] is None for o in offsets), "a partly failed batch: " + str(offsets[:3])
                break
            acked += [(o["offset"], f"{batch}-{i}-") for i, o in enumerate(offsets)]
        assert failure, "the file-size limit was never reached"
        assert failure["error_code"] == 50002 and "Out of disk space" in failure["error"], failure
        # v3 too: the record's error is 50002 in the stream.
        v3 = requests.post(f"{server.v3}/topics/full/records", json={"value": {"type": "STRING", "data": "x" * 300_000}})
        assert v3.json()["error_code"] == 50002, v3.text
        assert server.process.poll() is None, "the server died"

        def check_acked():
            page_offset = 0
            seen = {}
            while page_offset < len(acked):
                page = requests.get(
                    f"{server.v3}/topics/full/partitions/0/records",
                    params={"offset": page_offset, "max_bytes": 1_000_000, "format": "json"},
                ).json()["data"]
                assert page, page_offset
                for record in page:
                    seen[record["offset"]] = record["value"]["data"]
                page_offset = max(seen) + 1
            for offset, prefix in acked:
                assert seen[offset].startswith(prefix), (offset, seen[offset][:20], prefix)

        check_acked()
        end = requests.get(server.url + "/topics/full/partitions/0/offsets").json()["end_offset"]
        assert end == len(acked), (end, len(acked))

        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        after = produce_json(server, "full", [{"value": "after"}])
        assert after[0]["offset"] == len(acked), after
        server.process.kill()
        server.process.wait()
        server.log.close()
        server.start()
        check_acked()
        assert requests.get(server.url + "/topics/full/partitions/0/offsets").json()["end_offset"] == len(acked) + 1
    finally:
        server.close()


def rss_peak(pid):
    """The process's peak resident memory (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def test_descriptor_limit():
    """With the open-file limit lowered (to 600), the server shares it out instead of running out: topics beyond
    what it can hold open are refused with a clear error, connections beyond it get 503, the audit's load (many
    partitions, 60 busy clients) never crashes it, and a restart with a limit too low for its partitions refuses to
    start saying so (rather than dying on EMFILE)."""
    server = Server(nofile=600)
    try:
        line = [l for l in server.log_text().splitlines() if "Runnel is listening" in l][-1]
        assert "open-file-limit=600" in line, line
        available = int(re.search(r"partitions-available=(\d+)", line).group(1))
        assert 100 < available < 600, line
        created, refused = 0, None
        for index in range(40):
            response = requests.post(server.v3 + "/topics", json={"topic_name": f"wide-{index}", "partitions_count": 40})
            if response.status_code != 201:
                refused = response
                break
            created += 40
        assert refused is not None and refused.status_code == 400 and refused.json()["error_code"] == 40002, \
            (created, refused and refused.text)
        assert "open-file limit" in refused.json()["message"], refused.text
        assert created <= available, (created, available)

        # Busy clients on the busy partitions, and a flood of idle connections.
        errors = []

        def client(index):
            session = requests.Session()
            for round in range(10):
                try:
                    topic = f"wide-{index % max(1, created // 40)}"
                    session.post(f"{server.v3}/topics/{topic}/records",
                                 json={"partition_id": round % 40, "value": {"type": "JSON", "data": round}}, timeout=30)
                    session.get(f"{server.v3}/topics/{topic}/partitions/{round % 40}/records", params={"offset": 0},
                                timeout=30)
                    session.get(server.url + "/metrics", timeout=30)
                except requests.RequestException as error:
                    errors.append(type(error).__name__)

        sockets, answers = [], []
        for _ in range(700):
            try:
                sockets.append(socket.create_connection(address(server.url), timeout=5))
            except OSError:
                break
        for connection in sockets[-50:]:
            try:
                connection.sendall(b"GET /v3/clusters HTTP/1.1\r\nHost: localhost\r\n\r\n")
                answers.append(status_of(connection.recv(100)))
            except OSError:
                answers.append(None)
        assert 503 in answers, answers
        for connection in sockets:
            connection.close()
        threads = [threading.Thread(target=client, args=(index,)) for index in range(60)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert server.process.poll() is None, "the server died:\n" + server.log_text()[-3000:]
        wait_for(lambda: requests.get(server.url + "/v3/clusters", timeout=10).status_code == 200, 30, "serving")

        # A restart after kill -9 fits again; one with a limit below what the partitions need says so.
        server.process.kill()
        server.process.wait()
        server.log.close()
        server.start()
        server.stop()
        low = subprocess.run([RUNNEL, "serve", "--data-dir", server.data_dir, "--proxy-port", "0", "--connect-port", "0"],
                             capture_output=True, text=True, timeout=60,
                             preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200)))
        assert low.returncode == 1, (low.returncode, low.stderr[-2000:])
        assert "open-file limit" in low.stderr and "ulimit" in low.stderr, low.stderr[-2000:]
    finally:
        server.close()


def test_read_memory():
    """Twenty parallel reads asking for every byte (max_bytes=2^63-1) of a 30 MB partition: each answer is cut to
    the server's limits (clamped, not refused), the ones that cannot have memory within the wait get 429, and the
    server's memory stays within the fetch budget instead of growing with the number of readers."""
    budget = 16 << 20
    server = Server(extra=["--max-fetch-memory-bytes", str(budget)])
    try:
        create_topic(server, "big")
        value = base64.b64encode(os.urandom(600_000)).decode()
        for _ in range(50):
            response = requests.post(server.url + "/topics/big", headers={"Content-Type": V2_BINARY},
                                     data=json.dumps({"records": [{"value": value}]}))
            assert response.status_code == 200, response.text
        before = rss_peak(server.process.pid)
        results = []

        def reader():
            response = requests.get(f"{server.v3}/topics/big/partitions/0/records",
                                    params={"offset": 0, "max_bytes": str(2 ** 63 - 1)}, timeout=120)
            size = sum(len(r["value"]["data"]) * 3 // 4 for r in response.json()["data"]) if response.ok else 0
            results.append((response.status_code, size, response.headers.get("Content-Type")))

        threads = [threading.Thread(target=reader) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted({status for status, _, _ in results})
        assert set(statuses) <= {200, 429} and 200 in statuses, results
        assert max(size for _, size, _ in results) <= budget + 1_000_000, results
        growth = rss_peak(server.process.pid) - before
        assert growth < 300 << 20, f"the server grew by {growth >> 20} MiB"
        still_serving(server)
    finally:
        server.close()


SHARED = [test_malformed_http_corpus]
OWN_SERVER = [test_slow_clients, test_idle_connections_and_limits, test_quotas, test_disk_full, test_descriptor_limit,
              test_read_memory]

if __name__ == "__main__":
    run_suite(SHARED, OWN_SERVER, lambda: Server(extra=["--max-request-bytes", "1048576", "--idle-timeout-ms", "2000"]))
