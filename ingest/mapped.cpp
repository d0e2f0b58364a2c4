#include "ingest/mapped.hpp"

#include <cctype>
#include <cmath>
#include <cstdint>

#include "core/text.hpp"
#include "core/time.hpp"

namespace tocsin::ingest {

namespace {

using mapping::JsonPointer;
using mapping::Template;

constexpr std::int64_t k_max_epoch_seconds = 253'402'300'799;  // 9999-12-31T23:59:59Z
constexpr std::int64_t k_max_epoch_ms = k_max_epoch_seconds * 1000 + 999;

// A value from the payload as a message quotes it: short, one line.
std::string quote(std::string_view value) {
  return "\"" + escape_control(truncate_utf8(value, 80), ControlEscape::hex) + "\"";
}

std::string what_is(const Json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  if (v.is_null()) return "null";
  return std::string("a ") + v.type_name();
}

// A pointer or template of the mapping as a message shows it: the rules file may hold control
// characters in a quoted string, and a detail is one log line.
std::string shown(const std::string& spelled) {
  return escape_control(spelled, ControlEscape::hex);
}

// What went wrong in one field: the detail of the 400 is `FIELD: MESSAGE`.
struct Misfit {
  std::string detail;
};

using Text = Expected<std::string, Misfit>;

Misfit misfit(std::string_view field, const std::string& message) {
  return Misfit{std::string(field) + ": " + message};
}

Misfit missing(std::string_view field, const JsonPointer& p) {
  return misfit(
      field, (p.spelled().empty() ? std::string("the event") : shown(p.spelled())) + " is missing");
}

Misfit not_scalar(std::string_view field, const JsonPointer& p, const Json& v) {
  return misfit(field, shown(p.spelled()) + " is " + what_is(v) +
                           "; expected a string, a number or a boolean");
}

// The scalar at `p` as text; nullopt when absent or null (the caller decides whether that is
// a misfit); objects and arrays are always a misfit.
Expected<std::optional<std::string>, Misfit> scalar_at(const Json& event, const JsonPointer& p,
                                                       std::string_view field) {
  const Json* v = p.resolve(event);
  if (!v || v->is_null()) return std::optional<std::string>();
  auto text = mapping::scalar_text(*v);
  if (!text) return unexpected(not_scalar(field, p, *v));
  return text;
}

// A number an identity cannot keep exactly, as a misfit; nullopt for every other value. JSON
// gives an integer of 64 bits (-2^63 .. 2^64-1, no fraction, no exponent) exactly; any other
// number is a double of about 16 significant digits, so two ids that differ past those
// digits (a Datadog or Sentry id sent as a number beyond 2^64) would render alike and merge
// two alerts, and a fraction or exponent rarely reads back as the sender wrote it
// (docs/formats.md "14.3 Templates").
std::optional<Misfit> inexact_number(std::string_view field, const JsonPointer& p, const Json& v) {
  if (!v.is_number_float()) return std::nullopt;
  constexpr double k_exact_integers = 9007199254740992.0;  // 2^53
  if (!(std::fabs(v.get<double>()) < k_exact_integers)) {
    return misfit(
        field, shown(p.spelled()) + " is a number too large to keep exactly; send it as a string");
  }
  return misfit(field, shown(p.spelled()) + " is " + v.dump() +
                           ", a number with a fraction or an exponent, which an identity does "
                           "not take; send it as a string");
}

// Renders a template. `required`: every placeholder must name a scalar, and a number one kept
// exactly (identity, delivery id); otherwise an absent or null value renders as nothing. The output
// stops growing past `limit` bytes; the caller cuts or refuses it.
Text render(const Template& t, const Json& event, std::string_view field, bool required,
            std::size_t limit) {
  std::string out;
  for (const auto& part : t.parts()) {
    if (out.size() <= limit) out += part.literal;
    if (!part.pointer) continue;
    const Json* v = part.pointer->resolve(event);
    if (!v || v->is_null()) {
      if (required) return unexpected(missing(field, *part.pointer));
      continue;
    }
    if (v->is_string()) {
      if (out.size() <= limit) out.append(v->get_ref<const std::string&>(), 0, limit + 1);
      continue;
    }
    if (required) {
      if (auto inexact = inexact_number(field, *part.pointer, *v)) return unexpected(*inexact);
    }
    auto text = mapping::scalar_text(*v);
    if (!text) return unexpected(not_scalar(field, *part.pointer, *v));
    if (out.size() <= limit) out += *text;
  }
  return out;
}

// A text shown to people: cut (never split inside a UTF-8 sequence) past the limit.
Text display_text(const Template& t, const Json& event, std::string_view field) {
  auto text = render(t, event, field, false, mapping::k_max_rendered_bytes);
  if (text && text->size() > mapping::k_max_rendered_bytes) {
    return truncate_utf8(*text, mapping::k_max_rendered_bytes);
  }
  return text;
}

// An identity (the alert's, or a delivery's): every placeholder present, not empty, not cut
// (two long identities cut alike would merge two alerts).
Text identity_text(const Template& t, const Json& event, std::string_view field) {
  auto text = render(t, event, field, true, mapping::k_max_identity_bytes);
  if (!text) return text;
  if (text->empty()) return unexpected(misfit(field, shown(t.spelled()) + " renders as nothing"));
  if (text->size() > mapping::k_max_identity_bytes) {
    return unexpected(misfit(field, shown(t.spelled()) + " renders longer than " +
                                        std::to_string(mapping::k_max_identity_bytes) + " bytes"));
  }
  return text;
}

bool listed(const std::vector<std::string>& values, const std::string& value) {
  for (const auto& v : values) {
    if (v == value) return true;
  }
  return false;
}

std::string listing(std::string_view label, const std::vector<std::string>& values) {
  if (values.empty()) return {};
  std::string out(label);
  out += ' ';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ", ";
    out += quote(values[i]);
  }
  return out;
}

// Epoch time in `unit_ms` milliseconds per unit: a JSON number, or a string of digits (with a
// fraction for seconds), within 1970..9999.
std::optional<TimePoint> epoch_time(const Json& v, std::int64_t unit_ms) {
  const std::int64_t max_units = unit_ms == 1 ? k_max_epoch_ms : k_max_epoch_seconds;
  if (v.is_number_unsigned() || v.is_number_integer()) {
    if (v.is_number_unsigned()) {
      if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(max_units)) return std::nullopt;
      return from_unix_ms(static_cast<std::int64_t>(v.get<std::uint64_t>()) * unit_ms);
    }
    const auto n = v.get<std::int64_t>();
    if (n < 0 || n > max_units) return std::nullopt;
    return from_unix_ms(n * unit_ms);
  }
  double d = 0;
  if (v.is_number_float()) {
    d = v.get<double>();
  } else if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    std::size_t digits = 0, dots = 0;
    for (char c : s) {
      if (c == '.') {
        ++dots;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        ++digits;
      } else {
        return std::nullopt;
      }
    }
    if (digits == 0 || digits > 20 || dots > 1 || s.front() == '.' || s.back() == '.') {
      return std::nullopt;
    }
    if (dots == 1 && unit_ms == 1) return std::nullopt;  // milliseconds are whole
    d = std::strtod(s.c_str(), nullptr);
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(d) || d < 0 || d > static_cast<double>(max_units)) return std::nullopt;
  return from_unix_ms(static_cast<std::int64_t>(std::llround(d * static_cast<double>(unit_ms))));
}

