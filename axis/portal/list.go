package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"axis/axis/errs"
	"axis/store"
)

// listPage is /inbox or /outbox.
type listPage struct {
	*base
	Dir      store.Direction
	AgencyID string // "" while an auditor has not chosen
	Q        listQuery
	Rows     []row
	Labels   rowLabels
	NextURL  string
	FirstURL string
	SortURL  string // the other order
	States   []store.State
}

type listQuery struct {
	Since, Until, Status, Counterpart, Text, Sort, Cursor string
}

// row is one document of a list, formatted in Go: a page has 50 of them, and doing it
// here rather than with template method calls halves the render time.
type row struct {
	Date, ISO, Code, Title, URL, Biz, Party string
	Urgent                                  bool
	States                                  []stateLabel
}

type stateLabel struct{ Label, CSS, Who string }

// rowLabels are the column names repeated in every cell (phones show them).
type rowLabels struct{ Date, Code, Subject, Party, State, Urgent string }

var allStates = []store.State{store.StatePending, store.StatePublished, store.StateArrived, store.StateRejected,
	store.StateAccepted, store.StateAssigned, store.StateProcessing, store.StateCompleted}

func (p *Portal) list(dir store.Direction) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		cl, _ := claimsOf(r)
		q := r.URL.Query()
		title := "list.in.title"
		if dir == store.Out {
			title = "list.out.title"
		}
		b := p.base(w, r, title)
		b.Active = string(dir)
		pg := &listPage{base: b, Dir: dir, States: allStates, Q: listQuery{Since: q.Get("since"), Until: q.Get("until"),
			Status: q.Get("status"), Counterpart: q.Get("counterpart"), Text: q.Get("q"), Sort: q.Get("sort"), Cursor: q.Get("cursor")}}
		agency := cl.Agency
		if cl.Auditor {
			agency = q.Get("agency")
		} else if a := q.Get("agency"); a != "" && a != cl.Agency {
			return errs.E(errs.NotFound, "no agency %q", a) // as the API: another agency's list does not exist
		}
		if agency == "" {
			if !cl.Auditor {
				return errs.E(errs.NotFound, "no agency")
			}
			p.render(w, http.StatusOK, "list", pg) // the agency picker
			return nil
		}
		if _, ok := p.cfg.Registry.Lookup(agency); !ok {
			// Removed from the registry since: its history stays readable.
			if had, err := p.cfg.Store.HasAgency(r.Context(), agency); err != nil || !had {
				return errs.E(errs.NotFound, "no agency %q", agency)
			}
		}
		pg.AgencyID = agency
		f := store.Filter{Counterpart: pg.Q.Counterpart, Text: strings.TrimSpace(pg.Q.Text)}
		if pg.Q.Status != "" {
			if !slices.Contains(allStates, store.State(pg.Q.Status)) {
				return errs.E(errs.BadRequest, "unknown status %q", pg.Q.Status)
			}
			f.State = store.State(pg.Q.Status)
		}
		var err error
		if f.Since, err = day(pg.Q.Since, false); err != nil {
			return err
		}
		if f.Until, err = day(pg.Q.Until, true); err != nil {
			return err
		}
		f.Oldest = pg.Q.Sort == "oldest" // the store pages in either order
		page, err := p.cfg.Store.ListAgency(r.Context(), agency, dir, f, pg.Q.Cursor, pageSize)
		if err != nil {
			return err
		}
		urgent, shas := p.rowDocs(r, page.Items)
		l := b.Lang
		pg.Labels = rowLabels{Date: l.T("col.date"), Code: l.T("col.code"), Subject: l.T("col.subject"), Party: l.T("col.from"),
			State: l.T("col.state"), Urgent: l.T("badge.urgent")}
		if dir == store.Out {
			pg.Labels.Party = l.T("col.to")
		}
		for i, s := range page.Items {
			pg.Rows = append(pg.Rows, p.row(l, dir, s, urgent[i], shas[i]))
		}
		link := func(set map[string]string) string {
			v := url.Values{}
			if cl.Auditor {
				v.Set("agency", agency)
			}
			for k, val := range map[string]string{"since": pg.Q.Since, "until": pg.Q.Until, "status": pg.Q.Status,
				"counterpart": pg.Q.Counterpart, "q": pg.Q.Text, "sort": pg.Q.Sort, "cursor": pg.Q.Cursor} {
				if val != "" {
					v.Set(k, val)
				}
			}
			for k, val := range set {
				if val == "" {
					v.Del(k)
				} else {
					v.Set(k, val)
				}
			}
			return "/" + string(dir) + "box?" + v.Encode()
		}
		if page.Next != "" {
			pg.NextURL = link(map[string]string{"cursor": page.Next})
		}
		if pg.Q.Cursor != "" {
			pg.FirstURL = link(map[string]string{"cursor": ""})
		}
		other := "oldest"
		if pg.Q.Sort == "oldest" {
			other = ""
		}
		pg.SortURL = link(map[string]string{"sort": other, "cursor": ""}) // the other order starts at its own first page
		p.render(w, http.StatusOK, "list", pg)
		return nil
	}
}

func (p *Portal) row(l Lang, dir store.Direction, s store.Summary, urgent bool, sha string) row {
	r := row{Date: l.Date(s.AcceptedAt), ISO: s.AcceptedAt.UTC().Format(time.RFC3339), Code: s.CodeNumber, Title: s.Subject,
		URL: docURL(s.DocumentID, sha), Urgent: urgent}
	if s.CodeNotation != "" {
		r.Code += "/" + s.CodeNotation
	}
	if r.Title == "" {
		r.Title = s.DocumentID
	}
	if s.BusinessType != 0 {
		r.Biz = l.T("biz." + itoa(s.BusinessType))
	}
	if dir == store.In {
		r.Party = p.cfg.Registry.Name(s.From)
	} else {
		names := make([]string, len(s.To))
		for i, t := range s.To {
			names[i] = p.cfg.Registry.Name(t)
		}
		r.Party = strings.Join(names, "; ")
	}
	for _, rs := range s.Recipients {
		sl := stateLabel{Label: l.T("state." + string(rs.State)), CSS: "state-" + string(rs.State)}
		if dir == store.Out {
			sl.Who = p.cfg.Registry.Name(rs.OrganID)
		}
		r.States = append(r.States, sl)
	}
	return r
}

// rowDocs reports which rows are urgent (Priority ≥ 1), and the sha256 of rows whose
// DocumentId other packages share (an original and its replacement), so that each row
// opens its own package. The list index carries neither, so each row's document is read:
// at most one page of point lookups.
func (p *Portal) rowDocs(r *http.Request, items []store.Summary) (urgent []bool, shas []string) {
	urgent, shas = make([]bool, len(items)), make([]string, len(items))
	for i, s := range items {
		docs, err := p.cfg.Store.DocumentsByID(r.Context(), s.DocumentID)
		if err != nil {
			continue
		}
		for _, d := range docs {
			if d.From == s.From && d.AcceptedAt.Equal(s.AcceptedAt) {
				urgent[i] = d.Priority >= 1
				if len(docs) > 1 {
					shas[i] = d.SHA256
				}
			}
		}
	}
	return urgent, shas
}

// day reads a YYYY-MM-DD filter date as a day in Vietnam time: its first instant, or
// its last for the end of a range.
func day(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, vietnam)
	if err != nil {
		return time.Time{}, errs.E(errs.BadRequest, "%q: want YYYY-MM-DD", s)
	}
	if end {
		t = t.AddDate(0, 0, 1).Add(-time.Nanosecond)
	}
	return t, nil
}
