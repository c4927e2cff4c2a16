#!/usr/bin/python3
"""Interop client: drives a Cloister platform from a non-Node stack.

gRPC C-core (Debian python3-grpcio) for HTTP/2 + TLS, message classes built at run time from
the descriptor set compiled from our own .proto files, and the attestation check of
the attestation checks of docs/contract.md in the Teaclave Python SDK's order done with
pyOpenSSL + cryptography before any request is sent.

Usage: python_client.py --data-dir D [--auth HOST:PORT] [--frontend HOST:PORT] --descriptors F
Prints one JSON object with what it observed; exits non-zero on any failure.
"""
import argparse
import base64
import json
import socket
import ssl
import sys
import time
import tomllib

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from OpenSSL import crypto


class AttestationFailure(Exception):
    pass


def split(target):
    """`host:port` as (host, port)."""
    host, port = target.rsplit(":", 1)
    return host, int(port)


def fetch_leaf_certificate(host, port):
    """The peer's leaf certificate in DER, from a TLS handshake with no chain validation."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection((host, port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname=host) as tls:
            if tls.selected_alpn_protocol() != "h2":
                raise AttestationFailure("server did not select ALPN h2")
            return tls.getpeercert(binary_form=True)


def verify_attestation(der, root_ca_pem, enclave_info, section):
    """The Teaclave Python SDK's attestation checks, step by step."""
    cert = x509.load_der_x509_certificate(der)
    try:
        ext = json.loads(cert.extensions[0].value.value)
    except Exception as e:
        raise AttestationFailure("Failed to load extensions") from e
    try:
        report = bytes(ext["report"])
        signature = bytes(ext["signature"])
        certs = [crypto.load_certificate(crypto.FILETYPE_ASN1, bytes(c)) for c in ext["certs"]]
    except Exception as e:
        raise AttestationFailure("Failed to load signing certificate of the report") from e
    root = crypto.load_certificate(crypto.FILETYPE_PEM, root_ca_pem)
    store = crypto.X509Store()
    store.add_cert(root)
    for c in certs[1:]:
        store.add_cert(c)
    try:
        crypto.X509StoreContext(store, certs[0]).verify_certificate()
        certs[0].to_cryptography().public_key().verify(signature, report, padding.PKCS1v15(), hashes.SHA256())
    except Exception as e:
        raise AttestationFailure("Failed to verify report signature") from e
    report_json = json.loads(report)
    quote = base64.b64decode(report_json["isvEnclaveQuoteBody"])
    pub = cert.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if pub[0] != 4 or pub[1:] != quote[368:432]:
        raise AttestationFailure("Failed to verify the certificate against the report data in the quote")
    mr_enclave = quote[112:144].hex()
    mr_signer = quote[176:208].hex()
    if enclave_info[section]["mr_enclave"] != mr_enclave:
        raise AttestationFailure("Failed to verify mr_enclave")
    if enclave_info[section]["mr_signer"] != mr_signer:
        raise AttestationFailure("Failed to verify mr_signer")
    return {"mr_enclave": mr_enclave, "mr_signer": mr_signer, "status": report_json["isvEnclaveQuoteStatus"]}


class Messages:
    def __init__(self, descriptor_path):
        fds = descriptor_pb2.FileDescriptorSet()
        with open(descriptor_path, "rb") as f:
            fds.ParseFromString(f.read())
        self.pool = descriptor_pool.DescriptorPool()
        for fd in fds.file:
            self.pool.Add(fd)

    def __getitem__(self, full_name):
        desc = self.pool.FindMessageTypeByName(full_name)
        if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
            return message_factory.GetMessageClass(desc)
        return message_factory.MessageFactory(self.pool).GetPrototype(desc)


def attested_channel(target, der):
    """A C-core channel that only talks to the exact certificate we attested."""
    pem = ssl.DER_cert_to_PEM_cert(der).encode()
    creds = grpc.ssl_channel_credentials(root_certificates=pem)
    cn = x509.load_der_x509_certificate(der).subject.rfc4514_string().split("=", 1)[1]
    options = [("grpc.ssl_target_name_override", cn), ("grpc.max_receive_message_length", 16 << 20)]
    return grpc.secure_channel(target, creds, options=options)


