package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"axis/axis/bus"
	"axis/axis/bus/kafkabus"
)

// A slow consumer: one recipient (Tây Ninh) stops reading its inbox for 2 minutes
// (reduced: 20 s) under a steady load — its consumer group member blocks in its
// handler after the first message, and raw Kafka connections pipeline Fetch requests
// for its inbox and never read the answers (a tiny receive buffer, so the broker's
// writes to them block). Nothing else slows down: the other recipients get every
// package within a hard bound of its submission, and the submission answers and their
// deliveries during the stall are compared with a baseline phase of the same test
// without it. Then the slow consumer reads again and gets everything.
func TestFaultSlowConsumer(t *testing.T) {
	baseline, stall := sized(20*time.Second, 8*time.Second), sized(130*time.Second, 20*time.Second)
	every := sized(20*time.Millisecond, 50*time.Millisecond) // 50/s full, 20/s reduced
	const bound = 10 * time.Second                           // the hard bound on answers and other deliveries
	slow, others := recipients[2], recipients[:2]
	dir := t.TempDir()
	d := startDaemon(t, dir, freePort(t), "", freePort(t))
	nBase, nStall := int(baseline/every), int(stall/every)
	subs := corpus(t, 600000, 1+nBase+nStall)

	// The other recipients' consumers run the whole test and note when each package
	// first reaches them.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	arrived := map[string]map[string]time.Time{} // recipient -> sha -> first arrival
	var subsWG sync.WaitGroup
	subscribe := func(organ, group string, h func(bus.Message)) {
		b, err := kafkabus.New(kafkabus.Config{Brokers: []string{d.broker}, Logger: zap.NewNop(), MetadataTTL: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		subsWG.Add(1)
		go func() {
			defer subsWG.Done()
			defer b.Close()
			b.Subscribe(ctx, "axis.inbox."+organ, group, func(_ context.Context, m bus.Message) error { h(m); return nil })
		}()
	}
	group := "faults-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, r := range others {
		arrived[r] = map[string]time.Time{}
		subscribe(r, group+"-"+r, func(m bus.Message) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if _, ok := arrived[r][m.Header("axis-sha256")]; !ok {
				arrived[r][m.Header("axis-sha256")] = now
			}
		})
	}
	countOf := func(r string, shas []string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, s := range shas {
			if _, ok := arrived[r][s]; ok {
				n++
			}
		}
		return n
	}
	waitAll := func(rs []string, shas []string, timeout time.Duration) bool {
		for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			ok := true
			for _, r := range rs {
				ok = ok && countOf(r, shas) == len(shas)
			}
			if ok {
				return true
			}
		}
		return false
	}

	submitted := map[string]time.Time{}
	answer := map[string]time.Duration{}
	want := map[string]bool{}
	submit := func(s submission) {
		t0 := time.Now()
		code, body, err := post(d.url(""), s.Bytes)
		took := time.Since(t0)
		if err != nil || code != http.StatusAccepted {
			t.Errorf("%s: %d %v %s", s.DocID, code, err, body)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		submitted[s.SHA], answer[s.SHA], want[s.SHA] = t0, took, true
	}
	// Warm up: the consumers have joined their groups once the first package reaches them.
	submit(subs[0])
	if !waitAll(others, []string{subs[0].SHA}, 60*time.Second) {
		t.Fatal("the consumers never got the first package")
	}
	run := func(part []submission) []string {
		drive(len(part), 4, every, func(i int) { submit(part[i]) })
		shas := make([]string, len(part))
		for i, s := range part {
			shas[i] = s.SHA
		}
		return shas
	}
	baseSHAs := run(subs[1 : 1+nBase])

	// The stall: a group member of the slow recipient that blocks after its first
	// message, and connections that ask for its inbox and never read.
	release := make(chan struct{})
	slowGot := map[string]bool{}
	var slowFirst sync.Once
	subscribe(slow, group+"-"+slow, func(m bus.Message) {
		slowFirst.Do(func() { <-release })
		mu.Lock()
		slowGot[m.Header("axis-sha256")] = true
		mu.Unlock()
	})
	var stalled []*stalledFetch
	for range 4 {
		sf, err := stallFetches(d.broker, "axis.inbox."+slow)
		if err != nil {
			t.Fatal(err)
		}
		defer sf.conn.Close()
		stalled = append(stalled, sf)
	}
	stallSHAs := run(subs[1+nBase:])

	// Every package reached the other recipients, each within the bound.
	if !waitAll(others, append(baseSHAs, stallSHAs...), 2*bound) {
		for _, r := range others {
			t.Errorf("%s got %d of %d packages", r, countOf(r, append(baseSHAs, stallSHAs...)), nBase+nStall)
		}
	}
	figures := func(name string, shas []string) (ans, deliv []time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		late := 0
		for _, s := range shas {
			ans = append(ans, answer[s])
			if answer[s] > bound {
				t.Errorf("%s: a submission answered after %v", name, answer[s])
			}
			for _, r := range others {
				at, ok := arrived[r][s]
				if !ok {
					continue
				}
				dl := at.Sub(submitted[s])
				deliv = append(deliv, dl)
				if dl > bound {
					late++
				}
			}
		}
		if late > 0 {
			t.Errorf("%s: %d deliveries to the other recipients took more than %v", name, late, bound)
		}
		a, dv := percentiles(ans, 50, 99, 100), percentiles(deliv, 50, 99, 100)
		t.Logf("%s: %d packages; answer p50/p99/max %v/%v/%v; delivery to %v p50/p99/max %v/%v/%v", name, len(shas),
			a[0], a[1], a[2], others, dv[0], dv[1], dv[2])
		return ans, deliv
	}
	baseAns, baseDeliv := figures(fmt.Sprintf("baseline (%v, no stall)", baseline), baseSHAs)
	stallAns, stallDeliv := figures(fmt.Sprintf("stall (%v, %s not reading)", stall, slow), stallSHAs)
	ratio := func(a, b []time.Duration) float64 {
		pa, pb := percentiles(a, 99), percentiles(b, 99)
		return float64(pa[0]) / float64(max(pb[0], time.Millisecond))
	}
	t.Logf("p99 stall/baseline: answers %.2fx, deliveries %.2fx", ratio(stallAns, baseAns), ratio(stallDeliv, baseDeliv))

	mu.Lock()
	slowBefore := len(slowGot)
	mu.Unlock()
	pending := 0
	for _, sf := range stalled {
		pending += sf.drain()
	}
	t.Logf("during the stall the slow recipient's member read %d message(s); the %d stalled connections had written %d fetch requests, and once read they gave %d bytes of answers in 1 s",
		slowBefore, len(stalled), stalledRequests(stalled), pending)
	if pending == 0 {
		t.Error("the stalled connections never got an answer: the stall was not real")
	}

	// The slow consumer reads again and gets everything.
	released := time.Now()
	close(release)
	all := append([]string{subs[0].SHA}, append(baseSHAs, stallSHAs...)...)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := 0
		for _, s := range all {
			if slowGot[s] {
				n++
			}
		}
		mu.Unlock()
		if n == len(all) {
			t.Logf("released, %s read all %d packages in %v", slow, n, time.Since(released).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("released, %s read %d of %d packages in 2 min", slow, n, len(all))
			break
		}
	}
	cancel()
	subsWG.Wait()
	endCheck(t, ending{d: d, brokers: d.broker, want: want, docs: []string{subs[0].DocID, subs[len(subs)-1].DocID}, tmp: dir})
}

