#include "rules/silence.hpp"

#include <algorithm>

#include "core/duration.hpp"

namespace tocsin::rules {

namespace {

constexpr const char* k_matcher_keys[] = {"fingerprint", "source",  "name",   "severity", "metric",
                                          "namespace",   "account", "region", "labels"};
constexpr const char* k_request_keys[] = {"matchers", "starts_at", "ends_at",
                                          "duration", "by",        "comment"};

bool field_matches(const std::optional<ValueMatcher>& m, std::string_view value) {
  return !m || m->matches(value);
}

bool is_exact(const std::optional<ValueMatcher>& m) {
  return m && m->kind() == ValueMatcher::Kind::exact;
}

Expected<ValueMatcher, SilenceError> value_matcher(const Json& value, const std::string& field) {
  if (!value.is_string()) {
    return unexpected(SilenceError{field, "must be a string: a value, a glob with * or a /regex/"});
  }
  auto m = ValueMatcher::parse(value.get<std::string>());
  if (!m) return unexpected(SilenceError{field, "is not a valid regex: " + m.error()});
  return std::move(*m);
}

bool is_blank(const std::string& text) {
  return std::all_of(text.begin(), text.end(),
                     [](unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
}

const Json* find(const Json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// A non-empty string of at most `max` bytes.
Expected<std::string, SilenceError> required_text(const Json& body, const char* key,
                                                  std::size_t max, const char* what) {
  const Json* v = find(body, key);
  if (!v || (v->is_string() && is_blank(v->get<std::string>()))) {
    return unexpected(SilenceError{key, std::string("is required: ") + what});
  }
  if (!v->is_string()) return unexpected(SilenceError{key, "must be a string"});
  const std::string text = v->get<std::string>();
  if (text.size() > max) {
    return unexpected(SilenceError{key, "is longer than " + std::to_string(max) + " bytes (" +
                                            std::to_string(text.size()) + ")"});
  }
  return text;
}

Expected<TimePoint, SilenceError> time_field(const Json& v, const char* key) {
  if (!v.is_string()) return unexpected(SilenceError{key, "must be an RFC 3339 time string"});
  auto t = parse_timestamp(v.get<std::string>());
  if (!t) {
    return unexpected(SilenceError{key, "is not an RFC 3339 time: \"" + v.get<std::string>() +
                                            "\" (e.g. 2026-11-30T14:00:00Z)"});
  }
  return *t;
}

}  // namespace

bool SilenceMatchers::matches(const NormalizedEvent& alert) const {
  return field_matches(fingerprint, alert.fingerprint) && match.matches(alert);
}

bool SilenceMatchers::names_exactly() const {
  return is_exact(fingerprint) || is_exact(match.name);
}

std::string_view to_string(SilenceStatus s) {
  switch (s) {
    case SilenceStatus::pending:
      return "pending";
    case SilenceStatus::active:
      return "active";
    case SilenceStatus::expired:
      return "expired";
  }
  return "expired";
}

std::optional<SilenceStatus> parse_silence_status(std::string_view s) {
  for (auto v : {SilenceStatus::pending, SilenceStatus::active, SilenceStatus::expired}) {
    if (to_string(v) == s) return v;
  }
  return std::nullopt;
}

TimePoint Silence::end() const {
  return expired_at ? std::min(*expired_at, ends_at) : ends_at;
}

SilenceStatus Silence::status(TimePoint now) const {
  if (now >= end()) return SilenceStatus::expired;
  if (now < starts_at) return SilenceStatus::pending;
  return SilenceStatus::active;
}

std::string SilenceRef::describe() const {
  std::string out = "silence " + std::to_string(id) + " by " + (by.empty() ? "someone" : by) +
                    " until " + format_timestamp(until);
  if (!comment.empty()) out += ": " + comment;
  return out;
}

SilenceRef ref_of(const Silence& s) {
  return SilenceRef{s.id, s.created_by, s.comment, s.end()};
}

Expected<SilenceMatchers, SilenceError> parse_silence_matchers(const Json& spelled) {
  if (!spelled.is_object()) {
    return unexpected(SilenceError{
        "matchers",
        "must be an object like {\"name\": \"forms-*\", \"labels\": {\"env\": \"prod\"}}"});
  }
  SilenceMatchers out;
  std::size_t count = 0;
  for (auto it = spelled.begin(); it != spelled.end(); ++it) {
    const std::string& key = it.key();
    const std::string field = "matchers." + key;
    if (std::none_of(std::begin(k_matcher_keys), std::end(k_matcher_keys),
                     [&](const char* k) { return key == k; })) {
      return unexpected(
          SilenceError{field,
                       "is not a matcher key; one of fingerprint, source, name, severity, metric, "
                       "namespace, account, region, labels"});
    }
    if (key == "labels") {
      if (!it->is_object() || it->empty()) {
        return unexpected(
            SilenceError{field, "must be a non-empty object of label names to values"});
      }
      for (auto label = it->begin(); label != it->end(); ++label) {
        auto m = value_matcher(*label, field + "." + label.key());
        if (!m) return unexpected(m.error());
        out.match.labels.emplace_back(label.key(), std::move(*m));
        ++count;
      }
      continue;
    }
    auto m = value_matcher(*it, field);
    if (!m) return unexpected(m.error());
    ++count;
    if (key == "fingerprint") {
      out.fingerprint = std::move(*m);
    } else if (key == "source") {
      out.match.source = std::move(*m);
    } else if (key == "name") {
      out.match.name = std::move(*m);
    } else if (key == "severity") {
      if (m->kind() == ValueMatcher::Kind::exact && !parse_severity(m->spelled())) {
        return unexpected(SilenceError{
            field, "must be one of critical, high, warning, info, got \"" + m->spelled() + "\""});
      }
      out.match.severity = std::move(*m);
    } else if (key == "metric") {
      out.match.metric = std::move(*m);
    } else if (key == "namespace") {
      out.match.namespace_ = std::move(*m);
    } else if (key == "account") {
      out.match.account = std::move(*m);
    } else if (key == "region") {
      out.match.region = std::move(*m);
    }
  }
  if (count == 0) {
    return unexpected(SilenceError{
        "matchers", "names no key: a silence of every alert is refused (name what to quiet)"});
  }
  // A value that matches "" matches everything (`*`, an unanchored regex like /.*/): a silence
  // made only of such values, and no label (a label must be present to match), quiets every
  // alert.
  const auto anything = [](const std::optional<ValueMatcher>& m) { return !m || m->matches(""); };
  const Match& m = out.match;
  if (out.match.labels.empty() && anything(out.fingerprint) && anything(m.source) &&
      anything(m.name) && anything(m.severity) && anything(m.metric) && anything(m.namespace_) &&
      anything(m.account) && anything(m.region)) {
    return unexpected(SilenceError{
        "matchers", "matches every alert (each value matches anything): name what to quiet"});
  }
  if (count > k_silence_max_matchers) {
    return unexpected(SilenceError{"matchers", "has " + std::to_string(count) +
                                                   " values, more than " +
                                                   std::to_string(k_silence_max_matchers)});
  }
  return out;
}

Expected<Silence, SilenceError> parse_silence_request(const Json& body, TimePoint now,
                                                      const SilenceLimits& limits) {
  if (!body.is_object()) return unexpected(SilenceError{"body", "must be a JSON object"});
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (std::none_of(std::begin(k_request_keys), std::end(k_request_keys),
                     [&](const char* k) { return it.key() == k; })) {
      return unexpected(
          SilenceError{it.key(),
                       "is not a silence field; the fields are matchers, starts_at, ends_at, "
                       "duration, by, comment"});
    }
  }
  Silence s;
  s.created_at = now;
  const Json* matchers = find(body, "matchers");
  if (!matchers) return unexpected(SilenceError{"matchers", "is required: what to quiet"});
  auto parsed = parse_silence_matchers(*matchers);
  if (!parsed) return unexpected(parsed.error());
  s.matchers = std::move(*parsed);
  s.spelled = *matchers;

  auto by = required_text(body, "by", k_silence_max_by, "who is quieting these alerts");
  if (!by) return unexpected(by.error());
  s.created_by = std::move(*by);
  auto comment =
      required_text(body, "comment", k_silence_max_comment,
                    "why (the change, the ticket): it is shown with every page withheld");
  if (!comment) return unexpected(comment.error());
  s.comment = std::move(*comment);

  s.starts_at = now;
  if (const Json* v = find(body, "starts_at")) {
    auto t = time_field(*v, "starts_at");
    if (!t) return unexpected(t.error());
    if (*t > now + limits.max_ahead) {
      return unexpected(SilenceError{"starts_at", "is more than " +
                                                      format_duration(limits.max_ahead) +
                                                      " ahead; schedule it closer to the work"});
    }
    s.starts_at = std::max(*t, now);
  }

  const Json* ends_at = find(body, "ends_at");
  const Json* duration = find(body, "duration");
  if ((ends_at != nullptr) == (duration != nullptr)) {
    return unexpected(SilenceError{
        ends_at ? "duration" : "ends_at",
        "give exactly one of ends_at (RFC 3339) or duration (e.g. 2h): a silence always ends"});
  }
  if (ends_at) {
    auto t = time_field(*ends_at, "ends_at");
    if (!t) return unexpected(t.error());
    s.ends_at = *t;
    if (s.ends_at <= now) return unexpected(SilenceError{"ends_at", "is not in the future"});
    if (s.ends_at <= s.starts_at)
      return unexpected(SilenceError{"ends_at", "is not after starts_at"});
  } else {
    if (!duration->is_string())
      return unexpected(SilenceError{"duration", "must be a string like \"2h\" or \"90m\""});
    auto d = parse_duration(duration->get<std::string>());
    if (!d || d->count() <= 0) {
      return unexpected(SilenceError{"duration",
                                     "must be a positive duration like \"2h\" or "
                                     "\"90m\", got \"" +
                                         duration->get<std::string>() + "\""});
    }
    if (*d > limits.max_duration) {
      return unexpected(SilenceError{"duration", "is " + format_duration(*d) +
                                                     ", longer than silences.max_duration (" +
                                                     format_duration(limits.max_duration) + ")"});
    }
    s.ends_at = s.starts_at + *d;
  }
  if (s.ends_at - s.starts_at > limits.max_duration) {
    return unexpected(SilenceError{"ends_at", "makes it last " +
                                                  format_duration(s.ends_at - s.starts_at) +
                                                  ", longer than silences.max_duration (" +
                                                  format_duration(limits.max_duration) + ")"});
  }
  return s;
}

bool silence_covers(const Silence& silence, const NormalizedEvent& alert, bool never_suppress) {
  if (never_suppress && !silence.matchers.names_exactly()) return false;
  return silence.matchers.matches(alert);
}

const Silence* applying_silence(const std::vector<Silence>& silences, const NormalizedEvent& alert,
                                bool never_suppress, TimePoint now) {
  const Silence* best = nullptr;
  for (const auto& s : silences) {
    if (!s.active(now) || !silence_covers(s, alert, never_suppress)) continue;
    if (!best || s.end() > best->end() || (s.end() == best->end() && s.id < best->id)) best = &s;
  }
  return best;
}

Json silence_json(const Silence& s, TimePoint now) {
  Json j = Json::object();
  j["id"] = s.id;
  j["status"] = std::string(to_string(s.status(now)));
  j["matchers"] = s.spelled;
  j["starts_at"] = format_timestamp(s.starts_at);
  j["ends_at"] = format_timestamp(s.ends_at);
  j["created_at"] = format_timestamp(s.created_at);
  j["by"] = s.created_by;
  j["comment"] = s.comment;
  j["expired_at"] = s.expired_at ? Json(format_timestamp(*s.expired_at)) : Json(nullptr);
  j["expired_by"] = s.expired_at ? Json(s.expired_by) : Json(nullptr);
  return j;
}

}  // namespace tocsin::rules
