"""Decodes the committed offsets in one __consumer_offsets partition directory: record batches with kafka-python,
keys and values with struct, per Kafka's OffsetCommitKey (versions 0-1) and OffsetCommitValue (versions 0-3)
schemas. Prints one JSON object per offset commit record ({"group","topic","partition","offset","metadata"}, with
"offset": null for a tombstone). Group metadata records (key version 2) are counted, not printed."""

import json
import mmap
import os
import struct
import sys

from kafka.record.memory_records import MemoryRecords


def read_string(data, position):
    (length,) = struct.unpack_from(">h", data, position)
    position += 2
    if length < 0:
        return None, position
    return data[position:position + length].decode("utf-8"), position + length


def main(directory):
    group_records = 0
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".log") or os.path.getsize(os.path.join(directory, name)) == 0:
            continue
        with open(os.path.join(directory, name), "rb") as file:
            records = MemoryRecords(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ))
            while records.has_next():
                batch = records.next_batch()
                assert batch.validate_crc()
                for record in batch:
                    key = bytes(record.key)
                    (key_version,) = struct.unpack_from(">h", key, 0)
                    if key_version == 2:
                        group_records += 1
                        continue
                    group, position = read_string(key, 2)
                    topic, position = read_string(key, position)
                    (partition,) = struct.unpack_from(">i", key, position)
                    entry = {"group": group, "topic": topic, "partition": partition, "offset": None}
                    if record.value is not None:
                        value = bytes(record.value)
                        (version, offset) = struct.unpack_from(">hq", value, 0)
                        position = 10
                        if version >= 3:
                            position += 4  # leader epoch
                        metadata, position = read_string(value, position)
                        entry.update({"offset": offset, "metadata": metadata})
                    print(json.dumps(entry))
    print(json.dumps({"group_records": group_records}))


if __name__ == "__main__":
    main(sys.argv[1])
