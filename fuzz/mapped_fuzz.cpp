// ingest/mapped.hpp parse_mapped over a mapping and a payload, both arbitrary
// (docs/formats.md §14). The input is a mapping written as JSON, a NUL byte, then the request
// body. The mapping's pointers and templates are compiled as the rules loader compiles them
// (core/mapping.hpp); one that does not compile ends the run like a refused rules file.
// Checked: a refusal is a 400 with a code and a one-line detail; an accepted body holds at
// most k_max_events events, each `mapped:m:<identity>` with a bounded identity, summary,
// labels and delivery id, a state of firing or resolved, and a time inside 1970..9999.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/mapping.hpp"
#include "core/severity.hpp"
#include "core/time.hpp"
#include "ingest/mapped.hpp"
#include "invariants.hpp"

namespace {

using namespace tocsin;
using namespace tocsin::mapping;

std::optional<JsonPointer> pointer(const Json& spec, const char* key) {
  auto it = spec.find(key);
  if (it == spec.end() || !it->is_string()) return std::nullopt;
  auto p = JsonPointer::parse(it->get<std::string>());
  if (!p) {
    TOCSIN_FUZZ_CHECK(!p.error().message.empty());
    TOCSIN_FUZZ_CHECK(p.error().offset <= it->get_ref<const std::string&>().size());
    return std::nullopt;
  }
  return std::move(*p);
}

std::optional<Template> compile(const Json& value) {
  if (!value.is_string()) return std::nullopt;
  auto t = Template::parse(value.get<std::string>());
  if (!t) {
    TOCSIN_FUZZ_CHECK(!t.error().message.empty());
    TOCSIN_FUZZ_CHECK(t.error().offset <= value.get_ref<const std::string&>().size());
    return std::nullopt;
  }
  TOCSIN_FUZZ_CHECK(t->parts().size() <= k_max_template_placeholders + 1);
  return std::move(*t);
}

std::optional<Template> template_field(const Json& spec, const char* key) {
  auto it = spec.find(key);
  if (it == spec.end()) return std::nullopt;
  return compile(*it);
}

std::vector<std::string> strings(const Json& spec, const char* key) {
  std::vector<std::string> out;
  auto it = spec.find(key);
  if (it == spec.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::vector<std::pair<std::string, Template>> templates(const Json& spec, const char* key) {
  std::vector<std::pair<std::string, Template>> out;
  auto it = spec.find(key);
  if (it == spec.end() || !it->is_object()) return out;
  for (const auto& [name, value] : it->items()) {
    if (out.size() == k_max_fields) break;
    if (auto t = compile(value)) out.emplace_back(name, std::move(*t));
  }
  return out;
}

// The mapping a JSON spec (the rules file's keys, as JSON) describes, or nullopt.
std::optional<Mapping> mapping_of(const Json& spec) {
  if (!spec.is_object()) return std::nullopt;
  Mapping m;
  if (spec.contains("events")) {
    m.events = pointer(spec, "events");
    if (!m.events) return std::nullopt;
  }
  auto identity = template_field(spec, "identity");
  if (!identity) return std::nullopt;
  m.identity = std::move(*identity);
  auto status = spec.find("status");
  if (status == spec.end() || !status->is_object()) return std::nullopt;
  auto status_path = pointer(*status, "path");
  if (!status_path) return std::nullopt;
  m.status.path = std::move(*status_path);
  m.status.firing = strings(*status, "firing");
  m.status.resolved = strings(*status, "resolved");
  m.status.ignore = strings(*status, "ignore");
  m.name = template_field(spec, "name");
  m.summary = template_field(spec, "summary");
  m.delivery_id = template_field(spec, "delivery_id");
  if (auto s = spec.find("severity"); s != spec.end() && s->is_object()) {
    if (auto p = pointer(*s, "path")) {
      SeveritySpec severity{std::move(*p), {}, std::nullopt};
      if (auto map = s->find("map"); map != s->end() && map->is_object()) {
        for (const auto& [from, to] : map->items()) {
          if (!to.is_string() || severity.map.size() == k_max_fields) continue;
          if (auto level = parse_severity(to.get<std::string>())) {
            severity.map.emplace_back(from, *level);
          }
        }
      }
      if (auto d = s->find("default"); d != s->end() && d->is_string()) {
        severity.fallback = parse_severity(d->get<std::string>());
      }
      m.severity = std::move(severity);
    }
  }
  if (auto t = spec.find("timestamp"); t != spec.end() && t->is_object()) {
    if (auto p = pointer(*t, "path")) {
      const auto* format = string_field(*t, "format");
      TimeFormat f = TimeFormat::rfc3339;
      if (format && *format == "epoch_seconds") f = TimeFormat::epoch_seconds;
      if (format && *format == "epoch_millis") f = TimeFormat::epoch_millis;
      m.timestamp = TimestampSpec{std::move(*p), f};
    }
  }
  m.labels = templates(spec, "labels");
  m.annotations = templates(spec, "annotations");
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::as_text(data, size);
  const auto nul = input.find('\0');
  if (nul == std::string_view::npos) return 0;
  auto spec = parse_json_strict(input.substr(0, nul));
  if (!spec) return 0;
  const auto mapping = mapping_of(*spec);
  if (!mapping) return 0;

  auto body = ingest::parse_mapped(*mapping, "m", input.substr(nul + 1));
  if (!body) {
    fuzz::check_error(body.error());
    TOCSIN_FUZZ_CHECK(body.error().status == 400);
    // One line: the detail goes to a log line as it is.
    TOCSIN_FUZZ_CHECK(body.error().detail.find('\n') == std::string::npos);
    return 0;
  }
  TOCSIN_FUZZ_CHECK(body->events.size() <= k_max_events);
  TOCSIN_FUZZ_CHECK(!body->events.empty() || !body->ignored.empty());
  for (const auto& e : body->events) {
    TOCSIN_FUZZ_CHECK(e.source == Source::generic);
    TOCSIN_FUZZ_CHECK(fuzz::starts_with(e.fingerprint, "mapped:m:"));
    TOCSIN_FUZZ_CHECK(e.fingerprint.size() > 9 && e.fingerprint.size() <= 9 + k_max_identity_bytes);
    TOCSIN_FUZZ_CHECK(!e.name.empty() && e.name.size() <= k_max_rendered_bytes);
    TOCSIN_FUZZ_CHECK(!e.summary.empty() && e.summary.size() <= k_max_rendered_bytes);
    TOCSIN_FUZZ_CHECK(e.description.size() <= k_max_rendered_bytes);
    TOCSIN_FUZZ_CHECK(e.source_event_id.size() <= k_max_identity_bytes);
    TOCSIN_FUZZ_CHECK(e.state == SignalState::firing || e.state == SignalState::resolved);
    for (const auto& [name, value] : e.labels) {
      TOCSIN_FUZZ_CHECK(!value.empty() && value.size() <= k_max_rendered_bytes);
    }
    if (e.source_time) {
      TOCSIN_FUZZ_CHECK(to_unix_ms(*e.source_time) >= 0);
      TOCSIN_FUZZ_CHECK(to_unix_ms(*e.source_time) <= 253'402'300'799'999);
    }
  }
  if (!mapping->events) TOCSIN_FUZZ_CHECK(body->events.size() + body->ignored.size() == 1);
  return 0;
}