def unary(channel, messages, path, request, response_type, metadata=()):
    call = channel.unary_unary(
        path, request_serializer=lambda m: m.SerializeToString(), response_deserializer=messages[response_type].FromString
    )
    return call(request, metadata=list(metadata), timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--auth", default="localhost:7776")
    ap.add_argument("--frontend", default="localhost:7777")
    ap.add_argument("--descriptors", required=True)
    ap.add_argument("--message", default="Hello from C-core")
    ap.add_argument("--wrong-enclave-info", action="store_true", help="expect the attestation check to fail")
    args = ap.parse_args()

    root_pem = open(f"{args.data_dir}/as_root_ca.pem", "rb").read()
    with open(f"{args.data_dir}/enclave_info.toml", "rb") as f:
        enclave_info = tomllib.load(f)
    if args.wrong_enclave_info:
        enclave_info["teaclave_authentication_service"]["mr_enclave"] = "00" * 32
    out = {}
    m = Messages(args.descriptors)

    auth_host, auth_port = args.auth.rsplit(":", 1)
    auth_der = fetch_leaf_certificate(auth_host, int(auth_port))
    try:
        out["auth_attestation"] = verify_attestation(auth_der, root_pem, enclave_info, "teaclave_authentication_service")
    except AttestationFailure as e:
        print(json.dumps({"attestation_error": str(e)}))
        return 3
    fe_host, fe_port = args.frontend.rsplit(":", 1)
    fe_der = fetch_leaf_certificate(fe_host, int(fe_port))
    out["frontend_attestation"] = verify_attestation(fe_der, root_pem, enclave_info, "teaclave_frontend_service")

    auth = attested_channel(args.auth, auth_der)
    fe = attested_channel(args.frontend, fe_der)
    AUTH = "/teaclave_authentication_service_proto.TeaclaveAuthenticationApi/"
    FE = "/teaclave_frontend_service_proto.TeaclaveFrontend/"

    # Errors: wrong password → UNAUTHENTICATED with the exact text.
    try:
        unary(auth, m, AUTH + "UserLogin", m["teaclave_authentication_service_proto.UserLoginRequest"](id="admin", password="nope"),
              "teaclave_authentication_service_proto.UserLoginResponse")
        out["bad_login"] = "accepted"
    except grpc.RpcError as e:
        out["bad_login"] = {"code": e.code().value[0], "details": e.details()}
    # Unknown method → UNIMPLEMENTED.
    try:
        unary(auth, m, "/teaclave_authentication_service_proto.TeaclaveAuthenticationApi/InvalidRequest",
              m["teaclave_authentication_service_proto.UserLoginRequest"](), "google.protobuf.Empty")
        out["unknown_method"] = "accepted"
    except grpc.RpcError as e:
        out["unknown_method"] = {"code": e.code().value[0]}

    login = unary(auth, m, AUTH + "UserLogin", m["teaclave_authentication_service_proto.UserLoginRequest"](id="admin", password="teaclave"),
                  "teaclave_authentication_service_proto.UserLoginResponse")
    md = (("id", "admin"), ("token", login.token))
    FA = m["teaclave_frontend_service_proto.FunctionArgument"]
    fn = unary(fe, m, FE + "RegisterFunction", m["teaclave_frontend_service_proto.RegisterFunctionRequest"](
        name="builtin-echo", description="Native Echo Function", executor_type="builtin", public=True,
        arguments=[FA(key="message", default_value="", allow_overwrite=True)], usage_quota=-1),
        "teaclave_frontend_service_proto.RegisterFunctionResponse", md)
    task = unary(fe, m, FE + "CreateTask", m["teaclave_frontend_service_proto.CreateTaskRequest"](
        function_id=fn.function_id, function_arguments=json.dumps({"message": args.message}), executor="builtin"),
        "teaclave_frontend_service_proto.CreateTaskResponse", md)
    unary(fe, m, FE + "InvokeTask", m["teaclave_frontend_service_proto.InvokeTaskRequest"](task_id=task.task_id),
          "google.protobuf.Empty", md)
    deadline = time.time() + 30
    while True:
        r = unary(fe, m, FE + "GetTask", m["teaclave_frontend_service_proto.GetTaskRequest"](task_id=task.task_id),
                  "teaclave_frontend_service_proto.GetTaskResponse", md)
        if r.status in (10, 20, 99) or time.time() > deadline:
            break
        time.sleep(0.05)
    out["task_status"] = r.status
    out["result_present"] = r.HasField("result")
    out["return_value"] = r.result.Ok.return_value.decode() if r.result.HasField("Ok") else None
    out["error"] = r.result.Err.reason if r.result.HasField("Err") else None
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
