"""Decodes every .log segment of a partition directory with kafka-python, an independent implementation of
Kafka's RecordBatch v2 format, and prints one JSON object per record (keys and values hex-encoded), then one
summary object per segment file."""

import json
import mmap
import os
import sys

from kafka.record.memory_records import MemoryRecords


def hexed(data):
    return None if data is None else bytes(data).hex()


def main(directory):
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".log"):
            continue
        path = os.path.join(directory, name)
        size = os.path.getsize(path)
        batches = 0
        if size > 0:
            with open(path, "rb") as file:
                mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
                records = MemoryRecords(mapped)
                while records.has_next():
                    batch = records.next_batch()
                    batches += 1
                    crc_valid = batch.validate_crc()
                    for record in batch:
                        print(json.dumps({
                            "segment": name,
                            "batch_base_offset": batch.base_offset,
                            "batch_last_offset": batch.last_offset,
                            "crc_valid": crc_valid,
                            "compression": batch.compression_type,
                            "timestamp_type": batch.timestamp_type,
                            "offset": record.offset,
                            "timestamp": record.timestamp,
                            "key": hexed(record.key),
                            "value": hexed(record.value),
                            "headers": [[key, hexed(value)] for key, value in record.headers],
                        }))
                valid = records.valid_bytes()
        else:
            valid = 0
        print(json.dumps({"file": name, "size": size, "valid_bytes": valid, "batches": batches}))


if __name__ == "__main__":
    main(sys.argv[1])
