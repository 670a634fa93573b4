#!/usr/bin/env python3
"""fault_proxy: an HTTP/1.1 proxy for tests that sits between ccfs and an S3
server on loopback and injects faults (toxiproxy is not in Debian 12).

    fault_proxy.py --upstream 127.0.0.1:7480 --port-file P --control-port-file C
                   [--config JSON] [--max-runtime S] [--parent-pid PID] [--log FILE]

ccfs talks to http://127.0.0.1:$(cat P); everything that is not a fault is
passed through byte for byte (requests and responses are parsed only to find
their boundaries: Content-Length, chunked, HEAD/1xx/204/304). Faults are
chosen per request by deterministic counters, so a run is repeatable and a
retried request is not hit by the same rule again unless the counter says so:

  latency_ms                 N   sleep N ms before forwarding each request
  bandwidth_bps              N   global cap, per direction, on relayed bytes
  reset_before_every         N   every Nth request: TCP RST, nothing forwarded
  reset_mid_request_every    N   every Nth request with a body: half the body
                                 goes upstream, then RST (the upload is cut)
  reset_mid_response_every   N   every Nth request: half the response (headers
                                 + body) reaches the client, then RST
  error503_every             N   every Nth request starts a burst of ...
  error503_burst             B   ... B consecutive 503 SlowDown answers
  retry_after                S   their Retry-After (default 1)
  <kind>_max                 M   inject <kind> (reset_before, reset_mid_request,
                                 reset_mid_response, error503) at most M times
  max_faults_per_request     K   never fault the same request line (method and
                                 target: a request and its retries) more than K
                                 times in a row (default 2), so that a client
                                 with a few retries always gets through, however
                                 its requests interleave

A store that ignores conditional writes (as several S3-compatible servers do):

  ignore_conditions          true  drop If-Match and If-None-Match from every
                                 request and sign it again (SigV4, with
                                 $AWS_SECRET_ACCESS_KEY), so the server never
                                 sees them; `GET /stats` counts them in
                                 `conditions_dropped`

Holding a request (to open a race window on purpose):

  hold_match                 RE  a request whose request line matches this
                                 regular expression (re.search) is forwarded
                                 but for the last byte of its body (or, with
                                 no body, not at all) and held there until
                                 `POST /release` on the control port (all of
                                 them; `POST /release?n=K`: the Kth held) or
                                 hold_timeout_s (default 120): the server has
                                 the request but cannot act on it yet
  hold_max                   M   hold at most M requests (default 1)

The config is JSON, given with --config or replaced at run time by
`POST /config` on the control port; `GET /stats` returns counters of requests
and of every fault injected, and of holds (`holding`: requests held now,
`held`: held so far, `held_lines`: their request lines). The proxy listens and connects only on loopback,
exits when --parent-pid (default: its parent) dies or after --max-runtime
seconds (default 900), and removes its port files on exit. Standard library
only.
"""

import argparse
import hashlib
import hmac
import ipaddress
import json
import os
import queue
import re
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024
MAX_HEADER_BYTES = 1 << 20
FAULT_KINDS = ("reset_before", "reset_mid_request", "reset_mid_response", "error503")


