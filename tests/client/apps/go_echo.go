// An echo application on Go's net/http/fcgi (Debian golang-go), standard
// library only: fcgi.Serve runs one goroutine per request, so it takes
// several requests at once on one connection (it multiplexes).
//
//	go_echo ADDRESS
//
// ADDRESS is a Unix socket path (anything with a '/') or host:port.
//
// The answer depends on the path:
//
//	/missing  404 Not Found
//	/slow     waits 20 ms, then answers "slow"; counts the requests
//	          running at once
//	/stats    "max_in_flight=N": the most /slow requests that ever ran
//	          at the same time
//	anything  the echo: "NAME=VALUE" lines (REQUEST_METHOD, REQUEST_URI,
//	          QUERY_STRING, CONTENT_LENGTH when there is a body, the
//	          HTTP headers as HTTP_* and CONTENT_TYPE, then the params
//	          net/http/fcgi keeps for ProcessEnv, each group sorted), a
//	          line "--", then the request body byte for byte
//
// Build: GO111MODULE=off go build -o go_echo go_echo.go
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

var (
	mu          sync.Mutex
	inFlight    int
	maxInFlight int
)

func slow(w http.ResponseWriter) {
	mu.Lock()
	inFlight++
	if inFlight > maxInFlight {
		maxInFlight = inFlight
	}
	mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	inFlight--
	mu.Unlock()
	fmt.Fprintln(w, "slow")
}

func echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Echo-App", "go")
	fmt.Fprintf(w, "REQUEST_METHOD=%s\nREQUEST_URI=%s\nQUERY_STRING=%s\n",
		r.Method, r.URL.RequestURI(), r.URL.RawQuery)
	if r.ContentLength > 0 {
		fmt.Fprintf(w, "CONTENT_LENGTH=%d\n", r.ContentLength)
	}
	// net/http/fcgi turns HTTP_* params (and CONTENT_TYPE) into headers;
	// turn them back.
	var lines []string
	for name, values := range r.Header {
		cgi := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if cgi != "CONTENT_TYPE" {
			cgi = "HTTP_" + cgi
		}
		lines = append(lines, cgi+"="+strings.Join(values, ", "))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	// The params it has no place for in http.Request.
	lines = lines[:0]
	for name, value := range fcgi.ProcessEnv(r) {
		lines = append(lines, name+"="+value)
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, "--")
	io.Copy(w, r.Body)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go_echo ADDRESS")
		os.Exit(2)
	}
	network := "tcp"
	if strings.Contains(os.Args[1], "/") {
		network = "unix"
	}
	l, err := net.Listen(network, os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_echo:", err)
		os.Exit(1)
	}
	err = fcgi.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/slow":
			slow(w)
		case "/stats":
			mu.Lock()
			fmt.Fprintf(w, "max_in_flight=%d\n", maxInFlight)
			mu.Unlock()
		default:
			echo(w, r)
		}
	}))
	fmt.Fprintln(os.Stderr, "go_echo:", err)
	os.Exit(1)
}
