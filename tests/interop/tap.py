"""
A recording FastCGI relay for the interop tests.

tap.py LISTEN UPSTREAM LOG [COMMAND...]: accepts FastCGI
connections on LISTEN (a Unix socket path, host:port, or "fd0": the
listening socket a spawning web server hands over), relays each to
UPSTREAM byte for byte, and writes one line per event in LOG: "conn=N
open", records from the web server ("conn=N id=R > BEGIN_REQUEST role=1
flags=1", one "> PARAM NAME=VALUE" per param then "> PARAMS uri=/x
count=24", "> STDIN uri=/x len=... total=...", "> ABORT_REQUEST",
"> GET_VALUES NAMES"), END_REQUEST from the application ("< END_REQUEST"),
and who closed first ("conn=N web-server-closed", "conn=N app-closed").
COMMAND, when given, is started first (the application behind the relay)
and stopped with it; "{pid}" in UPSTREAM and COMMAND is the relay's pid.
"""
import os, signal, socket, struct, subprocess, sys, threading, time

listen, upstream, logpath = sys.argv[1:4]
upstream = upstream.replace("{pid}", str(os.getpid()))
command = [a.replace("{pid}", str(os.getpid())) for a in sys.argv[4:]]
log = open(logpath, "a", buffering=1)
lock = threading.Lock()
NAMES = {1: "BEGIN_REQUEST", 2: "ABORT_REQUEST", 3: "END_REQUEST",
         4: "PARAMS", 5: "STDIN", 6: "STDOUT", 7: "STDERR", 8: "DATA",
         9: "GET_VALUES", 10: "GET_VALUES_RESULT", 11: "UNKNOWN_TYPE"}

def say(line):
    with lock:
        log.write(line + "\n")

def address(a):
    if "/" in a:
        return socket.AF_UNIX, a
    host, port = a.rsplit(":", 1)
    return socket.AF_INET, (host, int(port))

def decode_pairs(data):
    out, i = [], 0
    def length():
        nonlocal i
        if data[i] < 128:
            i += 1
            return data[i - 1]
        i += 4
        return struct.unpack(">I", data[i - 4:i])[0] & 0x7fffffff
    while i < len(data):
        n = length()
        v = length()
        out.append((data[i:i + n].decode("latin-1"),
                    data[i + n:i + n + v].decode("latin-1")))
        i += n + v
    return out

class Parser:
    """Splits one direction of a connection into records and logs them."""
    def __init__(self, cid, from_server):
        self.cid, self.from_server = cid, from_server
        self.buf = b""
        self.reqs = {}  # id -> {"params": bytes, "uri": str, "stdin": int}

    def feed(self, data):
        self.buf += data
        while len(self.buf) >= 8:
            _, rtype, rid, clen, plen = struct.unpack(">BBHHBx", self.buf[:8])
            if len(self.buf) < 8 + clen + plen:
                return
            content = self.buf[8:8 + clen]
            self.buf = self.buf[8 + clen + plen:]
            self.record(rtype, rid, content)

    def record(self, rtype, rid, content):
        name = NAMES.get(rtype, "TYPE%d" % rtype)
        head = "conn=%d id=%d" % (self.cid, rid)
        if not self.from_server:
            if rtype in (3, 10, 11):
                say("%s < %s" % (head, name))
            return
        req = self.reqs.setdefault(rid, {"params": b"", "uri": "?", "stdin": 0})
        if rtype == 1:
            role, flags = struct.unpack(">HB", content[:3])
            self.reqs[rid] = {"params": b"", "uri": "?", "stdin": 0}
            say("%s > BEGIN_REQUEST role=%d flags=%d" % (head, role, flags))
        elif rtype == 4 and content:
            req["params"] += content
        elif rtype == 4:
            params = decode_pairs(req["params"])
            req["uri"] = dict(params).get("REQUEST_URI", "-")
            for n, v in params:
                say("%s > PARAM %s=%s" % (head, n, v))
            say("%s > PARAMS uri=%s count=%d" % (head, req["uri"], len(params)))
        elif rtype == 5:
            req["stdin"] += len(content)
            say("%s > STDIN uri=%s len=%d total=%d" % (head, req["uri"], len(content), req["stdin"]))
        elif rtype == 9:
            say("%s > GET_VALUES %s" % (head, " ".join(n for n, _ in decode_pairs(content))))
        else:
            say("%s > %s" % (head, name))

def pump(src, dst, parser, who, done):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            parser.feed(data)  # logged before the other side can act on it
            dst.sendall(data)
    except OSError as e:
        say("conn=%d %s-error %s" % (parser.cid, who, e.strerror))
    say("conn=%d %s-closed" % (parser.cid, who))
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    done.release()

def serve(client, cid):
    family, where = address(upstream)
    app = socket.socket(family, socket.SOCK_STREAM)
    try:
        app.connect(where)
    except OSError as e:
        say("conn=%d upstream-error %s" % (cid, e.strerror))
        client.close()
        return
    say("conn=%d open" % cid)
    done = threading.Semaphore(0)
    threading.Thread(target=pump, daemon=True,
                     args=(client, app, Parser(cid, True), "web-server", done)).start()
    threading.Thread(target=pump, daemon=True,
                     args=(app, client, Parser(cid, False), "app", done)).start()
    done.acquire()
    done.acquire()
    client.close()
    app.close()

child = None
if command:
    # The application behind the relay, stopped with it.
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    say("spawned pid=%d" % child.pid)
    def stop(signum, frame):
        child.terminate()
        child.wait()
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    family, where = address(upstream)
    for _ in range(300):
        probe = socket.socket(family, socket.SOCK_STREAM)
        try:
            probe.connect(where)
            probe.close()
            break
        except OSError:
            probe.close()
            time.sleep(0.1)

if listen == "fd0":
    srv = socket.socket(fileno=0)  # handed over by a web server that spawns us
else:
    family, where = address(listen)
    srv = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(where)
    if family == socket.AF_UNIX:
        os.chmod(where, 0o666)
    srv.listen(64)
cid = 0
while True:
    client, _ = srv.accept()
    cid += 1
    threading.Thread(target=serve, args=(client, cid), daemon=True).start()
