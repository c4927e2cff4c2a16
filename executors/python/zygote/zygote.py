# The CPython zygote of the Python executor. It runs inside the bubblewrap sandbox (read-only
# root with /usr, no network, no host files, empty environment), imports numpy once, and forks one
# child per task. It never runs task code and never holds task data:
#
#   - the job frame travels from the host socket (fd 3) to the child through a pipe with splice(2),
#     and the child's result frame travels back from a memfd with sendfile(2): only the 4-byte
#     length prefixes pass through this process's memory, so a later child, which inherits this
#     process's memory, cannot find an earlier task's data in it;
#   - a child is forked only once the previous one and everything it started are dead (kill -1),
#     and it never gets fd 3;
#   - after each task the zygote checks what a task could leave behind outside its own process
#     (files in /tmp, System V IPC objects) and, if anything is there, asks the host to replace
#     the whole sandbox instead of serving another task.
#
# Frame format (as in @cloister/sandbox): u32be bodyLength | u32be headerLength | JSON | blobs.
import json
import os
import signal
import struct
import sys

CHANNEL = 3
DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def read_exact(fd, n):
    parts = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            raise EOFError()
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def encode_frame(header, blobs=()):
    header = dict(header)
    header["$blobs"] = [[name, len(data)] for name, data in blobs]
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    body_length = 4 + len(head) + sum(len(d) for _, d in blobs)
    return b"".join([struct.pack(">II", body_length, len(head)), head] + [d for _, d in blobs])


def decode_body(body):
    (head_length,) = struct.unpack(">I", body[:4])
    header = json.loads(body[4:4 + head_length].decode("utf-8"))
    blobs = {}
    at = 4 + head_length
    for name, size in header.pop("$blobs"):
        blobs[name] = body[at:at + size]
        at += size
    return header, blobs


def send(header):
    data = encode_frame(header)
    while data:
        data = data[os.write(CHANNEL, data):]


def splice_exact(src, dst, n):
    while n:
        moved = os.splice(src, dst, min(n, 1 << 20))
        if moved == 0:
            raise EOFError()
        n -= moved


def sendfile_exact(src, n):
    at = 0
    while at < n:
        sent = os.sendfile(CHANNEL, src, at, n - at)
        if sent == 0:
            raise EOFError()
        at += sent


# What /tmp holds before any task: mount points of read-only binds whose host paths lie under
# /tmp (e.g. a checkout in /tmp), which no task can remove and which are not task state.
BASELINE_TMP = None


def leftovers():
    """What a finished task left outside its process, that a later task could see."""
    found = []
    try:
        if set(os.listdir("/tmp")) - (BASELINE_TMP or set()):
            found.append("files in /tmp")
    except OSError:
        found.append("/tmp unreadable")
    # The sandbox has its own IPC namespace and no /proc: ask the kernel how many System V
    # objects exist in it (SHM_INFO used_ids, SEM_INFO semusz, MSG_INFO msgpool).
    try:
        for kind, count in ipc_counts().items():
            if count:
                found.append("System V " + kind)
    except Exception:  # noqa: BLE001
        found.append("System V IPC unknown")
    return found


def ipc_counts():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    info = (ctypes.c_long * 16)()
    counts = {}
    if libc.shmctl(0, 14, ctypes.byref(info)) < 0:  # SHM_INFO: struct shm_info, int used_ids first
        raise OSError(ctypes.get_errno(), "shmctl")
    counts["shm"] = ctypes.cast(info, ctypes.POINTER(ctypes.c_int))[0]
    seminfo = (ctypes.c_int * 10)()
    if libc.semctl(0, 0, 19, ctypes.byref(seminfo)) < 0:  # SEM_INFO: semusz is the 8th int
        raise OSError(ctypes.get_errno(), "semctl")
    counts["sem"] = seminfo[7]
    msginfo = (ctypes.c_int * 8)()
    if libc.msgctl(0, 12, ctypes.byref(msginfo)) < 0:  # MSG_INFO: msgpool is the 1st int
        raise OSError(ctypes.get_errno(), "msgctl")
    counts["msg"] = msginfo[0]
    return counts


