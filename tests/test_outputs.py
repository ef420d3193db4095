#!/usr/bin/python3
"""Where outputs go (issue 21, "outputs that never surprise"): stdout write errors fail and name
stdout; an existing FIFO or device is written to as a stream and stays what it is; -f replaces a
symlink, not its target; any legal output name has a temporary name; SIGTERM, SIGINT and SIGHUP
leave no temporary file; /dev/stdin and /dev/stdout are standard input and output; a file that
appears meanwhile is not replaced without -f; the output is never the input; new files take the
umask; -- ends the options; a name with a newline is reported on one line."""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import soundfile as sf

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import default_signals, finish, test, run, garden_scratch, WALLOC  # noqa: E402

TMPDIR, T, RGB, WLC = garden_scratch("walloc-outputs-")


def leftovers(folder):
    return [f for f in os.listdir(folder) if ".tmp-" in f or f.startswith(".wl-")]


@test("outputs: a write error on stdout fails with exit status 1 and names stdout with the reason (info, eval, "
      "encode -c and decode -c of images and audio)")
def _():
    import numpy as np
    import soundfile as sf
    t = np.arange(44100) / 44100.0
    sf.write(T("a.wav"), (np.stack([np.sin(2 * np.pi * 440 * t)] * 2, 1) * 8000).astype(np.int16), 44100,
             subtype="PCM_16")
    assert run("encode", "-q", "-f", T("a.wav"), "-o", T("a.wlc"))[0] == 0
    for args in (["info", WLC], ["eval", RGB, WLC], ["encode", "-c", RGB], ["decode", "-c", WLC],
                 ["encode", "-c", T("a.wav")], ["decode", "-c", T("a.wlc")]):
        with open("/dev/full", "wb") as full:
            p = subprocess.run([WALLOC] + args, stdout=full, stderr=subprocess.PIPE, text=True)
        assert p.returncode == 1 and "stdout" in p.stderr and "(stdin)" not in p.stderr and "space" in p.stderr, \
            (args, p.returncode, p.stderr)


@test("outputs: decode -o of a name of one's own (out.bin, out) writes the default format; an extension of "
      "another format walloc knows is a usage error (exit 2), of the other modality's an error (exit 1); -v "
      "prints a line per file for decode, latents and show")
def _():
    for name in ("own.bin", "own"):
        rc, _, err = run("decode", "-f", WLC, "-o", T(name))
        assert rc == 0 and open(T(name), "rb").read(8) == b"\x89PNG\r\n\x1a\n", (name, rc, err)
    rc, _, err = run("decode", "-f", WLC, "-o", T("x.jpg"))
    assert rc == 2 and not os.path.exists(T("x.jpg")), (rc, err)
    rc, _, err = run("decode", "-f", WLC, "-o", T("x.wav"))
    assert rc == 1 and err.count("\n") == 1 and ".wav" in err and not os.path.exists(T("x.wav")), (rc, err)
    for cmd, out, has in (("decode", "v.png", "channel"), ("latents", "v.npy", "(12, "), ("show", "v.png", "x")):
        rc, _, err = run(cmd, "-v", "-f", WLC, "-o", T(out))
        assert rc == 0 and err.count("\n") == 1 and "->" in err and has in err, (cmd, rc, err)


@test("outputs: a FIFO is written to as a stream (with or without -f) and stays a FIFO; -o /dev/null works")
def _():
    fifo = T("pipe")
    os.mkfifo(fifo)
    want = run("decode", "-c", WLC)[1]
    for force in ([], ["-f"]):
        got = []
        reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
        reader.start()
        rc, _, err = run("decode", *force, WLC, "-o", fifo)
        reader.join(10)
        assert rc == 0 and got == [want], (force, rc, err, len(got[0]) if got else None)
        assert os.path.exists(fifo) and not os.path.isfile(fifo), "the FIFO was replaced"
    rc, _, err = run("decode", WLC, "-o", "/dev/null")
    assert rc == 0 and os.path.exists("/dev/null") and not os.path.isfile("/dev/null"), err
    assert not leftovers(TMPDIR.name) and not leftovers("/dev"), "temporary files left"


@test("outputs: an existing symlink is refused without -f; with -f it is replaced and its target left alone")
def _():
    target, link = T("target.png"), T("link.png")
    open(target, "wb").write(b"keep me")
    os.symlink(target, link)
    rc, _, err = run("decode", WLC, "-o", link)
    assert rc == 1 and "already exists" in err and os.path.islink(link), err
    rc, _, err = run("decode", "-f", WLC, "-o", link)
    assert rc == 0 and not os.path.islink(link) and open(target, "rb").read() == b"keep me", err


@test("outputs: a 255-byte output name (the longest legal one) is written, through a shorter temporary name")
def _():
    name = T("n" * 251 + ".png")
    rc, _, err = run("decode", WLC, "-o", name)
    assert rc == 0 and os.path.getsize(name) > 0 and not leftovers(TMPDIR.name), err


@test("outputs: SIGTERM, SIGINT or SIGHUP during a decode leaves no temporary file")
def _():
    rate = 44100
    t = np.arange(240 * rate) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)], 1)
    sf.write(T("long.wav"), x, rate, subtype="PCM_16")
    assert run("encode", "-q", T("long.wav"), "-o", T("long.wlc"))[0] == 0
    folder = T("out")
    os.mkdir(folder)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        p = subprocess.Popen([WALLOC, "decode", "-T1", "-f", T("long.wlc"), "-o", os.path.join(folder, "x.wav")],
                             preexec_fn=default_signals)
        for _ in range(200):  # until the temporary file exists
            if leftovers(folder):
                break
            time.sleep(0.005)
        assert leftovers(folder), "no temporary file seen"
        p.send_signal(sig)
        rc = p.wait(10)
        assert rc == -sig and not os.listdir(folder), (sig, rc, os.listdir(folder))