CONDITIONS = ("if-match", "if-none-match")


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def drop_conditions(block, secret):
    """The request head `block` without If-Match/If-None-Match, signed again
    (AWS SigV4 over the remaining signed headers). None when it had none."""
    lines = block.decode("latin-1").split("\r\n")
    fields = [(n, v.strip()) for n, _, v in (l.partition(":") for l in lines[1:] if l)]
    if not any(n.lower() in CONDITIONS for n, _ in fields):
        return None
    fields = [(n, v) for n, v in fields if n.lower() not in CONDITIONS]
    values = {}
    for n, v in fields:
        values.setdefault(n.lower(), []).append(v)
    auth = values.get("authorization", [""])[0]
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^,]+), *SignedHeaders=([^,]+), *Signature=\w+", auth)
    if m is None:
        raise ValueError("ignore_conditions: the request is not SigV4-signed")
    credential = m.group(1)
    signed = [h for h in m.group(2).split(";") if h not in CONDITIONS]
    method, target, _ = lines[0].split(" ", 2)
    path, _, query = target.partition("?")
    pairs = sorted(tuple((p.split("=", 1) + [""])[:2]) for p in query.split("&") if p)
    canonical = "\n".join([
        method, path, "&".join("%s=%s" % kv for kv in pairs),
        "".join("%s:%s\n" % (h, ",".join(" ".join(v.split()) for v in values[h])) for h in signed),
        ";".join(signed), values["x-amz-content-sha256"][0]])
    _, day, region, service, _ = credential.split("/")
    scope = "/".join([day, region, service, "aws4_request"])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", values["x-amz-date"][0], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + secret).encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    new_auth = "AWS4-HMAC-SHA256 Credential=%s, SignedHeaders=%s, Signature=%s" % (
        credential, ";".join(signed), signature)
    out = [lines[0]] + ["%s: %s" % (n, new_auth if n.lower() == "authorization" else v)
                        for n, v in fields]
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")


class Cut(Exception):
    """Raised inside a relay when a fault cuts the connection."""


