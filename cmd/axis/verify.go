package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"axis/axis/errs"
	"axis/axis/registry"
	"axis/axis/verify"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

func init() { register(verifyCommand()) }

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "verify signed edXML packages and statuses offline; exit 1 if any is rejected",
		ArgsUsage: "FILE|DIR|-...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "trust", Usage: "trusted roots, intermediates and CRLs (PEM file or directory)", Required: true, EnvVars: []string{"AXIS_TRUST"}},
			&cli.StringFlag{Name: "registry", Usage: "agency registry (JSON); without it only serialNumber binding is checked", EnvVars: []string{"AXIS_REGISTRY"}},
			&cli.BoolFlag{Name: "allow-sha1", Usage: "accept legacy SHA-1 signatures and SHA-1-signed certificates (reported as legacy)", EnvVars: []string{"AXIS_ALLOW_SHA1"}},
			&cli.Int64Flag{Name: "max-package-bytes", Value: envelope.DefaultMaxBytes, Usage: "size limit", EnvVars: []string{"AXIS_MAX_PACKAGE_BYTES"}},
			&cli.StringFlag{Name: "identity-cert", Usage: "the axis identity certificate (PEM) acceptance receipts must be signed with; default: any certificate under --trust whose subject serialNumber is \"axis\"", EnvVars: []string{"AXIS_IDENTITY_CERT"}},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.Exit("verify: no file given", 2)
			}
			ts, err := signing.LoadTrust(c.String("trust"))
			if err != nil {
				return err
			}
			var reg *registry.Registry
			if p := c.String("registry"); p != "" {
				if reg, err = registry.Load(p); err != nil {
					return err
				}
			}
			checker := verify.New(signing.NewVerifier(ts, signing.Options{AllowSHA1: c.Bool("allow-sha1")}), reg,
				envelope.Limits{MaxBytes: c.Int64("max-package-bytes")})
			if p := c.String("identity-cert"); p != "" {
				certs, err := devpki.LoadCertificates(p)
				if err != nil {
					return err
				}
				sum := sha256.Sum256(certs[0].Raw)
				checker = checker.WithIdentity(hex.EncodeToString(sum[:]))
			}
			files, err := expandFiles(c.Args().Slice())
			if err != nil {
				return err
			}
			rejected := 0
			for _, f := range files {
				var b []byte
				if f == "-" { // standard input, as `axis audit verify -`
					b, err = envelope.ReadLimited(c.App.Reader, c.Int64("max-package-bytes"))
				} else {
					b, err = os.ReadFile(f)
				}
				if err != nil && !errs.Is(err, errs.TooLarge) {
					return err
				}
				if err != nil {
					rejected++
					fmt.Fprintf(c.App.Writer, "REJECTED %s: %s: %s\n", f, errs.CodeOf(err), oneLine(errs.ToBody(err).Error.Message))
					continue
				}
				res, err := checker.Check(b)
				if err != nil {
					rejected++
					fmt.Fprintf(c.App.Writer, "REJECTED %s: %s: %s\n", f, errs.CodeOf(err), oneLine(errs.ToBody(err).Error.Message))
					continue
				}
				note := ""
				if res.Receipt != nil {
					note = fmt.Sprintf(" (acceptance receipt: %s, sha256 %s, audit seq %d)", res.Receipt.From, res.Receipt.SHA256, res.Receipt.AuditSeq)
				}
				if res.Signed.Legacy {
					note += " (legacy SHA-1 signature)"
				}
				fmt.Fprintf(c.App.Writer, "OK %s from %s%s\n", res.DocumentID, res.From, note)
			}
			if rejected > 0 {
				return cli.Exit("", 1)
			}
			return nil
		},
	}
}

// expandFiles turns directories into the *.edxml and *.xml files below them, in order.
func expandFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "-" {
			out = append(out, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			ext := strings.ToLower(filepath.Ext(d.Name()))
			if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") && (ext == ".edxml" || ext == ".xml") {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
