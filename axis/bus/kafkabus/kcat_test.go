package kafkabus_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"axis/axis/broker"
	"axis/axis/bus"
)

// needTool returns the path of an outside program, skipping the test when it is
// missing, unless CI=true.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// TestKcatReadsHeaders proves interoperability with a client that is not kafka-go:
// kcat (librdkafka) reads what kafkabus wrote, keys, headers and values included.
func TestKcatReadsHeaders(t *testing.T) {
	kcat := needTool(t, "kcat")
	br := startBroker(t, broker.Config{NoSync: true})
	b := newBus(t, testConfig(t, br.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := "axis.inbox.000.00.00.G22"
	if err := b.EnsureTopics(ctx, topic); err != nil {
		t.Fatal(err)
	}
	msgs := []bus.Message{
		{Topic: topic, Key: []byte("DOC-1"), Value: []byte("<edXMLEnvelope>một</edXMLEnvelope>"), Headers: []bus.Header{
			{Key: "axis-type", Value: []byte("edoc")},
			{Key: "axis-from", Value: []byte("000.00.00.G01")},
		}},
		{Topic: topic, Key: []byte("DOC-2"), Value: []byte("<status/>"), Headers: []bus.Header{
			{Key: "axis-type", Value: []byte("status")},
		}},
	}
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, kcat, "-C", "-b", br.Addr(), "-t", topic, "-f", `%k %h %s\n`, "-e", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	want := "DOC-1 axis-type=edoc,axis-from=000.00.00.G01 <edXMLEnvelope>một</edXMLEnvelope>\n" +
		"DOC-2 axis-type=status <status/>\n"
	if string(out) != want {
		t.Fatalf("kcat printed\n%s\nwant\n%s", out, want)
	}
}
