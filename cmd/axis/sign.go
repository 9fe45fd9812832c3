package main

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"axis/signing"
	"axis/signing/devpki"
)

func init() { register(signCommand()) }

func signCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign",
		Usage:     "sign an edXML package or status message (enveloped XML-DSig over the whole document)",
		ArgsUsage: "IN (- for stdin)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Usage: "signer private key (PEM, PKCS#8/PKCS#1/SEC1)", Required: true, EnvVars: []string{"AXIS_SIGN_KEY"}},
			&cli.StringFlag{Name: "cert", Usage: "signer certificate (PEM)", Required: true, EnvVars: []string{"AXIS_SIGN_CERT"}},
			&cli.StringFlag{Name: "chain", Usage: "intermediate certificates to include in KeyInfo (PEM)", EnvVars: []string{"AXIS_SIGN_CHAIN"}},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "output file (default: stdout)", EnvVars: []string{"AXIS_SIGN_OUT"}},
		},
		Action: func(c *cli.Context) error {
			// SPEC §5 writes "IN [-o OUT]": urfave/cli v2 stops parsing flags at the first
			// argument, so a trailing -o is read here.
			args, out, err := trailingOut(c.Args().Slice(), c.String("out"))
			if err != nil {
				return cli.Exit("sign: "+err.Error(), 2)
			}
			if len(args) != 1 {
				return cli.Exit("sign: exactly one input file is needed", 2)
			}
			signer, err := loadSigner(c.String("key"), c.String("cert"), c.String("chain"))
			if err != nil {
				return err
			}
			in, err := readInput(args[0])
			if err != nil {
				return err
			}
			signed, err := signer.SignBytes(in)
			if err != nil {
				return fmt.Errorf("sign %s: %w", args[0], err)
			}
			if out != "" {
				return os.WriteFile(out, signed, 0o644)
			}
			_, err = c.App.Writer.Write(signed)
			return err
		},
	}
}

// loadSigner reads a key, its certificate and an optional chain from PEM files.
func loadSigner(keyFile, certFile, chainFile string) (*signing.Signer, error) {
	key, err := devpki.LoadKey(keyFile)
	if err != nil {
		return nil, err
	}
	certs, err := devpki.LoadCertificates(certFile)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, errors.New(certFile + ": no certificate")
	}
	if pub, ok := certs[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, cli.Exit(fmt.Sprintf("%s is not the key of %s: give the key and certificate of one signer", keyFile, certFile), 2)
	}
	s := &signing.Signer{Key: key, Cert: certs[0], Chain: certs[1:]}
	if chainFile != "" {
		chain, err := devpki.LoadCertificates(chainFile)
		if err != nil {
			return nil, err
		}
		s.Chain = append(s.Chain, chain...)
	}
	return s, nil
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// trailingOut extracts "-o OUT", "--out OUT" or "-o=OUT" standing after the input.
func trailingOut(args []string, out string) ([]string, string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "--out" || a == "-out":
			if i+1 >= len(args) {
				return nil, "", errors.New(a + " needs a file name")
			}
			out = args[i+1]
			i++
		case strings.HasPrefix(a, "-o=") || strings.HasPrefix(a, "--out="):
			out = a[strings.IndexByte(a, '=')+1:]
		default:
			rest = append(rest, a)
		}
	}
	return rest, out, nil
}
