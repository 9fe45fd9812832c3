package axis

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A body is read as it arrives: clients that announce the largest body and send one
// byte cost the daemon next to nothing, and are cut off once they pause longer than
// BodyIdle, with a 400 bad_request; a body sent in pieces with shorter pauses is
// accepted. (Before: the announced size was allocated at once, 16 MiB per connection
// here, and held for as long as the client kept quiet.)
func TestSlowBodies(t *testing.T) {
	const limit = 16 << 20
	const conns = 12
	idle := 600 * time.Millisecond
	h := startDaemon(t, withMaxBytes(limit), func(c *Config, _ *Options) { c.BodyIdle = idle })

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var cs []net.Conn
	for range conns {
		c, err := net.Dial("tcp", h.d.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/packages HTTP/1.1\r\nHost: axis\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n<", limit)
		cs = append(cs, c)
	}
	time.Sleep(idle / 2)
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Errorf("%d connections announcing %d MiB and sending 1 byte: the heap grew by %d MiB", conns, limit>>20, grew>>20)
	}
	for i, c := range cs {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: no answer after the pause: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"bad_request"`) || !strings.Contains(string(body), "too slowly") {
			t.Fatalf("connection %d: %d %s", i, resp.StatusCode, body)
		}
	}

	// Pieces with pauses shorter than BodyIdle: an ordinary slow client.
	b, _ := pkg(t, 77)
	c, err := net.Dial("tcp", h.d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/packages HTTP/1.1\r\nHost: axis\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n", len(b))
	for i := 0; i < len(b); i += len(b)/4 + 1 {
		time.Sleep(idle / 6)
		c.Write(b[i:min(i+len(b)/4+1, len(b))])
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a body in pieces: %d %s", resp.StatusCode, body)
	}
}
