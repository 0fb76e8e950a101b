"""Run one client against our server where only a TURN relay can carry the media; report as JSON.

Meant to run inside ``shared/tools/netns-run`` (a private namespace whose veth ``rx0`` holds
127.0.0.2). It adds a second namespace for the client, joined to this one by one veth::

    server namespace (this process)                      client namespace (made here)
    rx0      127.0.0.2  server ICE host, coturn relay
    or-edge  127.0.0.3  HTTP, coturn listener  <-veth->  or-client 127.0.0.4
                                                         route: 127.0.0.3/32 only

The client has a route to 127.0.0.3 (the server's HTTP port and coturn's listener) and none to
127.0.0.2, so the server's host candidate is unreachable from it and only a relay candidate
(allocated on coturn, whose relay address is 127.0.0.2) can connect the two. Loopback-range
addresses cross the veth because both namespaces set ``route_localnet`` and shrink ``lo`` to
127.0.0.1/32 (otherwise the whole 127/8 is local). Nothing here has a route off the machine.

The launcher starts coturn (``--use-auth-secret`` with a fresh random secret, no TLS/DTLS),
checks the topology from the client's side (UDP to 127.0.0.2 must fail, HTTP must work), starts
``openreactor serve`` with ``--turn-url`` and ``--turn-secret-file``, runs ``CLIENT ARGS... URL``
in the client namespace, stops everything and prints ``@@LAUNCH <json>``: the client's
``@@RESULT`` JSON under ``client.result``, what coturn logged (usernames, allocations, permissions,
relayed byte counts) under ``turn``, and the tails of the logs.

    netns-run .venv/bin/python tests/interop/turn_relay_launcher.py -- CLIENT [ARGS...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from netns_launcher import free_port, http_status, tail

from support.waiting import wait_until  # (tests/ is on the path: netns_launcher put it there)

REPO = Path(__file__).resolve().parents[2]
MEDIA = "127.0.0.2"  # netns-run's veth: the server's ICE host address and coturn's relay address
EDGE = "127.0.0.3"  # what the client can reach: HTTP and coturn's listener
CLIENT = "127.0.0.4"
TURN_PORT = 3478
REALM = "openreactor.test"


def sh(script: str, netns: str | None = None) -> None:
    prefix = ["nsenter", f"--net={netns}"] if netns else []
    proc = subprocess.run([*prefix, "sh", "-euc", script], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"topology step failed: {script!r}: {proc.stderr.strip()}")


def loopback_only(netns: str | None = None) -> None:
    """Make only 127.0.0.1 local, and let 127/8 addresses travel over ordinary interfaces."""
    sh(
        "ip link set lo up; ip addr del 127.0.0.1/8 dev lo; ip addr add 127.0.0.1/32 dev lo; "
        "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet",
        netns,
    )


def client_namespace() -> tuple[subprocess.Popen[bytes], str]:
    """A namespace held by a process that exits when we do (its stdin is our pipe)."""
    holder = subprocess.Popen(["unshare", "--net", "--", "sh", "-c", "read _"], stdin=subprocess.PIPE)
    ours = os.readlink("/proc/self/ns/net")

    def moved() -> bool:
        if holder.poll() is not None:
            raise RuntimeError(f"the client namespace's holder exited (status {holder.returncode})")
        return os.readlink(f"/proc/{holder.pid}/ns/net") != ours

    wait_until(moved, interval=0.01, what="the client namespace")
    netns = f"/proc/{holder.pid}/ns/net"
    loopback_only()
    sh(
        f"ip link add or-edge type veth peer name or-client; ip link set or-client netns {holder.pid}; "
        f"ip addr add {EDGE}/32 dev or-edge; ip link set or-edge up; "
        f"ip route add {CLIENT}/32 dev or-edge src {EDGE}"
    )
    loopback_only(netns)
    sh(
        f"ip addr add {CLIENT}/32 dev or-client; ip link set or-client up; "
        f"ip route add {EDGE}/32 dev or-client src {CLIENT}",
        netns,
    )
    return holder, netns


def probe_topology(netns: str, url: str) -> dict[str, Any]:
    """From the client's side: the media address must be unreachable, HTTP reachable."""
    code = (
        "import json, socket, urllib.request\n"
        "out = {}\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"try:\n    s.sendto(b'x', ('{MEDIA}', 9)); out['udp_to_media'] = 'sent'\n"
        "except OSError as e:\n    out['udp_to_media'] = e.strerror\n"
        f"out['http_health'] = urllib.request.urlopen('{url}/health', timeout=5).status\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        ["nsenter", f"--net={netns}", sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def stun_binding_answered(host: str, port: int) -> bool:
    """Whether a STUN Binding request to host:port gets a reply (coturn is up)."""
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + secrets.token_bytes(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(request, (host, port))
            return s.recv(2048)[8:20] == request[8:20]
        except OSError:
            return False


def start_coturn(workdir: Path, secret: str, listen: str = EDGE) -> subprocess.Popen[bytes]:
    """coturn with the TURN REST API secret, listening on ``listen``, relaying from 127.0.0.2."""
    cmd = [
        "turnserver", "-n", f"--listening-ip={listen}", f"--listening-port={TURN_PORT}",
        f"--relay-ip={MEDIA}", "--min-port=49152", "--max-port=49252",
        "--use-auth-secret", f"--static-auth-secret={secret}", f"--realm={REALM}",
        "--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers",
        f"--log-file={workdir / 'turn.log'}", "--simple-log", "--verbose", "--no-stdout-log",
        f"--userdb={workdir / 'turndb'}", f"--pidfile={workdir / 'turn.pid'}",
    ]  # fmt: skip
    turn = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answering() -> bool:
        if turn.poll() is not None:
            raise RuntimeError(f"coturn exited (status {turn.returncode})")
        return stun_binding_answered(listen, TURN_PORT)

    wait_until(answering, interval=0.01, what="coturn to answer STUN")
    return turn


_SESSION = re.compile(r"session (\d+): new, realm=<[^>]*>, username=<([^>]*)>")
_CLOSED = re.compile(r"session (\d+): closed \(2nd stage\)")
_PROCESSED = re.compile(
    r"session (\d+): realm <[^>]*> user <([^>]*)>: incoming packet (\w+) processed, success"
)
_PERMISSION = re.compile(r"session (\d+): peer ([\d.]+) lifetime updated")
_USAGE = re.compile(
    r"session (\d+): (peer )?usage: realm=<[^>]*>, username=<([^>]*)>, rp=(\d+), rb=(\d+), sp=(\d+), sb=(\d+)"
)


def turn_facts(log: str) -> dict[str, Any]:
    """What coturn's verbose log says about allocations, permissions and relayed traffic.

    ``usage`` is coturn's count per allocation between it and the client (``rb``/``sb``: bytes
    received from / sent to the client) and ``peer_usage`` between it and the peers (the
    server); both are logged when the allocation closes.
    """
    methods: dict[str, int] = {}
    for m in _PROCESSED.finditer(log):
        methods[m.group(3)] = methods.get(m.group(3), 0) + 1
    usage: dict[str, list[dict[str, Any]]] = {"usage": [], "peer_usage": []}
    for m in _USAGE.finditer(log):
        counts = dict(zip(("rp", "rb", "sp", "sb"), map(int, m.group(4, 5, 6, 7)), strict=True))
        usage["peer_usage" if m.group(2) else "usage"].append({"username": m.group(3), **counts})
    return {
        "usernames": sorted({m.group(2) for m in _SESSION.finditer(log)}),
        "processed": methods,
        "permissions": sorted({m.group(2) for m in _PERMISSION.finditer(log)}),
        **usage,
    }


def wait_for_allocations_to_close(log_path: Path, timeout: float) -> bool:
    """Until every allocation coturn opened has closed (and logged its usage); ``False`` after
    ``timeout`` (the report then lacks that usage, and the test says so)."""

    def closed() -> bool:
        log = log_path.read_text(errors="replace")
        return len(_CLOSED.findall(log)) >= len(_SESSION.findall(log))

    try:
        wait_until(closed, timeout=timeout, interval=0.1, what="coturn's allocations to close")
    except AssertionError:
        return False
    return True


def run_client(netns: str, command: list[str], timeout: float) -> dict[str, Any]:
    """``command`` in the client namespace; its ``@@RESULT`` JSON, exit status and output tails."""
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            ["nsenter", f"--net={netns}", *command], capture_output=True, timeout=timeout, cwd=REPO
        )
        out, err, status = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out, err, status = exc.stdout or b"", exc.stderr or b"", None
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    results = [line for line in stdout.splitlines() if line.startswith("@@RESULT ")]
    return {
        "result": json.loads(results[-1][len("@@RESULT ") :]) if results else None,
        "exit_status": status,
        "seconds": round(time.monotonic() - t0, 3),
        "stdout": tail("\n".join(line for line in stdout.splitlines() if not line.startswith("@@")), 3000),
        "stderr": tail(stderr, 4000),
    }


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="probe")
    parser.add_argument("--client-timeout", type=float, default=60.0)
    parser.add_argument("--server-log-level", default="info")
    parser.add_argument(
        "client", nargs=argparse.REMAINDER, help="-- CLIENT [ARGS...]; the base URL is appended"
    )
    args = parser.parse_args()
    command = args.client[1:] if args.client[:1] == ["--"] else args.client
    if not command:
        parser.error("no client given")
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="openreactor-turn-") as tmp:
        try:
            run(args, command, Path(tmp), report)
        except Exception as exc:  # noqa: BLE001 - reported, the test decides
            report["error"] = f"{type(exc).__name__}: {exc}"
    print("@@LAUNCH " + json.dumps(report), flush=True)
    return 0