class Proxy:
    def __init__(self, upstream, config, log):
        self.upstream = upstream
        self.lock = threading.Lock()
        self.config = dict(config)
        self.log_file = log
        self.requests = 0
        self.counters = {}  # per rule: requests it has considered
        self.injected = {}  # per rule: faults injected under the current config
        self.streaks = {}  # request line -> faults injected into it in a row
        self.faults = {k: 0 for k in FAULT_KINDS}
        self.burst_left = 0
        self.bytes = {"up": 0, "down": 0}
        self.buckets = {"up": [0.0], "down": [0.0]}  # virtual clock per direction
        self.held = 0  # requests held so far (hold_match)
        self.held_lines = []
        self.holding = []  # threading.Event per request held now
        self.conditions_dropped = 0  # ignore_conditions

    def log(self, text):
        if self.log_file is not None:
            with self.lock:
                self.log_file.write("%.3f %s\n" % (time.time(), text))
                self.log_file.flush()

    def set_config(self, config):
        with self.lock:
            self.config = dict(config)
            self.counters = {}
            self.injected = {}
            self.burst_left = 0
            self.held = 0
            self.held_lines = []

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "faults": dict(self.faults),
                    "bytes": dict(self.bytes), "config": dict(self.config),
                    "held": self.held, "holding": len(self.holding),
                    "held_lines": list(self.held_lines),
                    "conditions_dropped": self.conditions_dropped}

    def ignoring_conditions(self, block):
        """`block`, without its conditions when ignore_conditions is set."""
        if not self.config.get("ignore_conditions"):
            return block
        changed = drop_conditions(block, os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
        if changed is None:
            return block
        with self.lock:
            self.conditions_dropped += 1
        return changed

    def should_hold(self, request_line):
        """(sequence number, Event) when this request is to be held, else None."""
        with self.lock:
            pattern = self.config.get("hold_match")
            if not pattern or self.held >= int(self.config.get("hold_max", 1)):
                return None
            if re.search(pattern, request_line) is None:
                return None
            self.held += 1
            self.held_lines.append(request_line)
            return self.held, threading.Event()

    def hold(self, ticket, request_line):
        """Blocks until released (or hold_timeout_s)."""
        seq, event = ticket
        with self.lock:
            self.holding.append(ticket)
            timeout = float(self.config.get("hold_timeout_s", 120))
        self.log("hold #%d %s" % (seq, request_line))
        released = event.wait(timeout)
        with self.lock:
            self.holding.remove(ticket)
        self.log("%s #%d %s" % ("release" if released else "hold timed out", seq, request_line))

    def release(self, seq=None):
        """Lets go of the held request number `seq` (1 = the first held), or all."""
        with self.lock:
            n = 0
            for s, event in self.holding:
                if seq is None or s == seq:
                    event.set()
                    n += 1
            return n

    def _every(self, rule, eligible=True):
        """True when this is the Nth request the rule `rule_every` considered."""
        n = int(self.config.get(rule + "_every", 0) or 0)
        if n <= 0 or not eligible:
            return False
        cap = self.config.get(rule + "_max")
        if cap is not None and self.injected.get(rule, 0) >= int(cap):
            return False
        c = self.counters.get(rule, 0) + 1
        self.counters[rule] = c
        return c % n == 0

    def decide(self, request_line, has_body):
        """The fault for the next request: one of FAULT_KINDS or None."""
        with self.lock:
            self.requests += 1
            fault = None
            streak = self.streaks.get(request_line, 0)
            if streak >= int(self.config.get("max_faults_per_request", 2)):
                pass  # this request has had its share: let it through
            elif self.burst_left > 0:
                self.burst_left -= 1
                fault = "error503"
            elif self._every("error503"):
                self.burst_left = max(1, int(self.config.get("error503_burst", 1))) - 1
                fault = "error503"
            elif self._every("reset_before"):
                fault = "reset_before"
            elif self._every("reset_mid_request", has_body):
                fault = "reset_mid_request"
            elif self._every("reset_mid_response"):
                fault = "reset_mid_response"
            if fault is not None:
                self.faults[fault] += 1
                self.injected[fault] = self.injected.get(fault, 0) + 1
                self.streaks[request_line] = streak + 1
            else:
                self.streaks.pop(request_line, None)
            return fault, int(self.config.get("latency_ms", 0) or 0)

    def throttle(self, direction, n):
        """Sleeps so that bytes in `direction` stay under bandwidth_bps."""
        with self.lock:
            self.bytes[direction] += n
            rate = float(self.config.get("bandwidth_bps", 0) or 0)
            if rate <= 0:
                return
            clock = self.buckets[direction]
            now = time.monotonic()
            clock[0] = max(clock[0], now) + n / rate
            wait = clock[0] - now
        if wait > 0:
            time.sleep(wait)


class Reader:
    """Buffered reads from a socket, for parsing HTTP framing."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self):
        data = self.sock.recv(CHUNK)
        if not data:
            return False
        self.buf += data
        return True

    def headers(self):
        """The raw header block (with its final CRLFCRLF), or None at a clean EOF."""
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                block = bytes(self.buf[:end + 4])
                del self.buf[:end + 4]
                return block
            if len(self.buf) > MAX_HEADER_BYTES:
                raise ValueError("header block too large")
            if not self.fill():
                if self.buf:
                    raise ValueError("EOF inside a header block")
                return None

    def line(self):
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                out = bytes(self.buf[:end + 2])
                del self.buf[:end + 2]
                return out
            if len(self.buf) > MAX_HEADER_BYTES or not self.fill():
                raise ValueError("bad chunked framing")

    def some(self, limit):
        if not self.buf and not self.fill():
            return b""
        n = min(limit, len(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def parse_head(block):
    """First line and lowercase header dict of a raw header block."""
    lines = block.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name.strip().lower()] = value.strip()
    return lines[0], fields


def body_framing(fields):
    """('chunked', None) | ('length', N) | ('none', 0) for a request or response."""
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return "chunked", None
    if "content-length" in fields:
        return "length", int(fields["content-length"])
    return "none", 0


class Connection:
    """One client connection and its upstream connection: a thread per direction."""

    def __init__(self, proxy, client):
        self.proxy = proxy
        self.client = client
        self.upstream = None
        self.pending = queue.Queue()  # (method, fault) of forwarded requests, in order
        self.lock = threading.Lock()
        self.closed = False

    def close(self, reset=False):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        if reset:
            # RST instead of FIN: linger 0, and shutdown(SHUT_RD) first so a
            # thread blocked in recv on this socket wakes up.
            self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            try:
                sock.shutdown(socket.SHUT_RD if reset and sock is self.client else socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass

    def send(self, sock, data, direction, cut_left=None):
        """Sends data (throttled). With cut_left (a one-item list), sends at most
        that many bytes, then raises Cut."""
        view = memoryview(data)
        while len(view) > 0:
            n = min(len(view), 16 * 1024)
            if cut_left is not None:
                if cut_left[0] <= 0:
                    raise Cut()
                n = min(n, cut_left[0])
                cut_left[0] -= n
            self.proxy.throttle(direction, n)
            sock.sendall(view[:n])
            view = view[n:]
        if cut_left is not None and cut_left[0] <= 0:
            raise Cut()

    def relay_body(self, reader, dst, framing, direction, cut_left=None):
        kind, length = framing
        if kind == "length":
            left = length
            while left > 0:
                data = reader.some(min(left, CHUNK))
                if not data:
                    raise ValueError("EOF inside a body")
                left -= len(data)
                self.send(dst, data, direction, cut_left)
        elif kind == "chunked":
            while True:
                line = reader.line()
                self.send(dst, line, direction, cut_left)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, then the empty line
                        t = reader.line()
                        self.send(dst, t, direction, cut_left)
                        if t == b"\r\n":
                            return
                self.relay_body(reader, dst, ("length", size + 2), direction, cut_left)
        elif kind == "eof":
            while True:
                data = reader.some(CHUNK)
                if not data:
                    return
                self.send(dst, data, direction, cut_left)

    def reply_503(self, method, close):
        retry_after = int(self.proxy.config.get("retry_after", 1))
        body = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
                b"<Message>injected by fault_proxy</Message></Error>")
        head = ("HTTP/1.1 503 Service Unavailable\r\nRetry-After: %d\r\n"
                "Content-Type: application/xml\r\nContent-Length: %d\r\n%s\r\n"
                % (retry_after, len(body), "Connection: close\r\n" if close else ""))
        self.client.sendall(head.encode() + (b"" if method == "HEAD" else body))

    def client_to_upstream(self):
        reader = Reader(self.client)
        try:
            while True:
                block = reader.headers()
                if block is None:
                    break
                first, fields = parse_head(block)
                method = first.split(" ", 1)[0]
                framing = body_framing(fields)
                has_body = framing[0] == "chunked" or (framing[1] or 0) > 0
                fault, latency_ms = self.proxy.decide(first, has_body)
                if fault is not None:
                    self.proxy.log("%s %s" % (fault, first))
                if fault == "reset_before":
                    self.close(reset=True)
                    return
                if fault == "error503":
                    expect = "100-continue" in fields.get("expect", "").lower()
                    if has_body and expect:
                        # The client waits for 100 before sending the body:
                        # answer now and close, as a real server may.
                        self.reply_503(method, close=True)
                        self.close()
                        return
                    self.relay_body(reader, _Discard(), framing, "up")
                    self.reply_503(method, close=False)
                    continue
                if latency_ms > 0:
                    time.sleep(latency_ms / 1000.0)
                hold = self.proxy.should_hold(first) if fault is None else None
                if hold is not None and not (framing[0] == "length" and framing[1] > 0):
                    self.proxy.hold(hold, first)  # no body to cut short: hold it all
                    hold = None
                self.pending.put((method, fault))
                self.send(self.upstream, self.proxy.ignoring_conditions(block), "up")
                cut = None
                if fault == "reset_mid_request":
                    total = framing[1] if framing[0] == "length" else 2 * CHUNK
                    cut = [max(1, total // 2)]
                if hold is not None:
                    # All but the last byte: the server has the whole request
                    # but cannot finish it until the hold is released.
                    self.relay_body(reader, self.upstream, ("length", framing[1] - 1), "up")
                    self.proxy.hold(hold, first)
                    self.relay_body(reader, self.upstream, ("length", 1), "up")
                else:
                    self.relay_body(reader, self.upstream, framing, "up", cut)
        except Cut:
            self.close(reset=True)
        except (OSError, ValueError):
            self.close()
            return
        # Client closed: let the upstream finish nothing more.
        self.close()

    def upstream_to_client(self):
        reader = Reader(self.upstream)
        try:
            while True:
                block = reader.headers()
                if block is None:
                    break
                first, fields = parse_head(block)
                try:
                    status = int(first.split(" ")[1])
                except (IndexError, ValueError):
                    raise ValueError("bad status line")
                if 100 <= status < 200:  # interim (100 Continue): same request
                    self.send(self.client, block, "down")
                    continue
                method, fault = self.pending.get(timeout=60)
                framing = body_framing(fields)
                if method == "HEAD" or status in (204, 304):
                    framing = ("none", 0)
                elif framing[0] == "none" and "content-length" not in fields:
                    framing = ("eof", None)
                cut = None
                if fault == "reset_mid_response":
                    body_len = framing[1] if framing[0] == "length" else 2 * CHUNK
                    cut = [max(1, (len(block) + body_len) // 2)]
                self.send(self.client, block, "down", cut)
                self.relay_body(reader, self.client, framing, "down", cut)
                if framing[0] == "eof":
                    break
        except Cut:
            self.close(reset=True)
            return
        except (OSError, ValueError, queue.Empty):
            pass
        self.close()

    def run(self):
        try:
            self.upstream = socket.create_connection(self.proxy.upstream, timeout=5)
            self.upstream.settimeout(None)
            self.upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            self.close(reset=True)
            return
        t = threading.Thread(target=self.upstream_to_client, daemon=True)
        t.start()
        self.client_to_upstream()
        t.join()


class _Discard:
    """A sink socket for request bodies that are not forwarded."""

    def sendall(self, data):
        pass


def loopback_address(text):
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    addr = socket.getaddrinfo(host, int(port), proto=socket.IPPROTO_TCP)[0][4]
    if not ipaddress.ip_address(addr[0]).is_loopback:
        sys.exit("fault_proxy: upstream %s is not a loopback address" % text)
    return addr[0], int(port)


def write_port(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="host:port of the S3 server (loopback)")
    ap.add_argument("--listen-port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--control-port-file", required=True)
    ap.add_argument("--config", default="{}", help="fault config as JSON")
    ap.add_argument("--max-runtime", type=float, default=900)
    ap.add_argument("--parent-pid", type=int, default=os.getppid())
    ap.add_argument("--log", help="append a line per injected fault to this file")
    args = ap.parse_args()

    upstream = loopback_address(args.upstream)
    log = open(args.log, "a") if args.log else None
    proxy = Proxy(upstream, json.loads(args.config), log)
    files = [args.port_file, args.control_port_file]

    def shutdown(code):
        for path in files:
            try:
                os.unlink(path)
            except OSError:
                pass
        os._exit(code)  # ends relay threads and closes every socket

    signal.signal(signal.SIGTERM, lambda *_: shutdown(0))
    signal.signal(signal.SIGINT, lambda *_: shutdown(0))

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.listen_port))
    listener.listen(128)

    class Control(BaseHTTPRequestHandler):
        def _answer(self, obj, code=200):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/stats":
                self._answer(proxy.stats())
            else:
                self._answer({"error": "unknown path"}, 404)

        def do_POST(self):
            if self.path == "/release" or self.path.startswith("/release?n="):
                seq = int(self.path.split("=", 1)[1]) if "=" in self.path else None
                self._answer({"released": proxy.release(seq)})
                return
            if self.path != "/config":
                self._answer({"error": "unknown path"}, 404)
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                proxy.set_config(json.loads(self.rfile.read(length) or b"{}"))
            except ValueError as e:
                self._answer({"error": str(e)}, 400)
                return
            self._answer(proxy.stats())

        def log_message(self, *_):
            pass

    control = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, daemon=True).start()

    def watchdog():
        deadline = time.monotonic() + args.max_runtime
        while time.monotonic() < deadline:
            try:
                os.kill(args.parent_pid, 0)
            except ProcessLookupError:
                shutdown(0)
            except PermissionError:
                pass
            time.sleep(0.5)
        sys.stderr.write("fault_proxy: max runtime reached, exiting\n")
        shutdown(1)

    threading.Thread(target=watchdog, daemon=True).start()
    write_port(args.control_port_file, control.server_address[1])
    write_port(args.port_file, listener.getsockname()[1])

    while True:
        client, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(proxy, client)
        threading.Thread(target=conn.run, daemon=True).start()


if __name__ == "__main__":
    main()
