// core/json.hpp parse_json_strict on arbitrary bytes.
// A refusal carries one of the documented codes; a syntax refusal is one nlohmann's own parser
// agrees with (except a leading UTF-8 BOM, which Tocsin refuses and nlohmann skips, and an
// escaped NUL in a key). An accepted document holds no raw NUL and no key with a NUL, is no
// deeper than the limit, is the value nlohmann's own parser reads, and survives dump -> strict
// parse unchanged (compact, and with every non-ASCII character escaped, which exercises \u
// escapes and surrogate pairs). Whatever the fast path takes, the reference path
// (nlohmann's alone) gives the same outcome.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/json.hpp"
#include "invariants.hpp"

namespace {

using tocsin::Json;

bool is_documented_code(std::string_view code) {
  return code == "empty_body" || code == "invalid_utf8" || code == "invalid_json" ||
         code == "json_too_deep" || code == "duplicate_key";
}

// Containers nested in `j`, counting `j` itself; scalars are 0. Only called on accepted
// documents, whose depth is bounded, so the recursion is too.
// Whether an object in `j` has a key holding a NUL. Only called on accepted documents, as
// depth().
bool has_nul_key(const Json& j) {
  if (!j.is_structured()) return false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (j.is_object() && it.key().find('\0') != std::string::npos) return true;
    if (has_nul_key(*it)) return true;
  }
  return false;
}

int depth(const Json& j) {
  if (!j.is_structured()) return 0;
  int deepest = 0;
  for (const auto& child : j)
    deepest = std::max(deepest, depth(child));
  return deepest + 1;
}

void check_round_trip(const Json& value, const std::string& dumped) {
  auto again = tocsin::parse_json_strict(dumped);
  TOCSIN_FUZZ_CHECK(again.has_value());
  TOCSIN_FUZZ_CHECK(*again == value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = tocsin::fuzz::as_text(data, size);
  auto parsed = tocsin::parse_json_strict(text);
  // The fast parser in front of nlohmann's hands over whatever it does not take: the outcome is
  // always the reference path's, the same value (with its number types) or the same refusal.
  const auto reference = tocsin::detail::parse_json_reference(text);
  TOCSIN_FUZZ_CHECK(parsed.has_value() == reference.has_value());
  if (parsed && reference) TOCSIN_FUZZ_CHECK(parsed->dump() == reference->dump());
  if (!parsed && !reference) {
    TOCSIN_FUZZ_CHECK(parsed.error().code == reference.error().code);
    TOCSIN_FUZZ_CHECK(parsed.error().detail == reference.error().detail);
  }
  if (!parsed) {
    const tocsin::JsonError& e = parsed.error();
    TOCSIN_FUZZ_CHECK(is_documented_code(e.code));
    TOCSIN_FUZZ_CHECK(!e.detail.empty());
    // Depth, duplicates and a leading byte order mark (which nlohmann skips) are our extra
    // rules; anything else is not JSON for anyone.
    // nlohmann also stops at a NUL byte as if the input ended there, so it is no oracle then.
    const bool bom = text.substr(0, 3) == "\xEF\xBB\xBF";
    const bool nul = text.find('\0') != std::string_view::npos;
    if (!bom && !nul &&
        (e.code == "empty_body" || e.code == "invalid_utf8" || e.code == "invalid_json")) {
      // (Not has_nul_key on nlohmann's document: it may be thousands of levels deep.)
      const bool escaped_nul = text.find("\\u0000") != std::string_view::npos;
      TOCSIN_FUZZ_CHECK(!Json::accept(text) || (e.code == "invalid_json" && escaped_nul));
    }
    return 0;
  }

  // A raw NUL is valid nowhere in JSON (whitespace excludes it, strings need it escaped);
  // nlohmann's lexer takes one for the end of input, so parse_json_strict must refuse it.
  TOCSIN_FUZZ_CHECK(text.find('\0') == std::string_view::npos);

  const Json& value = *parsed;
  TOCSIN_FUZZ_CHECK(depth(value) <= tocsin::k_default_max_json_depth);
  TOCSIN_FUZZ_CHECK(!has_nul_key(value));
  const Json plain = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  TOCSIN_FUZZ_CHECK(!plain.is_discarded());
  TOCSIN_FUZZ_CHECK(plain == value);

  check_round_trip(value, value.dump());
  check_round_trip(value, value.dump(-1, ' ', /*ensure_ascii=*/true));
  return 0;
}
