package replaytest

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	tsv1 "github.com/trendstream/trendstream/proto/trendstream/v1"
)

func TestRestamp(t *testing.T) {
	t0 := time.Date(2024, 4, 8, 18, 0, 0, 0, time.UTC)
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		created     *timestamppb.Timestamp
		wantCreated *timestamppb.Timestamp
	}{
		{"created before observed moves with it", timestamppb.New(t0.Add(-2 * time.Second)), timestamppb.New(at.Add(-2 * time.Second))},
		{"no creation time stays unset", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &tsv1.Post{Uri: "at://a/1", ObservedAt: timestamppb.New(t0), CreatedAt: tc.created}
			got := Restamp(p, at)
			if !got.GetObservedAt().AsTime().Equal(at) {
				t.Errorf("observed at %v, want %v", got.GetObservedAt().AsTime(), at)
			}
			if (got.CreatedAt == nil) != (tc.wantCreated == nil) || (tc.wantCreated != nil && !got.GetCreatedAt().AsTime().Equal(tc.wantCreated.AsTime())) {
				t.Errorf("created at %v, want %v", got.GetCreatedAt(), tc.wantCreated)
			}
			if !p.GetObservedAt().AsTime().Equal(t0) || got.GetUri() != p.GetUri() {
				t.Errorf("the original changed or the copy lost its URI: %v, %v", p, got)
			}
		})
	}
}
