package xmlenc

import (
	"time"

	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/protocol/scalar"
)

// ParseScalar reads the text form of a scalar of sh's type, as it appears in an XML element or a query
// parameter (see scalar.Parse). Its errors say what the value must be, without quoting it, so that callers can
// phrase them their protocol's way.
func ParseScalar(sh *wire.Shape, text string) (any, error) { return scalar.Parse(sh, text) }

// ParseFloat reads a decimal float, including the NaN, Infinity and -Infinity spellings of the SDKs.
func ParseFloat(text string) (float64, error) { return scalar.ParseFloat(text) }

// ParseTimestamp reads a timestamp in any format a client may send whatever the model says (see
// scalar.ParseTimestamp).
func ParseTimestamp(text string) (time.Time, error) { return scalar.ParseTimestamp(text) }
