#!/usr/bin/perl
# An echo application on Perl's FCGI module (Debian libfcgi-perl), the
# classic accept loop.
#
#   perl perl_echo.pl ADDRESS
#
# ADDRESS is what FCGI::OpenSocket takes: a Unix socket path or host:port.
#
# The answer depends on SCRIPT_NAME:
#   /missing  Status: 404 Not Found and a short body
#   /stderr   a line on the FCGI_STDERR stream (Perl's STDERR while a
#             request runs), then the echo
#   anything  the echo: "NAME=VALUE" for every param, sorted by name, a
#             line "--", then the request body (CONTENT_LENGTH bytes)
use strict;
use warnings;
use FCGI;

@ARGV == 1 or die "usage: perl_echo.pl ADDRESS\n";
my $socket = FCGI::OpenSocket($ARGV[0], 10) or die "perl_echo: cannot listen on $ARGV[0]\n";
my %env;
my $request = FCGI::Request(\*STDIN, \*STDOUT, \*STDERR, \%env, $socket);

while ($request->Accept() >= 0) {
    my $script = $env{SCRIPT_NAME} // '';
    if ($script eq '/missing') {
        print "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such page\n";
        next;
    }
    print STDERR "perl_echo: a line for the error log\n" if $script eq '/stderr';

    # Read the whole body before answering (the safe order for any server).
    my $body = '';
    my $left = $env{CONTENT_LENGTH} || 0;
    while ($left > 0) {
        my $n = read(STDIN, my $chunk, $left > 65536 ? 65536 : $left);
        last unless $n;
        $body .= $chunk;
        $left -= $n;
    }
    print "Status: 200 OK\r\nContent-Type: text/plain\r\nX-Echo-App: perl\r\n\r\n";
    print "$_=$env{$_}\n" for sort keys %env;
    print "--\n", $body;
}
FCGI::CloseSocket($socket);
