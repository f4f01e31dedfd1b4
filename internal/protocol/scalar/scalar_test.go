package scalar

import (
	"errors"
	"testing"

	"github.com/overcast-cloud/overcast/api/wire"
)

// TestRefusalsSayWhatTheValueMustBe pins the unquoted wording the query protocols put after the parameter name
// ("Value (x) for parameter Count is invalid: it must be a 32-bit integer").
func TestRefusalsSayWhatTheValueMustBe(t *testing.T) {
	for _, tc := range []struct{ typ, text, want string }{
		{wire.TypeInteger, "2147483648", "must be a 32-bit integer"},
		{wire.TypeLong, "x", "must be a 64-bit integer"},
		{wire.TypeDouble, "1,5", "must be a number"},
		{wire.TypeBoolean, "yes", "must be true or false"},
		{wire.TypeTimestamp, "yesterday", "must be an ISO 8601 timestamp"},
		{wire.TypeTimestamp, "1e30", "must be a timestamp between years 1 and 9999"},
		{wire.TypeBlob, "!!", "must be base64"},
	} {
		v, err := Parse(&wire.Shape{Name: "S", Type: tc.typ}, tc.text)
		var se *SyntaxError
		if !errors.As(err, &se) || se.Text != tc.text || err.Error() != tc.want {
			t.Errorf("%s %q: %#v, %v; want %q", tc.typ, tc.text, v, err, tc.want)
		}
	}
}
