package trend

import (
	"reflect"
	"strings"
	"testing"

	"github.com/trendstream/trendstream/internal/core/termwindow"
	"github.com/trendstream/trendstream/internal/core/trendscore"
	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

// TestBaselinesCoder round-trips a State with every field set, so a field
// added to trendscore.State without a place in the encoding fails here.
func TestBaselinesCoder(t *testing.T) {
	var st trendscore.State
	v := reflect.ValueOf(&st).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Float64:
			f.SetFloat(float64(i) + 0.25)
		case reflect.Int64:
			f.SetInt(int64(i)*1_000_000_007 + 1)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.String:
			f.SetString("\x80\x01" + strings.Repeat("x", i))
		default:
			t.Fatalf("State.%s has kind %v, which the coder does not encode", v.Type().Field(i).Name, f.Kind())
		}
	}
	in := Baselines{Terms: map[termwindow.Key]trendscore.State{
		{Lang: "ja", Kind: tsv1.TermKind_TERM_KIND_HASHTAG, Term: "東京"}: st,
		{Lang: "en", Kind: tsv1.TermKind_TERM_KIND_WORD, Term: "x"}:     {},
	}}
	b, err := encodeBaselines(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeBaselines(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
	for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], append(append([]byte{}, b...), 0)} {
		if _, err := decodeBaselines(bad); err == nil {
			t.Errorf("decodeBaselines(%d bytes) accepted a malformed encoding", len(bad))
		}
	}
}

func TestShardEventCoder(t *testing.T) {
	var bld termwindow.Builder
	bld.Add(termwindow.Key{Lang: "en", Kind: tsv1.TermKind_TERM_KIND_WORD, Term: "tea"}, 7, 2)
	bucket := bld.Bucket(1)[0]
	var neg termwindow.Builder
	neg.Add(termwindow.Key{Lang: "en", Kind: tsv1.TermKind_TERM_KIND_WORD, Term: "tea"}, 7, -1)
	retracted := []Retraction{{End: 60000, Bucket: neg.Bucket(1)[0]}, {End: 90000}}
	for _, ev := range []ShardEvent{
		{End: 120000, Bucket: bucket},
		{End: -60000},
		{End: 120000, Bucket: bucket, Retracted: retracted},
		{End: 120000, Retracted: retracted[:1]},
	} {
		b, err := encodeShardEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeShardEvent(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.End != ev.End || !reflect.DeepEqual(got.Bucket.Terms(), ev.Bucket.Terms()) || len(got.Retracted) != len(ev.Retracted) {
			t.Errorf("round trip of %+v gave %+v", ev, got)
			continue
		}
		for i, r := range ev.Retracted {
			if g := got.Retracted[i]; g.End != r.End || !reflect.DeepEqual(g.Bucket.Terms(), r.Bucket.Terms()) {
				t.Errorf("retraction %d: round trip of %+v gave %+v", i, r, g)
			}
		}
	}
	full, err := encodeShardEvent(ShardEvent{End: 1775005560000, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	withRetractions, err := encodeShardEvent(ShardEvent{End: 1775005560000, Bucket: bucket, Retracted: retracted})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{
		nil, full[:7], full[:len(full)-1], append(full[:len(full):len(full)], 3), {0, 0, 0, 0, 0, 0, 0, 0, 3},
		withRetractions[:10], withRetractions[:20], withRetractions[:len(withRetractions)-len(full)+8-1],
	} {
		if _, err := decodeShardEvent(bad); err == nil {
			t.Errorf("decodeShardEvent(%x) accepted a malformed encoding", bad)
		}
	}
}
