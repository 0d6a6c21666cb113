"""Reads hex-encoded keys, one per line, from the file named by the first argument, and prints for each the
partition kafka-python's DefaultPartitioner picks for each partition count given after it, space-separated."""

import sys

from kafka.partitioner.default import murmur2


def main(path, counts):
    with open(path) as file:
        for line in file:
            key = bytes.fromhex(line.strip())
            hashed = murmur2(key) & 0x7FFFFFFF
            print(" ".join(str(hashed % count) for count in counts))


if __name__ == "__main__":
    main(sys.argv[1], [int(count) for count in sys.argv[2:]])
