#pragma once
// Text that leaves the process — stored, logged, shown by the API, sent to a fallback channel —
// must carry no secret and must stay on its line. These functions make it so at the few places
// where outside text enters (a receiver's answer, a log message); see docs/behaviour.md "Delivery".

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tocsin {

// What a secret is replaced with.
inline constexpr std::string_view k_redacted = "[redacted]";

// Values shorter than this are not redacted: they are no secret worth the name, and replacing
// every "abc" would mangle the text around them.
inline constexpr std::size_t k_min_secret_bytes = 4;

// Replaces every occurrence of known secret values. A value is also found spelled as a JSON
// string escapes it and as a URL percent-encodes it, the two ways a receiver echoing a request
// is likely to repeat it.
class Redactor {
 public:
  Redactor() = default;
  explicit Redactor(const std::vector<std::string>& secrets);

  // `text` with every secret replaced by k_redacted. Overlapping secrets: the longest wins.
  std::string redact(std::string_view text) const;

  bool empty() const { return m_secrets.empty(); }

 private:
  std::vector<std::string> m_secrets;  // distinct spellings, longest first
};

// `text` on one printable line. Escaped: \n \r \t as themselves; other C0 controls and DEL as
// \xNN; C1 controls, U+2028/U+2029 (line breaks to some viewers) and the bidirectional
// formatting controls (which reorder what a terminal shows) as \uNNNN; bytes that are not valid
// UTF-8 as \xNN. Everything else, backslashes and printable UTF-8 included, is kept.
std::string printable_line(std::string_view text);

// The start of `text` escaped as by printable_line, at most `max_bytes` bytes, cut between
// characters (never inside an escape or a UTF-8 sequence) and then followed by "…".
std::string printable_excerpt(std::string_view text, std::size_t max_bytes);

// A serialized JSON value (valid UTF-8, C0 already escaped, as nlohmann::json::dump makes it)
// with the other characters printable_line escapes written as \uNNNN instead: the same JSON
// value, safe to show on a terminal.
std::string escape_json_controls(std::string_view json);

}  // namespace tocsin
