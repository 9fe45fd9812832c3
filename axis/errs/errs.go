// Package errs is the one error type of axis: every failure carries the public code of
// SPEC §6, so HTTP, the drop directory, the DLQ and the CLI all report the same thing,
// and retry logic can tell transient failures from final ones.
package errs

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a public error code (SPEC §6). Its string form is what clients see.
type Code string

// Codes of SPEC §6, plus the few the API needs beyond package intake.
const (
	MalformedXML         Code = "malformed_xml"
	InvalidEnvelope      Code = "invalid_envelope"
	SignatureMissing     Code = "signature_missing"
	SignatureInvalid     Code = "signature_invalid"
	AlgorithmNotAllowed  Code = "algorithm_not_allowed"
	CertificateUntrusted Code = "certificate_untrusted"
	CertificateExpired   Code = "certificate_expired"
	CertificateRevoked   Code = "certificate_revoked"
	SenderMismatch       Code = "sender_mismatch"
	UnknownAgency        Code = "unknown_agency"
	DuplicateDocument    Code = "duplicate_document"
	UnknownTarget        Code = "unknown_target"
	StatusNotAllowed     Code = "status_not_allowed"
	TooLarge             Code = "too_large"
	Unavailable          Code = "unavailable"

	// Not part of the intake table, but needed by the read API.
	BadRequest   Code = "bad_request"
	Unauthorized Code = "unauthorized"
	NotFound     Code = "not_found"
	// MethodNotAllowed: the endpoint exists, for other methods (an Allow header lists them).
	MethodNotAllowed Code = "method_not_allowed"
	Internal         Code = "internal"
)

var httpStatus = map[Code]int{
	MalformedXML:         http.StatusBadRequest,
	InvalidEnvelope:      http.StatusUnprocessableEntity,
	SignatureMissing:     http.StatusUnprocessableEntity,
	SignatureInvalid:     http.StatusUnprocessableEntity,
	AlgorithmNotAllowed:  http.StatusUnprocessableEntity,
	CertificateUntrusted: http.StatusUnprocessableEntity,
	CertificateExpired:   http.StatusUnprocessableEntity,
	CertificateRevoked:   http.StatusUnprocessableEntity,
	SenderMismatch:       http.StatusForbidden,
	UnknownAgency:        http.StatusUnprocessableEntity,
	DuplicateDocument:    http.StatusConflict,
	UnknownTarget:        http.StatusUnprocessableEntity,
	StatusNotAllowed:     http.StatusForbidden,
	TooLarge:             http.StatusRequestEntityTooLarge,
	Unavailable:          http.StatusServiceUnavailable,
	BadRequest:           http.StatusBadRequest,
	Unauthorized:         http.StatusUnauthorized,
	NotFound:             http.StatusNotFound,
	MethodNotAllowed:     http.StatusMethodNotAllowed,
	Internal:             http.StatusInternalServerError,
}

// HTTPStatus is the HTTP status SPEC §6 assigns to the code (500 for unknown codes).
func (c Code) HTTPStatus() int {
	if s, ok := httpStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Transient reports whether retrying the same input later may succeed.
func (c Code) Transient() bool { return c == Unavailable || c == Internal }

// Error is an axis error: a public code, an optional field (for invalid_envelope), a
// message safe to show to the client, and an optional cause kept for logs.
type Error struct {
	Code  Code
	Field string // the offending element or attribute path, if any
	Msg   string
	Err   error // internal cause; never shown to clients
}

func (e *Error) Error() string {
	s := string(e.Code)
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Message is the client-facing text: field and message, without the internal cause.
func (e *Error) Message() string {
	switch {
	case e.Field != "" && e.Msg != "":
		return e.Field + ": " + e.Msg
	case e.Field != "":
		return e.Field
	case e.Msg != "":
		return e.Msg
	}
	return string(e.Code)
}

// E builds an error with a code and a formatted client-facing message.
func E(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Field builds an invalid_envelope-style error naming the offending field.
func Field(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Wrap attaches a code and message to an internal cause.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }

// Body is the JSON error body of SPEC §6.
type Body struct {
	Error BodyError `json:"error"`
}

// BodyError is the inner object of Body.
type BodyError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ToBody turns any error into the public JSON body; internal causes are not exposed.
func ToBody(err error) Body {
	var e *Error
	if errors.As(err, &e) {
		return Body{Error: BodyError{Code: string(e.Code), Message: e.Message()}}
	}
	return Body{Error: BodyError{Code: string(Internal), Message: "internal error"}}
}
