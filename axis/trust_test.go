package axis

import (
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"axis/axis/errs"
	"axis/signing/devpki"
)

// TestTrustReload: a CRL dropped into the trust directory applies to the next submission
// without a restart (the signer's chain was validated and cached before); a broken file
// leaves the trust in use as it was; ReloadTrust (SIGHUP) after the operator removes both
// accepts the signer again; the CRL freshness metric follows the CRLs in use.
func TestTrustReload(t *testing.T) {
	p := testPKI(t)
	trust := t.TempDir()
	root, err := os.ReadFile(devpki.RootCertPath(p))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(trust, "root.pem"), root, 0o644); err != nil {
		t.Fatal(err)
	}
	h := startDaemon(t, withTrust(trust, registryFile))
	reloads := func(result string) float64 {
		var m dto.Metric
		if err := h.d.m.trustReloads.WithLabelValues(result).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	crlSeries := func() int {
		mfs, err := h.d.m.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "axis_trust_crl_next_update_timestamp_seconds" {
				return len(mf.GetMetric())
			}
		}
		return 0
	}
	b1, doc1 := pkg(t, 1)
	h.mustAccept(b1)

	rootKey, err := devpki.LoadKey(devpki.RootKeyPath(p))
	if err != nil {
		t.Fatal(err)
	}
	rootCerts, err := devpki.LoadCertificates(devpki.RootCertPath(p))
	if err != nil {
		t.Fatal(err)
	}
	crl, err := devpki.NewCRL(&devpki.Cert{Cert: rootCerts[0], Key: rootKey},
		[]*big.Int{signer(t, govOffice).Cert.SerialNumber}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	crlFile := filepath.Join(trust, "root.crl")
	if err := os.WriteFile(crlFile, crl, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the trust directory read again", func() bool { return reloads("ok") >= 1 })
	b2, _ := pkg(t, 2)
	if r := h.postPackage(b2); r.Status == http.StatusAccepted || r.errCode() != string(errs.CertificateRevoked) {
		t.Fatalf("a package signed with a certificate the new CRL revokes: %d %s", r.Status, r.Body)
	}
	h.mustStatus(status(t, police, doc1, "01", "đã đến")) // other signers are unaffected
	if n := crlSeries(); n != 1 {
		t.Fatalf("%d CRL freshness series, want 1", n)
	}

	broken := filepath.Join(trust, "new-root.pem")
	if err := os.WriteFile(broken, []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a failed reload", func() bool { return reloads("error") >= 1 })
	if r := h.postPackage(b2); r.errCode() != string(errs.CertificateRevoked) {
		t.Fatalf("after a failed reload: %d %s", r.Status, r.Body)
	}

	// The operator removes both and signals: accepted again, no CRL reported.
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(crlFile); err != nil {
		t.Fatal(err)
	}
	if err := h.d.ReloadTrust("test"); err != nil {
		t.Fatal(err)
	}
	h.mustAccept(b2)
	if n := crlSeries(); n != 0 {
		t.Fatalf("%d CRL freshness series after the CRL was removed, want 0", n)
	}
}
