// JSON read and written exactly as Go's encoding/json does it for buildpackapplifecycle, which
// decodes VCAP_APPLICATION and VCAP_SERVICES into map[string]interface{} and re-encodes them with
// json.Marshal. Tools compare these strings, so hatch produces the same bytes.
//
// Decoding (ParseGoJson) follows json.Unmarshal into interface{}:
//   - strict RFC 8259 grammar, whitespace = space, tab, CR, LF; nothing may follow the value;
//   - nesting deeper than 10000 is an error (Go's maxNestingDepth);
//   - every number becomes a double (Go's float64); one that overflows a double is an error;
//   - invalid UTF-8 inside a string becomes U+FFFD, one per bad byte; a \u escape of an unpaired
//     UTF-16 surrogate becomes U+FFFD (Go's rules);
//   - a repeated object key keeps its first position and its last value (Go's map: last wins).
// The result is an nlohmann::ordered_json whose numbers are all number_float; objects keep
// document order, so callers that want "first in the document" can have it.
//
// Encoding (GoMarshal) follows json.Marshal of such a value:
//   - object keys sorted bytewise (Go sorts map keys), no whitespace;
//   - strings escape ", \, \b \f \n \r \t, other bytes below 0x20 as \u00XX, and (Go's HTML-safe
//     default) <, >, & as \u003c \u003e \u0026 and U+2028/U+2029 as \u2028 \u2029, lowercase hex;
//   - numbers as Go formats float64: shortest round-trip digits, plain notation unless
//     |x| < 1e-6 or |x| >= 1e21, then exponent form without leading exponent zeros (1e+21, 1e-7).
#ifndef HATCH_LIFECYCLE_GO_JSON_H_
#define HATCH_LIFECYCLE_GO_JSON_H_

#include <string>
#include "absl/strings/string_view.h"

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace hatch::lifecycle {

// Parses text as Go's json.Unmarshal into interface{} would. The error says what is wrong and
// where (byte offset), in Go's words where that helps ("unexpected end of JSON input").
absl::StatusOr<nlohmann::ordered_json> ParseGoJson(absl::string_view text);

// Encodes value as Go's json.Marshal encodes the interface{} that ParseGoJson mirrors. Integer
// numbers (put in by code, never by ParseGoJson) are encoded as Go encodes an int: all digits.
std::string GoMarshal(const nlohmann::ordered_json& value);

// Go's encoding of one float64 (see above); exposed for tests.
std::string GoFormatFloat(double value);

}  // namespace hatch::lifecycle

#endif  // HATCH_LIFECYCLE_GO_JSON_H_
