#!/usr/bin/env bash
# Interop: Perl's FCGI::Client (Debian libfcgi-client-perl), a FastCGI client
# written by others, talking straight to the examples.
#
#   echo over a Unix socket and over TCP: the params come back exactly and
#     in the order FCGI::Client put them on the wire (read back from the
#     bytes it wrote, since it takes them from a Perl hash, whose order is
#     random from run to run). Among them a value of exactly 127 bytes, which
#     FCGI::Client encodes with the four-byte length form (it uses one byte
#     only below 127), a 200-byte name, an empty value and a 70000-byte
#     value, which makes its PARAMS span two records;
#   a 1 MB POST of random bytes comes back byte for byte, with no STDERR
#     output and appStatus 0;
#   ten requests in a row from one client process: FCGI::Client never sets
#     FCGI_KEEP_CONN and closes its socket after each answer, so each one
#     comes on a new connection (X-Fcgikit-Conn increases every time) and
#     each is answered in full;
#   hello answers exactly "Content-Type: text/plain", an empty line and
#     "Hello, world!", five times in a row.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
init_test
require_cmd perl perl-base
if ! perl -MFCGI::Client -e1 2>/dev/null; then
  [ "${CI:-}" = "true" ] &&
    fail "the Perl module FCGI::Client is not installed (Debian package libfcgi-client-perl); CI must install every peer"
  skip "the Perl module FCGI::Client is not installed (apt-get install libfcgi-client-perl)"
fi

# --- The client ------------------------------------------------------------------

# client.pl ADDRESS OUT BODYFILE COUNT [NAME=VALUE...]: COUNT requests in a
# row, each on its own connection (FCGI::Client closes the socket after
# END_REQUEST). For request I it writes OUT.I.stdout, OUT.I.stderr,
# OUT.I.appstatus, and OUT.I.sent: the params as they were on the wire, one
# NAME=VALUE line each, decoded from the bytes FCGI::Client wrote.
cat >"$T/client.pl" <<'PERL'
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::UNIX;
use FCGI::Client;

# The socket handed to FCGI::Client: it keeps a copy of every byte written.
# FCGI::Client calls print, fileno, sysread and close on it, nothing else.
package Tap {
    sub new { my ($class, $sock) = @_; return bless { sock => $sock, sent => '' }, $class }
    sub print { my $self = shift; $self->{sent} .= join '', @_; return $self->{sock}->print(@_) }
    sub fileno { return $_[0]{sock}->fileno }
    # @_ aliases the caller's buffer, which sysread fills in place.
    sub sysread { my $self = shift; return $self->{sock}->sysread(@_) }
    sub close { return $_[0]{sock}->close }
}

package main;

my ($address, $out, $bodyfile, $count, @pairs) = @ARGV;
my %env = map { split /=/, $_, 2 } @pairs;
my $body = '';
if ($bodyfile ne '') {
    open my $fh, '<:raw', $bodyfile or die "$bodyfile: $!\n";
    local $/;
    $body = <$fh>;
}

sub connect_to {
    my $sock = $address =~ m{/}
        ? IO::Socket::UNIX->new(Peer => $address, Type => SOCK_STREAM)
        : IO::Socket::INET->new(PeerAddr => $address, Proto => 'tcp');
    return $sock // die "connect $address: $!\n";
}

# The params of the PARAMS records in BYTES, in the order they appear.
sub sent_params {
    my ($bytes) = @_;
    my ($stream, @lines) = ('');
    while (length $bytes >= 8) {
        my ($version, $type, $id, $clen, $plen) = unpack 'CCnnC', $bytes;
        $stream .= substr($bytes, 8, $clen) if $type == 4;
        substr($bytes, 0, 8 + $clen + $plen) = '';
    }
    my $len = sub {
        my $n = unpack 'C', $stream;
        if ($n < 128) { substr($stream, 0, 1) = ''; return $n }
        $n = unpack('N', $stream) & 0x7fffffff;
        substr($stream, 0, 4) = '';
        return $n;
    };
    while (length $stream) {
        my ($nlen, $vlen) = ($len->(), $len->());
        push @lines, substr($stream, 0, $nlen) . '=' . substr($stream, $nlen, $vlen) . "\n";
        substr($stream, 0, $nlen + $vlen) = '';
    }
    return join '', @lines;
}

