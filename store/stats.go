package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Counters kept in the stats bucket, updated in the same transaction as the data:
//
//	total            documents accepted, all time
//	statuses         status messages recorded
//	outbox           entries in the outbox (deliveries not yet acknowledged by Kafka)
//	d:YYYY-MM-DD     documents accepted that day (Options.Location)
//	ao:<agency>      documents an agency sent;  ai:<agency> documents it received
//	h:<bucket(2)>    histogram of acceptance → first 01 (arrived) durations
var (
	kTotal    = []byte("total")
	kStatuses = []byte("statuses")
	kOutbox   = []byte("outbox")
)

func agencyInKey(a string) []byte  { return []byte("ai:" + a) }
func agencyOutKey(a string) []byte { return []byte("ao:" + a) }
func dayKey(t time.Time, loc *time.Location) []byte {
	return []byte("d:" + t.In(loc).Format("2006-01-02"))
}

// count adds to a counter. The sums are written once per transaction (flushCounts):
// every package bumps six counters, and a batch shares most of them.
func (w *wtx) count(key []byte, delta uint64) error {
	w.dirty = true
	if w.counts == nil {
		w.counts = map[string]uint64{}
	}
	w.counts[string(key)] += delta
	return nil
}

// uncount subtracts from a counter (the sums wrap, so a negative delta adds up).
func (w *wtx) uncount(key []byte, delta uint64) error { return w.count(key, -delta) }

func (w *wtx) flushCounts() error {
	for k, d := range w.counts {
		key := []byte(k)
		if err := w.put(bStats, key, u64(readU64(w.get(bStats, key))+d)); err != nil {
			return err
		}
	}
	w.counts = nil
	return nil
}

func (w *wtx) countAccepted(from string, at time.Time) error {
	for _, k := range [][]byte{kTotal, dayKey(at, w.s.opts.Location), agencyOutKey(from)} {
		if err := w.count(k, 1); err != nil {
			return err
		}
	}
	return nil
}

// Arrival durations go to a log-scale histogram: bucket b holds [2^(b/16), 2^((b+1)/16))
// milliseconds (b 0 also holds < 1 ms), so the median is known within 4.4 %.
const histPerOctave = 16

func histBucket(d time.Duration) uint16 {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 1 {
		return 0
	}
	return uint16(math.Min(math.Floor(math.Log2(ms)*histPerOctave), math.MaxUint16))
}

func histMid(b uint16) time.Duration {
	return time.Duration(math.Exp2((float64(b)+0.5)/histPerOctave) * float64(time.Millisecond))
}

func (w *wtx) countArrival(d time.Duration) error {
	k := binary.BigEndian.AppendUint16([]byte("h:"), histBucket(d))
	return w.count(k, 1)
}

// AgencyVolume is one agency's document counts.
type AgencyVolume struct {
	Agency   string `json:"agency"`
	Sent     uint64 `json:"sent"`
	Received uint64 `json:"received"`
}

// DayCount is one day's accepted documents.
type DayCount struct {
	Day   string `json:"day"` // YYYY-MM-DD in Options.Location
	Count uint64 `json:"count"`
}

// Stats are the public statistics (no document details).
type Stats struct {
	Today     uint64         `json:"today"`
	ThisMonth uint64         `json:"this_month"`
	AllTime   uint64         `json:"all_time"`
	Statuses  uint64         `json:"statuses"`
	Agencies  []AgencyVolume `json:"agencies"`
	Daily     []DayCount     `json:"daily"` // the last 30 days, oldest first, today last
	// Arrivals is how many deliveries got a first 01; ArrivalMedian the median time from
	// acceptance to that 01 (to within 4.4 %).
	Arrivals      uint64        `json:"arrivals"`
	ArrivalMedian time.Duration `json:"arrival_median_ns"`
}

// Stats computes the public statistics as of now.
func (s *Store) Stats(ctx context.Context, now time.Time) (Stats, error) {
	var st Stats
	loc := s.opts.Location
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bStats)
		st.AllTime = readU64(b.Get(kTotal))
		st.Statuses = readU64(b.Get(kStatuses))
		today := now.In(loc)
		st.Today = readU64(b.Get(dayKey(today, loc)))
		c := b.Cursor()
		month := []byte("d:" + today.Format("2006-01-"))
		for k, v := c.Seek(month); k != nil && bytes.HasPrefix(k, month); k, v = c.Next() {
			st.ThisMonth += readU64(v)
		}
		for i := 29; i >= 0; i-- {
			d := today.AddDate(0, 0, -i)
			st.Daily = append(st.Daily, DayCount{Day: d.Format("2006-01-02"), Count: readU64(b.Get(dayKey(d, loc)))})
		}
		vol := map[string]*AgencyVolume{}
		get := func(a string) *AgencyVolume {
			if vol[a] == nil {
				vol[a] = &AgencyVolume{Agency: a}
			}
			return vol[a]
		}
		for _, p := range []string{"ai:", "ao:"} {
			for k, v := c.Seek([]byte(p)); k != nil && bytes.HasPrefix(k, []byte(p)); k, v = c.Next() {
				a := strings.TrimPrefix(string(k), p)
				if p == "ai:" {
					get(a).Received = readU64(v)
				} else {
					get(a).Sent = readU64(v)
				}
			}
		}
		for _, v := range vol {
			st.Agencies = append(st.Agencies, *v)
		}
		slices.SortFunc(st.Agencies, func(a, b AgencyVolume) int { return strings.Compare(a.Agency, b.Agency) })
		type hb struct {
			b uint16
			n uint64
		}
		var hist []hb
		for k, v := c.Seek([]byte("h:")); k != nil && bytes.HasPrefix(k, []byte("h:")); k, v = c.Next() {
			if len(k) == 4 {
				hist = append(hist, hb{binary.BigEndian.Uint16(k[2:]), readU64(v)})
				st.Arrivals += readU64(v)
			}
		}
		var cum uint64
		for _, h := range hist { // keys sort by bucket: big-endian
			cum += h.n
			if cum*2 >= st.Arrivals {
				st.ArrivalMedian = histMid(h.b)
				break
			}
		}
		return nil
	})
	return st, err
}
