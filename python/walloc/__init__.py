"""walloc for Python: the codec's latents as NumPy arrays, over libwalloc.so with ctypes.

    import walloc
    m = walloc.Model("rgb")                     # a built-in model, or a .wlm path
    q, mask = walloc.read_latents("a.wlc", m)   # int16 (K, h, w); mask[k]: channel k was sent
    y = walloc.dequantise(q[mask], m)           # float32 (K, h, w): the decoder's input
    data = walloc.encode(image, m, keep=6)      # image: uint8/uint16 (C, H, W) or (H, W)
    image = walloc.decode(data)                 # the built-in model the file names, or model=
    ds = walloc.LatentDataset("dir/")           # ds[i] = (y, mask) of every .wlc below, as walloc -r takes them

Errors raise walloc.Error with the library's message, naming the file read. Models pickle (a
built-in one as its name, a file's as its bytes), for DataLoader and Dask workers. The library
is found through $WALLOC_LIBRARY, then the one make install put beside it, then the build beside
this package (../../libwalloc.so), then the system's.
Idle OpenMP threads sleep (OMP_WAIT_POLICY=passive) unless the environment says otherwise."""
import ctypes
import ctypes.util
import errno
import numbers
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
                ("fastread", _int), ("masks", _int), ("reserved", _int * 3)]


_sig = {"wl_strerror": (ctypes.c_char_p, [_int]), "wl_error_detail": (ctypes.c_char_p, [_int]),
        "wl_model_load": (_int, [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, _size]),
        "wl_model_builtin": (_int, [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p]),
        "wl_model_builtin_name": (ctypes.c_char_p, [_int]),
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
        "wl_tile_masks": (_int, [_i16p, _int, _int, _int, _int, ctypes.POINTER(ctypes.c_uint16),
                                 ctypes.POINTER(ctypes.c_uint8), _i16p]),
        "wl_decode": (_int, [ctypes.c_void_p, _u8p, _size, ctypes.POINTER(_Image)]),
        "wl_image_release": (None, [ctypes.POINTER(_Image)])}
for _name, (_res, _args) in _sig.items():
    getattr(_lib, _name).restype, getattr(_lib, _name).argtypes = _res, _args
_libc = ctypes.CDLL(None)
_libc.free.argtypes = [ctypes.c_void_p]
_ERR_MISMATCH, _ERR_UNKNOWN_MODEL = -10, -12  # WL_ERR_*
_AUDIO = 2  # WL_MODALITY_AUDIO


class Error(Exception):
    """A walloc error: the library's message (or, where the package finds the fault before the
    library does, its own), after the file's name when there is one; its WL_ERR_* code in .code."""

    def __init__(self, code, what="", message=None):
        if message is None:
            detail = _lib.wl_error_detail(code).decode()
            message = _lib.wl_strerror(code).decode() + (": " + detail if detail else "")
        super().__init__(what + ": " + message if what else message)
        self.code = code


def _check(code, what=""):
    if code:
        raise Error(code, what)


def _source(data):
    """A .wlc or .wlm given as a path or as bytes-like data: its bytes, a ctypes pointer to them,
    and the name that errors give (the path; "" for data in memory)."""
    name = ""
    if isinstance(data, (str, os.PathLike)):
        name = os.fspath(data)
        with open(data, "rb") as f:
            data = f.read()
    data = bytes(data)
    return data, ctypes.cast(ctypes.c_char_p(data), _u8p), name


def _builtin_names():
    """The built-in models' names (none in a library made with BUILTIN=0)."""
    names = []
    while _lib.wl_model_builtin_name(len(names)):
        names.append(_lib.wl_model_builtin_name(len(names)).decode())
    return names


def _builtin_name(model_id):
    """The name of the built-in model with this id, or "" (the CLI's builtin_name)."""
    h, d = ctypes.c_void_p(), _Desc()
    if _lib.wl_model_builtin_by_id(ctypes.byref(h), model_id):
        return ""
    _lib.wl_model_describe(h, ctypes.byref(d))
    _lib.wl_model_free(h)
    return d.name.decode()


