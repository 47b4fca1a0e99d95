"""Parquet files written by pyarrow, each beside the CSV pandas writes for the frame it reads back.

Independent reference for the Swift Parquet reader (Tests/ParquetTests): run with the job runtime's Python
(pyarrow + pandas). Usage:
  parquet_fixtures.py matrix OUT_DIR        every codec x dictionary x page version, each type, nulls, row groups
  parquet_fixtures.py floats OUT_DIR SEED   random doubles and float32s beside the text pandas writes
  parquet_fixtures.py small OUT_DIR         three 40-row files of every type (for fuzzing)
  parquet_fixtures.py big OUT_DIR ROWS [CODEC]   one wide-ish table of ROWS rows (big.parquet, big.csv)
  parquet_fixtures.py twin CSV_IN PARQUET_OUT CSV_OUT   a typed frame from a dataset CSV (dates, numbers)
  parquet_fixtures.py time FILE ROUNDS     median seconds of pyarrow.parquet.read_table and pandas.read_parquet
The CSV is pandas' to_csv(index=False) of pandas.read_parquet(file, dtype_backend="numpy_nullable"): the
nullable backend keeps integer columns with nulls as integers (the NumPy backend would turn them into floats
and print 1.0).
"""

import datetime
import decimal
import json
import os
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def reference_csv(parquet_path, csv_path):
    frame = pd.read_parquet(parquet_path, dtype_backend="numpy_nullable")
    frame.to_csv(csv_path, index=False, lineterminator="\n")


def types_table(rows, seed):
    rng = np.random.default_rng(seed)

    def nulls(values, every=7):
        return [None if i % every == 3 else v for i, v in enumerate(values)]

    def ints(dtype, low, high):
        return rng.integers(low, high, size=rows, dtype=np.int64, endpoint=True).tolist()

    floats = [0.1, -0.0, 1e-05, 0.0001, 1e16, 1e15, 123456789.125, 5e-324, 1.7976931348623157e308, float("nan"),
              float("inf"), float("-inf"), 2.5, -1.0, 3.0]
    texts = ["plain", "comma, inside", 'quote " inside', "new\nline", "ünïcødé ✓", "", "   spaced  ", "x" * 40]
    base = datetime.datetime(2021, 3, 14, 15, 9, 26)
    columns = {
        "b": pa.array(nulls([bool(v) for v in ints(None, 0, 1)]), pa.bool_()),
        "b_req": pa.array([bool(v) for v in ints(None, 0, 1)], pa.bool_()),
        "i8": pa.array(nulls(ints(None, -128, 127)), pa.int8()),
        "i16": pa.array(nulls(ints(None, -32768, 32767)), pa.int16()),
        "i32": pa.array(nulls(ints(None, -(2**31), 2**31 - 1)), pa.int32()),
        "i64": pa.array(nulls(ints(None, -(2**63), 2**63 - 1)), pa.int64()),
        "i64_req": pa.array(ints(None, -(10**12), 10**12), pa.int64()),
        "u8": pa.array(nulls(ints(None, 0, 255)), pa.uint8()),
        "u16": pa.array(nulls(ints(None, 0, 65535)), pa.uint16()),
        "u32": pa.array(nulls(ints(None, 0, 2**32 - 1)), pa.uint32()),
        "u64": pa.array(nulls([int(v) + 2**63 if v % 2 else int(v) for v in ints(None, 0, 2**62)]), pa.uint64()),
        "f32": pa.array(nulls([float(np.float32(v)) for v in rng.normal(0, 1000, rows)]), pa.float32()),
        "f64": pa.array(nulls([floats[i % len(floats)] if i % 3 == 0 else float(v)
                               for i, v in enumerate(rng.normal(0, 1e6, rows))]), pa.float64()),
        "s": pa.array(nulls([texts[i % len(texts)] + (str(i) if i % 5 == 0 else "") for i in range(rows)]),
                      pa.string()),
        "s_low": pa.array([["north", "south", "east", "west"][i % 4] for i in range(rows)], pa.string()),
        "d": pa.array(nulls([datetime.date(1900, 1, 1) + datetime.timedelta(days=int(v))
                             for v in ints(None, 0, 80000)]), pa.date32()),
        "ts_s": pa.array(nulls([base + datetime.timedelta(seconds=int(v)) for v in ints(None, -10**9, 10**9)]),
                         pa.timestamp("ms")),
        "ts_ms": pa.array(nulls([base + datetime.timedelta(milliseconds=int(v)) for v in ints(None, -10**11, 10**11)]),
                          pa.timestamp("ms")),
        "ts_us": pa.array(nulls([base + datetime.timedelta(microseconds=int(v)) for v in ints(None, -10**14, 10**14)]),
                          pa.timestamp("us")),
        "ts_ns": pa.array(nulls([int(v) for v in ints(None, -(10**18), 10**18)]), pa.timestamp("ns")),
        "ts_day": pa.array(nulls([datetime.datetime(2000, 1, 1) + datetime.timedelta(days=int(v))
                                  for v in ints(None, 0, 9000)]), pa.timestamp("us")),
        "ts_utc": pa.array(nulls([base + datetime.timedelta(microseconds=int(v) * (1000 if i % 2 else 1))
                                  for i, v in enumerate(ints(None, -10**12, 10**12))]), pa.timestamp("us", tz="UTC")),
        "dec": pa.array(nulls([decimal.Decimal(int(v)).scaleb(-2) for v in ints(None, -10**9, 10**9)]),
                        pa.decimal128(12, 2)),
        "dec_wide": pa.array(nulls([decimal.Decimal(int(v)).scaleb(-10) for v in ints(None, -(10**18), 10**18)]),
                             pa.decimal128(38, 10)),
        "dec_tiny": pa.array(nulls([decimal.Decimal(int(v)).scaleb(-9) for v in ints(None, -99, 99)]),
                             pa.decimal128(9, 9)),
        "t_ms": pa.array(nulls([int(v) for v in ints(None, 0, 86_399_999)]), pa.time32("ms")),
        "t_us": pa.array(nulls([int(v) * (1 if i % 2 else 1000) for i, v in enumerate(ints(None, 0, 86_399_999))]),
                         pa.time64("us")),
        "all_null": pa.array([None] * rows, pa.int64()),
    }
    return pa.table(columns)


