"""Read TFRecord files of ``tf.train.Example`` records without TensorFlow.

TFRecord framing (all little-endian), for each record::

    uint64 length | uint32 masked CRC-32C(length) | bytes[length] | uint32 masked CRC-32C(bytes)

The records are decoded with a minimal protobuf wire-format parser that handles the three
``tf.train.Feature`` kinds (bytes, float and int64 lists).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Iterator

__all__ = ["TFRecordError", "crc32c", "read_records", "parse_example", "read_examples"]


class TFRecordError(ValueError):
    """A TFRecord file is truncated, corrupt or not of the expected form."""


def _make_crc32c_table() -> list[int]:
    poly = 0x82F63B78  # Castagnoli polynomial, reflected
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _make_crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord uses it."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path: str | Path, verify: bool = True) -> Iterator[bytes]:
    """Yield the raw record payloads of a TFRecord file.

    Parameters
    ----------
    path : path-like
        The ``.tfrecords`` file.
    verify : bool
        Check both CRCs of every record (the default).

    Raises
    ------
    TFRecordError
        On a truncated record or a CRC mismatch; the message names the file and the record index.
    """
    path = Path(path)
    data = path.read_bytes()
    pos, index = 0, 0
    while pos < len(data):
        where = f"{path.name}, record {index} (byte offset {pos})"
        if pos + 12 > len(data):
            raise TFRecordError(f"{where}: truncated header; the file ends early. Re-download the file.")
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        if verify and _masked_crc(header) != length_crc:
            raise TFRecordError(f"{where}: length CRC mismatch; the file is corrupt. Re-download it.")
        start, end = pos + 12, pos + 12 + length
        if end + 4 > len(data):
            raise TFRecordError(
                f"{where}: record of {length} bytes runs past the end of the file; it is truncated. "
                "Re-download it."
            )
        payload = data[start:end]
        (payload_crc,) = struct.unpack("<I", data[end : end + 4])
        if verify and _masked_crc(payload) != payload_crc:
            raise TFRecordError(f"{where}: data CRC mismatch; the file is corrupt. Re-download it.")
        yield payload
        pos, index = end + 4, index + 1


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise TFRecordError("protobuf varint runs past the end of its message")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """Yield (field number, wire type, value) of a protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise TFRecordError("protobuf field runs past the end of its message")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        else:
            raise TFRecordError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _parse_feature(buf: bytes) -> list:
    """Decode one ``tf.train.Feature`` into a list of bytes, floats or ints."""
    for kind, _, inner in _fields(buf):
        values: list = []
        for _, wire, value in _fields(inner):
            if kind == 1:  # BytesList
                values.append(bytes(value))
            elif kind == 2:  # FloatList: packed (wire 2) or one fixed32 (wire 5), both raw bytes
                values.extend(struct.unpack(f"<{len(value) // 4}f", value))
            elif kind == 3:  # Int64List, packed or not
                if wire == 2:
                    pos = 0
                    while pos < len(value):
                        number, pos = _varint(value, pos)
                        values.append(number - (1 << 64) if number >= 1 << 63 else number)
                else:
                    values.append(value - (1 << 64) if value >= 1 << 63 else value)
        return values
    return []


def parse_example(payload: bytes) -> dict[str, list]:
    """Decode a serialised ``tf.train.Example`` into ``{key: list of values}``."""
    example: dict[str, list] = {}
    for number, _, features in _fields(payload):
        if number != 1:
            continue
        for entry_number, _, entry in _fields(features):
            if entry_number != 1:
                continue
            key, value = None, []
            for field, _, content in _fields(entry):
                if field == 1:
                    key = bytes(content).decode("utf-8")
                elif field == 2:
                    value = _parse_feature(content)
            if key is not None:
                example[key] = value
    return example


def read_examples(path: str | Path, verify: bool = True) -> Iterator[dict[str, list]]:
    """Yield each record of a TFRecord file decoded as a ``tf.train.Example``."""
    for index, payload in enumerate(read_records(path, verify=verify)):
        try:
            yield parse_example(payload)
        except TFRecordError as err:
            raise TFRecordError(f"{Path(path).name}, record {index}: {err}") from None
