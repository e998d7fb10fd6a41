package kafkatopics_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/trendstream/trendstream/internal/platform/kafkatopics"
	"github.com/trendstream/trendstream/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestCreate creates topics on a real broker, then creates them again:
// refused without IfMissing, left as they are with it.
func TestCreate(t *testing.T) {
	kc := testenv.RealKafka(t, 1)
	ctx := context.Background()
	name := fmt.Sprintf("kafkatopics%d", time.Now().UnixNano())
	topics := []kafkatopics.Topic{kafkatopics.DataTopic(name+".data", 3, kafkatopics.PostsRetention), kafkatopics.CursorTopic(name + ".cursor")}
	tests := []struct {
		name        string
		o           kafkatopics.Options
		wantCreated []string
		wantExists  bool
	}{
		{"new topics, replicas from the cluster", kafkatopics.Options{}, []string{name + ".cursor", name + ".data"}, false},
		{"again: refused", kafkatopics.Options{ReplicationFactor: 1}, nil, true},
		{"again, if missing: left as they are", kafkatopics.Options{IfMissing: true}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := kafkatopics.Create(ctx, kc.Addrs(), tt.o, topics...)
			if got := errors.Is(err, kafkatopics.ErrTopicExists); got != tt.wantExists || (err != nil && !tt.wantExists) {
				t.Fatalf("err %v, want exists %v", err, tt.wantExists)
			}
			slices.Sort(created)
			if !slices.Equal(created, tt.wantCreated) {
				t.Errorf("created %v, want %v", created, tt.wantCreated)
			}
		})
	}
}
