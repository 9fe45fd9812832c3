// Package e2e holds end-to-end tests of the real `axis` binary: the daemon, the
// standalone broker and the audit commands run as processes that the tests kill,
// restart and talk to over HTTP and Kafka, the way agencies and operators do. It has
// no code of its own; see its _test.go files.
package e2e
