"""An independent PNG reader for tests (non-interlaced, all filter types, 8/16-bit,
gray/GA/RGB/RGBA): returns a numpy array (H, W, C) of uint16, so 16-bit files are checked
without going through libpng or PIL; and a writer of the same kinds of PNG with the row
filters, IDAT split, extra chunks and Adam7 interlacing a test asks for, which PIL cannot."""
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


def filtered(rows, bpp, filters):
    """Rows (R, n) uint8 as PNG scanlines: row r with filter filters[r % len(filters)] (0 none,
    1 sub, 2 up, 3 average, 4 Paeth), each predicted from the unfiltered bytes."""
    out, prev = b"", np.zeros(rows.shape[1], np.int32)
    for r, row in enumerate(rows.astype(np.int32)):
        f = filters[r % len(filters)]
        a = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]])
        c = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        b = prev
        if f == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        else:
            pred = (0 * a, a, b, (a + b) // 2)[f]
        out += bytes([f]) + ((row - pred) & 255).astype(np.uint8).tobytes()
        prev = row
    return out


def write(path, a, depth=8, filters=(0,), idat=None, interlace=False, extra=()):
    """a (H, W, C) uint8 or uint16, C in 1..4, as a PNG of depth 8 or 16: rows filtered as
    filtered() does (interlaced: Adam7, filter 0 on every row), the zlib stream cut into IDAT
    chunks of idat bytes (None: one), and the chunks extra = ((type, data, before IDAT), ...)."""
    h, w, c = a.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    px = a.astype(">u2").view(np.uint8).reshape(h, w, 2 * c) if depth == 16 else a.astype(np.uint8)
    bpp = c * depth // 8
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = px[y0::dy, x0::dx]
            if sub.size:
                raw += filtered(sub.reshape(sub.shape[0], -1), bpp, (0,))
    else:
        raw = filtered(px.reshape(h, -1), bpp, filters)
    z = zlib.compress(raw)
    step = idat or len(z)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    before = b"".join(chunk(t, d) for t, d, first in extra if first)
    after = b"".join(chunk(t, d) for t, d, first in extra if not first)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace)))
                          + before + b"".join(chunk(b"IDAT", z[i:i + step]) for i in range(0, len(z), step))
                          + after + chunk(b"IEND", b""))
