"""Compressing a dataset on a Dask cluster (Debian's python3-distributed) through walloc's
Python package: one task per file, retried elsewhere when a worker dies, every output written
under a temporary name and renamed when complete (walloc.compress_file).

    from distributed import Client, LocalCluster
    import walloc.dask
    with Client(LocalCluster(n_workers=2, threads_per_worker=1)) as client:   # or Client("tcp://scheduler:8786")
        records = walloc.dask.compress_dir(client, "arrays/", "out/", model="gray", manifest="out/manifest.jsonl")

The same code runs against a multi-machine scheduler when the folders are on a shared file
system. Outputs mirror the input tree with .wlc in place of .npy; bytes are the CLI's
(`walloc encode -r -O out/ arrays/` with the same model and rate options)."""
import json
import os

from distributed import wait

import walloc


def compress_dir(client, src, out, model=None, manifest=None, retries=3, **rate):
    """Every .npy under src (in the order of `walloc encode -r`) to out/its path.wlc on the
    client's workers; returns the manifest records in input order (and appends them as JSON
    lines to manifest when given). A file that fails (after its retries) fails alone, as in the
    CLI's batch: the others are still written, and its record has status "failed", no bytes, and
    "error": the exception that stopped it. Hidden temporary files a killed worker left in out
    are removed at the end."""
    files = walloc._walk(src, ".npy")
    dsts = [os.path.join(out, os.path.relpath(f, src))[:-4] + ".wlc" for f in files]
    for d in {os.path.dirname(p) for p in dsts}:
        os.makedirs(d, exist_ok=True)
    futures = client.map(walloc.compress_file, files, dsts, model=model, pure=False, retries=retries, **rate)
    wait(futures)
    records = [_record(f, i, o) for f, i, o in zip(futures, files, dsts)]
    for d in {os.path.dirname(p) for p in dsts}:
        for f in os.listdir(d):
            if f.startswith(".") and ".tmp-" in f:
                os.remove(os.path.join(d, f))
    if manifest:
        with open(manifest, "a") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
    return records


def _record(future, src, dst):
    """The manifest record of one file's finished task: its own, or a failed one with the error
    (no bytes, as the CLI's count() records a failed file; model id 0: not known here)."""
    if future.status == "finished":
        return future.result()
    e = future.exception()
    return {"input": src, "output": dst, "dir": os.getcwd(), "status": "failed", "in_bytes": 0, "out_bytes": 0,
            "model_id": "%016x" % 0, "error": "%s: %s" % (type(e).__name__, e)}