// One event of the body, or a reason to ignore it (an empty optional event with `ignored`).
struct Mapped {
  std::optional<NormalizedEvent> event;
  std::string ignored;
};

Expected<Mapped, Misfit> map_event(const mapping::Mapping& m, std::string_view source_name,
                                   const Json& event) {
  // Status first: an event the mapping ignores needs nothing else.
  // A null status reads as the text "null" (GitHub's conclusion of a run not yet finished).
  const auto& status = m.status;
  const Json* status_value = status.path.resolve(event);
  if (!status_value) return unexpected(missing("status", status.path));
  auto state = status_value->is_null() ? std::optional<std::string>("null")
                                       : mapping::scalar_text(*status_value);
  if (!state) return unexpected(not_scalar("status", status.path, *status_value));
  NormalizedEvent e;
  if (listed(status.firing, *state)) {
    e.state = SignalState::firing;
  } else if (listed(status.resolved, *state)) {
    e.state = SignalState::resolved;
  } else if (listed(status.ignore, *state)) {
    std::string reason = "mapped_ignored_";
    for (char c : to_lower(*state)) {
      reason += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    }
    return Mapped{std::nullopt, reason.substr(0, 80)};
  } else {
    std::string expected = listing("firing", status.firing);
    for (const auto& more :
         {listing("resolved", status.resolved), listing("ignore", status.ignore)}) {
      if (!more.empty()) expected += (expected.empty() ? "" : "; ") + more;
    }
    return unexpected(misfit("status", shown(status.path.spelled()) + " is " + quote(*state) +
                                           ", which the mapping does not list (" + expected + ")"));
  }

  e.source = Source::generic;
  auto identity = identity_text(m.identity, event, "identity");
  if (!identity) return unexpected(identity.error());
  e.fingerprint = "mapped:" + std::string(source_name) + ":" + *identity;
  if (m.name) {
    auto name = display_text(*m.name, event, "name");
    if (!name) return unexpected(name.error());
    e.name = std::move(*name);
  }
  if (e.name.empty()) e.name = *identity;

  if (m.severity) {
    const auto& spec = *m.severity;
    auto value = scalar_at(event, spec.path, "severity");
    if (!value) return unexpected(value.error());
    if (*value) {
      if (spec.map.empty()) {
        e.severity = parse_severity(**value);
      } else {
        for (const auto& [from, to] : spec.map) {
          if (from == **value) {
            e.severity = to;
            break;
          }
        }
      }
      if (!e.severity && !spec.fallback) {
        return unexpected(
            misfit("severity", shown(spec.path.spelled()) + " is " + quote(**value) +
                                   (spec.map.empty() ? ", not critical, high, warning or info"
                                                     : ", which the mapping's map does not list") +
                                   " (and the mapping has no default)"));
      }
    }
    if (!e.severity) e.severity = spec.fallback;
  }

  if (m.summary) {
    auto summary = display_text(*m.summary, event, "summary");
    if (!summary) return unexpected(summary.error());
    e.summary = std::move(*summary);
  }
  if (e.summary.empty()) e.summary = *identity;

  if (m.timestamp) {
    const auto& spec = *m.timestamp;
    const Json* v = spec.path.resolve(event);
    if (v && !v->is_null()) {
      switch (spec.format) {
        case mapping::TimeFormat::rfc3339:
          if (v->is_string()) {
            // An offset can carry 1970-01-01T00:30+01:00 before the epoch, or 9999-12-31 past
            // the last representable second: the same range as the epoch forms.
            e.source_time = parse_timestamp(v->get_ref<const std::string&>());
            if (e.source_time &&
                (to_unix_ms(*e.source_time) < 0 || to_unix_ms(*e.source_time) > k_max_epoch_ms)) {
              e.source_time.reset();
            }
          }
          break;
        case mapping::TimeFormat::epoch_seconds:
          e.source_time = epoch_time(*v, 1000);
          break;
        case mapping::TimeFormat::epoch_millis:
          e.source_time = epoch_time(*v, 1);
          break;
      }
      if (!e.source_time) {
        static constexpr const char* k_formats[] = {"an RFC 3339 timestamp (1970..9999)",
                                                    "epoch seconds (1970..9999)",
                                                    "epoch milliseconds (1970..9999)"};
        const auto text = mapping::scalar_text(*v);
        return unexpected(misfit("timestamp", shown(spec.path.spelled()) + " is " +
                                                  (text ? quote(*text) : what_is(*v)) + ", not " +
                                                  k_formats[static_cast<int>(spec.format)]));
      }
    }
  }

  for (const auto& [label, t] : m.labels) {
    auto value = display_text(t, event, "labels." + label);
    if (!value) return unexpected(value.error());
    if (!value->empty()) e.labels.emplace(label, std::move(*value));
  }
  for (const auto& [annotation, t] : m.annotations) {
    auto value = display_text(t, event, "annotations." + annotation);
    if (!value) return unexpected(value.error());
    if (annotation == "description") e.description = *value;
  }

  if (m.delivery_id) {
    auto id = identity_text(*m.delivery_id, event, "delivery_id");
    if (!id) return unexpected(id.error());
    // A repeat is the same delivery id for the same alert and state
    // (docs/formats.md "14.1 Keys"): a template that is not unique across alerts, or a tool
    // that reuses an id for the resolve, must not make another alert's event a "redelivery".
    e.source_event_id = *id + '\n' + *identity + '\n' + std::string(to_string(e.state));
  }
  return Mapped{std::move(e), {}};
}

