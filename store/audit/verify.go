package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// VerifyOptions configures a Verifier.
type VerifyOptions struct {
	// Checkpoints checks checkpoint signatures; nil checks only their content.
	Checkpoints CheckpointVerifier
	// Progress, if set, is called every ProgressEvery lines with the count so far.
	Progress      func(lines uint64)
	ProgressEvery uint64 // default 100000
}

// Break is the first place where a log stops verifying.
type Break struct {
	Seq    uint64 // the first bad seq (the seq expected at that line)
	Line   uint64 // 1-based line number
	Reason string
}

func (b *Break) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d (line %d): %s", b.Seq, b.Line, b.Reason)
}

// Report summarises a verification.
type Report struct {
	Events            uint64 // lines verified
	FirstSeq, LastSeq uint64 // LastSeq is the last good seq
	LastHash          string
	Checkpoints       uint64
	LastCheckpoint    uint64 // seq of the last good checkpoint event, 0 if none
	SignaturesChecked bool   // checkpoint signatures were verified
	Break             *Break // nil when every line verified
}

// Partial reports whether the log does not start at seq 1 (e.g. an export --from).
func (r Report) Partial() bool { return r.FirstSeq > 1 }

// Unattested is the number of good events after the last checkpoint: a log cut short there
// cannot be told from a complete one.
func (r Report) Unattested() uint64 {
	if r.Events == 0 {
		return 0
	}
	if r.LastCheckpoint == 0 {
		return r.Events
	}
	return r.LastSeq - r.LastCheckpoint
}

// Verifier checks lines one at a time; the daemon can feed it from the store and auditors
// from a file. After the first break every Add returns that break.
type Verifier struct {
	opts  VerifyOptions
	lines uint64
	r     Report
}

// NewVerifier returns a Verifier for a log starting at its first line.
func NewVerifier(opts VerifyOptions) *Verifier {
	if opts.ProgressEvery == 0 {
		opts.ProgressEvery = 100000
	}
	return &Verifier{opts: opts, r: Report{SignaturesChecked: opts.Checkpoints != nil}}
}

// Report returns the verification state so far.
func (v *Verifier) Report() Report { return v.r }

// Add verifies the next line (without its newline). It returns a *Break on failure.
func (v *Verifier) Add(line []byte) error {
	if v.r.Break != nil {
		return v.r.Break
	}
	v.lines++
	if v.opts.Progress != nil && v.lines%v.opts.ProgressEvery == 0 {
		v.opts.Progress(v.lines)
	}
	want := v.r.LastSeq + 1
	fail := func(seq uint64, format string, args ...any) error {
		v.r.Break = &Break{Seq: seq, Line: v.lines, Reason: fmt.Sprintf(format, args...)}
		return v.r.Break
	}
	rec, err := ParseLine(line)
	if err != nil {
		return fail(want, "%v", err)
	}
	e := &rec.Event
	if v.r.Events == 0 {
		if e.Seq == 1 && e.Prev != ZeroHash {
			return fail(1, "prev of seq 1 is not 64 zeros")
		}
		want = e.Seq // a partial log may start anywhere; its first prev cannot be checked
	} else {
		switch {
		case e.Seq > want:
			return fail(want, "seq %d missing (next line has seq %d)", want, e.Seq)
		case e.Seq < want:
			return fail(want, "seq %d where %d expected (duplicated or reordered line)", e.Seq, want)
		case e.Prev != v.r.LastHash:
			return fail(want, "prev does not match the hash of seq %d", v.r.LastSeq)
		}
	}
	if h := Hash(e.Prev, rec.Raw); h != rec.Hash {
		return fail(want, "hash mismatch: the event was altered")
	}
	if e.Type == Checkpoint {
		if err := v.checkpoint(e); err != nil {
			return fail(want, "checkpoint: %v", err)
		}
	}
	if v.r.Events == 0 {
		v.r.FirstSeq = e.Seq
	}
	v.r.Events++
	v.r.LastSeq, v.r.LastHash = e.Seq, rec.Hash
	if e.Type == Checkpoint {
		v.r.Checkpoints++
		v.r.LastCheckpoint = e.Seq
	}
	return nil
}

func (v *Verifier) checkpoint(e *Event) error {
	doc, err := base64.StdEncoding.DecodeString(e.Detail)
	if err != nil {
		return fmt.Errorf("detail is not base64: %w", err)
	}
	if v.opts.Checkpoints != nil {
		if doc, err = v.opts.Checkpoints.VerifyCheckpoint(doc); err != nil {
			return fmt.Errorf("signature: %w", err)
		}
	}
	a, err := ParseAttestation(doc)
	if err != nil {
		return err
	}
	if a.Seq+1 != e.Seq || a.Hash != e.Prev {
		return fmt.Errorf("attests seq %d, not the previous event", a.Seq)
	}
	return nil
}

// MaxLine bounds a line; longer input is reported as a break rather than read into memory.
const MaxLine = 64 << 20

// Verify reads export lines from r until EOF. Chain problems are in Report.Break; the
// error is only for I/O failures and cancellation.
func Verify(ctx context.Context, r io.Reader, opts VerifyOptions) (Report, error) {
	v := NewVerifier(opts)
	br := bufio.NewReaderSize(r, 256<<10)
	var long []byte
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return v.Report(), err
			}
		}
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long)+len(chunk) > MaxLine {
				v.Add(nil)
				v.r.Break.Reason = "line longer than 64 MiB"
				return v.Report(), nil
			}
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if err != nil && err != io.EOF {
			return v.Report(), err
		}
		if len(line) > 0 {
			if v.Add(bytes.TrimSuffix(line, []byte{'\n'})) != nil {
				return v.Report(), nil
			}
		}
		if err == io.EOF {
			return v.Report(), nil
		}
	}
}
