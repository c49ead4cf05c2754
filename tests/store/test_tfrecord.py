import struct

import numpy as np
import pytest

from mgmtfeat.store.tfrecord import TFRecordError, crc32c, parse_example, read_examples, read_records
from mgmtfeat.store.tfrecord import _masked_crc


def test_crc32c_known_vectors():
    # RFC 3720 test vectors
    assert crc32c(b"") == 0
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA


def _bytes_feature(key: str, value: bytes) -> bytes:
    def field(number, payload):
        return bytes([number << 3 | 2]) + _varint(len(payload)) + payload

    feature = field(1, field(1, value))  # Feature.bytes_list.value
    entry = field(1, key.encode()) + field(2, feature)
    return field(1, field(1, entry))  # Example.features.feature (map entry)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _frame(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", _masked_crc(header)) + payload + struct.pack("<I", _masked_crc(payload))


def test_round_trip_of_a_handmade_record(tmp_path):
    values = np.arange(400, dtype="<f4")
    path = tmp_path / "x.tfrecords"
    path.write_bytes(_frame(_bytes_feature("DF_T1", values.tobytes())) * 2)
    examples = list(read_examples(path))
    assert len(examples) == 2
    np.testing.assert_array_equal(np.frombuffer(examples[1]["DF_T1"][0], "<f4"), values)


def test_published_files_decode(published_dir):
    records = list(read_examples(published_dir / "Testtransdetalrunning1_0.tfrecords"))
    assert len(records) == 115
    assert set(records[0]) == {"DF_FLAIR", "DF_T1", "DF_T1CE", "DF_T2", "DF_DETAL_T1", "Label"}
    flair = np.frombuffer(records[0]["DF_FLAIR"][0], "<f4")
    assert flair.shape == (400,) and 0 <= flair.min() and flair.max() <= 1


def test_corrupted_record_names_file_and_index(published_dir, tmp_path):
    data = bytearray((published_dir / "Testtransdetalrunning1_0.tfrecords").read_bytes())
    record_size = len(next(read_records(published_dir / "Testtransdetalrunning1_0.tfrecords"))) + 16
    data[3 * record_size + 100] ^= 0xFF  # flip a byte inside record 3's payload
    broken = tmp_path / "broken.tfrecords"
    broken.write_bytes(bytes(data))
    with pytest.raises(TFRecordError, match=r"broken\.tfrecords, record 3 .*data CRC mismatch"):
        list(read_records(broken))


def test_corrupted_length_and_truncation(tmp_path):
    good = _frame(_bytes_feature("k", b"abc"))
    bad_length = bytearray(good)
    bad_length[0] ^= 1
    (tmp_path / "a").write_bytes(bytes(bad_length))
    with pytest.raises(TFRecordError, match="record 0 .*length CRC"):
        list(read_records(tmp_path / "a"))
    (tmp_path / "b").write_bytes(good + good[:-5])
    with pytest.raises(TFRecordError, match="record 1 .*truncated"):
        list(read_records(tmp_path / "b"))


def test_parse_example_rejects_garbage():
    with pytest.raises(TFRecordError):
        parse_example(b"\x0a\xff\xff\xff\x0f")
