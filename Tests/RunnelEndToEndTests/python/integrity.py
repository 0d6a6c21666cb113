"""End-to-end tests of damaged data: segment files altered while `runnel serve` was stopped (cleanly, and after
kill -9), read back over the v3 and v2 APIs, shown by `runnel check-logs` and repaired by `runnel check-logs
--repair`. No damaged byte is ever served, no offset twice, none skipped in silence, and damage costs only the
batch it is in. Usage: integrity.py RUNNEL_BINARY [TEST_NAME...]."""

import json
import os
import re
import signal
import subprocess

import requests

from rest_proxy import RUNNEL, V2, V2_JSON, Server, run_suite, wait_for

BATCHES = 12
PER_BATCH = 5


def batches_of(path):
    """(position, base offset, last offset, size) of each batch of a segment file."""
    with open(path, "rb") as file:
        data = file.read()
    found, position = [], 0
    while position + 61 <= len(data):
        base = int.from_bytes(data[position:position + 8], "big", signed=True)
        length = int.from_bytes(data[position + 8:position + 12], "big", signed=True)
        delta = int.from_bytes(data[position + 23:position + 27], "big", signed=True)
        found.append((position, base, base + delta, length + 12))
        position += length + 12
    return found


def segments(data_dir, topic, partition):
    folder = os.path.join(data_dir, "logs", f"{topic}-{partition}")
    return sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".log"))


def patch(path, position, data):
    with open(path, "r+b") as file:
        file.seek(position)
        file.write(data)


def fill(server, topic, partitions):
    """BATCHES requests of PER_BATCH records into each partition: one batch each, in segments of ~3 batches."""
    response = requests.post(server.v3 + "/topics", json={
        "topic_name": topic, "partitions_count": partitions,
        "configs": [{"name": "segment.bytes", "value": "1400"}]})
    assert response.status_code == 201, response.text
    for partition in range(partitions):
        for batch in range(BATCHES):
            records = [{"value": {"p": partition, "b": batch, "i": i, "pad": "x" * 40}} for i in range(PER_BATCH)]
            response = requests.post(f"{server.url}/topics/{topic}/partitions/{partition}",
                                     headers={"Content-Type": V2_JSON}, data=json.dumps({"records": records}))
            assert response.status_code == 200, response.text


def read_all_v3(server, topic, partition, end):
    """Reads a partition as a client that goes on past damage where the error says: (offsets, damaged ranges,
    error messages). Checks that no offset comes twice or out of order and that the reads progress."""
    offsets, damaged, messages = [], [], []
    offset = 0
    for _ in range(200):
        if offset >= end:
            break
        response = requests.get(f"{server.v3}/topics/{topic}/partitions/{partition}/records",
                                params={"offset": offset, "max_bytes": 600, "format": "json"}, timeout=30)
        if response.status_code == 200:
            body = response.json()
            got = [record["offset"] for record in body["data"]]
            assert got, f"an empty answer at {offset} below the end {end}: {body}"
            for record in body["data"]:
                value = record["value"]["data"]
                assert value["p"] == partition, value
            offsets += got
            offset = body["next_offset"]
            continue
        assert response.status_code == 500 and response.json()["error_code"] == 50002, response.text
        message = response.json()["message"]
        messages.append(message)
        match = re.search(r"offsets (\d+) to (\d+) of [\w.-]+ are damaged.*read from offset (\d+)", message)
        assert match, message
        first, last, after = map(int, match.groups())
        damaged.append((first, last))
        assert after > offset, message
        offset = after
    assert offsets == sorted(set(offsets)), "offsets served twice or out of order"
    return offsets, damaged, messages


def damage_each_way(server, topic):
    """Partition 0: a flipped value byte; 1: a batch length of 0x7fffffff; 2: a length of 0; 3: a base offset moved
    up by 50; 4: moved down by 5. Always the first batch with neighbours in its own segment (they tell its place)."""
    target = None
    for path in segments(server.data_dir, topic, 0):
        found = batches_of(path)
        if len(found) >= 3:
            target = found[1][1]
            break
    assert target is not None, "no segment holds three batches"
    lost = {}
    for partition, change in enumerate(["flip", "huge", "zero", "up", "down"]):
        for path in segments(server.data_dir, topic, partition):
            for position, base, last, size in batches_of(path):
                if base != target:
                    continue
                if change == "flip":
                    with open(path, "rb") as file:
                        file.seek(position + size - 3)
                        byte = file.read(1)
                    patch(path, position + size - 3, bytes([byte[0] ^ 1]))
                elif change == "huge":
                    patch(path, position + 8, (0x7FFFFFFF).to_bytes(4, "big"))
                elif change == "zero":
                    patch(path, position + 8, (0).to_bytes(4, "big"))
                else:
                    moved = base + (50 if change == "up" else -5)
                    patch(path, position, moved.to_bytes(8, "big", signed=True))
                lost[partition] = (base, last)
    assert len(lost) == 5, lost
    return lost


