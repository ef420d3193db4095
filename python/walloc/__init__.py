"""walloc for Python: the codec's latents as NumPy arrays, over libwalloc.so with ctypes.

    import walloc
    m = walloc.Model("rgb")                     # a built-in model, or a .wlm path
    q, mask = walloc.read_latents("a.wlc", m)   # int16 (K, h, w); mask[k]: channel k was sent
    y = walloc.dequantise(q[mask], m)           # float32 (K, h, w): the decoder's input
    data = walloc.encode(image, m, keep=6)      # image: uint8/uint16 (C, H, W) or (H, W)
    image = walloc.decode(data)                 # the built-in model the file names, or model=
    ds = walloc.LatentDataset("dir/")           # ds[i] = (y, mask) of every .wlc below, sorted

Errors raise walloc.Error with the library's message. The library is found through
$WALLOC_LIBRARY, then the one make install put beside it, then the build beside this package
(../../libwalloc.so), then the system's.
Idle OpenMP threads sleep (OMP_WAIT_POLICY=passive) unless the environment says otherwise."""
import ctypes
import ctypes.util
import os

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # read by libgomp when the library loads


def _load():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        from walloc._library import LIBRARY  # written by make install
    except ImportError:
        LIBRARY = None
    for path in (os.environ.get("WALLOC_LIBRARY"), LIBRARY, os.path.join(here, "..", "..", "libwalloc.so"),
                 ctypes.util.find_library("walloc")):
        if path and (os.path.exists(path) or not os.path.isabs(path)):
            return ctypes.CDLL(path)
    raise OSError("libwalloc.so not found: build it (make) or set WALLOC_LIBRARY")


_lib = _load()
_int, _long, _size, _u8p, _i16p, _f32p = ctypes.c_int, ctypes.c_long, ctypes.c_size_t, \
    ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(ctypes.c_int16), ctypes.POINTER(ctypes.c_float)


class _Info(ctypes.Structure):  # wl_info
    _fields_ = [("version", _int), ("modality", _int), ("model_id", ctypes.c_uint64), ("channels", _int),
                ("height", _int), ("width", _int), ("depth", _int), ("has_alpha", _int), ("rate", _int),
                ("frames", _long), ("chunk", _long), ("overlap", _long), ("chunks", _long), ("J", _int), ("K", _int),
                ("keep", _int), ("bits", _int), ("lat_h", _int), ("lat_w", _int), ("alpha_len", ctypes.c_uint32),
                ("header_len", _size), ("total_len", _size), ("step", _int), ("detail_planes", _int),
                ("fill", _int), ("reserved", _int), ("detail_bytes", ctypes.c_uint64),
                ("fill_bytes", ctypes.c_uint64)]


class _Image(ctypes.Structure):  # wl_image
    _fields_ = [("channels", _int), ("height", _int), ("width", _int), ("depth", _int), ("planes", _f32p),
                ("alpha", _f32p)]


class _Desc(ctypes.Structure):  # wl_model_desc
    _fields_ = [("name", ctypes.c_char * 32), ("kind", ctypes.c_char * 16), ("channels", _int), ("J", _int),
                ("K", _int), ("bits", _int), ("dims", _int), ("id", ctypes.c_uint64), ("keep", _int)]


class _Opts(ctypes.Structure):  # wl_encode_opts
    _fields_ = [("keep", _int), ("chunk", _long), ("refine", _int), ("step", _int), ("nofill", _int), ("zone", ctypes.c_float),
                ("reserved", _int * 5)]


