"""A test helper: the records of a W&B transaction log (`run-<id>.wandb`), decoded with wandb's own protobufs.

wandb >= 0.18 writes the log from its Go core and ships no Python reader; the framing is LevelDB's log format
(32 KiB blocks; each chunk: crc32 (4 bytes), length (2), type (1: full, 2: first, 3: middle, 4: last)) after a
7-byte header (":W&B", magic 0xBEE1, version).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def chunks(data: bytes):
    """The payload of every record in the log, chunks of a record joined."""
    assert data[:4] == b":W&B", "not a W&B transaction log"
    pos, parts = HEADER, []
    while pos + HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER:  # a block's tail too short for a header is zero padding
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if length == 0 and kind == 0:  # zeros: the end of what was written
            break
        parts.append(data[pos + HEADER : pos + HEADER + length])
        pos += HEADER + length
        if kind in (FULL, LAST):
            yield b"".join(parts)
            parts = []


def records(path: Path) -> list:
    """Every record of the log as a wandb.proto Record."""
    from wandb.proto import wandb_internal_pb2

    out = []
    for payload in chunks(Path(path).read_bytes()):
        rec = wandb_internal_pb2.Record()
        rec.ParseFromString(payload)
        out.append(rec)
    return out


def items(update) -> dict:
    """A history / config / summary record's items as {key: value} (nested keys joined with '/')."""
    return {"/".join(i.nested_key) if i.nested_key else i.key: json.loads(i.value_json) for i in update}