def test_damage_after_a_clean_stop():
    server = Server()
    try:
        fill(server, "orders", 5)
        server.stop()
        lost = damage_each_way(server, "orders")
        server.start()
        end = BATCHES * PER_BATCH
        for partition, (first, last) in lost.items():
            offsets, damaged, messages = read_all_v3(server, "orders", partition, end)
            assert offsets == [o for o in range(end) if not first <= o <= last], (partition, offsets)
            assert damaged == [(first, last)], (partition, damaged)
            for message in messages:
                assert server.data_dir not in message and "/logs/" not in message, message
        # Before and after the damage, plain reads work; the metrics count what was set aside.
        metrics = requests.get(server.url + "/metrics").text
        assert re.search(r"^runnel_log_damaged_ranges_total [5-9]", metrics, re.M), metrics[:2000]

        # A v2 consumer stops at the damage with the error, and goes on once it seeks past it.
        base = requests.post(server.url + "/consumers/audit", headers={"Content-Type": V2},
                             data=json.dumps({"name": "c", "format": "json"})).json()["base_uri"]
        requests.post(base + "/assignments", headers={"Content-Type": V2},
                      data=json.dumps({"partitions": [{"topic": "orders", "partition": 0}]}))
        first, last = lost[0]
        requests.post(base + "/positions", headers={"Content-Type": V2}, data=json.dumps(
            {"offsets": [{"topic": "orders", "partition": 0, "offset": first - 5}]}))
        seen, failure = [], None
        for _ in range(20):
            response = requests.get(base + "/records", headers={"Accept": V2_JSON}, params={"max_bytes": 300})
            if response.status_code != 200:
                failure = response
                break
            seen += [r["offset"] for r in response.json()]
        assert failure is not None and failure.status_code == 500, "the consumer was not told about the damage"
        assert f"read from offset {last + 1}" in failure.json()["message"], failure.text
        assert seen == list(range(first - 5, first)), seen
        requests.post(base + "/positions", headers={"Content-Type": V2}, data=json.dumps(
            {"offsets": [{"topic": "orders", "partition": 0, "offset": last + 1}]}))
        after = wait_for(lambda: requests.get(base + "/records", headers={"Accept": V2_JSON}).json(), 10, "records")
        assert after[0]["offset"] == last + 1, after

        # runnel check-logs lists each damaged range, while the server runs.
        check = subprocess.run([RUNNEL, "check-logs", "--data-dir", server.data_dir, "--json"], capture_output=True,
                               text=True, timeout=120)
        assert check.returncode == 1, check.stdout + check.stderr
        found = [json.loads(line) for line in check.stdout.splitlines()]
        by_partition = {f["partition"]: f for f in found}
        assert sorted(by_partition) == [f"orders-{p}" for p in range(5)], found
        for partition, (first, last) in lost.items():
            entry = by_partition[f"orders-{partition}"]
            assert (entry["first_offset"], entry["next_offset"]) == (first, last + 1), entry
        for partition in (3, 4):
            entry = by_partition[f"orders-{partition}"]
            assert entry["corrected_base_offset"] == lost[partition][0], entry

        # --repair refuses while the server runs; stopped, it removes the damage (restoring the moved batches).
        busy = subprocess.run([RUNNEL, "check-logs", "--data-dir", server.data_dir, "--repair"], capture_output=True,
                              text=True, timeout=120)
        assert busy.returncode != 0 and "stop it" in busy.stderr + busy.stdout, busy.stderr + busy.stdout
        server.stop()
        repair = subprocess.run([RUNNEL, "check-logs", "--data-dir", server.data_dir, "--repair"], capture_output=True,
                                text=True, timeout=120)
        assert repair.returncode == 0, repair.stdout + repair.stderr
        clean = subprocess.run([RUNNEL, "check-logs", "--data-dir", server.data_dir], capture_output=True, text=True,
                               timeout=120)
        assert clean.returncode == 0 and "No damage found" in clean.stdout, clean.stdout
        server.start()
        for partition, (first, last) in lost.items():
            offsets, damaged, _ = read_all_v3(server, "orders", partition, end)
            assert damaged == [], (partition, damaged)
            if partition in (3, 4):
                assert offsets == list(range(end)), (partition, offsets)  # restored
            else:
                assert offsets == [o for o in range(end) if not first <= o <= last], (partition, offsets)
    finally:
        server.close()


def test_damage_after_kill():
    """kill -9, then one flipped byte in an early, rolled segment: recovery sets that batch aside and keeps every
    later segment and every other acknowledged record (Kafka would truncate there and delete the rest)."""
    server = Server()
    try:
        fill(server, "events", 1)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        server.log.close()
        files = segments(server.data_dir, "events", 0)
        assert len(files) >= 3, files
        position, first, last, size = batches_of(files[0])[1]
        patch(files[0], position + 70, b"\xff\xfe")
        server.start()
        assert "Runnel is listening" in server.log_text()
        assert len(segments(server.data_dir, "events", 0)) == len(files), "a segment was deleted"
        end = BATCHES * PER_BATCH
        offsets, damaged, _ = read_all_v3(server, "events", 0, end)
        assert offsets == [o for o in range(end) if not first <= o <= last], offsets
        assert damaged == [(first, last)], damaged
        # New writes go on at the end.
        response = requests.post(f"{server.url}/topics/events", headers={"Content-Type": V2_JSON},
                                 data=json.dumps({"records": [{"value": "after"}]}))
        assert response.json()["offsets"][0]["offset"] == end, response.text
    finally:
        server.close()


SHARED = []
OWN_SERVER = [test_damage_after_a_clean_stop, test_damage_after_kill]

if __name__ == "__main__":
    run_suite(SHARED, OWN_SERVER)