def kill_stragglers():
    # Every process this uid can signal in the sandbox's PID namespace, except this one and the
    # namespace's init (bubblewrap): whatever the task left running (double forks included).
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break


def main():
    global BASELINE_TMP
    try:
        BASELINE_TMP = set(os.listdir("/tmp"))
    except OSError:
        BASELINE_TMP = set()
    # The host's init frame carries the options (what to preload).
    (length,) = struct.unpack(">I", read_exact(CHANNEL, 4))
    init, _ = decode_body(read_exact(CHANNEL, length))
    options = init.get("options") or {}
    for key in list(os.environ):
        del os.environ[key]
    # One BLAS thread: a forked child inherits no threads, and thread pools do not survive fork.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    # site is not imported (-S): no .pth files run; Debian's packages are added by hand.
    sys.path.append(DIST_PACKAGES)
    try:
        import ctypes  # noqa: F401  (the child uses it for prctl)
        import task  # the per-task side, beside this file

        for name in options.get("preload", []):
            __import__(name)
        task.prepare(options)
    except BaseException as e:  # noqa: BLE001
        send({"t": "init-error", "message": "%s: %s" % (type(e).__name__, e)})
        return
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        del os.environ[var]
    # Everything loaded so far is permanent: keep the cycle collector off those objects, so a
    # child's collections do not touch (and copy) the pages it shares with this process.
    import gc

    gc.collect()
    gc.freeze()
    send({"t": "ready"})

    # The next task's child is forked ahead of its job (off the task's critical path); it waits
    # on its own pipe and is the only process besides this one.
    child = prefork(task)
    while True:
        head = read_exact(CHANNEL, 4)
        (body_length,) = struct.unpack(">I", head)
        pid, job_w, result_fd = child
        status = {"t": "result"}
        try:
            os.write(job_w, head)
            splice_exact(CHANNEL, job_w, body_length)
        except BrokenPipeError:
            # The child died before reading its whole job; drain the rest so the stream stays framed.
            drain(body_length)
        finally:
            os.close(job_w)
        _, wait_status = os.waitpid(pid, 0)
        kill_stragglers()
        data = {}
        if os.WIFSIGNALED(wait_status):
            data["signal"] = os.WTERMSIG(wait_status)
        else:
            data["exit"] = os.WEXITSTATUS(wait_status)
        dirty = leftovers()
        if dirty:
            data["dirty"] = dirty
        size = os.fstat(result_fd).st_size
        valid = False
        if size >= 8 and data.get("exit") == 0:
            (child_length,) = struct.unpack(">I", os.pread(result_fd, 4, 0))
            valid = child_length + 4 == size
        blobs = [["child", size if valid else 0]]
        status["data"] = data
        status["$blobs"] = blobs
        head_json = json.dumps(status, separators=(",", ":")).encode("utf-8")
        body = 4 + len(head_json) + (size if valid else 0)
        prefix = struct.pack(">II", body, len(head_json)) + head_json
        while prefix:
            prefix = prefix[os.write(CHANNEL, prefix):]
        if valid:
            sendfile_exact(result_fd, size)
        os.close(result_fd)
        child = prefork(task)


def prefork(task):
    job_r, job_w = os.pipe()
    result_fd = os.memfd_create("result", 0)
    pid = os.fork()
    if pid == 0:
        os.close(CHANNEL)
        os.close(job_w)
        try:
            task.child(job_r, result_fd)
        finally:
            os._exit(70)
    os.close(job_r)
    return pid, job_w, result_fd


def drain(n):
    sink_r, sink_w = os.pipe()
    try:
        while n:
            moved = os.splice(CHANNEL, sink_w, min(n, 1 << 16))
            if moved == 0:
                raise EOFError()
            os.read(sink_r, moved)
            n -= moved
    finally:
        os.close(sink_r)
        os.close(sink_w)


if __name__ == "__main__":
    try:
        main()
    except EOFError:
        pass