def matrix(out):
    table = types_table(1000, 7)
    written = []
    for codec in ["none", "snappy", "gzip", "zstd"]:
        for dictionary in [True, False]:
            for version in ["1.0", "2.0"]:
                name = f"types-{codec}-{'dict' if dictionary else 'plain'}-v{version[0]}"
                path = os.path.join(out, name + ".parquet")
                pq.write_table(table, path, compression=codec, use_dictionary=dictionary,
                               data_page_version=version, row_group_size=300, data_page_size=2048)
                reference_csv(path, os.path.join(out, name + ".csv"))
                written.append(name)
    # pandas' own writer: a non-default index is stored as __index_level_0__.
    frame = pd.DataFrame({"a": [1, 2, 3], "name": ["x", None, "z"]}, index=[10, 20, 30])
    frame.to_parquet(os.path.join(out, "pandas-index.parquet"))
    reference_csv(os.path.join(out, "pandas-index.parquet"), os.path.join(out, "pandas-index.csv"))
    written.append("pandas-index")
    # Legacy INT96 timestamps (Spark, old writers).
    legacy = pa.table({"ts": pa.array([datetime.datetime(1999, 12, 31, 23, 59, 59, 123456), None,
                                       datetime.datetime(1970, 1, 1)], pa.timestamp("us"))})
    pq.write_table(legacy, os.path.join(out, "int96.parquet"), use_deprecated_int96_timestamps=True)
    reference_csv(os.path.join(out, "int96.parquet"), os.path.join(out, "int96.csv"))
    written.append("int96")
    # Refused: nested, LZ4.
    pq.write_table(pa.table({"id": [1, 2], "tags": [["a"], ["b", "c"]]}), os.path.join(out, "nested.parquet"))
    pq.write_table(pa.table({"id": [1, 2]}), os.path.join(out, "lz4.parquet"), compression="lz4")
    print(json.dumps({"files": written, "pyarrow": pa.__version__, "pandas": pd.__version__}))


