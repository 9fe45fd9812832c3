package main

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"axis/axis/agency"
	"axis/axis/client"
	"axis/axis/errs"
	"axis/envelope"
)

func init() { register(statusCommand()) }

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "send a signed edXML status about a document (03 accepted, 04 assigned, 05 processing, 06 completed, 13 recall, ...)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Value: "http://127.0.0.1:8080", Usage: "the axis URL", EnvVars: []string{"AXIS_SERVER"}},
			&cli.StringFlag{Name: "key", Usage: "the agency's private key (PEM)", Required: true, EnvVars: []string{"AXIS_AGENCY_KEY"}},
			&cli.StringFlag{Name: "cert", Usage: "the agency's certificate (PEM)", Required: true, EnvVars: []string{"AXIS_AGENCY_CERT"}},
			&cli.StringFlag{Name: "chain", Usage: "intermediate certificates to include (PEM)", EnvVars: []string{"AXIS_AGENCY_CHAIN"}},
			&cli.StringFlag{Name: "agency", Usage: "the answering agency (default: the certificate's serialNumber)", EnvVars: []string{"AXIS_AGENCY"}},
			&cli.StringFlag{Name: "doc", Usage: "the DocumentId the status is about", Required: true, EnvVars: []string{"AXIS_STATUS_DOC"}},
			&cli.StringFlag{Name: "code", Usage: "status code: 01-06, 13, 15, 16", Required: true, EnvVars: []string{"AXIS_STATUS_CODE"}},
			&cli.StringFlag{Name: "description", Usage: "free text (default: the code's meaning)", EnvVars: []string{"AXIS_STATUS_DESCRIPTION"}},
			&cli.StringFlag{Name: "staff", Usage: "the clerk's name (StaffInfo/Staff)", EnvVars: []string{"AXIS_STAFF"}},
			&cli.StringFlag{Name: "department", Usage: "the clerk's department (StaffInfo/Department)", EnvVars: []string{"AXIS_DEPARTMENT"}},
			&cli.StringFlag{Name: "save", Usage: "also write the signed status to this file", EnvVars: []string{"AXIS_STATUS_SAVE"}},
			&cli.DurationFlag{Name: "timeout", Value: time.Minute, EnvVars: []string{"AXIS_TIMEOUT"}},
		},
		Action: statusAction,
	}
}

func statusAction(c *cli.Context) error {
	cl, err := client.New(c.String("server"))
	if err != nil {
		return cli.Exit("status: "+err.Error(), 2)
	}
	signer, err := loadSigner(c.String("key"), c.String("cert"), c.String("chain"))
	if err != nil {
		return err
	}
	from := c.String("agency")
	if from == "" {
		if from = agency.AgencyOf(signer.Cert); from == "" {
			return cli.Exit("status: the certificate has no serialNumber: name the agency with --agency", 2)
		}
	}
	req := agency.StatusRequest{DocumentID: c.String("doc"), Code: c.String("code"), Description: c.String("description"),
		From: envelope.Organization{OrganID: from}}
	if c.String("staff") != "" || c.String("department") != "" {
		req.Staff = &envelope.StaffInfo{Staff: c.String("staff"), Department: c.String("department")}
	}
	st, err := agency.NewStatus(req)
	if err != nil {
		return cli.Exit(fmt.Sprintf("status: %s: %s", errs.CodeOf(err), errs.ToBody(err).Error.Message), 2)
	}
	b, err := agency.SignStatus(st, signer)
	if err != nil {
		return err
	}
	if p := c.String("save"); p != "" {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	ctx, cancel := contextWithTimeout(c, c.Duration("timeout"))
	defer cancel()
	a, err := cl.SubmitStatus(ctx, b)
	if err != nil {
		if errs.CodeOf(err).Transient() {
			fmt.Fprintf(c.App.Writer, "FAILED %s %s: %s: %s\n", c.String("code"), c.String("doc"), errs.CodeOf(err), oneLine(errs.ToBody(err).Error.Message))
			return cli.Exit("", exitTempFail)
		}
		fmt.Fprintf(c.App.Writer, "REJECTED %s %s: %s: %s\n", c.String("code"), c.String("doc"), errs.CodeOf(err), oneLine(errs.ToBody(err).Error.Message))
		return cli.Exit("", 1)
	}
	meaning, _ := envelope.StatusMeaning(a.Code)
	word := "RECORDED"
	if a.Existing {
		word = "ALREADY_RECORDED"
	}
	fmt.Fprintf(c.App.Writer, "%s %s (%s) for %s from %s audit_seq %d\n", word, a.Code, meaning, a.DocumentID, from, a.AuditSeq)
	return nil
}
