"""Reads one dataset the four ways a Python user would, and prints what each saw as JSON on stdout.

    python read_dataset.py <dataset.arrow> <dataset.parquet> [--no-load-dataset]

--no-load-dataset skips `datasets.load_dataset('parquet', ...)`, which cannot load a Parquet file without columns
(an empty dataset) even when pyarrow wrote it: it reports "Please pass `features` or at least one example".

Used by test/integration/python-read.test.ts with the venv from scripts/setup-python.sh. Any reader that fails
makes the script fail: the test exists to prove these calls work on our output, so nothing is caught here.
Run it with HF_DATASETS_OFFLINE=1 and HF_HUB_OFFLINE=1 (and HF_HOME in a temporary folder) so that `datasets`
neither reaches the Hub nor writes into the user's cache.
"""

import json
import sys

import datasets
import pyarrow as pa
import pyarrow.parquet as pq


def describe(table: pa.Table) -> dict:
    return {
        "schema": {field.name: str(field.type) for field in table.schema},
        "rows": table.to_pylist(),
    }


def describe_dataset(ds: datasets.Dataset) -> dict:
    # The rows as `datasets` decodes them (its features, not pyarrow's), plus the Arrow types underneath.
    return {
        "schema": {field.name: str(field.type) for field in ds.data.table.schema},
        "features": {name: repr(feature) for name, feature in ds.features.items()},
        "rows": [ds[i] for i in range(len(ds))],
    }


def main() -> None:
    arrow_path, parquet_path = sys.argv[1], sys.argv[2]
    load_parquet = "--no-load-dataset" not in sys.argv[3:]
    with pa.OSFile(arrow_path, "rb") as source:
        arrow_table = pa.ipc.open_stream(source).read_all()
    parquet_table = pq.read_table(parquet_path)
    from_file = datasets.Dataset.from_file(arrow_path)
    from_parquet = (
        datasets.load_dataset("parquet", data_files=parquet_path, split="train") if load_parquet else None
    )
    result = {
        "versions": {"pyarrow": pa.__version__, "datasets": datasets.__version__},
        "pyarrow_ipc": describe(arrow_table),
        "pyarrow_parquet": describe(parquet_table),
        "datasets_from_file": describe_dataset(from_file),
        "datasets_load_parquet": describe_dataset(from_parquet) if from_parquet is not None else None,
    }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