IngestError invalid(std::string detail) {
  return bad_request("mapped_payload_invalid", std::move(detail));
}

}  // namespace

Expected<MappedBody, IngestError> apply_mapping(const mapping::Mapping& mapping,
                                                std::string_view source_name, const Json& body) {
  MappedBody out;
  if (!mapping.events) {
    if (!body.is_object()) {
      return unexpected(bad_request("not_an_object", "a mapped event must be a JSON object, got " +
                                                         std::string(body.type_name())));
    }
    auto one = map_event(mapping, source_name, body);
    if (!one) return unexpected(invalid(std::move(one.error().detail)));
    if (one->event) {
      out.delivery_id = one->event->source_event_id;
      out.events.push_back(std::move(*one->event));
    } else {
      out.ignored.push_back(std::move(one->ignored));
    }
    return out;
  }
  const Json* list = mapping.events->resolve(body);
  if (!list || list->is_null())
    return unexpected(invalid(missing("events", *mapping.events).detail));
  if (!list->is_array()) {
    return unexpected(invalid("events: " + shown(mapping.events->spelled()) + " is " +
                              what_is(*list) + "; expected an array"));
  }
  if (list->size() > mapping::k_max_events) {
    return unexpected(invalid("events: " + shown(mapping.events->spelled()) + " holds " +
                              std::to_string(list->size()) + " events; at most " +
                              std::to_string(mapping::k_max_events) + " are taken at once"));
  }
  if (list->empty()) out.ignored.push_back("mapped_no_events");
  std::size_t index = 0;
  for (const auto& item : *list) {
    auto one = map_event(mapping, source_name, item);
    if (!one) {
      return unexpected(invalid("event " + std::to_string(index) + ": " + one.error().detail));
    }
    if (one->event) {
      out.events.push_back(std::move(*one->event));
    } else {
      out.ignored.push_back(std::move(one->ignored));
    }
    ++index;
  }
  return out;
}

Expected<MappedBody, IngestError> parse_mapped(const mapping::Mapping& mapping,
                                               std::string_view source_name,
                                               std::string_view body) {
  auto parsed = parse_json_strict(body);
  if (!parsed) return unexpected(bad_request(parsed.error().code, parsed.error().detail));
  return apply_mapping(mapping, source_name, *parsed);
}

}  // namespace tocsin::ingest
