// Python side of the executor, run once per sandbox when pyodide has loaded. It builds the
// Teaclave payload API (teaclave_open, module `teaclave`), cuts the routes from Python back into
// JavaScript that pyodide provides, and returns the function that runs one payload.
//
// Data crosses between JavaScript and Python only as files in pyodide's in-memory filesystem and
// as plain strings, so no JavaScript object is ever handed to Python code.

export const SHIM_SOURCE = String.raw`
def _cloister_setup():
    import builtins, functools, io, json, os, sys, types

    # Names whose import would hand Python code a JavaScript object (and so the JS Function
    # constructor), or that pretend to offer networking. The sandbox is the real boundary;
    # this only removes the obvious doors.
    blocked = frozenset(["js", "pyodide_js", "pyodide", "_pyodide", "_pyodide_core", "micropip",
                         "_socket", "socket", "gc", "ctypes", "_ctypes"])

    class BlockedImports:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name.partition(".")[0] in blocked:
                raise ImportError("module %r is not available" % name)
            return None

        @staticmethod
        def invalidate_caches():
            pass

    for name in list(sys.modules):
        if name.partition(".")[0] in blocked:
            del sys.modules[name]
    sys.meta_path.insert(0, BlockedImports)
    os.environ.clear()
    os.environ["HOME"] = "/home/pyodide"
    sys.argv = [""]

    MAX_RESULT = 20480
    MAX_OPENS = 1023
    OUTPUT_FLAG = 0x40000000
    NOT_SUPPORTED = "Teaclave Not Supported"
    OPEN_FAILED = "fileio_init: teaclave_ffi_error"
    EXEC_ERROR = "MESAPY_EXEC_ERROR"
    TOO_LONG = "MESAPY_ERROR_BUFFER_TOO_SHORT"
    real_open, unlink, dumps, loads = io.open, os.unlink, json.dumps, json.loads

    # MesaPy payloads see Python 2 semantics for file data: a Python 2 str is a byte string, so
    # "rb" data reaches them as a Latin-1-decoded str — one character per byte, with every text
    # method, indexing to one-character strings, ord(), re and csv working as in Python 2.
    def py2_text(x):
        if isinstance(x, bytes):
            return x.decode("latin-1")
        if isinstance(x, list):
            return [py2_text(i) for i in x]
        return x

    def py2_bytes(text):
        # Latin-1 gives back exactly the bytes that were read; text beyond it (a Python 3 view
        # of a Python 2 unicode literal) is written as UTF-8.
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
            data = value.encode("utf-8")
            text = value
        elif isinstance(value, bytes):
            text = bytes(value).decode("ascii")
            data = bytes(value)
        else:
            raise TypeError("entrypoint must return a string or None")
        return TOO_LONG if len(data) > MAX_RESULT else text

    def run(job_json):
        job = loads(job_json)
        py2 = job["dialect"] == "mesapy"
        with real_open(job["payload"], "rb") as f:
            source = f.read()
        unlink(job["payload"])
        inputs = {}
        for name, path in job["inputs"]:
            if path is None:
                inputs[name] = None  # could not be opened (integrity check failed)
                continue
            with real_open(path, "rb") as f:
                inputs[name] = f.read()
            unlink(path)
        output_names = set(job["outputs"])
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
        scope = {"__name__": "__main__", "__builtins__": builtins}
        if py2:
            scope.update(xrange=range, unicode=str, long=int, basestring=(str, bytes), unichr=chr,
                         reduce=functools.reduce, intern=sys.intern)
        try:
            # Legacy payloads arrive NUL-terminated.
            code = compile(source.rstrip(b"\0"), "<payload>", "exec")
            exec(code, scope)
            value = to_result(scope["entrypoint"](list(job["argv"])))
        except BaseException:
            value = EXEC_ERROR
        written = []
        for name, out in outputs.items():
            try:
                data = out.contents()
            except BaseException:
                continue
            path = job["outputDir"] + "/" + str(len(written))
            with real_open(path, "wb") as f:
                f.write(data)
            written.append([name, path])
        return dumps({"value": value, "outputs": written})

    return run

_cloister_run = _cloister_setup()
del _cloister_setup
_cloister_run
`;
