package kafkabus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"

	"axis/axis/bus"
	"axis/axis/errs"
)

// Kafka error codes that retrying cannot fix.
var (
	sizeErrors = []kafka.Error{kafka.MessageSizeTooLarge, kafka.RecordListTooLarge}
	// As Kafka's own clients: codes its protocol marks not retriable for a produce.
	badErrors = []kafka.Error{kafka.InvalidTopic, kafka.InvalidRecord, kafka.InvalidRequiredAcks,
		kafka.InvalidTimestamp, kafka.InvalidRequest, kafka.UnsupportedForMessageFormat, kafka.PolicyViolation}
	authErrors = []kafka.Error{kafka.SASLAuthenticationFailed, kafka.UnsupportedSASLMechanism, kafka.IllegalSASLState,
		kafka.TopicAuthorizationFailed, kafka.GroupAuthorizationFailed, kafka.ClusterAuthorizationFailed}
)

func isAny(err error, codes []kafka.Error) bool {
	for _, c := range codes {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}

func isTooLarge(err error) bool {
	var mtl kafka.MessageTooLargeError
	return errors.As(err, &mtl) || isAny(err, sizeErrors)
}

// isTLS reports a certificate or handshake failure: a configuration problem.
func isTLS(err error) bool {
	var (
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		rhe tls.RecordHeaderError
		cve *tls.CertificateVerificationError
	)
	return errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &rhe) || errors.As(err, &cve)
}

// retriable reports whether trying the same request again soon may succeed. Bad
// credentials and certificates are not: they need the operator.
func retriable(err error) bool {
	switch {
	case err == nil:
		return false
	case isTooLarge(err), isAny(err, badErrors), isAny(err, authErrors), isTLS(err):
		return false
	}
	return true
}

// classify turns a kafka-go error into an axis error. cause, if not nil, is why the
// operation's context ended (the caller's cancellation or the publish timeout); it is
// kept in the chain so errors.Is(err, context.Canceled) works.
func classify(err, cause error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if cause != nil && !errors.Is(err, cause) {
		err = errors.Join(err, cause)
	}
	switch {
	case isTooLarge(err):
		return errs.Wrap(errs.TooLarge, err, "%s: message larger than the broker accepts", what)
	case isAny(err, badErrors):
		return errs.Wrap(errs.BadRequest, err, "%s: rejected by the broker", what)
	case isAny(err, authErrors):
		// Transient for the daemon (messages stay queued), but the operator must act.
		return errs.Wrap(errs.Unavailable, err, "%s: Kafka refused the credentials (check --kafka-sasl-mechanism, --kafka-username, --kafka-password)", what)
	case isTLS(err):
		return errs.Wrap(errs.Unavailable, err, "%s: TLS with the Kafka brokers failed (check --kafka-tls-ca)", what)
	case errors.Is(err, kafka.UnknownTopicOrPartition):
		return errs.Wrap(errs.Unavailable, errors.Join(bus.ErrUnknownTopic, err), "%s: topic does not exist (topics are created explicitly, never automatically)", what)
	case errors.Is(err, context.Canceled):
		return errs.Wrap(errs.Unavailable, err, "%s: cancelled", what)
	}
	return errs.Wrap(errs.Unavailable, err, "%s: Kafka unavailable", what)
}