_sig = {"wl_strerror": (ctypes.c_char_p, [_int]), "wl_error_detail": (ctypes.c_char_p, [_int]),
        "wl_model_load": (_int, [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, _size]),
        "wl_model_builtin": (_int, [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p]),
        "wl_model_builtin_by_id": (_int, [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint64]),
        "wl_model_free": (None, [ctypes.c_void_p]),
        "wl_model_describe": (None, [ctypes.c_void_p, ctypes.POINTER(_Desc)]),
        "wl_info_peek": (_int, [_u8p, _size, ctypes.POINTER(_Info)]),
        "wl_latents": (_int, [ctypes.c_void_p, _u8p, _size, ctypes.POINTER(_i16p), ctypes.POINTER(_Info)]),
        "wl_dequantise": (_int, [ctypes.c_void_p, _i16p, _int, _long, _f32p]),
        "wl_encode": (_int, [ctypes.c_void_p, ctypes.POINTER(_Image), ctypes.POINTER(_Opts),
                             ctypes.POINTER(_u8p), ctypes.POINTER(_size)]),
        "wl_quality_opts_depth": (_int, [ctypes.c_void_p, _int, _int, ctypes.POINTER(_Opts)]),
        "wl_encode_target": (_int, [ctypes.c_void_p, ctypes.POINTER(_Image), _int, ctypes.c_double,
                                    ctypes.POINTER(_Opts), ctypes.POINTER(_u8p), ctypes.POINTER(_size)]),
        "wl_detail_planes": (_int, [_u8p, _size, ctypes.POINTER(_i16p), ctypes.POINTER(_Info)]),
        "wl_decode": (_int, [ctypes.c_void_p, _u8p, _size, ctypes.POINTER(_Image)]),
        "wl_image_release": (None, [ctypes.POINTER(_Image)])}
for _name, (_res, _args) in _sig.items():
    getattr(_lib, _name).restype, getattr(_lib, _name).argtypes = _res, _args
_libc = ctypes.CDLL(None)
_libc.free.argtypes = [ctypes.c_void_p]


class Error(Exception):
    """A walloc error: the library's message, and its WL_ERR_* code in .code."""

    def __init__(self, code, what=""):
        msg = _lib.wl_strerror(code).decode()
        detail = _lib.wl_error_detail(code).decode()
        super().__init__("%s%s%s" % (what + ": " if what else "", msg, ": " + detail if detail else ""))
        self.code = code


def _check(code, what=""):
    if code:
        raise Error(code, what)


def _bytes(data):
    """bytes of a path or of bytes-like data, and a ctypes pointer to them."""
    if isinstance(data, (str, os.PathLike)):
        data = open(data, "rb").read()
    data = bytes(data)
    return data, ctypes.cast(ctypes.c_char_p(data), _u8p)


class Model:
    """A walloc model: a built-in name ("rgb", "rgb-linear", "gray", "stereo", "mono", ...) or a
    .wlm file. Attributes: name, kind, channels, J, K, bits, dims, id, keep, and fill: the K
    float32 values the decoder takes for channels not sent."""

    def __init__(self, spec=None, _handle=None):
        self._h = ctypes.c_void_p()
        if _handle is not None:
            self._h = _handle
        elif os.path.exists(str(spec)) or str(spec).endswith(".wlm"):
            data, ptr = _bytes(spec)
            _check(_lib.wl_model_load(ctypes.byref(self._h), ptr, len(data)), str(spec))
        else:
            _check(_lib.wl_model_builtin(ctypes.byref(self._h), spec.encode()), str(spec))
        d = _Desc()
        _lib.wl_model_describe(self._h, ctypes.byref(d))
        self.name, self.kind = d.name.decode(), d.kind.decode()
        self.channels, self.J, self.K, self.bits, self.dims, self.id, self.keep = \
            d.channels, d.J, d.K, d.bits, d.dims, d.id, d.keep
        self.fill = dequantise(np.zeros((0, 1, 1), np.int16), self)[:, 0, 0].copy()

    @classmethod
    def of_file(cls, data):
        """The built-in model that a .wlc (path or bytes) names: loaded once per process (a
        built-in model never changes), so that reading many files does not parse it for each."""
        info = _peek(data)
        if info.model_id not in _BUILTIN:
            h = ctypes.c_void_p()
            _check(_lib.wl_model_builtin_by_id(ctypes.byref(h), info.model_id), "model %016x" % info.model_id)
            _BUILTIN[info.model_id] = cls(_handle=h)
        return _BUILTIN[info.model_id]

    def __del__(self):
        if getattr(self, "_h", None):
            _lib.wl_model_free(self._h)

    def __repr__(self):
        return "walloc.Model(%r: %s, %d channels, J %d, K %d)" % (self.name, self.kind, self.channels, self.J, self.K)


