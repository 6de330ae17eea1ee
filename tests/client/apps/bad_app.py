#!/usr/bin/env python3
"""A FastCGI "application" that misbehaves on purpose, for testing clients.

    bad_app.py MODE SOCKET_PATH [MODE SOCKET_PATH ...]

For each pair it listens on the Unix socket SOCKET_PATH and misbehaves
there as MODE says (one process for every mode: Python can be slow to
start). Every connection is served in a thread of its own. For each
request it first reads the request's records up to the empty STDIN record
that ends the body (except in "hang"), then, by MODE:

    badversion   a STDOUT record whose version byte is 2 (spec 3.3: 1)
    badid        a well-formed END_REQUEST for a request id never begun
    closemid     the start of a response (headers and some body on
                 STDOUT), then it closes the connection: no END_REQUEST
    closerecord  a STDOUT record header announcing 1000 bytes, 10 of them,
                 then it closes: the connection ends inside a record
    overloaded   END_REQUEST with protocolStatus FCGI_OVERLOADED
    flood        STDOUT records without end, as fast as the client reads,
                 until the client goes away
    hang         reads whatever comes and never answers

On standard output it logs, flushed at once, what a test needs to know of
what the client did, each line starting with the mode and ": ": in modes
flood and hang, "accepted" for each connection; "ABORT_REQUEST id=N" and
"client closed" (hang); "flood sent N bytes" once the client has gone
(flood). Standard library only.
"""
import os
import socket
import struct
import sys
import threading

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST = 1, 2, 3
PARAMS, STDIN, STDOUT = 4, 5, 6
REQUEST_COMPLETE, OVERLOADED = 0, 2

log_lock = threading.Lock()


def log(line):
    with log_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def record(rtype, rid, content=b"", version=VERSION):
    pad = -len(content) % 8
    return (struct.pack(">BBHHBx", version, rtype, rid, len(content), pad)
            + content + b"\0" * pad)


def end_request(rid, protocol_status=REQUEST_COMPLETE, app_status=0):
    return record(END_REQUEST, rid,
                  struct.pack(">IB3x", app_status, protocol_status))


class Conn:
    """Reads whole records off one connection."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def next_record(self):
        """(type, request id, content), or None at the end of input."""
        head = self.need(8)
        if head is None:
            return None
        _, rtype, rid, clen, plen = struct.unpack(">BBHHBx", head)
        body = self.need(clen + plen)
        if body is None:
            return None
        return rtype, rid, body[:clen]

    def read_request(self):
        """Reads up to the empty STDIN record; returns its request id."""
        while True:
            rec = self.next_record()
            if rec is None:
                return None
            rtype, rid, content = rec
            if rtype == STDIN and not content:
                return rid


RESPONSE_START = b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\npartial "


def serve(mode, sock):
    conn = Conn(sock)
    if mode in ("flood", "hang"):
        log("%s: accepted" % mode)
    try:
        if mode == "hang":
            # Never a byte back; say what arrived (an ABORT_REQUEST is
            # what a client that gives up should send).
            while True:
                rec = conn.next_record()
                if rec is None:
                    log("hang: client closed")
                    return
                if rec[0] == ABORT_REQUEST:
                    log("hang: ABORT_REQUEST id=%d" % rec[1])
        while True:
            rid = conn.read_request()
            if rid is None:
                return
            if mode == "badversion":
                sock.sendall(record(STDOUT, rid, RESPONSE_START, version=2))
            elif mode == "badid":
                sock.sendall(record(STDOUT, rid, RESPONSE_START)
                             + end_request(rid + 7))
            elif mode == "closemid":
                sock.sendall(record(STDOUT, rid, RESPONSE_START))
                return
            elif mode == "closerecord":
                head = struct.pack(">BBHHBx", VERSION, STDOUT, rid, 1000, 0)
                sock.sendall(head + b"x" * 10)
                return
            elif mode == "overloaded":
                sock.sendall(end_request(rid, OVERLOADED))
            elif mode == "flood":
                flood(sock, rid)
                return
    except OSError:
        pass  # the client went away: that is its right
    finally:
        sock.close()


def flood(sock, rid):
    """Sends STDOUT until the client stops reading for good (it closes)."""
    chunk = record(STDOUT, rid, RESPONSE_START) + record(STDOUT, rid, b"f" * 65528)
    filler = record(STDOUT, rid, b"f" * 65528)
    sent = len(chunk)
    try:
        sock.sendall(chunk)
        while True:
            sock.sendall(filler)
            sent += len(filler)
    except OSError:
        pass
    log("flood: flood sent %d bytes" % sent)


MODES = ("badversion", "badid", "closemid", "closerecord", "overloaded",
         "flood", "hang")


def listen(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(64)
    return listener


def accept_loop(mode, listener):
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve, args=(mode, sock), daemon=True).start()


def main():
    args = sys.argv[1:]
    if not args or len(args) % 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    pairs = list(zip(args[0::2], args[1::2]))
    for mode, _ in pairs:
        if mode not in MODES:
            sys.exit("bad_app.py: unknown mode %r (one of %s)" % (mode, ", ".join(MODES)))
    # Every socket is bound before any is served: once the last one
    # exists, all of them do.
    listeners = [(mode, listen(path)) for mode, path in pairs]
    for mode, listener in listeners:
        log("%s: listening" % mode)
        threading.Thread(target=accept_loop, args=(mode, listener), daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
