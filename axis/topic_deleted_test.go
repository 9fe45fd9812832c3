package axis

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"axis/axis/bus/kafkabus"
	"axis/signing/devpki"
	"axis/store"
)

// An inbox topic deleted while the axis runs (by an operator; topics are created at
// start) is created again by the dispatcher, and every delivery, to that agency too,
// goes on. Before, kafka-go refused the whole page for the one unknown topic, as a
// transient error, so nothing was ever marked published again until a restart.
func TestDeletedInboxTopicIsCreatedAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kb, err := kafkabus.New(kafkabus.Config{Brokers: c.ListenAddrs(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	p := testPKI(t)
	dir := t.TempDir()
	cfg := Config{
		DataDir: dir, HTTPAddr: "127.0.0.1:0", RegistryFile: registryFile, TrustPath: devpki.RootCertPath(p),
		IdentityKey: devpki.AxisKeyPath(p), IdentityCert: devpki.AxisCertPath(p), ShutdownGrace: 10 * time.Second,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)),
	}
	dctx, dcancel := context.WithCancel(ctx)
	d, err := New(dctx, cfg, Options{Bus: kb})
	if err != nil {
		dcancel()
		t.Fatal(err)
	}
	h := &harness{t: t, d: d, dir: dir, url: "http://" + d.Addr(), cfg: cfg, stop: dcancel, done: make(chan error, 1)}
	go func() { h.done <- d.Run(dctx) }()
	t.Cleanup(func() { h.shutdown() })

	cl := &kafka.Client{Addr: kafka.TCP(c.ListenAddrs()...)}
	resp, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{InboxTopic(tayNinh)}})
	if err != nil || resp.Errors[InboxTopic(tayNinh)] != nil {
		t.Fatalf("delete topic: %v %v", err, resp)
	}
	b, id := pkg(t, 31)
	h.mustAccept(b)
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		d := h.document(id)
		if stateOf(d, police) == store.StatePublished && stateOf(d, ngheAn) == store.StatePublished && stateOf(d, tayNinh) == store.StatePublished {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	doc := h.document(id)
	copies := int64(-1)
	if conn, err := kafka.DialLeader(ctx, "tcp", c.ListenAddrs()[0], InboxTopic(police), 0); err == nil {
		copies, _ = conn.ReadLastOffset()
		conn.Close()
	}
	t.Fatalf("40 s after acceptance, %s's topic deleted: %s is %s, %s is %s, %s is %s (want published); %s's topic holds %d copies of the package",
		tayNinh, police, stateOf(doc, police), ngheAn, stateOf(doc, ngheAn), tayNinh, stateOf(doc, tayNinh), police, copies)
}