sub write_file {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or die "$path: $!\n";
    print $fh $data // '';
    close $fh or die "$path: $!\n";
}

for my $i (1 .. $count) {
    my $tap = Tap->new(connect_to());
    my $client = FCGI::Client::Connection->new(sock => $tap, timeout => 60);
    my ($stdout, $stderr, $appstatus) = $client->request(\%env, $body);
    write_file("$out.$i.stdout", $stdout);
    write_file("$out.$i.stderr", $stderr);
    write_file("$out.$i.appstatus", ($appstatus // 'undef') . "\n");
    write_file("$out.$i.sent", sent_params($tap->{sent}));
}
PERL

# fcgi_client ADDRESS OUT BODYFILE COUNT [NAME=VALUE...]: runs client.pl.
fcgi_client() {
  local out=$2 rc=0
  timeout 120 perl "$T/client.pl" "$@" 2>"$out.client-err" || rc=$?
  [ "$rc" = 0 ] || fail "FCGI::Client to $1 failed (exit $rc): $(head -c 300 "$out.client-err")"
}

# check_answer OUT I WHAT BODYFILE: request I of OUT was answered by echo,
# byte for byte: status 200, its headers, the params exactly as sent and in
# the order sent, "--", then BODYFILE's bytes (none when BODYFILE is "").
# Sets CONN to the X-Fcgikit-Conn of the answer.
check_answer() {
  local r="$1.$2" what=$3 bodyfile=$4 status
  [ -s "$r.stderr" ] && fail "$what: the application wrote to STDERR: $(head -c 300 "$r.stderr")"
  read -r status <"$r.appstatus"
  [ "$status" = 0 ] || fail "$what: appStatus $status, not 0"
  [ -s "$r.sent" ] || fail "$what: no params seen on the wire"
  CONN=$(sed -n 's/^X-Fcgikit-Conn: \([0-9][0-9]*\)\r$/\1/p' "$r.stdout")
  [ -n "$CONN" ] || fail "$what: no X-Fcgikit-Conn header in the answer: $(head -c 200 "$r.stdout")"
  {
    printf 'Status: 200 OK\r\nContent-Type: text/plain\r\nX-Fcgikit-Conn: %s\r\nX-Fcgikit-Inflight: 1\r\n\r\n' "$CONN"
    cat "$r.sent"
    printf -- '--\n'
    [ -z "$bodyfile" ] || cat "$bodyfile"
  } >"$r.expected"
  same_bytes "$r.expected" "$r.stdout" "$what (the whole answer: headers, params as sent and in order, body)"
}

check_echo() {
  local address=$1 what=$2 out="$T/echo-$2" i prev
  local v127 name200 v70000
  v127=$(head -c 127 /dev/zero | tr '\0' 's')
  name200=N$(head -c 199 /dev/zero | tr '\0' 'n')
  v70000=$(head -c 70000 /dev/zero | tr '\0' 'v')

  fcgi_client "$address" "$out-get" "" 1 REQUEST_METHOD=GET "QUERY_STRING=a=1&b=%20x" \
    SCRIPT_NAME=/echo REQUEST_URI=/echo?a=1 SERVER_PROTOCOL=HTTP/1.1 HTTP_HOST=localhost \
    "V127=$v127" "$name200=long name" EMPTY= "BIG=$v70000"
  check_answer "$out-get" 1 "GET via $what" ""
  # The answer holds exactly the params sent; and all ten were sent.
  [ "$(wc -l <"$out-get.1.sent")" = 10 ] ||
    fail "GET via $what: FCGI::Client sent $(wc -l <"$out-get.1.sent") params, not 10"
  expect_line "$out-get.1.sent" "V127=$v127" "GET via $what (127-byte value, four-byte length)"
  expect_line "$out-get.1.sent" "EMPTY=" "GET via $what (empty value)"
  expect_line "$out-get.1.sent" "BIG=$v70000" "GET via $what (70000-byte value)"
  ok "GET via FCGI::Client over $what: 10 params exact, in the order sent (127-byte value, 200-byte name, 70000-byte value)"

  fcgi_client "$address" "$out-post" "$T/1mb.bin" 1 REQUEST_METHOD=POST \
    CONTENT_LENGTH=1048576 CONTENT_TYPE=application/octet-stream SCRIPT_NAME=/echo
  check_answer "$out-post" 1 "1 MB POST via $what" "$T/1mb.bin"
  ok "1 MB POST via FCGI::Client over $what echoed byte for byte, STDERR empty, appStatus 0"

  fcgi_client "$address" "$out-row" "$T/small.bin" 10 REQUEST_METHOD=PUT \
    "CONTENT_LENGTH=$(wc -c <"$T/small.bin")" QUERY_STRING=row SCRIPT_NAME=/echo
  prev=0
  for i in $(seq 10); do
    check_answer "$out-row" "$i" "request $i of 10 in a row via $what" "$T/small.bin"
    [ "$CONN" -gt "$prev" ] ||
      fail "request $i in a row via $what came on connection $CONN, after $prev: FCGI::Client opens a new connection per request"
    prev=$CONN
  done
  ok "10 requests in a row via FCGI::Client over $what, each on a new connection, all answered in full"
}

check_hello() {
  local address=$1 what=$2 out="$T/hello-$2" i status
  printf 'Content-Type: text/plain\r\n\r\nHello, world!\n' >"$out.expected"
  fcgi_client "$address" "$out" "" 5 REQUEST_METHOD=GET SCRIPT_NAME=/hello
  for i in 1 2 3 4 5; do
    same_bytes "$out.expected" "$out.$i.stdout" "hello via $what, request $i"
    [ -s "$out.$i.stderr" ] && fail "hello via $what: STDERR output: $(head -c 300 "$out.$i.stderr")"
    read -r status <"$out.$i.appstatus"
    [ "$status" = 0 ] || fail "hello via $what: appStatus $status, not 0"
  done
  ok "hello via FCGI::Client over $what: exactly Hello, world!, 5 times in a row"
}

head -c 1048576 /dev/urandom >"$T/1mb.bin"
head -c 5000 /dev/urandom >"$T/small.bin"

start_example echo "$T/echo.sock"
ECHO_UNIX=$STARTED_PID
wait_for_socket "$T/echo.sock" "$ECHO_UNIX"
check_echo "$T/echo.sock" unix

start_example_tcp echo
ECHO_TCP=$STARTED_PID
check_echo "127.0.0.1:$PICKED_PORT" tcp

start_example hello "$T/hello.sock"
HELLO_UNIX=$STARTED_PID
wait_for_socket "$T/hello.sock" "$HELLO_UNIX"
check_hello "$T/hello.sock" unix

start_example_tcp hello
HELLO_TCP=$STARTED_PID
check_hello "127.0.0.1:$PICKED_PORT" tcp

# --- Everything still running, then a clean stop ---------------------------------

for pid in "$ECHO_UNIX" "$ECHO_TCP" "$HELLO_UNIX" "$HELLO_TCP"; do
  alive "$pid" || fail "process $pid died during the test"
done
for pid in "$ECHO_UNIX" "$ECHO_TCP" "$HELLO_UNIX" "$HELLO_TCP"; do
  rc=0
  stop_pid "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "process $pid exited $rc on SIGTERM, not 0"
done
no_sanitizer_reports
ok "the examples kept serving and exit 0 on SIGTERM"
