#!/usr/bin/python3
"""Whole datasets from the CLI (cli/batch.c): -r walks directories in sorted order and takes
only the files a command reads, -O DIR mirrors the tree, --skip-existing leaves done files
alone without coding them, --manifest records each file and resumes (however the folder is
spelled, and after the batch was killed), -j N gives the same bytes as one process, --shard I/N
splits the sorted list into disjoint shares, one bad file fails alone (named, exit 1, every good
output written), two inputs bound for one output are refused, and a totals line ends a batch
whose stderr is not a terminal."""
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import IMAGES, finish, run, test  # noqa: E402

TMPDIR = tempfile.TemporaryDirectory(prefix="walloc-batch-")
T = lambda *p: os.path.join(TMPDIR.name, *p)  # noqa: E731


def tree(root):
    """Every file under root, as paths relative to it, sorted."""
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def main():
    src = T("in")
    os.makedirs(T("in", "a", "b"))
    for name in ("garden-rgb8.png", "storm-gray8-odd.png", "storm-rgb16.png"):
        shutil.copy(os.path.join(IMAGES, name), T("in", "a", name))
    shutil.copy(os.path.join(IMAGES, "garden-rgba8.png"), T("in", "a", "b", "g.png"))
    open(T("in", "a", "b", "notes.txt"), "w").write("not an image\n")
    rng = np.random.default_rng(7)
    os.makedirs(T("arrays"))
    for i in range(500):
        np.save(T("arrays", "x%03d.npy" % i), rng.integers(0, 256, (1, 16, 16), dtype=np.uint8))

    @test("batch: -r -O mirrors the tree, takes only images, and each output is the single-file encode's bytes")
    def _():
        rc, _, err = run("encode", "-r", "-O", T("out"), src)
        assert rc == 0, err
        want = ["a/b/g.wlc", "a/garden-rgb8.wlc", "a/storm-gray8-odd.wlc", "a/storm-rgb16.wlc"]
        assert tree(T("out")) == want, tree(T("out"))
        for rel in want:
            png = T("in", rel[:-4] + ".png")
            assert run("encode", "-q", "-f", png, "-o", T("one.wlc"))[0] == 0
            assert open(T("one.wlc"), "rb").read() == open(T("out", rel), "rb").read(), rel
        assert "4 file(s): 4 done, 0 failed, 0 skipped" in err, err

    @test("batch: -j 2, and the default (a worker per core), write the same bytes as one process (decode of the "
          "tree above)")
    def _():
        for j, out in ((["-j", "1"], "d1"), (["-j", "2"], "d2"), ([], "d0")):
            rc, _, err = run("decode", "-q", "-r", *j, "-O", T(out), T("out"))
            assert rc == 0, err
        assert tree(T("d1")) == tree(T("d2")) == tree(T("d0")) == ["a/b/g.png", "a/garden-rgb8.png",
                                                                  "a/storm-gray8-odd.png", "a/storm-rgb16.png"], tree(T("d2"))
        for rel in tree(T("d1")):
            assert open(T("d1", rel), "rb").read() == open(T("d2", rel), "rb").read() == open(T("d0", rel), "rb").read(), rel

    @test("batch: 500 arrays with -j 2, then a rerun with --skip-existing that codes nothing")
    def _():
        rc, _, err = run("encode", "-m", "gray", "-r", "-j", "2", "-O", T("aout"), T("arrays"))
        assert rc == 0 and len(tree(T("aout"))) == 500 and "500 done" in err, err
        stamp = {f: os.stat(T("aout", f)).st_mtime_ns for f in tree(T("aout"))}
        rc, _, err = run("encode", "-m", "gray", "-r", "-j", "2", "-O", T("aout"), "--skip-existing", T("arrays"))
        assert rc == 0 and "0 done, 0 failed, 500 skipped" in err, err
        assert stamp == {f: os.stat(T("aout", f)).st_mtime_ns for f in tree(T("aout"))}, "an output was rewritten"

    @test("batch: --shard I/N splits the sorted list into disjoint shares that cover it")
    def _():
        got = []
        for i in (1, 2, 3):
            rc, _, err = run("encode", "-q", "-m", "gray", "-r", "--shard", "%d/3" % i, "-O", T("s%d" % i), T("arrays"))
            assert rc == 0, err
            got.append(tree(T("s%d" % i)))
        names = ["x%03d.wlc" % k for k in range(500)]
        assert [sorted(g) for g in got] == [names[i::3] for i in range(3)], [len(g) for g in got]

    @test("batch: one bad file fails alone: named, exit 1, every good output written")
    def _():
        os.makedirs(T("mixed"))
        for name in ("garden-rgb8.png", "storm-rgb16.png"):
            shutil.copy(os.path.join(IMAGES, name), T("mixed", name))
        open(T("mixed", "broken.png"), "wb").write(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
        rc, _, err = run("encode", "-r", "-j", "2", "-O", T("mout"), T("mixed"))
        assert rc == 1 and "broken.png" in err and "1 failed" in err, (rc, err)
        assert tree(T("mout")) == ["garden-rgb8.wlc", "storm-rgb16.wlc"], tree(T("mout"))

    @test("batch: --manifest records a JSON line per file; a rerun codes only what it lacks")
    def _():
        import json
        rc, _, err = run("encode", "-r", "-j", "2", "-O", T("man"), "--manifest", T("m.jsonl"), src)
        lines = [json.loads(x) for x in open(T("m.jsonl"))]
        assert rc == 0 and sorted(x["output"] for x in lines) == [T("man", f) for f in tree(T("man"))], lines
        assert all(x["status"] == "done" and x["out_bytes"] == os.path.getsize(x["output"]) and
                   x["in_bytes"] == os.path.getsize(x["input"]) and len(x["model_id"]) == 16 for x in lines), lines
        os.remove(T("man", "a", "storm-rgb16.wlc"))
        rc, _, err = run("encode", "-r", "-O", T("man"), "--manifest", T("m.jsonl"), src)
        again = [json.loads(x) for x in open(T("m.jsonl"))][len(lines):]
        assert rc == 0 and [x["input"] for x in again] == [T("in", "a", "storm-rgb16.png")], again
        assert "4 file(s): 1 done, 0 failed, 3 skipped" in err, err
        for spelled in (src + "/", src + "//", src + "/./", os.path.join(TMPDIR.name, ".", "in")):
            rc, _, err = run("encode", "-r", "-O", T("man") + "/", "--manifest", T("m.jsonl"), spelled)
            assert rc == 0 and "0 done, 0 failed, 4 skipped" in err, (spelled, rc, err)

    @test("batch: a --manifest rerun into another -O codes every file again; .//in names in; a name that is not "
          "UTF-8 is escaped (valid JSON, Python's surrogateescape) and resumes; a link to a folder above is walked once")
    def _():
        import json
        rc, _, err = run("encode", "-r", "-O", T("man2"), "--manifest", T("m.jsonl"), src)
        assert rc == 0 and "4 file(s): 4 done" in err and len(tree(T("man2"))) == 4, (rc, err)
        here = os.getcwd()
        os.chdir(TMPDIR.name)
        try:
            rc, _, err = run("encode", "-r", "-O", T("man2"), "--manifest", T("m.jsonl"), ".//in")
        finally:
            os.chdir(here)
        assert rc == 0 and "0 done, 0 failed, 4 skipped" in err, (rc, err)
        odd = os.path.join(os.fsencode(T("odd")), b"d\xff\xe9.npy")
        os.makedirs(T("odd", "a"))
        with open(odd, "wb") as f:  # 64 x 64: no small-image note, which names the file
            np.save(f, np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8))
        os.symlink("..", T("odd", "a", "up"))
        for attempt in range(2):
            rc, _, err = run("encode", "-m", "gray", "-r", "-O", T("oddout"), "--manifest", T("odd.jsonl"), T("odd"))
            assert rc == 0 and ("1 done" if attempt == 0 else "1 skipped") in err, (attempt, rc, err)
            assert "a link to a folder above it" in err, err
        rec = [json.loads(x) for x in open(T("odd.jsonl"), "rb")]
        assert len(rec) == 1 and os.fsencode(rec[0]["input"]) == odd and os.path.exists(os.fsencode(rec[0]["output"]))
        cut = open(T("odd.jsonl"), "rb").read()  # a line cut short (a full disk) records nothing
        open(T("odd.jsonl"), "wb").write(cut[:cut.index(b'"in_bytes"')])
        rc, _, err = run("encode", "-m", "gray", "-r", "-f", "-O", T("oddout"), "--manifest", T("odd.jsonl"), T("odd"))
        lines = open(T("odd.jsonl"), "rb").read().split(b"\n")
        assert rc == 0 and "1 done" in err and json.loads(lines[1])["status"] == "done", (rc, err, lines)

    @test("batch: a parent killed with SIGTERM takes its -j workers along; the manifest then holds every output "
          "and a rerun resumes")
    def _():
        import json
        import signal
        import subprocess
        import time
        from harness import WALLOC
        p = subprocess.Popen([WALLOC, "encode", "-q", "-m", "gray", "-r", "-j", "2", "-O", T("kout"), "--manifest",
                              T("k.jsonl"), T("arrays")], stderr=subprocess.DEVNULL)
        while not (os.path.exists(T("k.jsonl")) and os.path.getsize(T("k.jsonl"))) and p.poll() is None:
            time.sleep(0.01)
        p.send_signal(signal.SIGTERM)
        assert p.wait() == -signal.SIGTERM
        time.sleep(1)  # a worker left running would write on
        done = sorted(json.loads(x)["output"] for x in open(T("k.jsonl")))
        assert 0 < len(done) < 500 and done == [T("kout", f) for f in tree(T("kout"))], (len(done), len(tree(T("kout"))))
        rc, _, err = run("encode", "-m", "gray", "-r", "-j", "2", "-O", T("kout"), "--manifest", T("k.jsonl"), T("arrays"))
        assert rc == 0 and len(tree(T("kout"))) == 500, (rc, err)

    @test("batch: on a terminal, -v's lines and errors clear the progress line first, so none ends up after it")
    def _():
        import pty
        import subprocess
        from harness import WALLOC
        shutil.copytree(T("mixed"), T("tty"))
        for j in ("1", "2"):
            primary, secondary = pty.openpty()
            p = subprocess.Popen([WALLOC, "encode", "-v", "-r", "-j", j, "-O", T("ttyout" + j), T("tty")],
                                 stderr=secondary, stdout=subprocess.DEVNULL)
            os.close(secondary)
            got = b""
            while True:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:  # the other side closed
                    break
                if not chunk:
                    break
                got += chunk
            os.close(primary)
            assert p.wait() == 1, got
            got = got.replace(b"\r\n", b"\n")  # the terminal's own line ends
            seen = [line.split(b"\r")[-1] for line in got.split(b"\n")]  # what each terminal line shows
            assert any(b"ETA" in s for s in got.split(b"\r")) and any(b"broken.png" in s for s in seen), got
            assert not [s for s in seen if b"ETA" in s and (b"->" in s or b"broken" in s)], got

    @test("batch: two inputs that would write one output are refused before any coding (exit 2)")
    def _():
        os.makedirs(T("twin", "p"))
        os.makedirs(T("twin", "q"))
        for d in ("p", "q"):
            shutil.copy(os.path.join(IMAGES, "garden-rgb8.png"), T("twin", d, "g.png"))
        np.save(T("twin", "p", "g.npy"), np.zeros((3, 16, 16), np.uint8))
        for args in (["-O", T("tout"), T("twin", "p", "g.png"), T("twin", "q", "g.png")],
                     [T("twin", "p", "g.png"), T("twin", "p", "g.npy")], ["-r", T("twin", "p")]):
            rc, _, err = run("encode", "-f", *args)
            assert rc == 2 and "both would be written as" in err, (args, rc, err)
        assert not os.path.exists(T("tout")) and sorted(os.listdir(T("twin", "p"))) == ["g.npy", "g.png"]

    @test("batch: latents of many files -o OUT.npy stack into (N, K, h, w) with OUT.mask.npy; mixed sizes refused")
    def _():
        os.makedirs(T("st"))
        for i, keep in enumerate((3, 12, 6)):
            assert run("encode", "-q", "-f", "--keep", str(keep), T("in", "a", "garden-rgb8.png"), "-o",
                       T("st", "g%d.wlc" % i))[0] == 0
        open(T("all.mask.npy"), "w").write("in the way\n")
        rc, _, err = run("latents", "-r", "-o", T("all.npy"), T("st"))
        assert rc == 1 and "all.mask.npy: already exists" in err and not os.path.exists(T("all.npy")), (rc, err)
        os.remove(T("all.mask.npy"))
        rc, _, err = run("latents", "-r", "-o", T("all.npy"), T("st"))
        a, m = np.load(T("all.npy")), np.load(T("all.mask.npy"))
        assert rc == 0 and a.shape == (3, 12, 32, 32) and m.dtype == bool and m.sum(1).tolist() == [3, 12, 6], \
            (rc, err, a.shape, m.sum(1))
        for i in range(3):
            assert run("latents", "-q", "-f", T("st", "g%d.wlc" % i), "-o", T("one.npy"))[0] == 0
            one = np.load(T("one.npy"))
            assert np.array_equal(a[i, :len(one)], one) and not a[i, len(one):].any(), i
        assert run("encode", "-q", "-f", T("in", "a", "storm-rgb16.png"), "-o", T("st", "h.wlc"))[0] == 0
        rc, _, err = run("latents", "-f", "-r", "-o", T("bad.npy"), T("st"))
        assert rc == 1 and "h.wlc" in err and "one model and size" in err and not os.path.exists(T("bad.npy")), (rc, err)

    @test("batch: latents -r of a folder of one file still stacks, (1, K, h, w) and a mask; of none fails")
    def _():
        os.makedirs(T("st1"))
        shutil.copy(T("st", "g0.wlc"), T("st1", "g0.wlc"))
        rc, _, err = run("latents", "-r", "-o", T("one1.npy"), T("st1"))
        assert rc == 0 and np.load(T("one1.npy")).shape == (1, 12, 32, 32), (rc, err)
        assert np.load(T("one1.mask.npy")).tolist() == [[True] * 3 + [False] * 9]
        os.makedirs(T("st0"))
        rc, _, err = run("latents", "-r", "-o", T("none.npy"), T("st0"))
        assert rc == 1 and "no .wlc file" in err and not os.path.exists(T("none.npy")), (rc, err)

    @test("batch: latents and show --skip-existing leave done outputs (a rerun exits 0); --detail of several inputs, "
          "--detail on -o's file and a stacked --manifest are usage errors")
    def _():
        for cmd in ("latents", "show"):
            assert run(cmd, "-q", "-r", "-O", T("sk", cmd), T("st"))[0] == 0
            rc, _, err = run(cmd, "--skip-existing", "-r", "-O", T("sk", cmd), T("st"))
            assert rc == 0 and "4 file(s): 0 done, 0 failed, 4 skipped" in err, (cmd, rc, err)
        q60 = T("q60.wlc")
        assert run("encode", "-q", "-Q", "60", T("in", "a", "garden-rgb8.png"), "-o", q60)[0] == 0
        for args in (["--detail", T("d.npy"), "-r", "-O", T("dd"), T("st")],
                     ["--detail", T("d.npy"), q60, q60, "-o", T("dd.npy")],
                     ["--detail", T("same.npy"), q60, "-o", T("same.npy")],
                     ["-r", "-o", T("sm.npy"), "--manifest", T("sm.jsonl"), T("st")]):
            rc, _, err = run("latents", *args)
            assert rc == 2 and not os.listdir(TMPDIR.name).count("same.npy"), (args, rc, err)
            assert not any(os.path.exists(T(n)) for n in ("d.npy", "dd", "dd.npy", "sm.npy", "sm.jsonl")), args

    @test("batch: the manifest counts the bytes of standard input and output; -O with - as an input is a usage "
          "error; a folder -O cannot make is one line; --skip-existing -v names the file it skips")
    def _():
        import json
        png = T("in", "a", "garden-rgb8.png")
        rc, out, err = run("encode", "--manifest", T("std.jsonl"), "-c", png)
        rec = json.loads(open(T("std.jsonl")).read())
        assert rc == 0 and rec["out_bytes"] == len(out) > 0 and rec["in_bytes"] == os.path.getsize(png), (rec, err)
        rc, out, err = run("encode", "--manifest", T("std2.jsonl"), "-", stdin=open(png, "rb").read())
        rec = json.loads(open(T("std2.jsonl")).read())
        assert rc == 0 and rec["in_bytes"] == os.path.getsize(png) and rec["out_bytes"] == len(out), (rec, err)
        rc, out, err = run("encode", "-", png, "-O", T("so"), stdin=open(png, "rb").read())
        assert rc == 2 and not out and not os.path.exists(T("so")) and "standard input" in err, (rc, err)
        open(T("afile"), "w").close()
        rc, _, err = run("encode", png, "-O", T("afile", "sub"))
        assert rc == 1 and err.count("walloc:") == 1 and "cannot make its folder" in err, (rc, err)
        rc, _, err = run("encode", "-v", "--skip-existing", png, "-o", T("afile"))
        assert rc == 0 and "skipped, %s exists" % T("afile") in err and os.path.getsize(T("afile")) == 0, (rc, err)

    @test("batch: a directory without -r, and an unreadable folder under -r, fail alone (the other inputs are "
          "coded, exit 1); bad -j/--shard values are refused")
    def _():
        png = T("in", "a", "garden-rgb8.png")
        rc, _, err = run("encode", "-O", T("x"), png, src)
        assert rc == 1 and "is a directory" in err and os.path.exists(T("x", "garden-rgb8.wlc")), (rc, err)
        assert "2 file(s): 1 done, 1 failed" in err, err
        os.makedirs(T("locked", "in"))
        shutil.copy(png, T("locked", "ok.png"))
        shutil.copy(png, T("locked", "in", "no.png"))
        os.chmod(T("locked", "in"), 0)
        try:
            rc, _, err = run("encode", "-r", "-O", T("lk"), T("locked"))
        finally:
            os.chmod(T("locked", "in"), 0o755)
        if os.geteuid():  # root reads any folder: only the rest can be checked there
            assert rc == 1 and "cannot read" in err and tree(T("lk")) == ["ok.wlc"], (rc, err, tree(T("lk")))
        for args in (["-j", "0"], ["--shard", "0/2"], ["--shard", "3/2"], ["--shard", "1"], ["-O", ""]):
            rc, _, err = run("encode", *args, png)
            assert rc == 2, (args, rc, err)
        assert "I/N" in run("encode", "--shard", "0/2", png)[2]

    @test("batch: a manifest that is not a regular file is refused before any coding (no endless read); its "
          "lines name their folder, so a rerun from another folder resumes")
    def _():
        png = T("in", "a", "garden-rgb8.png")
        for dev in ("/dev/null", "/dev/zero"):
            rc, _, err = run("encode", "-O", T("mdev"), "--manifest", dev, png)
            assert rc == 2 and "not a regular file" in err and not os.path.exists(T("mdev")), (dev, rc, err)
        rc, _, err = run("encode", "-r", "-O", T("mfull"), "--manifest", "/dev/full", src)
        assert rc == 2, (rc, err)
        here = os.getcwd()
        os.chdir(TMPDIR.name)
        try:
            rc, _, err = run("encode", "-r", "-O", "mrel", "--manifest", "mrel.jsonl", "in")
        finally:
            os.chdir(here)
        assert rc == 0, err
        rc, _, err = run("encode", "-r", "-O", T("mrel"), "--manifest", T("mrel.jsonl"), src)
        assert rc == 0 and "0 done, 0 failed, 4 skipped" in err, (rc, err)

    @test("batch: a -j worker killed while coding leaves its file named once, counted and recorded as failed; "
          "a rerun with the manifest codes just that file")
    def _():
        import signal
        import subprocess
        import time
        from harness import WALLOC
        os.makedirs(T("slow"))
        big = np.random.default_rng(3).integers(0, 256, (3, 1024, 1536), dtype=np.uint8)
        for i in range(4):
            np.save(T("slow", "s%d.npy" % i), big)
        p = subprocess.Popen([WALLOC, "encode", "-r", "-j", "2", "--psnr", "40", "-m", "rgb", "-O", T("so"),
                              "--manifest", T("so.jsonl"), T("slow")], stderr=subprocess.PIPE)
        kids = []
        for _ in range(100):
            time.sleep(0.05)
            kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
            if kids:
                break
        assert kids, "no worker started"
        os.kill(int(kids[0]), signal.SIGKILL)
        err = p.communicate()[1].decode()
        assert p.returncode == 1 and err.count("not done: the worker coding it stopped") == 1, (p.returncode, err)
        assert err.count("walloc: walloc") == 0 and "4 file(s):" in err and "1 failed" in err, err
        lines = open(T("so.jsonl")).read().splitlines()
        assert len(lines) == 4 and sum('"failed"' in x for x in lines) == 1, lines
        rc, _, err = run("encode", "-r", "--psnr", "40", "-m", "rgb", "-O", T("so"), "--manifest", T("so.jsonl"),
                         T("slow"))
        assert rc == 0 and "1 done, 0 failed, 3 skipped" in err, (rc, err)

    return finish()


if __name__ == "__main__":
    sys.exit(main())
