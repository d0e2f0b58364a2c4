#pragma once
// The compiled form of a mapped source (docs/formats.md §14): how to read alert
// events out of another tool's JSON. The rules loader compiles a mapping from the rules file
// (so `tocsin check` reports a bad pointer or template with its line and column); the
// interpreter (ingest/mapped.hpp) applies it to a request body. Both sides know only this
// header, so rules/ and ingest/ stay independent of each other.
//
// Paths are JSON Pointers (RFC 6901). Templates are text with `{/json/pointer}` placeholders
// and `{{` / `}}` for literal braces: no expressions, no functions, no code. Every limit below
// bounds the work one event can cost.

#include <cstddef>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/expected.hpp"
#include "core/severity.hpp"

namespace tocsin::mapping {

// Only the declaration of nlohmann::json: the rules loader, which includes this header, needs
// no more of it.
using Json = nlohmann::json;

inline constexpr std::size_t k_max_pointer_tokens = 32;
inline constexpr std::size_t k_max_template_bytes = 1024;  // as written in the rules
inline constexpr std::size_t k_max_template_placeholders = 32;
inline constexpr std::size_t k_max_rendered_bytes = 4096;  // summary, labels, ...: cut
inline constexpr std::size_t k_max_identity_bytes = 512;   // identity, delivery id: refused
inline constexpr std::size_t k_max_events = 1000;          // per request
inline constexpr std::size_t k_max_fields = 64;            // labels, annotations, map values

// Where a mapping failed to compile: a message and the byte offset in the spelled text.
struct CompileError {
  std::string message;
  std::size_t offset = 0;
};

// An RFC 6901 JSON Pointer: "" (the whole value) or "/a/b/0", with `~1` for `/` and `~0` for
// `~` in a token.
class JsonPointer {
 public:
  static Expected<JsonPointer, CompileError> parse(std::string_view spelled);

  // The value it points to, or nullptr when some token is absent: an object without that
  // member, an array index that is not a decimal without leading zeros below its size (`-`,
  // the index after the last element, names nothing), or a scalar on the way.
  const Json* resolve(const Json& document) const;

  const std::string& spelled() const { return m_spelled; }
  const std::vector<std::string>& tokens() const { return m_tokens; }

 private:
  std::string m_spelled;
  std::vector<std::string> m_tokens;  // unescaped
};

// The text of a JSON scalar as a template or a match shows it: a string as it is, a number as
// JSON writes it, true/false. Null, objects and arrays have none (nullopt).
std::optional<std::string> scalar_text(const Json& value);

// Text with placeholders: `{/pointer}` stands for the scalar at that pointer; `{{` and `}}`
// are literal braces. A placeholder's pointer cannot contain `{` or `}`.
class Template {
 public:
  struct Part {
    std::string literal;                 // written before the placeholder (or at the end)
    std::optional<JsonPointer> pointer;  // nullopt: the last part, literal only
  };

  static Expected<Template, CompileError> parse(std::string_view spelled);

  const std::string& spelled() const { return m_spelled; }
  const std::vector<Part>& parts() const { return m_parts; }

 private:
  std::string m_spelled;
  std::vector<Part> m_parts;
};

enum class TimeFormat { rfc3339, epoch_seconds, epoch_millis };

struct StatusSpec {
  JsonPointer path;
  std::vector<std::string> firing, resolved, ignore;  // exact, case-sensitive values
};

struct SeveritySpec {
  JsonPointer path;
  // Value -> severity. Empty: the value must be a severity name (critical, high, warning, info).
  std::vector<std::pair<std::string, Severity>> map;
  std::optional<Severity> fallback;  // `default`: the value is absent, null or not in map
};

struct TimestampSpec {
  JsonPointer path;
  TimeFormat format = TimeFormat::rfc3339;
};

struct Mapping {
  std::optional<JsonPointer> events;  // nullopt: the body is one event
  Template identity;
  std::optional<Template> name;  // the event's name for rules' `match: name`; default identity
  StatusSpec status;
  std::optional<SeveritySpec> severity;
  std::optional<Template> summary;  // default: the identity
  std::optional<TimestampSpec> timestamp;
  std::vector<std::pair<std::string, Template>> labels, annotations;
  std::optional<Template> delivery_id;
};

}  // namespace tocsin::mapping
