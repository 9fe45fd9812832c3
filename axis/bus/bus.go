// Package bus is the seam between the axis and its message broker: a message type and
// three small interfaces (publish, subscribe, create topics). The daemon's routing code
// depends only on this package, so it runs unchanged on Kafka (package kafkabus) and on
// the in-memory bus of the tests (package membus); package bustest holds the contract
// both must pass.
package bus

import (
	"context"
	"errors"
	"time"
)

// ErrUnknownTopic is in the chain of a Publish error when a topic does not exist
// (deleted by an operator, say): a caller that owns the topic may create it again
// (Admin.EnsureTopics). It is transient (errs.Unavailable): nothing is lost meanwhile.
var ErrUnknownTopic = errors.New("topic does not exist")

// MaxMessageBytes is the largest message (key + value + headers) every implementation
// must carry: a 64 MiB package (SPEC §6 default --max-package-bytes) plus room for its
// key and headers. Brokers and clients are configured from it.
const MaxMessageBytes = 64<<20 + 1<<20

// Header is one Kafka record header. Keys may repeat; order is kept.
type Header struct {
	Key   string
	Value []byte
}

// Message is one record. Publish reads Topic, Key, Value and Headers; Subscribe fills
// in Partition, Offset and Time as well.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []Header

	Partition int
	Offset    int64
	Time      time.Time // broker append or producer time, as the broker reports it
}

// LookupHeader returns the value of the first header named key.
func (m Message) LookupHeader(key string) ([]byte, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// Header returns the value of the first header named key as a string, or "" if absent.
func (m Message) Header(key string) string {
	v, _ := m.LookupHeader(key)
	return string(v)
}

// SetHeader replaces every header named key by one with the given value.
func (m *Message) SetHeader(key, value string) {
	hs := m.Headers[:0:0]
	for _, h := range m.Headers {
		if h.Key != key {
			hs = append(hs, h)
		}
	}
	m.Headers = append(hs, Header{Key: key, Value: []byte(value)})
}

// Publisher sends messages.
//
// Publish returns nil only once every message has been acknowledged by all in-sync
// replicas. Messages of one call with the same topic and key reach the topic in the
// order given. Delivery is at least once: after an error, or a retry inside Publish,
// some messages may have been written and will be written again when the caller
// retries. An error carries an errs code: errs.Unavailable for failures that may pass
// (broker down, timeouts, authentication refused until the operator fixes the
// configuration), errs.TooLarge or errs.BadRequest for messages that can never be
// written. The caller must not modify the messages' byte slices while Publish runs,
// nor after it returned a context error (the client may still be sending them).
type Publisher interface {
	Publish(ctx context.Context, msgs ...Message) error
}

// Handler processes one message. Returning nil acknowledges it: its offset is
// committed and it is not delivered to this group again. Returning an error means
// "try again later" (a transient failure): the same message is redelivered, after a
// backoff, before any later message of its partition. Handlers send input that can
// never be processed to a dead-letter topic themselves and return nil. The context is
// cancelled when the subscription stops; a handler that returns an error then is not
// acknowledged, and the group's next subscriber receives the message again.
type Handler func(ctx context.Context, m Message) error

// Subscriber consumes a topic as a member of a consumer group.
//
// Subscribe blocks until ctx is done, then returns nil; it returns an error only when
// it cannot consume at all (invalid arguments, closed bus). Group members share the
// topic's partitions; every group gets every message. A message's offset is committed
// only after the handler returned nil for it, in offset order, so a crash before that
// redelivers it (at least once). A group with no committed offset starts at the oldest
// message. Subscribing to a topic that does not exist yet waits until it is created.
type Subscriber interface {
	Subscribe(ctx context.Context, topic, group string, h Handler) error
}

// Admin manages topics. Topics are always created explicitly: implementations never
// rely on automatic creation.
type Admin interface {
	// EnsureTopics creates the topics that do not exist yet. A topic that already
	// exists is not an error.
	EnsureTopics(ctx context.Context, topics ...string) error
}

// Bus is a complete implementation. Close releases it; Publish and Subscribe fail
// after Close, and running subscriptions return.
type Bus interface {
	Publisher
	Subscriber
	Admin
	Close() error
}