def run(args: argparse.Namespace, command: list[str], workdir: Path, report: dict[str, Any]) -> None:
    holder, netns = client_namespace()
    processes: list[subprocess.Popen[bytes]] = []
    turn_log, server_log = workdir / "turn.log", workdir / "server.log"
    secret = secrets.token_urlsafe(24)
    (workdir / "turn.secret").write_text(secret + "\n")
    try:
        turn = start_coturn(workdir, secret)
        processes.append(turn)
        port = free_port(EDGE)
        url = f"http://{EDGE}:{port}"
        with open(server_log, "wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "openreactor", "serve", "--model", args.model,
                 "--host", EDGE, "--port", str(port), "--ice-host", MEDIA,
                 "--width", "640", "--height", "360", "--fps", "30",
                 "--turn-url", f"turn:{EDGE}:{TURN_PORT}?transport=udp",
                 "--turn-secret-file", str(workdir / "turn.secret"), "--turn-ttl", "600",
                 "--log-level", args.server_log_level, "--state-dir", str(workdir / "state")],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
            )  # fmt: skip
        processes.insert(0, server)

        def healthy() -> bool:
            if server.poll() is not None:
                raise RuntimeError(f"server exited (status {server.returncode})")
            return http_status(f"{url}/health", timeout=1) == 200

        wait_until(healthy, timeout=60, what="the server's /health")
        report["url"] = url
        report["topology"] = probe_topology(netns, url)
        report["client"] = run_client(netns, [*command, url], args.client_timeout)
        t0 = time.monotonic()
        report["allocations_closed"] = wait_for_allocations_to_close(turn_log, 30)
        report["allocations_closed_after_s"] = round(time.monotonic() - t0, 3)
    finally:
        report["exit_status"] = [stop(p) for p in processes]  # server first, then coturn
        assert holder.stdin is not None
        holder.stdin.close()  # the client namespace goes with its holder
        holder.wait(5)
        if turn_log.exists():
            text = turn_log.read_text(errors="replace")
            report["turn"] = turn_facts(text)
            report["turn_log"] = tail(text, 6000)
        if server_log.exists():
            text = server_log.read_text(errors="replace")
            report["secret_in_server_log"] = secret in text
            report["server_log"] = tail(text, 4000)


if __name__ == "__main__":
    sys.exit(main())
