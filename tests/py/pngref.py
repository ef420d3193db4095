"""An independent PNG reader for tests (non-interlaced, all filter types, 8/16-bit,
gray/GA/RGB/RGBA): returns a numpy array (H, W, C) of uint16, so 16-bit files are checked
without going through libpng or PIL; and a writer of Adam7-interlaced 8-bit PNGs, which PIL
cannot write."""
import struct
import zlib
import numpy as np

CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def read(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    assert interlace == 0 and ctype in CHANNELS and depth in (8, 16)
    c, bps = CHANNELS[ctype], depth // 8
    stride, bpp = w * c * bps, c * bps
    raw = zlib.decompress(idat)
    out = np.zeros((h, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for r in range(h):
        f = raw[r * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, r * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for i in range(stride):
            a = cur[i - bpp] if i >= bpp else 0
            b = prev[i]
            cc = prev[i - bpp] if i >= bpp else 0
            if f == 0: p = 0
            elif f == 1: p = a
            elif f == 2: p = b
            elif f == 3: p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - cc), abs(a - cc), abs(a + b - 2 * cc)
                p = a if pa <= pb and pa <= pc else b if pb <= pc else cc
            cur[i] = (line[i] + p) & 255
        out[r] = prev = cur
    px = out.reshape(h, w * c, bps)
    vals = px[..., 0] * 256 + px[..., 1] if bps == 2 else px[..., 0]
    return vals.reshape(h, w, c).astype(np.uint16), depth


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def write_interlaced(path, a):
    """a (H, W, C) uint8, C in 1..4: an Adam7-interlaced PNG (filter 0 on every row)."""
    h, w, c = a.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = b""
    for x0, y0, dx, dy in ADAM7:
        sub = a[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + row.tobytes() for row in sub.astype(np.uint8))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 1))
                          + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
