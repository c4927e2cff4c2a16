# One task, in a child forked from the zygote: read the job from a pipe, limit the process, run
# the Teaclave payload, write the result frame to a memfd, exit. The Teaclave payload API:
# teaclave_open(name, "rb" | "wb") (a builtin) and module `teaclave`; for MesaPy payloads
# (dialect "mesapy") file data is a Python 2 str (Latin-1), Python 2 builtins, `_numpypy`
# mapped onto numpy, and `marshal` that accepts such strs.
import builtins
import functools
import io
import json
import os
import resource
import struct
import sys
import traceback
import types

MAX_RESULT = 20480
MAX_OPENS = 1023
MAX_REASON = 1024
NOT_SUPPORTED = "Teaclave Not Supported"
OPEN_FAILED = "fileio_init: teaclave_ffi_error"
TOO_LONG = "MESAPY_ERROR_BUFFER_TOO_SHORT"
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4

_numpypy = None
_marshal_py2 = None


def prepare(options):
    """In the zygote, once: build what every child shares (never task data)."""
    global _numpypy, _marshal_py2
    try:
        import numpy
    except ImportError:
        numpy = None
    if numpy is not None:
        _numpypy = make_numpypy(numpy)
    _marshal_py2 = make_marshal()


# ----- MesaPy compatibility -----------------------------------------------------------------

def make_numpypy(numpy):
    """`_numpypy` (MesaPy's micronumpy) as views onto numpy: `multiarray` and `umath`."""

    def item_text(x):
        if isinstance(x, (bool, numpy.bool_)):
            return "True" if x else "False"
        if isinstance(x, (float, numpy.floating)):
            return repr(float(x))
        if isinstance(x, (int, numpy.integer)):
            return str(int(x))
        return repr(x.item() if hasattr(x, "item") else x)

    class MesaArray(numpy.ndarray):
        # micronumpy prints an array flat, in one pair of brackets, items in their repr.
        def __str__(self):
            if self.ndim == 0:
                return item_text(self[()])
            return "[" + " ".join(item_text(x) for x in self.flat) + "]"

    def wrap(value):
        if isinstance(value, numpy.ndarray) and not isinstance(value, MesaArray):
            return value.view(MesaArray)
        return value

    def wrapped(fn):
        @functools.wraps(fn)
        def call(*a, **k):
            return wrap(fn(*a, **k))

        return call

    def module(name, source):
        m = types.ModuleType(name)

        def getattr_(attr):
            value = getattr(source, attr)
            if isinstance(value, numpy.ufunc) or isinstance(value, type) or not callable(value):
                return value
            return wrapped(value)

        m.__getattr__ = getattr_
        return m

    root = module("_numpypy", numpy)
    root.multiarray = module("_numpypy.multiarray", numpy)
    root.umath = module("_numpypy.umath", numpy)
    root.ndarray = MesaArray
    return root


def make_marshal():
    import marshal

    m = types.ModuleType("marshal")
    m.version = marshal.version

    def loads(data, *a):
        # A Python 2 str read from a file is bytes to MesaPy.
        if isinstance(data, str):
            data = data.encode("latin-1")
        return marshal.loads(data, *a)

    def dumps(value, *a):
        return marshal.dumps(value, *a)

    def load(f, *a):
        return loads(f.read(), *a)

    def dump(value, f, *a):
        f.write(dumps(value, *a))

    m.loads, m.dumps, m.load, m.dump = loads, dumps, load, dump
    return m


def py2_text(x):
    if isinstance(x, bytes):
        return x.decode("latin-1")
    if isinstance(x, list):
        return [py2_text(i) for i in x]
    return x


def py2_bytes(text):
    # Latin-1 gives back exactly the bytes that were read; text beyond it is written as UTF-8.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


class InputFile(io.BytesIO):
    def __init__(self, data, py2):
        io.BytesIO.__init__(self, data)
        self._py2 = py2

    def _t(self, x):
        return py2_text(x) if self._py2 else x

    def read(self, *a):
        return self._t(io.BytesIO.read(self, *a))

    def read1(self, *a):
        return self._t(io.BytesIO.read1(self, *a))

    def readline(self, *a):
        return self._t(io.BytesIO.readline(self, *a))

    def readlines(self, *a):
        return self._t(io.BytesIO.readlines(self, *a))

    def __next__(self):
        return self._t(io.BytesIO.__next__(self))

    def writable(self):
        return False

    def write(self, data):
        raise io.UnsupportedOperation("not writable")


class OutputFile(io.BytesIO):
    def __init__(self, py2):
        io.BytesIO.__init__(self)
        self._py2 = py2
        self.final = None

    def readable(self):
        return False

    def read(self, *a):
        raise io.UnsupportedOperation("not readable")

    def write(self, data):
        if self._py2 and isinstance(data, str):
            data = py2_bytes(data)
        return io.BytesIO.write(self, data)

    def contents(self):
        return self.final if self.final is not None else io.BytesIO.getvalue(self)

    def close(self):
        if not self.closed:
            self.final = io.BytesIO.getvalue(self)
        io.BytesIO.close(self)


def to_result(value):
    if value is None:
        return ""
    if isinstance(value, str):
        data, text = value.encode("utf-8"), value
    elif isinstance(value, bytes):
        text, data = bytes(value).decode("ascii"), bytes(value)
    else:
        raise TypeError("entrypoint returned %s, expected a string" % type(value).__name__)
    if len(data) > MAX_RESULT:
        raise ResultTooLong()
    return text


class ResultTooLong(Exception):
    pass


def describe(e):
    text = "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()
    line = text[-1] if text else type(e).__name__
    return line if len(line) <= MAX_REASON else line[:MAX_REASON] + "..."


# ----- the child ----------------------------------------------------------------------------

