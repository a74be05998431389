package faults_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/poolside-dev/poolside/faults"
)

// Wrap a connection so that every Read returns at most 3 bytes, as a slow
// network might deliver them.
func ExampleWrap() {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		_, _ = server.Write([]byte("hello, world"))
		_ = server.Close()
	}()

	c := faults.Wrap(client, faults.OnRead(faults.Chunk{Max: 3}))
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		fmt.Printf("%q\n", buf[:n])
	}
	// Output:
	// "hel"
	// "lo,"
	// " wo"
	// "rld"
}

// A Recorder shows what a reader asked for: here io.ReadFull asks for
// exactly the 5 bytes it needs, in pieces, and never more.
func ExampleRecorder() {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		_, _ = server.Write([]byte("hello, world"))
		_ = server.Close()
	}()

	rec := faults.NewRecorder(faults.Wrap(client, faults.OnRead(faults.Chunk{Max: 2})))
	_, _ = io.ReadFull(rec, make([]byte, 5))
	for _, c := range rec.Calls() {
		fmt.Printf("%v at %d: asked %d, got %d\n", c.Dir, c.Offset, c.Len, c.N)
	}
	// Output:
	// read at 0: asked 5, got 2
	// read at 2: asked 3, got 2
	// read at 4: asked 1, got 1
}

// Put a fault proxy in front of a server: here an echo server whose replies
// the proxy cuts after 5 bytes.
func ExampleProxy() {
	upstream, _ := net.Listen("tcp", "127.0.0.1:0")
	defer upstream.Close()
	go func() {
		c, err := upstream.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c) // echo until the client half-closes
	}()

	down, _ := faults.ParseSpec("cut=5")
	p, err := faults.NewProxy(faults.Config{Upstream: upstream.Addr().String(), Down: down})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	c, _ := net.Dial("tcp", p.Addr().String())
	defer c.Close()
	_, _ = c.Write([]byte("hello, world"))
	_ = c.(*net.TCPConn).CloseWrite()
	reply, err := io.ReadAll(c)
	fmt.Printf("%q %v\n", reply, err)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(p.Shutdown(ctx))
	// Output:
	// "hello" <nil>
	// <nil>
}

func ExampleParseSpec() {
	fs, err := faults.ParseSpec("chunk=1..8, delay=1ms, read:cut=100")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%#v\n", fs[0])
	fmt.Printf("%#v\n", fs[1])
	fmt.Println(faults.FormatSpec(fs))

	_, err = faults.ParseSpec("chunk=0")
	fmt.Println(err)
	// Output:
	// faults.Chunk{Max:8, Min:1}
	// faults.Slow{Delay:1000000, Jitter:0, Rate:0}
	// chunk=1..8,delay=1ms,read:cut=100
	// faults: bad spec: token "chunk=0": chunk size "0" is not a positive integer (want chunk=MAX or chunk=MIN..MAX)
}

// Dial through a Dialer whose connections read only the first 5 bytes of
// the reply and then EOF, as if the network cut the connection. A client
// library takes d.DialContext as its dial function (poolside's
// client.Config.Dialer, net/http's Transport.DialContext, ...).
func ExampleDialer() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("hello, world"))
	}()

	d := &faults.Dialer{Faults: []faults.Fault{faults.OnRead(faults.Cut{At: 5})}, Seed: 1}
	c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	reply, err := io.ReadAll(c)
	fmt.Printf("%q %v\n", reply, err)
	// Output:
	// "hello" <nil>
}

// Serve a proxy's faults as JSON, so that a test script can change them
// between steps (poolside proxy --api does this).
func ExampleNewAPI() {
	p, err := faults.NewProxy(faults.Config{Upstream: "127.0.0.1:9407", Seed: 7})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	api := httptest.NewServer(faults.NewAPI(p))
	defer api.Close()

	req, _ := http.NewRequest(http.MethodPut, api.URL+"/faults", strings.NewReader(`{"up":"chunk=1..8","down":"cut=100"}`))
	resp, err := api.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.Status, " ", string(body))

	up, down := p.Faults() // what new connections get
	fmt.Println(up, down)
	// Output:
	// 200 OK {"up":"chunk=1..8","down":"cut=100","seed":7}
	// [chunk=1..8] [cut=100]
}

// Wrap a connection you already have with a chosen seed, so that Chunk's
// random sizes are the ones a Dialer with Seed 42 would give: the same seed
// replays the same sizes on every run.
func ExampleWrapSeed() {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		_, _ = server.Write([]byte("hello, world"))
		_ = server.Close()
	}()

	c := faults.WrapSeed(client, 42, faults.OnRead(faults.Chunk{Min: 1, Max: 4}))
	var pieces []string
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		pieces = append(pieces, fmt.Sprintf("%q", buf[:n]))
	}
	fmt.Println(strings.Join(pieces, " "))
	// Output:
	// "hel" "lo," " wor" "ld"
}
