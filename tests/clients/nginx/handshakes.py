#!/usr/bin/env python3
"""tests/clients/nginx/handshakes.py — TLS handshakes against the nginx of nginx.sh.

    handshakes.py COUNT CONCURRENCY RSA_PORT RSA_CERT EC_PORT EC_CERT

Makes COUNT full TLS handshakes on 127.0.0.1, job i going to the RSA server when i is
even and to the EC server when odd, TLS 1.2 for jobs 0,1 mod 4 and TLS 1.3 for 2,3, so
every four consecutive jobs cover each key with each version. Each connection is new (no
session is offered, so the server signs with its token key every time), verifies the
server's certificate against the one expected for that port, and sends one HTTP request
whose answer must be the server's "ok". A failure is counted, never retried: the bug
under test drops a handshake once per freshly forked worker. Prints one line
"handshakes N good G failed F" and the first failures; exits 0 only if F is 0.
"""

import socket
import ssl
import sys
from concurrent.futures import ThreadPoolExecutor

TIMEOUT_S = 10
VERSIONS = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)


def context(cert, version):
    # Self-signed certificates whose CN is not the address: trust exactly that cert,
    # skip the host name check.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=cert)
    ctx.minimum_version = version
    ctx.maximum_version = version
    return ctx


def one(job):
    i, port, ctx, version, name = job
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as raw:
            with ctx.wrap_socket(raw) as tls:
                got = tls.version()
                if got != version.name.replace("_", "."):
                    return f"#{i} {name} {version.name}: negotiated {got}"
                tls.sendall(b"GET / HTTP/1.0\r\nHost: kmsbridge-test\r\n\r\n")
                reply = b""
                while chunk := tls.recv(4096):
                    reply += chunk
        if not reply.startswith(b"HTTP/1.1 200") or not reply.endswith(b"ok\n"):
            return f"#{i} {name} {version.name}: unexpected reply {reply[:80]!r}"
        return None
    except (OSError, ssl.SSLError) as e:  # ssl.SSLError is an OSError; named for the reader
        return f"#{i} {name} {version.name}: {type(e).__name__}: {e}"


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    count, conc = int(sys.argv[1]), int(sys.argv[2])
    servers = [("rsa", int(sys.argv[3]), sys.argv[4]), ("ec", int(sys.argv[5]), sys.argv[6])]
    ctxs = {(n, v): context(cert, v) for n, _, cert in servers for v in VERSIONS}
    jobs = []
    for i in range(count):
        name, port, _ = servers[i % 2]
        version = VERSIONS[(i // 2) % 2]
        jobs.append((i, port, ctxs[(name, version)], version, name))
    with ThreadPoolExecutor(max_workers=conc) as pool:
        errors = [e for e in pool.map(one, jobs) if e is not None]
    print(f"handshakes {count} good {count - len(errors)} failed {len(errors)}")
    for e in errors[:10]:
        print("  failed:", e)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
