#!/usr/bin/python3
"""walloc on Dask (python/walloc/dask.py, Debian's python3-distributed): a directory of 200 arrays
compressed by a LocalCluster of 2 worker processes through the Python package, one worker killed
(SIGKILL) mid-run: every output is written, none half-written, no temporary file is left, the
manifest has every file, and the bytes are those of `walloc encode -r -O`. A junk array among
good ones fails alone, as in the CLI's batch, and a Model object travels to the workers."""
import json
import os
import signal
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
import libenv  # noqa: E402,F401  (before numpy: the library under test and what its build needs)
sys.path.insert(0, os.path.join(TOP, "python"))
import numpy as np  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import walloc.dask  # noqa: E402
from harness import finish, run, test  # noqa: E402

def tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def main():
    # made here, not at import: the worker processes import this file too (multiprocessing's
    # spawn), and the one the test kills would leave its own directory behind
    tmpdir = tempfile.TemporaryDirectory(prefix="walloc-dask-")
    T = lambda *p: os.path.join(tmpdir.name, *p)  # noqa: E731
    rng = np.random.default_rng(5)
    for i in range(200):
        sub = T("src", "part%d" % (i % 3))
        os.makedirs(sub, exist_ok=True)
        x = np.cumsum(np.cumsum(rng.normal(0, 1, (96, 96)), 0), 1)
        np.save(os.path.join(sub, "a%03d.npy" % i), ((x - x.min()) / (x.max() - x.min()) * 255).astype(np.uint8))

    @test("dask: 200 arrays on 2 worker processes, one killed mid-run: all written, the CLI's bytes, a full manifest")
    def _():
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
            killed = []

            def kill_when_started():  # one worker dies once the first outputs have appeared
                deadline = time.time() + 60
                while time.time() < deadline and len([f for f in tree(T("out")) if f.endswith(".wlc")]) < 20:
                    time.sleep(0.005)
                os.kill(pids[0], signal.SIGKILL)
                killed.append(len(tree(T("out"))))
            t = threading.Thread(target=kill_when_started)
            t.start()
            records = walloc.dask.compress_dir(client, T("src"), T("out"), model="gray", manifest=T("m.jsonl"))
            t.join()
        assert killed and killed[0] < 200, "the worker was killed after the run (%s outputs)" % killed
        rc, _, err = run("encode", "-q", "-r", "-O", T("cli"), T("src"))
        assert rc == 0, err
        names = tree(T("cli"))
        assert len(names) == 200 and tree(T("out")) == names, \
            (len(tree(T("out"))), [f for f in tree(T("out")) if f not in names][:3])
        for f in names:
            assert open(T("out", f), "rb").read() == open(T("cli", f), "rb").read(), f
        lines = [json.loads(x) for x in open(T("m.jsonl"))]
        assert len(lines) == 200 and all(r["status"] == "done" for r in lines) and lines == records
        assert sorted(os.path.relpath(r["output"], T("out")) for r in lines) == names

    @test("dask: a junk .npy fails alone (recorded with its error, every good file written, temporary files "
          "removed), files in the order of `walloc encode -r`, a walloc.Model sent to worker processes")
    def _():
        rng = np.random.default_rng(6)
        for name in ("a/x.npy", "a-b.npy", "a.npy", ".hidden.npy"):
            os.makedirs(os.path.dirname(T("mixed", name)), exist_ok=True)
            np.save(T("mixed", name), rng.integers(0, 256, (32, 32), np.uint8))
        open(T("mixed", "junk.npy"), "wb").write(b"not an array")
        os.makedirs(T("mout"))
        open(T("mout", ".old.wlc.tmp-1"), "wb").write(b"left by a killed worker")
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            records = walloc.dask.compress_dir(client, T("mixed"), T("mout"), model=walloc.Model("gray"),
                                               manifest=T("mixed.jsonl"))
        rc, _, err = run("encode", "-q", "-r", "-j", "1", "-O", T("mcli"), "--manifest", T("cli.jsonl"), T("mixed"))
        assert rc == 1 and "junk.npy" in err, (rc, err)
        cli = [json.loads(x) for x in open(T("cli.jsonl"))]
        assert [(r["input"], r["status"]) for r in records] == [(r["input"], r["status"]) for r in cli], records
        bad, = [r for r in records if r["status"] == "failed"]
        assert bad["input"] == T("mixed", "junk.npy") and bad["error"].startswith("ValueError: "), bad
        assert [json.loads(x) for x in open(T("mixed.jsonl"))] == records
        assert tree(T("mout")) == tree(T("mcli")) == ["a-b.wlc", "a.wlc", "a/x.wlc"], tree(T("mout"))
        for f in tree(T("mcli")):
            assert open(T("mout", f), "rb").read() == open(T("mcli", f), "rb").read(), f

    @test("dask: compress_file without a model takes the CLI's built-in one for 1 or 3 channels and names the "
          "array and model= otherwise")
    def _():
        np.save(T("two.npy"), np.zeros((2, 32, 32), np.uint8))
        np.save(T("three.npy"), np.zeros((3, 32, 32), np.uint8))
        assert walloc.compress_file(T("three.npy"), T("three.wlc"))["model_id"] == "%016x" % walloc.Model("rgb").id
        try:
            walloc.compress_file(T("two.npy"), T("two.wlc"))
            assert False, "a 2-channel array was encoded"
        except ValueError as e:
            assert "two.npy" in str(e) and "model=" in str(e), str(e)
        assert not os.path.exists(T("two.wlc")) and not [f for f in os.listdir(T()) if ".tmp-" in f]

    return finish()


if __name__ == "__main__":
    sys.exit(main())
