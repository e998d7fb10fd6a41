package market

import (
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/core/marketcalc"
	"github.com/trendstream/trendstream/transforms/gorow"
)

// The elements that cross stages carry the Go row encoding as opaque bytes,
// so that a Java runner does not decode them (transforms/gorow says why).
// marketcalc is plain logic without Beam, so its Stats get their coder here.
func init() {
	beam.RegisterCoder(reflect.TypeOf(marketcalc.Stats{}), encodeStats, decodeStats)
	beam.RegisterCoder(reflect.TypeOf(WindowStats{}), encodeWindowStats, decodeWindowStats)
	register.Function1x2(encodeStats)
	register.Function1x2(decodeStats)
	register.Function1x2(encodeWindowStats)
	register.Function1x2(decodeWindowStats)
}

func encodeStats(v marketcalc.Stats) ([]byte, error)  { return gorow.Encode(v) }
func decodeStats(b []byte) (marketcalc.Stats, error)  { return gorow.Decode[marketcalc.Stats](b) }
func encodeWindowStats(v WindowStats) ([]byte, error) { return gorow.Encode(v) }
func decodeWindowStats(b []byte) (WindowStats, error) { return gorow.Decode[WindowStats](b) }

func init() {
	beam.RegisterCoder(reflect.TypeOf(PeriodStats{}), encodePeriodStats, decodePeriodStats)
	register.Function1x2(encodePeriodStats)
	register.Function1x2(decodePeriodStats)
}

func encodePeriodStats(v PeriodStats) ([]byte, error) { return gorow.Encode(v) }
func decodePeriodStats(b []byte) (PeriodStats, error) { return gorow.Decode[PeriodStats](b) }

// The streaming scorer's and ranking's state values hold lists of structs.
// State is the SDK's own bytes on the runners tried (transforms/trend keeps
// such values in state with the row coder, on Flink too), but an opaque
// coder costs nothing and leaves no nested row for a Java runner to
// misread should it ever decode state.
func init() {
	beam.RegisterCoder(reflect.TypeOf(SymbolProgress{}), encodeSymbolProgress, decodeSymbolProgress)
	beam.RegisterCoder(reflect.TypeOf(RankWindow{}), encodeRankWindow, decodeRankWindow)
	register.Function1x2(encodeSymbolProgress)
	register.Function1x2(decodeSymbolProgress)
	register.Function1x2(encodeRankWindow)
	register.Function1x2(decodeRankWindow)
}

func encodeSymbolProgress(v SymbolProgress) ([]byte, error) { return gorow.Encode(v) }
func decodeSymbolProgress(b []byte) (SymbolProgress, error) {
	return gorow.Decode[SymbolProgress](b)
}
func encodeRankWindow(v RankWindow) ([]byte, error) { return gorow.Encode(v) }
func decodeRankWindow(b []byte) (RankWindow, error) { return gorow.Decode[RankWindow](b) }
