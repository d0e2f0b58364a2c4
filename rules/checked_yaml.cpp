#include "rules/checked_yaml.hpp"

#include <yaml-cpp/depthguard.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <system_error>

#include "core/text.hpp"

namespace tocsin::rules {

std::string Diagnostic::format() const {
  std::string out = path;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  switch (level) {
    case Level::error:
      out += ": error: ";
      break;
    case Level::warning:
      out += ": warning: ";
      break;
    case Level::note:
      out += ": note: ";
      break;
  }
  out += message;
  return out;
}

}  // namespace tocsin::rules

namespace tocsin::rules::checked_yaml {
namespace {

// Secrets must come from the environment: a key spelled like one gets a message saying so
// instead of "unknown key".
constexpr std::string_view k_secret_keys[] = {"api_key", "token", "secret", "routing_key",
                                              "password"};

}  // namespace

// A value quoted for a message: escaped, and cut short so a pasted certificate does not
// bury the rest of the output.
std::string in_quotes(std::string_view s) {
  constexpr std::size_t k_max_shown = 80;
  bool cut = false;
  if (s.size() > k_max_shown) {
    s = s.substr(0, utf8_prefix_length(s, k_max_shown));
    cut = true;
  }
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += cut ? "...\"" : "\"";
  return out;
}

// `message` with every control character escaped as in_quotes() does: a diagnostic is one line
// of `tocsin check` output, and text from the file (yaml-cpp's parser messages quote the byte
// they stopped at) must not split it or drive the terminal.
std::string one_line(std::string_view message) {
  return escape_control(message, ControlEscape::named);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string format_number(double n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", n);
  return buf;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return in_quotes(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

// "WHERE: MESSAGE", or MESSAGE alone at the top level.
std::string at_where(std::string_view where, std::string_view message) {
  return where.empty() ? std::string(message) : std::string(where) + ": " + std::string(message);
}

bool is_env_var_name(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// A hint for a YAML syntax error on a line indented with a tab, which YAML forbids and
// editors hide.
std::string tab_hint(std::string_view text, int line) {
  std::size_t start = 0;
  for (int i = 0; i < line && start != std::string_view::npos; ++i) {
    start = text.find('\n', start);
    if (start != std::string_view::npos) ++start;
  }
  if (start == std::string_view::npos) return {};
  for (std::size_t i = start; i < text.size() && (text[i] == ' ' || text[i] == '\t'); ++i) {
    if (text[i] == '\t') return " (this line is indented with a tab; YAML needs spaces)";
  }
  return {};
}

std::optional<std::vector<Entry>> Checker::entries(const YAML::Node& node, const YAML::Mark& at,
                                                   std::string_view where, Empty empty) {
  if (node.IsNull() && empty == Empty::is_empty) return std::vector<Entry>{};
  if (!node.IsMap()) {
    m_report.error(at, "expected a map for " + std::string(where) + ", got " + describe(node));
    return std::nullopt;
  }
  std::vector<Entry> out;
  std::map<std::string, int> first_line;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      m_report.error(key.Mark(), at_where(where, "keys must be plain names, got " + describe(key)));
      continue;
    }
    const auto [previous, inserted] = first_line.emplace(key.Scalar(), key.Mark().line + 1);
    if (!inserted) {
      m_report.error(key.Mark(), "duplicate key " + in_quotes(key.Scalar()) + " in " +
                                     std::string(where) + " (first set at line " +
                                     std::to_string(previous->second) + ")");
      continue;
    }
    out.push_back({key.Scalar(), key, it->second});
  }
  return out;
}

std::optional<Fields> Checker::fields(const YAML::Node& node, const YAML::Mark& at,
                                      std::string where, Keys allowed, Empty empty) {
  auto all = entries(node, at, where, empty);
  if (!all) return std::nullopt;
  std::vector<Entry> known;
  for (auto& e : *all) {
    if (std::find(allowed.begin(), allowed.end(), e.key) != allowed.end()) {
      known.push_back(std::move(e));
    } else {
      unknown_key(e, where, allowed);
    }
  }
  return Fields(std::move(where), node.IsNull() ? at : node.Mark(), std::move(known));
}

bool Checker::require(const Fields& f, std::string_view key, std::string_view hint) {
  if (f.find(key) != nullptr) return true;
  std::string message = "missing required key " + in_quotes(key) + " in " + f.where();
  if (!hint.empty()) message += " (" + std::string(hint) + ")";
  m_report.error(f.mark(), std::move(message));
  return false;
}

void Checker::error(const Entry& e, const Fields& f, std::string_view message) {
  m_report.error(e.mark(), at_where(f.where(), message));
}

std::optional<std::string> Checker::scalar(const YAML::Node& node, const YAML::Mark& at,
                                           std::string_view where, std::string_view label,
                                           std::string_view expected) {
  if (node.IsScalar()) return node.Scalar();
  m_report.error(at, at_where(where, "expected " + std::string(expected) + " for " +
                                         std::string(label) + ", got " + describe(node)));
  return std::nullopt;
}

std::optional<std::string> Checker::text(const Fields& f, std::string_view key,
                                         std::string_view expected) {
  const auto* e = f.find(key);
  if (e == nullptr) return std::nullopt;
  return scalar(e->value, e->mark(), f.where(), in_quotes(key), expected);
}

std::optional<std::string> Checker::name(const Fields& f, std::string_view key,
                                         std::string_view expected) {
  auto value = text(f, key, expected);
  if (value && value->empty()) {
    error(*f.find(key), f, in_quotes(key) + " must not be empty");
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Checker::boolean(const Fields& f, std::string_view key) {
  const auto value = text(f, key, "true or false");
  if (!value) return std::nullopt;
  // YAML 1.1 spellings (yes, on, ...) are refused: their meaning differs between parsers.
  if (*value == "true") return true;
  if (*value == "false") return false;
  error(*f.find(key), f,
        "expected true or false for " + in_quotes(key) + ", got " + in_quotes(*value));
  return std::nullopt;
}

std::optional<long long> Checker::integer(const Fields& f, std::string_view key, long long min,
                                          long long max) {
  const auto value = text(f, key, "a whole number");
  if (!value) return std::nullopt;
  const auto& e = *f.find(key);
  long long n = 0;
  const auto* end = value->data() + value->size();
  const auto [ptr, ec] = std::from_chars(value->data(), end, n);
  if (ec != std::errc() || ptr != end) {
    error(e, f, "expected a whole number for " + in_quotes(key) + ", got " + in_quotes(*value));
    return std::nullopt;
  }
  if (n < min || n > max) {
    error(e, f, in_quotes(key) + " must be " + range_text(min, max) + ", got " + *value);
    return std::nullopt;
  }
  return n;
}

std::optional<double> Checker::number(const Fields& f, std::string_view key, double min,
                                      double max) {
  const auto value = text(f, key, "a number");
  if (!value) return std::nullopt;
  const auto& e = *f.find(key);
  double n = 0;
  const auto* end = value->data() + value->size();
  const auto [ptr, ec] = std::from_chars(value->data(), end, n);
  if (ec != std::errc() || ptr != end || !std::isfinite(n)) {
    error(e, f, "expected a number for " + in_quotes(key) + ", got " + in_quotes(*value));
    return std::nullopt;
  }
  if (n < min || n > max) {
    error(e, f,
          in_quotes(key) + " must be between " + format_number(min) + " and " + format_number(max) +
              ", got " + *value);
    return std::nullopt;
  }
  return n;
}

std::optional<Duration> Checker::duration(const Fields& f, std::string_view key, Zero zero) {
  constexpr std::string_view k_expected = "a duration like 30s, 5m, 2h, 7d";
  const auto value = text(f, key, k_expected);
  if (!value) return std::nullopt;
  const auto& e = *f.find(key);
  const auto d = parse_duration(*value);
  if (!d) {
    std::string message = "expected " + std::string(k_expected) + " for " + in_quotes(key) +
                          ", got " + in_quotes(*value);
    if (!value->empty() && std::all_of(value->begin(), value->end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      message += " (a bare number is ambiguous: add a unit, e.g. " + *value + "m)";
    }
    error(e, f, message);
    return std::nullopt;
  }
  if (zero == Zero::refused && d->count() == 0) {
    error(e, f, in_quotes(key) + " must be longer than 0s");
    return std::nullopt;
  }
  return d;
}

std::optional<std::size_t> Checker::byte_size(const Fields& f, std::string_view key,
                                              std::size_t min, std::size_t max) {
  constexpr std::string_view k_expected = "a size like 1MiB, 512KiB or 1048576 (bytes)";
  const auto value = text(f, key, k_expected);
  if (!value) return std::nullopt;
  const auto& e = *f.find(key);
  const auto n = parse_byte_size(*value);
  if (!n) {
    std::string message = "expected " + std::string(k_expected) + " for " + in_quotes(key) +
                          ", got " + in_quotes(*value);
    if (!value->empty() && std::isdigit(static_cast<unsigned char>(value->front()))) {
      message += " (the units are B, KiB, MiB and GiB)";
    }
    error(e, f, message);
    return std::nullopt;
  }
  if (*n < min || *n > max) {
    error(e, f,
          in_quotes(key) + " must be between " + format_byte_size(min) + " and " +
              format_byte_size(max) + ", got " + *value);
    return std::nullopt;
  }
  return n;
}

std::optional<std::vector<YAML::Node>> Checker::list(const Fields& f, std::string_view key,
                                                     std::string_view example, Empty empty) {
  const auto* e = f.find(key);
  if (e == nullptr) return std::nullopt;
  if (e->value.IsNull() && empty == Empty::is_empty) return std::vector<YAML::Node>{};
  if (!e->value.IsSequence()) {
    error(*e, f,
          "expected a list for " + in_quotes(key) + ", like " + std::string(example) + ", got " +
              describe(e->value));
    return std::nullopt;
  }
  return std::vector<YAML::Node>(e->value.begin(), e->value.end());
}

std::optional<std::string> Checker::url(const Fields& f, std::string_view key) {
  auto value = text(f, key, "a URL");
  if (!value) return std::nullopt;
  const auto lower = to_lower(*value);
  std::string_view rest = lower;
  bool scheme_ok = false;
  for (const std::string_view scheme : {"http://", "https://"}) {
    if (rest.starts_with(scheme)) {
      rest.remove_prefix(scheme.size());
      scheme_ok = true;
    }
  }
  const bool has_space = std::any_of(lower.begin(), lower.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c));
  });
  if (!scheme_ok || rest.empty() || rest.front() == '/' || has_space) {
    error(*f.find(key), f,
          in_quotes(key) + " must be an http:// or https:// URL, got " + in_quotes(*value));
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> Checker::env_var(const Fields& f, std::string_view key,
                                            std::string_view consequence) {
  auto value = text(f, key, "the name of an environment variable");
  if (!value) return std::nullopt;
  const auto& e = *f.find(key);
  if (!is_env_var_name(*value)) {
    // The value is not shown: it may be the very secret that was meant to stay out of here.
    error(e, f,
          in_quotes(key) +
              " must be the name of an environment variable (letters, digits and _, like "
              "OPSGENIE_API_KEY), not the secret itself");
    return std::nullopt;
  }
  if (!m_env) return value;
  const auto set = m_env(*value);
  if (!set || set->empty()) {
    m_report.warning(e.mark(), at_where(f.where(), "environment variable " + *value + " is " +
                                                       (set ? "empty" : "not set") + "; " +
                                                       std::string(consequence)));
  }
  return value;
}

void Checker::unknown_key(const Entry& e, std::string_view where, Keys allowed) {
  std::string message;
  const auto is_secret = std::find(std::begin(k_secret_keys), std::end(k_secret_keys), e.key) !=
                         std::end(k_secret_keys);
  if (is_secret) {
    const auto env_key = e.key + "_env";
    message = "secrets never live in the rules file, which is kept in git: instead of " +
              in_quotes(e.key) + " in " + std::string(where) + ", ";
    if (std::find(allowed.begin(), allowed.end(), env_key) != allowed.end()) {
      message += "set " + in_quotes(env_key) + " to the name of an environment variable holding it";
    } else {
      message += "put the secret in an environment variable named by one of the *_env keys";
    }
  } else if (e.key == "<<") {
    message =
        "YAML merge keys (<<) are not supported in " + std::string(where) + "; write the keys out";
  } else {
    message = "unknown key " + in_quotes(e.key) + " in " + std::string(where);
    const auto hint = did_you_mean(e.key, allowed);
    message += hint.empty() ? "; allowed keys: " + join(allowed) : hint;
  }
  m_report.error(e.key_node.Mark(), std::move(message));
}

std::string Checker::range_text(long long min, long long max) {
  if (max == std::numeric_limits<int>::max()) return "at least " + std::to_string(min);
  return "between " + std::to_string(min) + " and " + std::to_string(max);
}

void read_document(const std::string& text, std::string_view kind, std::string_view empty_hint,
                   Reporter& report, const std::function<void(const YAML::Node&)>& load) {
  try {
    // Never YAML::LoadAll: see DocumentScan. YAML::Load reads the first document only.
    const auto scan = DocumentScan::of(text);
    const YAML::Node root = scan.stuck ? YAML::Node() : YAML::Load(text);
    if (scan.stuck) {
      const auto at = static_cast<std::size_t>(std::max(scan.stuck->pos, 0));
      report.error(*scan.stuck, "invalid YAML: unexpected " +
                                    (at < text.size() ? in_quotes(text.substr(at, 1)) : "end"));
    } else if (scan.aliases_past_limit) {
      report.error(*scan.aliases_past_limit,
                   "aliases expand the file past " + std::to_string(DocumentScan::k_max_nodes) +
                       " nodes; write the shared parts out, or share fewer");
    } else if (scan.documents <= 1 && root.IsNull()) {
      report.error(YAML::Mark(),
                   "the " + std::string(kind) + " is empty; it needs " + std::string(empty_hint));
    } else {
      if (scan.second_document) {
        report.error(*scan.second_document,
                     "the " + std::string(kind) +
                         " must hold a single YAML document; a second one starts here (remove "
                         "the \"---\" separator)");
      }
      load(root);
    }
  } catch (const YAML::DeepRecursion& e) {
    report.error(e.mark, "invalid YAML: nested too deeply");
  } catch (const YAML::ParserException& e) {
    report.error(e.mark, "invalid YAML: " + e.msg + tab_hint(text, e.mark.line));
  } catch (const YAML::Exception& e) {
    // A node accessed the wrong way: a bug here, not in the file; still never accept the file.
    report.error(e.mark, std::string("internal error while checking the file: ") + e.what());
  }
}

}  // namespace tocsin::rules::checked_yaml