_BUILTIN = {}  # model id -> Model: the built-in models that files have named


def _peek(data):
    data, ptr = _bytes(data)
    info = _Info()
    _check(_lib.wl_info_peek(ptr, len(data), ctypes.byref(info)))
    return info


def _model(model, data):
    if isinstance(model, Model):
        return model
    return Model(model) if model is not None else Model.of_file(data)


def read_latents(data, model=None):
    """The integer latents of a .wlc (path or bytes) as int16 (K, h, w), zero in the channels the
    file did not send, and mask (K,) bool: the channels it sent (the first keep)."""
    data, ptr = _bytes(data)
    m = _model(model, data)
    q, info = _i16p(), _Info()
    _check(_lib.wl_latents(m._h, ptr, len(data), ctypes.byref(q), ctypes.byref(info)))
    n = info.keep * info.lat_h * info.lat_w
    out = np.zeros((info.K, info.lat_h, info.lat_w), np.int16)
    out[:info.keep] = np.ctypeslib.as_array(q, (n,)).reshape(info.keep, info.lat_h, info.lat_w)
    _libc.free(q)
    mask = np.zeros(info.K, bool)
    mask[:info.keep] = True
    return out, mask


def dequantise(q, model):
    """float32 (K, h, w) latents in the encoder's output space from the first channels q
    (keep, h, w) (read_latents' q[mask]); the rest take model.fill (walloc.h, wl_dequantise)."""
    m = model if isinstance(model, Model) else Model(model)
    q = np.ascontiguousarray(q, np.int16)
    keep, h, w = q.shape
    y = np.empty((m.K, h, w), np.float32)
    _check(_lib.wl_dequantise(m._h, q.ctypes.data_as(_i16p), keep, h * w, y.ctypes.data_as(_f32p)))
    return y


_TARGETS = {"size": 1, "bpp": 2, "psnr": 3}  # WL_TARGET_*


def read_detail(data):
    """The detail layer's integer planes of a .wlc (path or bytes), int16 (C 4^J, h, w), plane
    b C + k the k-th channel-DCT coefficient of packet band b, and its step index s (the step is
    2^(2 - s/64)); (None, 0) for a file without one (man walloc, RATE CONTROL)."""
    data, ptr = _bytes(data)
    v, info = _i16p(), _Info()
    _check(_lib.wl_detail_planes(ptr, len(data), ctypes.byref(v), ctypes.byref(info)))
    if not v:
        return None, 0
    shape = (info.channels << (2 * info.J), info.lat_h, info.lat_w)
    out = np.ctypeslib.as_array(v, (int(np.prod(shape)),)).reshape(shape).copy()
    _libc.free(v)
    return out, info.step


def encode(image, model, keep=0, refine=0, quality=None, step=0, size=None, bpp=None, psnr=None):
    """bytes of a .wlc of image: uint8 or uint16 (C, H, W), or (H, W) for one channel. Rate:
    keep and step, or quality (0..100), or one target: size (bytes), bpp, psnr (dB); see
    man walloc, RATE CONTROL."""
    m = model if isinstance(model, Model) else Model(model)
    targets = {k: v for k, v in (("size", size), ("bpp", bpp), ("psnr", psnr)) if v is not None}
    if len(targets) + (quality is not None) + bool(keep or step) > 1:
        raise ValueError("give one rate control: keep/step, quality, size, bpp or psnr")
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.dtype not in (np.uint8, np.uint16):
        raise ValueError("image: uint8 or uint16, shape (C, H, W) or (H, W); got %s %s" % (a.dtype, a.shape))
    planes = np.ascontiguousarray(a, np.float32)
    img = _Image(a.shape[0], a.shape[1], a.shape[2], 8 * a.itemsize, planes.ctypes.data_as(_f32p), None)
    out, n, opts = _u8p(), _size(), _Opts(keep, 0, refine, step)
    if quality is not None:
        _check(_lib.wl_quality_opts_depth(m._h, 8 * a.itemsize, int(quality), ctypes.byref(opts)))
    if targets:
        (kind, value), = targets.items()
        _check(_lib.wl_encode_target(m._h, ctypes.byref(img), _TARGETS[kind], float(value), ctypes.byref(opts),
                                     ctypes.byref(out), ctypes.byref(n)))
    else:
        _check(_lib.wl_encode(m._h, ctypes.byref(img), ctypes.byref(opts), ctypes.byref(out), ctypes.byref(n)))
    data = ctypes.string_at(out, n.value)
    _libc.free(out)
    return data


