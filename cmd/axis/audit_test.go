package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"axis/signing"
	"axis/signing/devpki"
	"axis/store"
	"axis/store/audit"
)

// auditFixture creates a development PKI and a stopped daemon's data dir whose audit
// checkpoints are signed (XML-DSig) by the axis identity.
func auditFixture(t *testing.T) (dataDir, pki string) {
	t.Helper()
	dir := t.TempDir()
	pki = filepath.Join(dir, "pki")
	if _, errOut, code := run(t, nil, "pki", "init", "--dir", pki, "--registry", "../../testdata/agencies.json"); code != 0 {
		t.Fatalf("pki init: %s", errOut)
	}
	dataDir = filepath.Join(dir, "data")
	s, err := store.Open(dataDir, store.Options{Checkpoints: identitySigner(t, pki, "axis"), CheckpointEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 6 {
		req := store.AcceptRequest{Meta: store.DocumentMeta{DocumentID: fmt.Sprint("D", i), From: "000.00.00.G22", To: []string{"000.00.00.G01"}},
			Bytes: []byte(fmt.Sprint("<edXML>", i, "</edXML>"))}
		if _, err := s.Accept(ctx, req); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordRejected(ctx, store.Rejection{Code: "malformed_xml", Detail: "<not xml> & \"quoted\""}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil { // writes the final checkpoint
		t.Fatal(err)
	}
	return dataDir, pki
}

// identitySigner signs with pki's axis identity, or with an agency's key for forgeries.
func identitySigner(t *testing.T, pki, who string) audit.CheckpointSigner {
	certPath, keyPath := devpki.AxisCertPath(pki), devpki.AxisKeyPath(pki)
	if who != "axis" {
		certPath, keyPath = devpki.AgencyCertPath(pki, who), devpki.AgencyKeyPath(pki, who)
	}
	key, err := devpki.LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := devpki.LoadCertificates(certPath)
	if err != nil {
		t.Fatal(err)
	}
	s := &signing.Signer{Key: key, Cert: certs[0]}
	return audit.SignerFunc(s.SignBytes)
}

func TestAuditExportVerify(t *testing.T) {
	data, pki := auditFixture(t)
	root := filepath.Join(pki, "root.pem")
	export, errOut, code := run(t, nil, "audit", "export", "--data-dir", data)
	if code != 0 {
		t.Fatalf("export: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(export, "\n"), "\n")
	if len(lines) != 15 { // 12 events + checkpoints at 5, 10 and the final one at 15
		t.Fatalf("%d lines:\n%s", len(lines), export)
	}
	out, _, code := run(t, []byte(export), "audit", "verify", "-", "--trust", root)
	if code != 0 || !strings.HasPrefix(out, "OK last_good_seq=15 events=15 checkpoints=3 last_checkpoint=15\n") || strings.Contains(out, "warning") {
		t.Fatalf("verify: %d %q", code, out)
	}
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	os.WriteFile(file, []byte(export), 0o600)
	if out, _, code := run(t, nil, "audit", "verify", file, "--trust", root, "--identity-cert", devpki.AxisCertPath(pki)); code != 0 {
		t.Fatalf("verify pinned: %q", out)
	}
	if out, _, code := run(t, nil, "audit", "verify", file, "--trust", root, "--identity-cert", devpki.AgencyCertPath(pki, "000.00.00.G22")); code != 1 || !strings.Contains(out, "first_bad_seq=5 ") {
		t.Fatalf("verify pinned to another cert: %d %q", code, out)
	}

	cases := []struct {
		name  string
		log   string
		trust bool
		code  int
		want  string
	}{
		{"no trust", export, false, 0, "note: checkpoint signatures not checked"},
		{"edited", strings.Replace(export, `"D3"`, `"D4"`, 1), false, 1, "BROKEN first_bad_seq=8 line=8 last_good_seq=7: hash mismatch"},
		{"deleted", strings.Replace(export, lines[8]+"\n", "", 1), false, 1, "BROKEN first_bad_seq=9 "},
		{"reordered", strings.Replace(export, lines[8]+"\n"+lines[9], lines[9]+"\n"+lines[8], 1), false, 1, "BROKEN first_bad_seq=9 "},
		{"bad json", strings.Replace(export, lines[2], lines[2][:40], 1), false, 1, "BROKEN first_bad_seq=3 "},
		{"cut short", strings.Join(lines[:13], "\n") + "\n", true, 0, "warning: 3 events after the last checkpoint (seq 10) are not attested"},
		{"from seq", strings.Join(lines[6:], "\n") + "\n", true, 0, "note: the log starts at seq 7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"audit", "verify", "-"}
			if tc.trust {
				args = append(args, "--trust", root)
			}
			out, _, code := run(t, []byte(tc.log), args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, output %q", code, out)
			}
		})
	}

	// --from and a locked store.
	if out, _, _ := run(t, nil, "audit", "export", "--data-dir", data, "--from", "14"); out != lines[13]+"\n"+lines[14]+"\n" {
		t.Fatalf("--from: %q", out)
	}
	s, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run(t, nil, "audit", "export", "--data-dir", data)
	s.Close()
	if code == 0 || !strings.Contains(errOut, "locked by another process") {
		t.Fatalf("locked: %d %q", code, errOut)
	}
	if _, errOut, code := run(t, nil, "audit", "export", "--server", "http://x", "--data-dir", data); code != 2 || !strings.Contains(errOut, "not both") {
		t.Fatalf("--server with --data-dir: %d %q", code, errOut)
	}
}

// A checkpoint signed by an agency (a valid chain, but not the axis identity) is a break.
func TestAuditVerifyForgedCheckpoint(t *testing.T) {
	data, pki := auditFixture(t)
	s, err := store.Open(data, store.Options{Checkpoints: identitySigner(t, pki, "000.00.00.G22")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordRejected(context.Background(), store.Rejection{Code: "malformed_xml"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	export, _, _ := run(t, nil, "audit", "export", "--data-dir", data)
	out, _, code := run(t, []byte(export), "audit", "verify", "-", "--trust", filepath.Join(pki, "root.pem"))
	if code != 1 || !strings.Contains(out, "BROKEN first_bad_seq=17 ") || !strings.Contains(out, "not the axis identity") {
		t.Fatalf("forged checkpoint: %d %q", code, out)
	}
	if !bytes.Contains([]byte(export), []byte(`"type":"checkpoint"`)) {
		t.Fatal("no checkpoint")
	}
}

// An auditor verifies an old log after the axis identity was replaced and revoked: a
// revocation for a routine reason (superseded) takes effect at its time, so the
// checkpoints signed before it still verify; one for a key compromise breaks them all.
func TestAuditVerifyAfterIdentityRevoked(t *testing.T) {
	data, pki := auditFixture(t)
	export, errOut, code := run(t, nil, "audit", "export", "--data-dir", data)
	if code != 0 {
		t.Fatalf("export: %d %s", code, errOut)
	}
	rootKey, err := devpki.LoadKey(devpki.RootKeyPath(pki))
	if err != nil {
		t.Fatal(err)
	}
	roots, err := devpki.LoadCertificates(devpki.RootCertPath(pki))
	if err != nil {
		t.Fatal(err)
	}
	identity, err := devpki.LoadCertificates(devpki.AxisCertPath(pki))
	if err != nil {
		t.Fatal(err)
	}
	// After every checkpoint of the fixture; CRLs carry whole seconds.
	revokedAt := time.Now().Truncate(time.Second).Add(time.Second)
	for _, tc := range []struct {
		reason int
		code   int
		want   string
	}{
		{4, 0, "OK last_good_seq=15 "},    // superseded
		{1, 1, "BROKEN first_bad_seq=5 "}, // keyCompromise
	} {
		crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: big.NewInt(int64(tc.reason)), ThisUpdate: revokedAt, NextUpdate: revokedAt.Add(24 * time.Hour),
			RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: identity[0].SerialNumber,
				RevocationTime: revokedAt, ReasonCode: tc.reason}},
		}, roots[0], rootKey)
		if err != nil {
			t.Fatal(err)
		}
		trust := t.TempDir()
		os.WriteFile(filepath.Join(trust, "root.pem"), devpki.EncodeCerts(roots[0]), 0o644)
		os.WriteFile(filepath.Join(trust, "root.crl"), crl, 0o644)
		out, _, code := run(t, []byte(export), "audit", "verify", "-", "--trust", trust)
		if code != tc.code || !strings.HasPrefix(out, tc.want) {
			t.Errorf("revoked for reason %d: exit %d, %q", tc.reason, code, out)
		}
	}
}
