"""Decodes consumer-protocol bytes with kafka-python's classes, which are generated from Kafka's own message
schemas (ConsumerProtocolSubscription, ConsumerProtocolAssignment). Reads lines "<subscription|assignment> <hex>"
from the file named by the first argument; prints for each a JSON object with the decoded fields and the hex of
kafka-python's own encoding of that value at the same version ("reencoded")."""

import io
import json
import sys

from kafka.protocol.consumer.metadata import ConsumerProtocolAssignment, ConsumerProtocolSubscription

KINDS = {"subscription": ConsumerProtocolSubscription, "assignment": ConsumerProtocolAssignment}


def main(path):
    with open(path) as file:
        for line in file:
            kind, hexed = line.split()
            decoded = KINDS[kind].decode(io.BytesIO(bytes.fromhex(hexed)))
            fields = decoded.to_dict()
            user_data = decoded.user_data
            fields["user_data"] = None if user_data is None else bytes(user_data).hex()
            fields["version"] = decoded.version
            fields["reencoded"] = bytes(decoded.encode(version=decoded.version)).hex()
            print(json.dumps(fields))


if __name__ == "__main__":
    main(sys.argv[1])
