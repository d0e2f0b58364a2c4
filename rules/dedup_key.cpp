#include "rules/dedup_key.hpp"

namespace tocsin::rules {

namespace {

std::string placeholder_value(std::string_view field, const NormalizedEvent& e) {
  if (field == "source") return std::string(to_string(e.source));
  if (field == "name") return e.name;
  if (field == "account") return e.account;
  if (field == "region") return e.region;
  constexpr std::string_view k_labels = "labels.";
  if (field.substr(0, k_labels.size()) == k_labels) {
    auto it = e.labels.find(std::string(field.substr(k_labels.size())));
    return it == e.labels.end() ? std::string() : it->second;
  }
  return {};
}

}  // namespace

std::string render_dedup_key(std::string_view t, const NormalizedEvent& e) {
  std::string out;
  std::size_t pos = 0;
  while (pos < t.size()) {
    const auto open = t.find('{', pos);
    if (open == std::string_view::npos) {
      out.append(t.substr(pos));
      break;
    }
    out.append(t.substr(pos, open - pos));
    const auto close = t.find('}', open);
    if (close == std::string_view::npos) {  // not reachable for a checked template
      out.append(t.substr(open));
      break;
    }
    out += placeholder_value(t.substr(open + 1, close - open - 1), e);
    pos = close + 1;
  }
  return out;
}

}  // namespace tocsin::rules
