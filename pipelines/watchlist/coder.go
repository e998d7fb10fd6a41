package watchlist

import (
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trendstream/trendstream/internal/core/watchlist"
	"github.com/trendstream/trendstream/transforms/gorow"
)

// The elements that cross stages carry the Go row encoding as opaque bytes,
// so that a Java runner does not decode them (transforms/gorow says why).
// internal/core/watchlist is plain logic without Beam, so its types get their
// coders here.
func init() {
	beam.RegisterCoder(reflect.TypeOf(watchlist.Window{}), encodeWindow, decodeWindow)
	beam.RegisterCoder(reflect.TypeOf(watchlist.Status{}), encodeStatus, decodeStatus)
	beam.RegisterCoder(reflect.TypeOf(watchlist.Alert{}), encodeAlert, decodeAlert)
	beam.RegisterCoder(reflect.TypeOf(PeriodMatches{}), encodePeriodMatches, decodePeriodMatches)
	register.Function1x2(encodeWindow)
	register.Function1x2(decodeWindow)
	register.Function1x2(encodeStatus)
	register.Function1x2(decodeStatus)
	register.Function1x2(encodeAlert)
	register.Function1x2(decodeAlert)
	register.Function1x2(encodePeriodMatches)
	register.Function1x2(decodePeriodMatches)
}

func encodeWindow(v watchlist.Window) ([]byte, error)     { return gorow.Encode(v) }
func decodeWindow(b []byte) (watchlist.Window, error)     { return gorow.Decode[watchlist.Window](b) }
func encodeStatus(v watchlist.Status) ([]byte, error)     { return gorow.Encode(v) }
func decodeStatus(b []byte) (watchlist.Status, error)     { return gorow.Decode[watchlist.Status](b) }
func encodeAlert(v watchlist.Alert) ([]byte, error)       { return gorow.Encode(v) }
func decodeAlert(b []byte) (watchlist.Alert, error)       { return gorow.Decode[watchlist.Alert](b) }
func encodePeriodMatches(v PeriodMatches) ([]byte, error) { return gorow.Encode(v) }
func decodePeriodMatches(b []byte) (PeriodMatches, error) { return gorow.Decode[PeriodMatches](b) }
