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

import walloc


def compress_dir(client, src, out, model=None, manifest=None, retries=3, **rate):
    """Every .npy under src (sorted) to out/its path.wlc on the client's workers; returns the
    manifest records in input order (and appends them as JSON lines to manifest when given).
    Hidden temporary files a killed worker left in out are removed at the end."""
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.endswith(".npy"))
    dsts = [os.path.join(out, os.path.relpath(f, src))[:-4] + ".wlc" for f in files]
    for d in {os.path.dirname(p) for p in dsts}:
        os.makedirs(d, exist_ok=True)
    futures = client.map(walloc.compress_file, files, dsts, model=model, pure=False, retries=retries, **rate)
    records = client.gather(futures)
    for d in {os.path.dirname(p) for p in dsts}:
        for f in os.listdir(d):
            if f.startswith(".") and ".tmp-" in f:
                os.remove(os.path.join(d, f))
    if manifest:
        with open(manifest, "a") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
    return records
