package store

import (
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A store whose document and delivery records were written as JSON (versions before the
// binary records) reads the same and keeps working: the records are rewritten as JSON
// here, then read, updated and read again.
func TestJSONRecordsOfOlderVersionsRead(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca, tn}, "a")))
	must[AcceptResult](t)(s.Accept(ctx, AcceptRequest{Meta: DocumentMeta{DocumentID: "D2", From: vpcp, To: []string{bca},
		BusinessType: 2, Target: "D1"}, Bytes: []byte("<edXML>D2</edXML>"), Receipt: receipt}))
	must[StatusResult](t)(s.RecordStatus(ctx, status("D1", bca, CodeArrived)))
	s.receipts.sync()
	before := must[Document](t)(s.Document(ctx, "D1"))
	if len(before.Revisions) != 1 || before.Recipients[0].History[0].Code != CodeArrived {
		t.Fatalf("setup: %+v", before)
	}
	s.Close()

	db, err := bolt.Open(Path(dir), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = db.Update(func(tx *bolt.Tx) error {
		for _, c := range []struct {
			bucket []byte
			toJSON func([]byte) ([]byte, error)
		}{
			{bDocs, func(v []byte) ([]byte, error) { d, err := decodeDoc(v); return mustJSON(d), err }},
			{bDeliv, func(v []byte) ([]byte, error) { d, err := decodeDelivery(v); return mustJSON(d), err }},
		} {
			b := tx.Bucket(c.bucket)
			var keys, vals [][]byte
			if err := b.ForEach(func(k, v []byte) error {
				j, err := c.toJSON(v)
				keys, vals = append(keys, append([]byte(nil), k...)), append(vals, j)
				return err
			}); err != nil {
				return err
			}
			for i := range keys {
				if err := b.Put(keys[i], vals[i]); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	db.Close()
	if err != nil || n != 5 { // 2 documents, 3 deliveries
		t.Fatalf("rewrite as JSON: %d records, %v", n, err)
	}

	s = openStore(t, dir)
	if got := must[Document](t)(s.Document(ctx, "D1")); !reflect.DeepEqual(got, before) {
		t.Fatalf("JSON records read differently:\n%+v\n%+v", got, before)
	}
	must[StatusResult](t)(s.RecordStatus(ctx, status("D1", bca, CodeAccepted)))
	if d := stateOf(t, s, "D1", bca); d.State != StateAccepted || len(d.History) != 2 || d.ArrivedAt.IsZero() {
		t.Fatalf("update of a JSON delivery: %+v", d)
	}
	verifyLog(t, s)
}
