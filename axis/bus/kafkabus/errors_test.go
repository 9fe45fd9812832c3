package kafkabus

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/segmentio/kafka-go"

	"axis/axis/errs"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		cause     error
		code      errs.Code
		retriable bool
		mention   string
	}{
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), nil, errs.Unavailable, true, "unavailable"},
		{"eof", io.ErrUnexpectedEOF, nil, errs.Unavailable, true, "unavailable"},
		{"leader moved", kafka.NotLeaderForPartition, nil, errs.Unavailable, true, "unavailable"},
		{"timeout", context.DeadlineExceeded, errors.New("gave up after 10s"), errs.Unavailable, true, "gave up after 10s"},
		{"cancelled", context.Canceled, context.Canceled, errs.Unavailable, true, "cancelled"},
		{"too large local", kafka.MessageTooLargeError{}, nil, errs.TooLarge, false, "larger"},
		{"too large broker", kafka.MessageSizeTooLarge, nil, errs.TooLarge, false, "larger"},
		{"batch too large", kafka.RecordListTooLarge, nil, errs.TooLarge, false, "larger"},
		{"invalid topic", kafka.InvalidTopic, nil, errs.BadRequest, false, "rejected"},
		{"timestamp out of the broker's range", kafka.InvalidTimestamp, nil, errs.BadRequest, false, "rejected"},
		{"topic policy", kafka.PolicyViolation, nil, errs.BadRequest, false, "rejected"},
		{"invalid request", kafka.InvalidRequest, nil, errs.BadRequest, false, "rejected"},
		{"message format", kafka.UnsupportedForMessageFormat, nil, errs.BadRequest, false, "rejected"},
		{"sasl", fmt.Errorf("auth: %w", kafka.SASLAuthenticationFailed), nil, errs.Unavailable, false, "--kafka-password"},
		{"acl", kafka.TopicAuthorizationFailed, nil, errs.Unavailable, false, "credentials"},
		{"unknown CA", fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), nil, errs.Unavailable, false, "--kafka-tls-ca"},
		{"unknown topic", kafka.UnknownTopicOrPartition, nil, errs.Unavailable, true, "does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(tc.err, tc.cause, "publish")
			if code := errs.CodeOf(err); code != tc.code {
				t.Errorf("code %s, want %s (%v)", code, tc.code, err)
			}
			// (errors.Is cannot compare MessageTooLargeError, which holds a slice.)
			if reflect.TypeOf(tc.err).Comparable() && !errors.Is(err, tc.err) {
				t.Errorf("%v does not wrap %v", err, tc.err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("%v does not wrap the cause %v", err, tc.cause)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("%q does not mention %q", err, tc.mention)
			}
			if got := retriable(tc.err); got != tc.retriable {
				t.Errorf("retriable = %v, want %v", got, tc.retriable)
			}
		})
	}
}

// TestRemaining: after a partial failure, everything of a failed topic from its first
// failure on is sent again, so the call's order survives in the tail of the log.
func TestRemaining(t *testing.T) {
	m := func(topic, v string) kafka.Message { return kafka.Message{Topic: topic, Value: []byte(v)} }
	fail := errors.New("broker gone")
	tests := []struct {
		name  string
		sent  []kafka.Message
		errs  kafka.WriteErrors
		want  string
		first error
	}{
		{"only the failed ones, in order",
			[]kafka.Message{m("a", "1"), m("a", "2"), m("a", "3"), m("a", "4")},
			kafka.WriteErrors{nil, fail, nil, fail}, "a2 a4", fail},
		{"other topic untouched",
			[]kafka.Message{m("a", "1"), m("b", "1"), m("a", "2"), m("b", "2")},
			kafka.WriteErrors{fail, nil, fail, nil}, "a1 a2", fail},
		{"permanent wins",
			[]kafka.Message{m("a", "1"), m("b", "1")},
			kafka.WriteErrors{fail, kafka.MessageSizeTooLarge}, "a1 b1", kafka.MessageSizeTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := remaining(tc.sent, tc.errs)
			var got []string
			for _, o := range out {
				got = append(got, o.Topic+string(o.Value))
			}
			if strings.Join(got, " ") != tc.want || !errors.Is(err, tc.first) {
				t.Errorf("remaining = %v, %v; want %s, %v", got, err, tc.want, tc.first)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Brokers: []string{"kafka-1:9092"}}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string // "" if valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "brokers"},
		{"no port", func(c *Config) { c.Brokers = []string{"kafka-1"} }, "brokers"},
		{"plain", func(c *Config) { c.SASLMechanism, c.Username, c.Password = "PLAIN", "u", "p" }, ""},
		{"scram-sha-512", func(c *Config) { c.SASLMechanism, c.Username, c.Password = "scram-sha-512", "u", "p" }, ""},
		{"unknown mechanism", func(c *Config) { c.SASLMechanism, c.Username, c.Password = "gssapi", "u", "p" }, "kafka-sasl-mechanism"},
		{"mechanism without user", func(c *Config) { c.SASLMechanism = "plain" }, "kafka-username"},
		{"password without mechanism", func(c *Config) { c.Password = "p" }, "kafka-sasl-mechanism"},
		{"short session", func(c *Config) { c.SessionTimeout = 5e9 }, "kafka-session-timeout"},
		{"missing CA file", func(c *Config) { c.TLSCAFile = "/nonexistent/ca.pem" }, "kafka-tls-ca"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			_, err := New(c)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errs.Is(err, errs.BadRequest) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("New = %v, want %s naming %s", err, errs.BadRequest, tc.field)
			}
		})
	}
	c := ok
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SessionTimeout < 6e9 || c.ClientID == "" || c.MaxMessageBytes == 0 || c.Partitions != 1 {
		t.Errorf("defaults not filled in: %+v", c)
	}
}
