package testenv

import (
	"sort"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/graphx"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	"google.golang.org/protobuf/proto"
)

// NestedRowElements lists the PCollection element types of p that use the
// standard row coder (beam:coder:row:v1) with a row inside (a struct field,
// or a list or map of structs), by their fields. Java runners decode row
// coded elements between stages, and Flink's job server misreads the Go
// SDK's nested rows (transforms/gorow), so the pipelines give such
// elements a custom coder and their tests assert this list is empty. Flat
// rows are read correctly and may stay.
func NestedRowElements(t testing.TB, p *beam.Pipeline) []string {
	t.Helper()
	edges, _, err := p.Build()
	if err != nil {
		t.Fatalf("testenv: build pipeline: %v", err)
	}
	pp, err := graphx.Marshal(edges, &graphx.Options{Environment: &pipepb.Environment{Urn: "beam:env:external:v1"}})
	if err != nil {
		t.Fatalf("testenv: marshal pipeline: %v", err)
	}
	coders := pp.GetComponents().GetCoders()
	found := map[string]bool{}
	seen := map[string]bool{}
	var walk func(id string)
	walk = func(id string) {
		if seen[id] {
			return
		}
		seen[id] = true
		c := coders[id]
		if c.GetSpec().GetUrn() == "beam:coder:row:v1" {
			var s pipepb.Schema
			if err := proto.Unmarshal(c.GetSpec().GetPayload(), &s); err != nil {
				t.Fatalf("testenv: row coder %s: %v", id, err)
			}
			if hasNestedRow(&s) {
				var names []string
				for _, f := range s.GetFields() {
					names = append(names, f.GetName())
				}
				found["{"+strings.Join(names, ", ")+"}"] = true
			}
		}
		for _, sub := range c.GetComponentCoderIds() {
			walk(sub)
		}
	}
	for _, pc := range pp.GetComponents().GetPcollections() {
		walk(pc.GetCoderId())
	}
	var out []string
	for s := range found {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// hasNestedRow reports whether a field of s is, or holds, a row.
func hasNestedRow(s *pipepb.Schema) bool {
	for _, f := range s.GetFields() {
		if holdsRow(f.GetType()) {
			return true
		}
	}
	return false
}

func holdsRow(ft *pipepb.FieldType) bool {
	switch {
	case ft == nil:
		return false
	case ft.GetRowType() != nil:
		return true
	case ft.GetArrayType() != nil:
		return holdsRow(ft.GetArrayType().GetElementType())
	case ft.GetIterableType() != nil:
		return holdsRow(ft.GetIterableType().GetElementType())
	case ft.GetMapType() != nil:
		return holdsRow(ft.GetMapType().GetKeyType()) || holdsRow(ft.GetMapType().GetValueType())
	case ft.GetLogicalType() != nil:
		return holdsRow(ft.GetLogicalType().GetRepresentation())
	}
	return false
}
