#pragma once
// Strict JSON for untrusted input: one UTF-8 JSON value and nothing after it, nesting bounded
// (a deep document must not overflow the stack), and no duplicate object keys (a verifier
// and a processor that disagree on which duplicate wins can be fooled). No NUL byte in the
// text, and no NUL in an object key even escaped as \u0000; string values may hold one.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/expected.hpp"

namespace tocsin {

using Json = nlohmann::json;

inline constexpr int k_default_max_json_depth = 64;

struct JsonError {
  // Machine-readable: empty_body, invalid_utf8, invalid_json, json_too_deep, duplicate_key.
  std::string code;
  std::string detail;  // for humans: what and where (byte offset)
};

Expected<Json, JsonError> parse_json_strict(std::string_view text,
                                            int max_depth = k_default_max_json_depth);

namespace detail {
// The two halves of parse_json_strict, for its tests: the fast parser alone (nullopt where it
// hands over, never an error of its own) and the reference path (nlohmann's parser, which
// decides everything the fast one does not take).
std::optional<Json> parse_json_fast(std::string_view text, int max_depth = k_default_max_json_depth);
Expected<Json, JsonError> parse_json_reference(std::string_view text,
                                               int max_depth = k_default_max_json_depth);
}  // namespace detail

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. On failure
// `bad_offset` (if given) receives the offset of the first invalid byte.
bool is_valid_utf8(std::string_view text, std::size_t* bad_offset = nullptr);

// The exact text of member `key`'s value in `object_text`, a JSON object that
// parse_json_strict accepted (behaviour on other text is unspecified, but bounded and safe):
// its bytes as written, from the first to the last, without surrounding whitespace. Nullopt when
// the object has no member whose key is written exactly `"key"` (a key spelled with escapes is
// not recognised). For handing a nested document on without serializing it again.
std::optional<std::string_view> raw_member(std::string_view object_text, std::string_view key);

// Helpers for reading untrusted objects: the value of `key` if it is a string, else nullptr.
const std::string* string_field(const Json& object, const char* key);

// The value of `key` if it is a string, else "" (absent, null or another type): for
// informational text, where an odd type is no reason to refuse what carries it.
std::string string_or_empty(const Json& object, const char* key);

}  // namespace tocsin