@test("outputs: /dev/stdin is standard input: the output goes to stdout, as with '-'")
def _():
    data, made = open(RGB, "rb").read(), lambda: os.path.exists("/dev/stdin.wlc") and os.path.getmtime("/dev/stdin.wlc")
    before = made()
    rc, out, err = run("encode", "/dev/stdin", stdin=data)
    assert rc == 0 and out == run("encode", "-", stdin=data)[1] and made() == before, err


@test("outputs: a file that appears at the output path while walloc codes is not replaced without -f (exit 1, "
      "no temporary file); the output may not be the input, even with -f")
def _():
    import io
    race = T("race")
    os.makedirs(race)
    out, wav = os.path.join(race, "x.wlc"), io.BytesIO()
    sf.write(wav, np.zeros((44100, 1), np.int16), 44100, format="WAV", subtype="PCM_16")
    data = wav.getvalue()
    p = subprocess.Popen([WALLOC, "encode", "-", "-o", out], stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=False)
    p.stdin.write(data[:len(data) // 2])
    p.stdin.flush()
    while not leftovers(race):  # the audio encoder has opened its temporary file
        time.sleep(0.01)
    open(out, "w").write("someone else's\n")
    p.stdin.write(data[len(data) // 2:])
    p.stdin.close()
    err = p.stderr.read().decode()
    assert p.wait() == 1 and "already exists" in err, (p.returncode, err)
    assert open(out).read() == "someone else's\n" and not leftovers(race), os.listdir(race)
    os.link(RGB, os.path.join(race, "same.wlc"))
    shutil.copy(RGB, os.path.join(race, "img.bin"))  # names of one's own: -o's extension names no other format
    shutil.copy(WLC, os.path.join(race, "lat.bin"))
    for args in (["encode", "-f", os.path.join(race, "img.bin"), "-o", os.path.join(race, "img.bin")],
                 ["encode", "-f", RGB, "-o", os.path.join(race, "same.wlc")],
                 ["latents", "-f", os.path.join(race, "lat.bin"), "-o", os.path.join(race, "lat.bin")]):
        before = open(args[-1], "rb").read()
        rc, _, err = run(*args)
        assert rc == 1 and "is the input" in err and open(args[-1], "rb").read() == before, (args, rc, err)


@test("outputs: -o naming a folder says so (it said 'already exists (use -f ...)', and with -f 'Is a directory' "
      "or 'Not a directory'), with and without -f and a trailing slash")
def _():
    os.makedirs(T("folder"))
    for args in ([], ["-f"]):
        for name in (T("folder"), T("folder") + "/"):
            rc, _, err = run("encode", *args, RGB, "-o", name)
            assert rc == 1 and "is a folder" in err and "-O" in err and os.listdir(T("folder")) == [], (args, name, err)


@test("outputs: a new file's permissions are 0666 less the umask (not 0644 whatever the umask); one replaced "
      "with -f keeps its own")
def _():
    for mask, want in ((0o077, 0o600), (0o002, 0o664), (0o022, 0o644)):
        old = os.umask(mask)
        try:
            path = T("mode%o.wlc" % mask)
            rc, _, err = run("encode", RGB, "-o", path)
        finally:
            os.umask(old)
        assert rc == 0 and os.stat(path).st_mode & 0o777 == want, (oct(mask), oct(os.stat(path).st_mode), err)
    os.chmod(T("mode22.wlc"), 0o640)
    assert run("encode", "-f", RGB, "-o", T("mode22.wlc"))[0] == 0
    assert os.stat(T("mode22.wlc")).st_mode & 0o777 == 0o640, oct(os.stat(T("mode22.wlc")).st_mode)


@test("outputs: -o /dev/stdout is standard output, also with -f (as a path, -f had replaced the link itself); "
      "after --, a name that starts with a dash is an input")
def _():
    with open(T("viastdout.wlc"), "wb") as f:
        rc = subprocess.run([WALLOC, "encode", "-f", RGB, "-o", "/dev/stdout"], stdout=f).returncode
    assert rc == 0 and open(T("viastdout.wlc"), "rb").read() == open(WLC, "rb").read()
    shutil.copy(RGB, T("-dash.png"))
    here = os.getcwd()
    os.chdir(TMPDIR.name)
    try:
        assert run("encode", "-dash.png")[0] == 2
        rc, _, err = run("encode", "--", "-dash.png")
    finally:
        os.chdir(here)
    assert rc == 0 and open(T("-dash.wlc"), "rb").read() == open(WLC, "rb").read(), err


@test("outputs: a name with a newline is reported on one line; --help and -V that stdout cannot take fail "
      "(exit 1, naming stdout)")
def _():
    bad = T("new\nline.png")
    open(bad, "w").write("x")
    rc, _, err = run("encode", bad)
    assert rc == 1 and err.count("\n") == 1 and "line.png" in err, (rc, err)
    for args in (["--help"], ["-V"], ["encode", "--help"]):
        with open("/dev/full", "w") as full:
            p = subprocess.run([WALLOC, *args], stdout=full, stderr=subprocess.PIPE, text=True)
        assert p.returncode == 1 and "stdout" in p.stderr, (args, p.returncode, p.stderr)


sys.exit(finish())