def big(out, rows, codec):
    rng = np.random.default_rng(1)
    table = pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "name": pa.array([f"person {i % 50000}" for i in range(rows)], pa.string()),
        "city": pa.array([["Lyon", "Paris", "Nice", "Lille", "Metz"][i % 5] for i in range(rows)], pa.string()),
        "age": pa.array(rng.integers(0, 100, rows), pa.int32()),
        "balance": pa.array(np.round(rng.normal(1000, 300, rows), 2)),
        "score": pa.array(rng.random(rows)),
        "born": pa.array((rng.integers(-20000, 20000, rows)).astype("datetime64[D]")),
        "active": pa.array(rng.random(rows) < 0.5),
    })
    path = os.path.join(out, "big.parquet")
    pq.write_table(table, path, compression=codec)
    reference_csv(path, os.path.join(out, "big.csv"))
    print(json.dumps({"bytes": os.path.getsize(path)}))


def twin(csv_in, parquet_out, csv_out):
    frame = pd.read_csv(csv_in, dtype=str, keep_default_na=False)
    for column in frame.columns:
        values = frame[column]
        if values.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
            frame[column] = pd.to_datetime(values).dt.date
        elif values.str.fullmatch(r"-?\d+").all():
            frame[column] = values.astype("int64")
        elif values.str.fullmatch(r"-?\d+\.\d+").all():
            frame[column] = values.astype("float64")
    frame.to_parquet(parquet_out, index=False)
    reference_csv(parquet_out, csv_out)


def timing(path, rounds):
    def median(body):
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            body()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    print(json.dumps({
        "pyarrow_read_table": median(lambda: pq.read_table(path)),
        "pandas_read_parquet": median(lambda: pd.read_parquet(path)),
        "pandas_read_parquet_to_csv_strings": median(lambda: pd.read_parquet(path).astype(str)),
        "threads": pa.cpu_count(),
    }))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "matrix":
        matrix(sys.argv[2])
    elif command == "floats":
        # Random bit patterns (every magnitude) and powers of ten: the text pandas writes for each, as a double
        # (Python's repr) and as a float32 (numpy's str), one per line beside the little-endian values.
        import random
        import struct

        random.seed(int(sys.argv[3]))
        doubles = [struct.unpack("<d", struct.pack("<Q", random.getrandbits(64)))[0] for _ in range(50000)]
        doubles = [v for v in doubles if np.isfinite(v)] + [10.0**k for k in range(-30, 30)] + [0.1 + 0.2]
        floats = [struct.unpack("<f", struct.pack("<I", random.getrandbits(32)))[0] for _ in range(50000)]
        floats = [np.float32(v) for v in floats if np.isfinite(v)] + [np.float32(10.0**k) for k in range(-30, 30)]
        out = sys.argv[2]
        with open(os.path.join(out, "doubles.bin"), "wb") as f:
            f.write(b"".join(struct.pack("<d", v) for v in doubles))
        with open(os.path.join(out, "doubles.txt"), "w") as f:
            f.write("\n".join(repr(v) for v in doubles) + "\n")
        with open(os.path.join(out, "floats.bin"), "wb") as f:
            f.write(b"".join(struct.pack("<f", v) for v in floats))
        with open(os.path.join(out, "floats.txt"), "w") as f:
            f.write("\n".join(str(v) for v in np.array(floats, dtype=np.float32).astype(str)) + "\n")
    elif command == "small":
        # Small files for fuzzing: every type, dictionary + snappy + v1 and plain + gzip + v2.
        table = types_table(40, 3)
        pq.write_table(table, os.path.join(sys.argv[2], "small-dict.parquet"), compression="snappy",
                       row_group_size=25, data_page_size=512)
        pq.write_table(table, os.path.join(sys.argv[2], "small-plain.parquet"), compression="gzip",
                       use_dictionary=False, data_page_version="2.0", row_group_size=25, data_page_size=512)
        pq.write_table(table, os.path.join(sys.argv[2], "small-zstd.parquet"), compression="zstd",
                       data_page_version="2.0", row_group_size=25, data_page_size=512)
    elif command == "big":
        big(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "snappy")
    elif command == "twin":
        twin(sys.argv[2], sys.argv[3], sys.argv[4])
    elif command == "time":
        timing(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(f"unknown command {command}")
