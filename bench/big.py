"""make bench: big images. A 4-Mpixel (2448x1632) and a 24-Mpixel (6000x4000) photo, made by Lanczos-resizing the largest
photo of the validation split (not trained on), coded with the built-in rgb model: median wall
time (RUNS rounds, taking turns) and peak RSS of walloc encode and decode at -T1 and -T2, beside
cwebp and dwebp (to PNG) on the same photo, with -T1 over -T2 for decoding; then a 100-Mpixel (12500x8000) one made the same way,
over the 64 Mpixel an image may be held whole, one round at -T1. Above 4 Mpixel decoding runs in
stripes and a plain encode of a PNG reads its rows a block at a time (memory by the width); above
64 Mpixel the PNG is read a row at a time through libpng."""
import os
import resource
import statistics
import subprocess
import time

from PIL import Image

from common import WALLOC, RUNS, tmp, split_images


def photo(w, h):
    path = os.path.join(tmp, "big%dx%d.png" % (w, h))
    if not os.path.exists(path):
        src = max(split_images("corpus/val"), key=lambda p: Image.open(p).size[0] * Image.open(p).size[1])
        Image.open(src).convert("RGB").resize((w, h), Image.LANCZOS).save(path, compress_level=1)
    return path


def run(cmd):
    """Wall seconds and the peak RSS (KB) of one run of cmd, in a child of its own."""
    code = "import resource, subprocess, sys, time; t = time.perf_counter(); " \
           "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); " \
           "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    out = subprocess.run(["/usr/bin/python3", "-c", code, *cmd], check=True, capture_output=True, text=True).stdout
    t, kb = out.split()
    return float(t), int(kb)


def table(w, h, threads, rounds):
    src, wlc, webp = photo(w, h), os.path.join(tmp, "big.wlc"), os.path.join(tmp, "big.webp")
    rows = [("walloc encode -T%d" % t, [WALLOC, "encode", "-q", "-f", "-T%d" % t, src, "-o", wlc]) for t in threads]
    rows += [("cwebp -q 75", ["cwebp", "-quiet", "-q", "75", src, "-o", webp])]
    rows += [("walloc decode -T%d" % t, [WALLOC, "decode", "-q", "-f", "-T%d" % t, wlc, "-o", os.path.join(tmp, "big.out.png")])
             for t in threads]
    rows += [("dwebp (to PNG)", ["dwebp", "-quiet", webp, "-o", os.path.join(tmp, "big.webp.png")])]
    subprocess.run(rows[0][1], check=True)
    subprocess.run(rows[len(threads)][1], check=True)
    got = {name: [] for name, _ in rows}
    for _ in range(rounds):
        for name, cmd in rows:
            got[name].append(run(cmd))
    print("\nBig image: %dx%d RGB, %d runs (median), peak RSS" % (w, h, rounds))
    print("%-20s %9s %10s" % ("", "time (s)", "peak (MB)"))
    for name, _ in rows:
        t = statistics.median(r[0] for r in got[name])
        print("%-20s %9.2f %10.0f" % (name, t, max(r[1] for r in got[name]) / 1024))
    print("sizes: walloc %d bytes, WebP %d bytes" % (os.path.getsize(wlc), os.path.getsize(webp)))
    if len(threads) > 1:
        dec = [statistics.median(r[0] for r in got["walloc decode -T%d" % t]) for t in threads]
        print("decode -T%d over -T%d: %.2fx faster" % (threads[-1], threads[0], dec[0] / dec[-1]))


def main():
    table(2448, 1632, (1, 2), max(5, RUNS // 2))
    table(6000, 4000, (1, 2), max(3, RUNS // 5))
    table(12500, 8000, (1,), 1)


if __name__ == "__main__":
    main()
