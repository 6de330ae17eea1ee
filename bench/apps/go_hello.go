// go_hello: hello world on Go's net/http/fcgi, for comparison.
//
//	go_hello SOCKET_PATH
//
// One goroutine per connection and per request; GOMAXPROCS (by default
// the number of CPUs) sets how many run at once. The body is the same as
// examples/hello's; net/http/fcgi adds a Status line of its own.
package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
)

func hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("Hello, world!\n"))
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go_hello SOCKET_PATH")
		os.Exit(2)
	}
	os.Remove(os.Args[1])
	l, err := net.Listen("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_hello:", err)
		os.Exit(1)
	}
	if err := fcgi.Serve(l, http.HandlerFunc(hello)); err != nil {
		fmt.Fprintln(os.Stderr, "go_hello:", err)
		os.Exit(1)
	}
}