class Model:
    """A walloc model: a built-in name ("rgb", "rgb-linear", "gray", "stereo", "mono", ...) or a
    .wlm file (a str or os.PathLike path). A built-in name is taken before a file of that name,
    as the CLI's -m takes it, so that a folder named "rgb" does not hide the model. Attributes:
    name, kind, channels, J, K, bits, dims, id, keep, and fill: the K float32 values the decoder
    takes for channels not sent. A Model pickles as its built-in name or its .wlm bytes (kept for
    this), and is loaded again when unpickled."""

    def __init__(self, spec):
        if not isinstance(spec, (str, os.PathLike)):
            raise TypeError("model: a built-in name or a .wlm path (str or os.PathLike), not %s" % type(spec).__name__)
        builtin = isinstance(spec, str) and spec in _builtin_names()
        if isinstance(spec, str) and not builtin and not os.path.exists(spec):
            raise Error(_ERR_UNKNOWN_MODEL, spec, "no built-in model by that name (%s) and no such file"
                        % ", ".join(_builtin_names()))
        self._open(spec if builtin else _source(spec)[0], os.fspath(spec))

    def _open(self, source, what):
        """Loads source, a built-in name (str) or .wlm bytes, and reads its description."""
        self._h, self._source = ctypes.c_void_p(), source
        if isinstance(source, str):
            _check(_lib.wl_model_builtin(ctypes.byref(self._h), source.encode()), what)
        else:
            _check(_lib.wl_model_load(ctypes.byref(self._h), source, len(source)), what)
        d = _Desc()
        _lib.wl_model_describe(self._h, ctypes.byref(d))
        self.name, self.kind = d.name.decode(), d.kind.decode()
        self.channels, self.J, self.K, self.bits, self.dims, self.id, self.keep = \
            d.channels, d.J, d.K, d.bits, d.dims, d.id, d.keep
        self.fill = dequantise(np.zeros((0, 1, 1), np.int16), self)[:, 0, 0].copy()

    def __getstate__(self):
        """What loads it again: the name it was loaded by ("stereo-20x", whose .name "stereo" would
        lose its keep), or the .wlm bytes."""
        return self._source

    def __setstate__(self, source):
        self._open(source, "pickled model")

    @classmethod
    def of_file(cls, data):
        """The built-in model that a .wlc (path or bytes) names."""
        data, _, name = _source(data)
        return _file_model(_peek(data, name), name)

    def __del__(self):
        if getattr(self, "_h", None):
            _lib.wl_model_free(self._h)

    def __repr__(self):
        return "walloc.Model(%r: %s, %d channels, J %d, K %d)" % (self.name, self.kind, self.channels, self.J, self.K)


_BUILTIN = {}  # model id -> Model: the built-in models that files have named


def _file_model(info, name):
    """The built-in model a .wlc's header names: loaded once per process (a built-in model never
    changes), so that reading many files does not parse it for each."""
    if info.model_id not in _BUILTIN:
        builtin = _builtin_name(info.model_id)
        if not builtin:
            raise Error(_ERR_MISMATCH, name, "made with model %016x, which is not built in: pass model= "
                        "(a walloc.Model or the .wlm path)" % info.model_id)
        _BUILTIN[info.model_id] = Model(builtin)
    return _BUILTIN[info.model_id]


def _peek(data, name=""):
    info = _Info()
    _check(_lib.wl_info_peek(ctypes.cast(ctypes.c_char_p(data), _u8p), len(data), ctypes.byref(info)), name)
    return info


def _model(model, info, name):
    """The model to read a .wlc with: model (a Model, a built-in name or a .wlm path), which must
    be the one the file was made with, or by default the built-in one the file names. A mismatch
    names both models, so that the caller knows which to give (the CLI's words for -m)."""
    if model is None:
        return _file_model(info, name)
    m = model if isinstance(model, Model) else Model(model)
    if m.id != info.model_id:
        builtin = _builtin_name(info.model_id)
        raise Error(_ERR_MISMATCH, name, "made with model %016x%s, not with model %s (%016x)"
                    % (info.model_id, ", built-in " + builtin if builtin else "", m.name, m.id))
    return m