def decode(data, model=None):
    """The image of a .wlc (path or bytes): uint8 or uint16 (C, H, W), alpha last when present."""
    data, ptr = _bytes(data)
    m = _model(model, data)
    img = _Image()
    _check(_lib.wl_decode(m._h, ptr, len(data), ctypes.byref(img)))
    C, H, W = img.channels, img.height, img.width
    planes = [np.ctypeslib.as_array(img.planes, (C * H * W,)).reshape(C, H, W)]
    if img.alpha:
        planes.append(np.ctypeslib.as_array(img.alpha, (H * W,)).reshape(1, H, W))
    out = np.concatenate(planes).astype(np.uint16 if img.depth == 16 else np.uint8)
    _lib.wl_image_release(ctypes.byref(img))
    return out


class LatentDataset:
    """The latents of many .wlc files, one item per file: (y, mask) with y float32 (K, h, w) from
    dequantise (the decoder's input: channels not sent at the model's fill values) or, with
    dequantised=False, int16 (K, h, w) with zeros there; mask (K,) bool, the channels sent.
    paths: .wlc paths, or a directory whose *.wlc files (recursively) are taken in sorted order.
    It has __len__ and __getitem__, so torch.utils.data.DataLoader takes it as it is; the default
    collate stacks items, which needs one latent shape per batch: group files by image size (or
    crop, e.g. y[:, :h0, :w0]) before batching images of different sizes. Models are loaded once
    per id (model=None: the built-in one each file names)."""

    def __init__(self, paths, model=None, dequantised=True):
        if isinstance(paths, (str, os.PathLike)) and os.path.isdir(paths):
            paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(paths) for f in fs if f.endswith(".wlc"))
        self.paths = [os.fspath(p) for p in paths]
        self.dequantised = dequantised
        self._model = model if model is None or isinstance(model, Model) else Model(model)
        self._models = {}

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        data = open(self.paths[i], "rb").read()
        m = self._model
        if m is None:
            mid = _peek(data).model_id
            if mid not in self._models:
                self._models[mid] = Model.of_file(data)
            m = self._models[mid]
        q, mask = read_latents(data, m)
        return (dequantise(q[mask], m) if self.dequantised else q), mask


def compress_file(src, dst, model=None, **rate):
    """Encodes the .npy array at src (uint8/uint16, (C, H, W) or (H, W)) into the .wlc dst,
    written under a temporary name in dst's folder and renamed when complete, so dst is never
    half-written (a worker killed mid-write leaves only a hidden .*.tmp-* file). model: a Model,
    a built-in name or a .wlm path (None: the built-in one for the channel count, as the CLI
    chooses); rate: encode's keep, step, quality, size, bpp or psnr. Returns a manifest record
    as the CLI's --manifest writes it: input, output, status, in_bytes, out_bytes, model_id."""
    a = np.load(src)
    channels = 1 if a.ndim == 2 else a.shape[0]
    m = model if isinstance(model, Model) else Model(model or {1: "gray", 3: "rgb"}.get(channels))
    data = encode(a, m, **rate)
    folder, name = os.path.split(os.path.abspath(dst))
    tmp = os.path.join(folder, ".%s.tmp-%d" % (name, os.getpid()))
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dst)
    return {"input": os.fspath(src), "output": os.fspath(dst), "status": "done", "in_bytes": os.path.getsize(src),
            "out_bytes": len(data), "model_id": "%016x" % m.id}