// stalledFetch is a Kafka connection that asks for a topic again and again and never
// reads the answers.
type stalledFetch struct {
	conn net.Conn
	mu   sync.Mutex
	sent int
}

// stallFetches dials the broker with a 4 KiB receive buffer and writes Fetch requests
// (offset 0, up to 4 MiB each) until the writes block, in the background.
func stallFetches(broker, topic string) (*stalledFetch, error) {
	dialer := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := dialer.Dial("tcp", broker)
	if err != nil {
		return nil, err
	}
	sf := &stalledFetch{conn: conn}
	go func() {
		f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("stalled-consumer"))
		var buf []byte
		for i := int32(0); i < 1000; i++ {
			req := kmsg.NewPtrFetchRequest()
			req.Version = 4
			req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 500, 1, 16<<20
			tp := kmsg.NewFetchRequestTopic()
			tp.Topic = topic
			p := kmsg.NewFetchRequestTopicPartition()
			p.Partition, p.FetchOffset, p.PartitionMaxBytes = 0, 0, 4<<20
			tp.Partitions = append(tp.Partitions, p)
			req.Topics = append(req.Topics, tp)
			buf = f.AppendRequest(buf[:0], req, i)
			if _, err := conn.Write(buf); err != nil {
				return // closed, or the broker stopped reading (our doing)
			}
			sf.mu.Lock()
			sf.sent++
			sf.mu.Unlock()
		}
	}()
	return sf, nil
}

func stalledRequests(sfs []*stalledFetch) int {
	n := 0
	for _, sf := range sfs {
		sf.mu.Lock()
		n += sf.sent
		sf.mu.Unlock()
	}
	return n
}

// drain reads what the broker had written, for up to a second, and closes.
func (sf *stalledFetch) drain() int {
	sf.conn.SetReadDeadline(time.Now().Add(time.Second))
	n, err := io.Copy(io.Discard, sf.conn)
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return int(n)
	}
	sf.conn.Close()
	return int(n)
}