def _read_latents(data, model):
    """read_latents, and the model that read them."""
    data, ptr, name = _source(data)
    m = _model(model, _peek(data, name), name)
    q, info = _i16p(), _Info()
    _check(_lib.wl_latents(m._h, ptr, len(data), ctypes.byref(q), ctypes.byref(info)), name)
    n = info.keep * info.lat_h * info.lat_w
    out = np.zeros((info.K, info.lat_h, info.lat_w), np.int16)
    out[:info.keep] = np.ctypeslib.as_array(q, (n,)).reshape(info.keep, info.lat_h, info.lat_w)
    _libc.free(q)
    mask = np.zeros(info.K, bool)
    mask[:info.keep] = True
    return out, mask, m


def read_latents(data, model=None):
    """The integer latents of a .wlc (path or bytes) as int16 (K, h, w), zero in the channels the
    file did not send, and mask (K,) bool: the channels it sent (the first keep)."""
    return _read_latents(data, model)[:2]


def read_tile_masks(data, model=None):
    """bool (K, h, w) of a .wlc image (path or bytes): True where a latent was sent, False where
    its 8x8 tile masked it (it holds its channel's fill, the commonest value) and in the channels
    the file did not send; walloc latents --mask (man walloc, RATE CONTROL)."""
    q, mask, m = _read_latents(data, model)
    if m.dims == 1:
        raise Error(_ERR_MISMATCH, _source(data)[2], "masks are per tile of an image; this is audio")
    keep, (K, h, w) = int(mask.sum()), q.shape
    sent = np.zeros((K, h, w), np.uint8)
    kept = np.ascontiguousarray(q[:keep])
    counts = np.zeros(((h + 7) // 8) * ((w + 7) // 8), np.uint16)
    _check(_lib.wl_tile_masks(kept.ctypes.data_as(_i16p), keep, h, w, m.bits,
                              counts.ctypes.data_as(ctypes.POINTER(ctypes.c_uint16)),
                              sent.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), None))
    return sent.astype(bool)


def dequantise(q, model):
    """float32 (K, h, w) latents in the encoder's output space from the first channels q
    (keep, h, w) (read_latents' q[mask]); the rest take model.fill (walloc.h, wl_dequantise)."""
    m = model if isinstance(model, Model) else Model(model)
    q = np.ascontiguousarray(q, np.int16)
    if q.ndim != 3 or q.shape[0] > m.K:
        raise ValueError("q: (keep, h, w) with keep at most model %s's K = %d; got shape %s" % (m.name, m.K, q.shape))
    keep, h, w = q.shape
    y = np.empty((m.K, h, w), np.float32)
    _check(_lib.wl_dequantise(m._h, q.ctypes.data_as(_i16p), keep, h * w, y.ctypes.data_as(_f32p)))
    return y


_TARGETS = {"size": 1, "bpp": 2, "psnr": 3}  # WL_TARGET_*


def read_detail(data):
    """The detail layer's integer planes of a .wlc (path or bytes), int16 (C 4^J, h, w), plane
    b C + k the k-th channel-DCT coefficient of packet band b, and its step index s (the step is
    2^(2 - s/64)); (None, 0) for a file without one (man walloc, RATE CONTROL). An audio file's
    layers are per chunk: walloc.Error, as walloc latents --detail refuses it."""
    data, ptr, name = _source(data)
    v, info = _i16p(), _Info()
    _check(_lib.wl_detail_planes(ptr, len(data), ctypes.byref(v), ctypes.byref(info)), name)
    if info.modality == _AUDIO:
        raise Error(_ERR_MISMATCH, name, "read_detail reads an image's detail layer; an audio file's are per chunk")
    if not v:
        return None, 0
    shape = (info.channels << (2 * info.J), info.lat_h, info.lat_w)
    out = np.ctypeslib.as_array(v, (int(np.prod(shape)),)).reshape(shape).copy()
    _libc.free(v)
    return out, info.step


_MOST = {"size": 1e15, "bpp": 256, "psnr": 200}  # the CLI's limits of --size, --bpp, --psnr


def encode(image, model, keep=0, refine=0, quality=None, step=0, size=None, bpp=None, psnr=None, fast_read=False,
           dead_zone=0.0, tile_masks=0):
    """bytes of a .wlc of image: uint8 or uint16 (C, H, W), or (H, W) for one channel. Rate:
    keep and step (with dead_zone, 0..0.5 of a step, as --dead-zone), or quality (0..100), or
    one target: size (bytes, a whole number), bpp, psnr (dB), in the CLI's ranges; see man
    walloc, RATE CONTROL. tile_masks (0..64, not with a target): masks per 8x8 tile of latents
    at that level (--tile-masks). fast_read: latents coded for reading speed (walloc encode
    --fast-read): read_latents 2.4 times as fast, about 6% more latent bytes."""
    m = model if isinstance(model, Model) else Model(model)
    targets = {k: v for k, v in (("size", size), ("bpp", bpp), ("psnr", psnr)) if v is not None}
    if len(targets) + (quality is not None) + bool(keep or step) > 1:
        raise ValueError("give one rate control: keep/step, quality, size, bpp or psnr")
    for kind, value in targets.items():
        whole = kind != "size" or isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= _MOST[kind] or not whole:
            raise ValueError("%s: needs a %s above 0, at most %g, got %r"
                             % (kind, "whole number" if kind == "size" else "number", _MOST[kind], value))
    if not 0 <= dead_zone <= 0.5 or (dead_zone and not step):
        raise ValueError("dead_zone: 0 to 0.5 of a step, and only with step; got %r" % (dead_zone,))
    if isinstance(tile_masks, bool) or not isinstance(tile_masks, numbers.Integral) or not 0 <= tile_masks <= 64 or \
            (tile_masks and targets):
        raise ValueError("tile_masks: a whole number from 0 to 64, not with a target; got %r" % (tile_masks,))
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.dtype.kind != "u" or a.dtype.itemsize not in (1, 2):  # either byte order
        raise ValueError("image: uint8 or uint16, shape (C, H, W) or (H, W); got %s %s" % (a.dtype, a.shape))
    if not a.size:  # the library would call it outside its limits
        raise ValueError("empty image: shape %s (every size at least 1)" % (np.shape(image),))
    _check_fits(a.shape, m)
    planes = np.ascontiguousarray(a, np.float32)
    img = _Image(a.shape[0], a.shape[1], a.shape[2], 8 * a.itemsize, planes.ctypes.data_as(_f32p), None)
    out, n, opts = _u8p(), _size(), _Opts(keep, 0, refine, step, 0, float(dead_zone))
    if quality is not None:
        if isinstance(quality, bool) or not isinstance(quality, numbers.Integral) or not 0 <= quality <= 100:
            raise ValueError("quality: a whole number from 0 to 100, got %r" % (quality,))
        _check(_lib.wl_quality_opts_depth(m._h, 8 * a.itemsize, int(quality), ctypes.byref(opts)))
    opts.fastread = int(bool(fast_read))
    opts.masks = int(tile_masks)
    if targets:
        (kind, value), = targets.items()
        _check(_lib.wl_encode_target(m._h, ctypes.byref(img), _TARGETS[kind], float(value), ctypes.byref(opts),
                                     ctypes.byref(out), ctypes.byref(n)))
    else:
        _check(_lib.wl_encode(m._h, ctypes.byref(img), ctypes.byref(opts), ctypes.byref(out), ctypes.byref(n)))
    data = ctypes.string_at(out, n.value)
    _libc.free(out)
    return data


def _check_fits(shape, m):
    """Refuses an image of shape (C, H, W) that model m does not take, in the CLI's words, with
    the transpose that an (H, W, C) array (PIL's and OpenCV's layout) needs."""
    if m.dims == 1:
        raise Error(_ERR_MISMATCH, "", "model %s is an audio (1-D) model, not an image model" % m.name)
    if shape[0] != m.channels:
        hint = "; walloc takes (C, H, W): array.transpose(2, 0, 1)" if shape[2] == m.channels else ""
        raise Error(_ERR_MISMATCH, "", "image has %d channel(s) but model %s takes %d%s"
                    % (shape[0], m.name, m.channels, hint))


def decode(data, model=None):
    """The image of a .wlc (path or bytes): uint8 or uint16 (C, H, W), alpha last when present."""
    data, ptr, name = _source(data)
    info = _peek(data, name)
    if info.modality == _AUDIO:
        raise Error(_ERR_MISMATCH, name, "an audio file; decode takes images (walloc decode FILE -o OUT.wav "
                    "decodes audio; read_latents reads its latents)")
    m = _model(model, info, name)
    img = _Image()
    _check(_lib.wl_decode(m._h, ptr, len(data), ctypes.byref(img)), name)
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
    paths: a list of .wlc paths, or one path (str or os.PathLike): a .wlc file, or a directory
    whose .wlc files are taken as `walloc latents -r` takes them, so that ds[i] is row i of its
    stacked array (each folder's names in byte order, a subfolder's files at its name's place,
    names starting with "." skipped).
    It has __len__ and __getitem__, so torch.utils.data.DataLoader takes it as it is; the default
    collate stacks items, which needs one latent shape per batch: group files by image size (or
    crop, e.g. y[:, :h0, :w0]) before batching images of different sizes. Models are loaded once
    per id (model=None: the built-in one each file names). It pickles, model included."""

    def __init__(self, paths, model=None, dequantised=True):
        if isinstance(paths, (str, os.PathLike)):
            paths = _walk(paths, ".wlc") if os.path.isdir(paths) else [_existing(paths)]
        self.paths = [os.fspath(p) for p in paths]
        self.dequantised = dequantised
        self._model = model if model is None or isinstance(model, Model) else Model(model)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        q, mask, m = _read_latents(self.paths[i], self._model)
        return (dequantise(q[mask], m) if self.dequantised else q), mask


def _existing(path):
    """path, when there is something there; FileNotFoundError naming it otherwise."""
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), os.fspath(path))
    return path


def _walk(folder, ext):
    """The files under folder whose names end in ext (any case), in the order of the CLI's -r
    (cli/batch.c, walk): each folder's entries sorted by their bytes (strcmp), a subfolder's
    files in its place among them, names starting with "." (hidden files, temporary outputs)
    and dangling links skipped."""
    out = []
    for name in sorted((n for n in os.listdir(folder) if not n.startswith(".")), key=os.fsencode):
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            out += _walk(path, ext)
        elif os.path.exists(path) and name.lower().endswith(ext):
            out.append(path)
    return out


def compress_file(src, dst, model=None, **rate):
    """Encodes the .npy array at src (uint8/uint16, (C, H, W) or (H, W)) into the .wlc dst,
    written under a temporary name in dst's folder and renamed when complete, so dst is never
    half-written (a worker killed mid-write leaves only a hidden .*.tmp-* file). model: a Model,
    a built-in name or a .wlm path (None: the built-in one for the channel count, as the CLI
    chooses); rate: encode's keep, step, quality, size, bpp, psnr or fast_read. Returns a manifest record
    as the CLI's --manifest writes it: input, output, dir (the working folder), status, in_bytes, out_bytes, model_id. An
    existing dst is replaced (a retried task writes the same bytes), unlike walloc encode without -f."""
    try:
        a = np.load(src)
    except ValueError as e:  # numpy's words for a file that is no .npy: "pickled data"
        raise ValueError("%s: not a .npy array (compress_file takes .npy; walloc encode takes PNG too): %s"
                         % (os.fspath(src), e)) from None
    m = model if isinstance(model, Model) else Model(model if model is not None else _builtin_for(a, src))
    data = encode(a, m, **rate)
    folder, name = os.path.split(os.path.abspath(dst))
    tmp = os.path.join(folder, ".%s.tmp-%d" % (name, os.getpid()))
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:  # a failed write (a full disk) leaves no temporary file (the CLI's io_out_abort)
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return {"input": os.fspath(src), "output": os.fspath(dst), "dir": os.getcwd(), "status": "done",
            "in_bytes": os.path.getsize(src),
            "out_bytes": len(data), "model_id": "%016x" % m.id}


def _builtin_for(a, src):
    """The built-in model's name for array a (the CLI's without -m: gray for 1 channel, rgb for 3)."""
    channels = 1 if a.ndim == 2 else a.shape[0] if a.ndim == 3 else 0
    if channels not in (1, 3):
        raise ValueError("%s: shape %s and no built-in image model for it (gray takes (H, W) or (1, H, W), rgb "
                         "(3, H, W)): pass model=" % (os.fspath(src), a.shape))
    return "gray" if channels == 1 else "rgb"
