#!/usr/bin/python3
"""Interop: a two-party builtin-ordered-set-intersect flow driven from gRPC C-core.

Same stack and attestation checks as python_client.py (imported from beside this file): the
function owner registers the function, two data owners each register their teaclave-file-128
input (cmac read from the protected-file metadata, offset 80) and an output with a key of their
own, the first creates the task, both assign and approve, the first invokes, and the script
reports what the platform returned. It does not decrypt the outputs (the caller does, with the
keys printed here).

Usage: python_multiparty.py --data-dir D --auth HOST:PORT --frontend HOST:PORT --descriptors F
                            --fixtures DIR --work-dir DIR [--suffix S]
Prints one JSON object; exits non-zero on any failure.
"""
import argparse
import json
import os
import shutil
import sys
import time
import tomllib

import grpc

from python_client import Messages, attested_channel, fetch_leaf_certificate, split, unary, verify_attestation

AUTH = "/teaclave_authentication_service_proto.TeaclaveAuthenticationApi/"
FE = "/teaclave_frontend_service_proto.TeaclaveFrontend/"
AP = "teaclave_authentication_service_proto."
FP = "teaclave_frontend_service_proto."
ENDED = (10, 20, 99)


def claimed_cmac(path):
    """The root MAC a teaclave-file-128 file carries in its metadata node (bytes 80..95)."""
    with open(path, "rb") as f:
        f.seek(80)
        tag = f.read(16)
    if len(tag) != 16:
        raise ValueError(f"{path} is not a protected file")
    return tag


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--auth", required=True)
    ap.add_argument("--frontend", required=True)
    ap.add_argument("--descriptors", required=True)
    ap.add_argument("--fixtures", required=True, help="directory holding psi0.txt.enc and psi1.txt.enc")
    ap.add_argument("--work-dir", required=True, help="the platform's file exchange: each party's files go in <it>/<user id>/")
    ap.add_argument("--suffix", default=str(os.getpid()))
    args = ap.parse_args()

    root_pem = open(f"{args.data_dir}/as_root_ca.pem", "rb").read()
    with open(f"{args.data_dir}/enclave_info.toml", "rb") as f:
        enclave_info = tomllib.load(f)
    m = Messages(args.descriptors)
    out = {}

    auth_der = fetch_leaf_certificate(*split(args.auth))
    fe_der = fetch_leaf_certificate(*split(args.frontend))
    out["auth_attestation"] = verify_attestation(auth_der, root_pem, enclave_info, "teaclave_authentication_service")["status"]
    out["frontend_attestation"] = verify_attestation(fe_der, root_pem, enclave_info, "teaclave_frontend_service")["status"]
    auth = attested_channel(args.auth, auth_der)
    fe = attested_channel(args.frontend, fe_der)

    def login(uid, password):
        r = unary(auth, m, AUTH + "UserLogin", m[AP + "UserLoginRequest"](id=uid, password=password), AP + "UserLoginResponse")
        return (("id", uid), ("token", r.token))

    def call(md, method, response, **fields):
        return unary(fe, m, FE + method, m[FP + method + "Request"](**fields), response, md)

    admin = login("admin", "teaclave")
    s = args.suffix
    fo, alice, bob = f"py_fo_{s}", f"py_alice_{s}", f"py_bob_{s}"
    for uid, role, attr in ((fo, "FunctionOwner", ""), (alice, "DataOwner", "py"), (bob, "DataOwner", "py")):
        unary(auth, m, AUTH + "UserRegister", m[AP + "UserRegisterRequest"](id=uid, password="pw", role=role, attribute=attr),
              "google.protobuf.Empty", admin)
    md = {u: login(u, "pw") for u in (fo, alice, bob)}

    FI, FA = m[FP + "FunctionInput"], m[FP + "FunctionArgument"]
    fn = call(md[fo], "RegisterFunction", FP + "RegisterFunctionResponse",
              name="builtin-ordered-set-intersect", description="Native Private Set Intersection", executor_type="builtin",
              public=True, usage_quota=-1, arguments=[FA(key="order", default_value="", allow_overwrite=True)],
              inputs=[FI(name="input_data1"), FI(name="input_data2")],
              outputs=[m[FP + "FunctionOutput"](name="output_result1"), m[FP + "FunctionOutput"](name="output_result2")]).function_id

    Crypto = m["teaclave_common_proto.FileCryptoInfo"]
    parties = {}
    for uid, source in ((alice, "psi0.txt.enc"), (bob, "psi1.txt.enc")):
        home = os.path.join(args.work_dir, uid)
        os.makedirs(home, exist_ok=True)
        path = shutil.copy(os.path.join(args.fixtures, source), os.path.join(home, source))
        key = os.urandom(16)
        out_path = os.path.join(home, "psi-result.enc")
        inp = call(md[uid], "RegisterInputFile", FP + "RegisterInputFileResponse", url=f"file://{path}", cmac=claimed_cmac(path),
                   crypto_info=Crypto(schema="teaclave-file-128", key=bytes(16))).data_id
        outp = call(md[uid], "RegisterOutputFile", FP + "RegisterOutputFileResponse", url=f"file://{out_path}",
                    crypto_info=Crypto(schema="teaclave-file-128", key=key)).data_id
        parties[uid] = {"input": inp, "output": outp, "path": out_path, "key": key.hex()}

    OL, DM = m[FP + "OwnerList"], m[FP + "DataMap"]
    task_id = call(md[alice], "CreateTask", FP + "CreateTaskResponse", function_id=fn, executor="builtin",
                   function_arguments=json.dumps({"order": "ascending"}),
                   inputs_ownership=[OL(data_name="input_data1", uids=[alice]), OL(data_name="input_data2", uids=[bob])],
                   outputs_ownership=[OL(data_name="output_result1", uids=[alice]), OL(data_name="output_result2", uids=[bob])]).task_id
    for uid, n in ((alice, "1"), (bob, "2")):
        call(md[uid], "AssignData", "google.protobuf.Empty", task_id=task_id,
             inputs=[DM(data_name=f"input_data{n}", data_id=parties[uid]["input"])],
             outputs=[DM(data_name=f"output_result{n}", data_id=parties[uid]["output"])])
    # The non-creator may not invoke; a refusal must carry the exact status.
    for uid in (alice, bob):
        call(md[uid], "ApproveTask", "google.protobuf.Empty", task_id=task_id)
    try:
        call(md[bob], "InvokeTask", "google.protobuf.Empty", task_id=task_id)
        out["bob_invoke"] = "accepted"
    except grpc.RpcError as e:
        out["bob_invoke"] = {"code": e.code().value[0], "details": e.details()}
    call(md[alice], "InvokeTask", "google.protobuf.Empty", task_id=task_id)

    deadline = time.time() + 60
    while True:
        r = call(md[bob], "GetTask", FP + "GetTaskResponse", task_id=task_id)
        if r.status in ENDED or time.time() > deadline:
            break
        time.sleep(0.05)
    out["task_status"] = r.status
    out["participants"] = list(r.participants)
    out["approved_users"] = sorted(r.approved_users)
    out["return_value"] = r.result.Ok.return_value.decode() if r.result.HasField("Ok") else None
    out["error"] = r.result.Err.reason if r.result.HasField("Err") else None
    out["tags"] = {k: bytes(v).hex() for k, v in r.result.Ok.tags_map.items()}

    for uid in (alice, bob):
        got = call(md[uid], "GetOutputFile", FP + "GetOutputFileResponse", data_id=parties[uid]["output"])
        parties[uid]["owner"] = list(got.owner)
        parties[uid]["cmac"] = got.cmac.hex()
        parties[uid]["file_cmac"] = claimed_cmac(parties[uid]["path"]).hex()
    try:
        call(md[bob], "GetOutputFile", FP + "GetOutputFileResponse", data_id=parties[alice]["output"])
        out["bob_reads_alice_output"] = "accepted"
    except grpc.RpcError as e:
        out["bob_reads_alice_output"] = {"code": e.code().value[0], "details": e.details()}
    out["users"] = {"alice": alice, "bob": bob}
    out["parties"] = {"alice": parties[alice], "bob": parties[bob]}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
