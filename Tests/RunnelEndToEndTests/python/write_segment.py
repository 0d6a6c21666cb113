"""Writes a Kafka segment file with kafka-python's batch builder (so with another implementation's encoder), and
prints the records it holds as `runnel dump-log --json` should print them."""

import json
import struct
import sys

from kafka.record.default_records import DefaultRecordBatchBuilder

GZIP = 1


def build(base_offset, compression, records):
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=compression, is_transactional=0,
        producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for delta, (timestamp, key, value, headers) in enumerate(records):
        builder.append(delta, timestamp=timestamp, key=key, value=value, headers=headers)
    data = builder.build()
    struct.pack_into(">q", data, 0, base_offset)  # the base offset is outside the CRC, as a broker sets it
    return bytes(data)


def text(data):
    return None if data is None else data.decode("utf-8")


def main(path):
    t = 1700000000000
    batches = [
        (0, 0, [
            (t, b"k1", b"v1", [("h1", b"x")]),
            (t + 1, None, b"v2", []),
            (t + 2, b"k3", None, []),
        ]),
        (3, GZIP, [
            (t + 10, b"k4", b"gz-" * 200, []),
            (t + 11, b"k5", b"gz-2", [("a", None), ("b", b"")]),
        ]),
        (5, 0, [
            (t - 5, b"", "h\u00e9llo \u2713".encode("utf-8"), [("\u00fc", b"\xe2\x9c\x93")]),
        ]),
    ]
    with open(path, "wb") as out:
        for base, compression, records in batches:
            out.write(build(base, compression, records))
    for base, _, records in batches:
        for delta, (timestamp, key, value, headers) in enumerate(records):
            print(json.dumps({
                "offset": base + delta,
                "timestamp": timestamp,
                "key": text(key),
                "value": text(value),
                "headers": {name: text(data) for name, data in headers},
            }, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1])