def read_job(fd):
    head = b""
    while len(head) < 4:
        chunk = os.read(fd, 4 - len(head))
        if not chunk:
            raise EOFError()
        head += chunk
    (length,) = struct.unpack(">I", head)
    parts, left = [], length
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError()
        parts.append(chunk)
        left -= len(chunk)
    body = b"".join(parts)
    (head_length,) = struct.unpack(">I", body[:4])
    header = json.loads(body[4:4 + head_length].decode("utf-8"))
    blobs, at = {}, 4 + head_length
    for name, size in header.pop("$blobs"):
        blobs[name] = body[at:at + size]
        at += size
    return header, blobs


def write_result(fd, header, blobs):
    header = dict(header)
    header["$blobs"] = [[n, len(d)] for n, d in blobs]
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    body = 4 + len(head) + sum(len(d) for _, d in blobs)
    os.write(fd, struct.pack(">II", body, len(head)) + head)
    for _, d in blobs:
        view = memoryview(d)
        while view:
            view = view[os.write(fd, view):]


def vm_size():
    """This process's address space, or None where /proc is absent (the sandbox has none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def limit(limits):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    # Nobody else (another task's process) may read this one's memory through /proc or ptrace,
    # and the task dies with the zygote.
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    memory = int(limits.get("memoryBytes") or 0)
    base = vm_size()
    # Without /proc the sandbox's own RLIMIT_AS (task memory + the interpreter's reserve) stays.
    if memory and base is not None:
        # Never above what the sandbox allows (lowering a hard limit is always permitted).
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = base + memory
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    # Bounds the result memfd (shared memory, not mapped, so outside RLIMIT_AS) and /tmp files.
    result = int(limits.get("resultBytes") or 0)
    if result:
        resource.setrlimit(resource.RLIMIT_FSIZE, (result, result))
    cpu = int(limits.get("cpuSeconds") or 0)
    if cpu:
        # CPU time the process already used (none: it was just forked) plus the task's budget,
        # never above the sandbox's own hard limit.
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = cpu if hard == resource.RLIM_INFINITY else min(cpu, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard if hard != resource.RLIM_INFINITY else soft + 1))


def child(job_fd, result_fd):
    header, blobs = read_job(job_fd)
    os.close(job_fd)
    job = header.get("data") or {}
    try:
        limit(job.get("limits") or {})
    except BaseException as e:  # noqa: BLE001
        sys.stderr.write("cloister: cannot limit the task process: %s\n" % describe(e))
        raise
    os.chdir("/tmp")
    # Each line reaches the sandbox's output pipe when it is written, so the host relays it to the
    # task log while the task runs (a pipe is block-buffered by default).
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    reply, out_blobs = run(job, blobs)
    sys.stdout.flush()
    sys.stderr.flush()
    write_result(result_fd, {"t": "result", "data": reply}, out_blobs)
    os._exit(0)


def run(job, blobs):
    py2 = job.get("dialect") == "mesapy"
    source = blobs.get("payload", b"")
    inputs = {}
    for k, name in enumerate(job.get("inputs", [])):
        inputs[name] = blobs.get("i%d" % k)  # None: the input could not be opened
    output_names = set(job.get("outputs", []))
    outputs = {}
    opened = [0]

    def teaclave_open(file_id, mode="rb"):
        if mode not in ("rb", "wb"):
            raise RuntimeError(NOT_SUPPORTED)
        if opened[0] >= MAX_OPENS:
            raise RuntimeError(OPEN_FAILED)
        if mode == "rb":
            data = inputs.get(file_id) if isinstance(file_id, str) else None
            if data is None:
                raise RuntimeError(OPEN_FAILED)
            opened[0] += 1
            return InputFile(data, py2)
        if not isinstance(file_id, str) or file_id not in output_names:
            raise RuntimeError(OPEN_FAILED)
        opened[0] += 1
        out = OutputFile(py2)
        outputs[file_id] = out  # re-creating an output truncates it
        return out

    teaclave = types.ModuleType("teaclave")
    teaclave.open = teaclave_open
    sys.modules["teaclave"] = teaclave
    builtins.teaclave_open = teaclave_open
    if py2:
        if _numpypy is not None:
            sys.modules["_numpypy"] = _numpypy
            sys.modules["_numpypy.multiarray"] = _numpypy.multiarray
            sys.modules["_numpypy.umath"] = _numpypy.umath
        sys.modules["marshal"] = _marshal_py2
    sys.argv = [""]
    scope = {"__name__": "__main__", "__builtins__": builtins}
    if py2:
        scope.update(xrange=range, unicode=str, long=int, basestring=(str, bytes), unichr=chr,
                     reduce=functools.reduce, intern=sys.intern)
    reply = {}
    try:
        # Legacy payloads arrive NUL-terminated.
        code = compile(source.rstrip(b"\0"), "<payload>", "exec")
        exec(code, scope)
        entrypoint = scope.get("entrypoint")
        if not callable(entrypoint):
            raise NameError("the payload does not define entrypoint(argv)")
        reply["value"] = to_result(entrypoint(list(job.get("argv", []))))
    except ResultTooLong:
        reply["tooLong"] = True
    except MemoryError:
        reply["memory"] = True
    except BaseException as e:  # noqa: BLE001  (SystemExit and KeyboardInterrupt too)
        try:
            reply["error"] = describe(e)
        except BaseException:  # noqa: BLE001
            reply["error"] = type(e).__name__
    written, out_blobs = [], []
    for name, out in outputs.items():
        try:
            data = out.contents()
        except BaseException:  # noqa: BLE001
            continue
        out_blobs.append(["o%d" % len(written), bytes(data)])
        written.append(name)
    reply["outputs"] = written
    return reply, out_blobs
