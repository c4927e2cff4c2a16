#!/usr/bin/python3
"""External-client timing: one frontend call and builtin-echo InvokeTask -> Finished.

A client outside Node (gRPC C-core from Debian's python3-grpcio, messages from the descriptor set
compiled from our .proto files, the attestation checks of python_client.py) talks the Teaclave
wire only: UserLogin, RegisterFunction, CreateTask, InvokeTask, and GetTask polled until the task
is Finished, as Teaclave clients follow a task. Used by `npm run bench` (bench/src/external-client.ts);
not a test.

Usage: python_bench.py --data-dir D --auth HOST:PORT --frontend HOST:PORT --descriptors F
       [--calls N] [--tasks N] [--poll-interval-ms MS] [--get-task-wait-ms MS]
Prints one JSON object (milliseconds, nearest-rank percentiles); exits non-zero on any failure.
"""
import argparse
import json
import math
import sys
import time
import tomllib

from python_client import Messages, attested_channel, fetch_leaf_certificate, split, unary, verify_attestation

AUTH = "/teaclave_authentication_service_proto.TeaclaveAuthenticationApi/"
FE = "/teaclave_frontend_service_proto.TeaclaveFrontend/"
AUTH_PB = "teaclave_authentication_service_proto."
FE_PB = "teaclave_frontend_service_proto."
FINISHED, FAILED, CANCELED = 10, 20, 99


def percentile(values, p):
    ordered = sorted(values)
    i = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[i]


def summary(samples_ns):
    ms = [s / 1e6 for s in samples_ns]
    return {"p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "n": len(ms)}


def timed(fn):
    t = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--auth", required=True)
    ap.add_argument("--frontend", required=True)
    ap.add_argument("--descriptors", required=True)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--poll-interval-ms", type=float, default=0.0, help="sleep between GetTask polls (0: poll at once)")
    ap.add_argument("--get-task-wait-ms", type=int, default=None,
                    help="send Cloister's cloister-get-task-wait-ms metadata on GetTask (0: answer at once)")
    args = ap.parse_args()
    # Bounded: a bench run must end even if asked for too much.
    calls = max(10, min(args.calls, 5000))
    tasks = max(10, min(args.tasks, 2000))

    root_pem = open(f"{args.data_dir}/as_root_ca.pem", "rb").read()
    with open(f"{args.data_dir}/enclave_info.toml", "rb") as f:
        enclave_info = tomllib.load(f)
    m = Messages(args.descriptors)
    auth_der = fetch_leaf_certificate(*split(args.auth))
    verify_attestation(auth_der, root_pem, enclave_info, "teaclave_authentication_service")
    fe_der = fetch_leaf_certificate(*split(args.frontend))
    verify_attestation(fe_der, root_pem, enclave_info, "teaclave_frontend_service")
    auth = attested_channel(args.auth, auth_der)
    fe = attested_channel(args.frontend, fe_der)

    login = unary(auth, m, AUTH + "UserLogin", m[AUTH_PB + "UserLoginRequest"](id="admin", password="teaclave"),
                  AUTH_PB + "UserLoginResponse")
    md = (("id", "admin"), ("token", login.token))
    FA = m[FE_PB + "FunctionArgument"]
    fn = unary(fe, m, FE + "RegisterFunction", m[FE_PB + "RegisterFunctionRequest"](
        name="builtin-echo", description="Native Echo Function", executor_type="builtin", public=True,
        arguments=[FA(key="message", default_value="", allow_overwrite=True)], usage_quota=-1),
        FE_PB + "RegisterFunctionResponse", md)

    stats_req = m[FE_PB + "GetFunctionUsageStatsRequest"](function_id=fn.function_id)
    get_req = m[FE_PB + "GetFunctionRequest"](function_id=fn.function_id)

    def usage_stats():
        unary(fe, m, FE + "GetFunctionUsageStats", stats_req, FE_PB + "GetFunctionUsageStatsResponse", md)

    def get_function():
        unary(fe, m, FE + "GetFunction", get_req, FE_PB + "GetFunctionResponse", md)

    polls = []
    invokes = []
    get_tasks = []

    def one_task():
        """CreateTask (not timed), then InvokeTask -> a GetTask that answers Finished (timed)."""
        task = unary(fe, m, FE + "CreateTask", m[FE_PB + "CreateTaskRequest"](
            function_id=fn.function_id, function_arguments=json.dumps({"message": "bench"}), executor="builtin"),
            FE_PB + "CreateTaskResponse", md)
        get_task = m[FE_PB + "GetTaskRequest"](task_id=task.task_id)
        get_md = md if args.get_task_wait_ms is None else md + (("cloister-get-task-wait-ms", str(args.get_task_wait_ms)),)
        t = time.perf_counter_ns()
        unary(fe, m, FE + "InvokeTask", m[FE_PB + "InvokeTaskRequest"](task_id=task.task_id),
              "google.protobuf.Empty", md)
        invokes.append(time.perf_counter_ns() - t)
        n = 0
        while True:
            p = time.perf_counter_ns()
            r = unary(fe, m, FE + "GetTask", get_task, FE_PB + "GetTaskResponse", get_md)
            get_tasks.append(time.perf_counter_ns() - p)
            n += 1
            if r.status == FINISHED:
                break
            if r.status in (FAILED, CANCELED):
                raise RuntimeError(f"task ended with status {r.status}")
            if time.perf_counter_ns() - t > 30e9:
                raise RuntimeError("task not Finished within 30 s")
            if args.poll_interval_ms > 0:
                time.sleep(args.poll_interval_ms / 1000)
        elapsed = time.perf_counter_ns() - t
        if r.result.Ok.return_value.decode() != "bench":
            raise RuntimeError("builtin-echo returned something else")
        polls.append(n)
        return elapsed

    for _ in range(max(5, calls // 10)):
        usage_stats()
        get_function()
    stats = [timed(usage_stats) for _ in range(calls)]
    gets = [timed(get_function) for _ in range(calls)]
    for _ in range(max(3, tasks // 10)):
        one_task()
    polls.clear()
    invokes.clear()
    get_tasks.clear()
    task_samples = [one_task() for _ in range(tasks)]

    print(json.dumps({
        "get_function_usage_stats": summary(stats),
        "get_function": summary(gets),
        "invoke_to_finished": summary(task_samples),
        "invoke_task": summary(invokes),
        "get_task": summary(get_tasks),
        "get_task_polls_per_task": sum(polls) / len(polls),
        "poll_interval_ms": args.poll_interval_ms,
        "get_task_wait_ms": args.get_task_wait_ms,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
