package portal

import (
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"axis/axis/errs"
	"axis/axis/token"
	"axis/envelope"
	"axis/store"
)

type documentPage struct {
	*base
	Doc         store.Document
	Pkg         *envelope.Package // nil when the stored bytes could not be read
	Attachments []attachmentRow
	Others      []store.Document // other packages under the same id the viewer may see
	Receipt     string
	Party       bool // may download the attachments
}

type attachmentRow struct {
	envelope.Attachment
	Size int64
	URL  string
}

// documentOrAttachment serves /documents/{id} and /documents/{id}/attachments/{cid}.
// Ids contain slashes, so the path is split by hand: the portal's own links escape the
// id whole (no literal "/"), and a hand-typed id with slashes still works.
func (p *Portal) documentOrAttachment(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/documents/")
	escID, escCID, isAtt := rest, "", false
	if i := strings.LastIndex(rest, "/attachments/"); i >= 0 {
		escID, escCID, isAtt = rest[:i], rest[i+len("/attachments/"):], true
	}
	id, err := url.PathUnescape(escID)
	if err != nil || id == "" {
		return errs.E(errs.NotFound, "no document")
	}
	doc, others, err := p.visible(r, id, r.URL.Query().Get("sha"))
	if err != nil {
		return err
	}
	if isAtt {
		if !party(r, doc) {
			return errs.E(errs.NotFound, "no attachment") // auditors see the metadata, not the content
		}
		cid, err := url.PathUnescape(escCID)
		if err != nil || cid == "" {
			return errs.E(errs.NotFound, "no attachment")
		}
		return p.attachment(w, r, doc, cid)
	}
	return p.document(w, r, doc, others)
}

// visible picks the package the viewer asked for (by sha) or, like the API, the newest
// package under the id the viewer may see. Anything else is the same 404 as a document
// that does not exist.
func (p *Portal) visible(r *http.Request, id, sha string) (store.Document, []store.Document, error) {
	cl, _ := claimsOf(r)
	docs, err := p.cfg.Store.DocumentsByID(r.Context(), id)
	if err != nil {
		return store.Document{}, nil, err
	}
	var seen []store.Document
	for _, d := range docs {
		if cl.CanSee(d.From, d.To) {
			seen = append(seen, d.SeenBy(cl.CanSee).OwnDelivery(cl.Agency))
		}
	}
	pick := -1
	for i := len(seen) - 1; i >= 0; i-- {
		if sha == "" || seen[i].SHA256 == sha {
			pick = i
			break
		}
	}
	if pick < 0 {
		return store.Document{}, nil, errs.E(errs.NotFound, "no document %q", id)
	}
	var others []store.Document
	for i, d := range seen {
		if i != pick {
			others = append(others, d)
		}
	}
	return seen[pick], others, nil
}

// party reports whether the viewer is the sender or a recipient of doc: only they may
// download attachments (an auditor sees that they exist, not what they say).
func party(r *http.Request, doc store.Document) bool {
	cl, _ := claimsOf(r)
	return cl.Agency != "" && (token.Claims{Agency: cl.Agency}).CanSee(doc.From, doc.To)
}

func (p *Portal) pkg(r *http.Request, doc store.Document) (*envelope.Package, error) {
	b, err := p.cfg.Store.Bytes(r.Context(), doc.SHA256)
	if err != nil {
		return nil, err
	}
	x, err := envelope.ReadDocument(b, envelope.Limits{MaxBytes: max(p.cfg.MaxPackageBytes, int64(len(b)))})
	if err != nil {
		return nil, err
	}
	return envelope.DecodePackage(x.Root())
}

func (p *Portal) document(w http.ResponseWriter, r *http.Request, doc store.Document, others []store.Document) error {
	b := p.base(w, r, "doc.title")
	pg := &documentPage{base: b, Doc: doc, Others: others, Receipt: string(doc.Receipt), Party: party(r, doc)}
	b.Title = doc.Subject
	if b.Title == "" {
		b.Title = b.T("doc.title")
	}
	pkg, err := p.pkg(r, doc)
	if err != nil {
		if errs.CodeOf(err) == errs.Unavailable {
			return err
		}
		// Stored bytes were verified at intake; show the metadata even if they cannot be read now.
		p.log.Warn("portal: stored package unreadable")
	} else {
		pg.Pkg = pkg
		for _, a := range pkg.Attachments {
			pg.Attachments = append(pg.Attachments, attachmentRow{Attachment: a, Size: int64(a.DecodedLen()),
				URL: docURL(doc.DocumentID, "") + "/attachments/" + url.PathEscape(a.ContentID) + "?sha=" + url.QueryEscape(doc.SHA256)})
		}
	}
	p.render(w, http.StatusOK, "document", pg)
	return nil
}

// attachment sends one decoded attachment as a download, to the parties only (visible
// already checked it): never rendered inline, whatever its declared type.
func (p *Portal) attachment(w http.ResponseWriter, r *http.Request, doc store.Document, cid string) error {
	pkg, err := p.pkg(r, doc)
	if err != nil {
		return err
	}
	a := pkg.Attachment(cid)
	if a == nil {
		return errs.E(errs.NotFound, "no attachment %q", cid)
	}
	data, err := a.Decode()
	if err != nil {
		return errs.Wrap(errs.Internal, err, "attachment %q does not decode", cid)
	}
	ctype := "application/octet-stream"
	if mt, params, err := mime.ParseMediaType(a.ContentType); err == nil && strings.Contains(mt, "/") {
		ctype = mime.FormatMediaType(mt, params)
	}
	name := a.AttachmentName
	if name == "" {
		name = strings.TrimPrefix(cid, "cid:")
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": name})
	if disp == "" {
		disp = "attachment"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", disp)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Security-Policy", csp+"; sandbox") // should a browser render it anyway
	w.Write(data)
	return nil
}
