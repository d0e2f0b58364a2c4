#pragma once
// Reading a YAML file strictly, and telling its author everything that is wrong with it, each
// problem with its line and column: the reporter of diagnostics, checked access to maps (known
// keys, required keys, duplicates, "did you mean"), typed values (durations, sizes, choices,
// URLs, environment variable names) and a safe first pass over the parser's events. What a
// file's sections mean is its schema's business (rules/loader.cpp for the rules file).
//
// Internal to rules/: yaml-cpp is a private dependency of the rules library.

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/duration.hpp"
#include "core/text.hpp"
#include "rules/loader.hpp"

namespace tocsin::rules::checked_yaml {

// ---------------------------------------------------------------------------------------------
// Text for messages

// A value quoted for a message: escaped, and cut short so a pasted certificate does not
// bury the rest of the output.
std::string in_quotes(std::string_view s);

// `message` with every control character escaped as in_quotes() does: a diagnostic is one line
// of `tocsin check` output, and text from the file (yaml-cpp's parser messages quote the byte
// they stopped at) must not split it or drive the terminal.
std::string one_line(std::string_view message);

// Levenshtein distance, in bytes.
std::size_t edit_distance(std::string_view a, std::string_view b);

// ` (did you mean "x"?)` when one candidate is closest to `word` and within two edits of it
// (ignoring case), else "": a tie (`P6` is as close to P1 as to P5) would be a guess.
template <typename Range>
std::string did_you_mean(std::string_view word, const Range& candidates) {
  const auto word_lower = to_lower(word);
  std::optional<std::string> best;
  std::size_t best_distance = 3;
  bool tied = false;
  for (const auto& candidate : candidates) {
    const std::string_view c = candidate;
    const auto d = edit_distance(word_lower, to_lower(c));
    if (d >= word.size()) continue;
    if (d < best_distance) {
      best = std::string(c);
      best_distance = d;
      tied = false;
    } else if (d == best_distance && best) {
      tied = true;
    }
  }
  return best && !tied ? " (did you mean " + in_quotes(*best) + "?)" : "";
}

// A number as a message shows it (`%g`: 0.5, 100).
std::string format_number(double n);

// What a node is, for "expected X, got Y": the quoted scalar, "a list", "a map", "nothing".
std::string describe(const YAML::Node& node);

// "WHERE: MESSAGE", or MESSAGE alone at the top level.
std::string at_where(std::string_view where, std::string_view message);

// Letters, digits and _, not starting with a digit.
bool is_env_var_name(std::string_view s);

// A hint for a YAML syntax error on a line indented with a tab, which YAML forbids and
// editors hide.
std::string tab_hint(std::string_view text, int line);

// ---------------------------------------------------------------------------------------------
// Diagnostics

class Reporter {
 public:
  explicit Reporter(std::string path) : m_path(std::move(path)) {}

  void error(const YAML::Mark& at, std::string message) {
    add(Diagnostic::Level::error, at, std::move(message));
  }
  void warning(const YAML::Mark& at, std::string message) {
    add(Diagnostic::Level::warning, at, std::move(message));
  }
  void note(const YAML::Mark& at, std::string message) {
    add(Diagnostic::Level::note, at, std::move(message));
  }
  bool has_errors() const { return m_errors > 0; }

  // In file order; problems found at the same place keep the order they were found in.
  std::vector<Diagnostic> take_sorted() {
    std::stable_sort(m_diagnostics.begin(), m_diagnostics.end(), [](const auto& a, const auto& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return std::move(m_diagnostics);
  }

 private:
  void add(Diagnostic::Level level, const YAML::Mark& at, std::string message) {
    // yaml-cpp marks are 0-based; a null mark (-1) should not happen, and is shown as 1:1
    // rather than dropping the position.
    m_diagnostics.push_back(
        {level, m_path, std::max(at.line, 0) + 1, std::max(at.column, 0) + 1, one_line(message)});
    if (level == Diagnostic::Level::error) ++m_errors;
  }

  std::string m_path;
  std::vector<Diagnostic> m_diagnostics;
  int m_errors = 0;
};

// ---------------------------------------------------------------------------------------------
// Checked access to YAML nodes: every accessor reports what is wrong and where, and returns
// nullopt, so loading goes on and finds the next problem.

using Keys = std::span<const std::string_view>;

struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;

  // Where a problem with the value is shown: at the value, or at the key when the value is
  // empty (yaml-cpp places an empty value wherever the next token starts).
  YAML::Mark mark() const { return value.IsNull() ? key_node.Mark() : value.Mark(); }
};

// A map of the file whose keys are known, unique strings.
class Fields {
 public:
  Fields(std::string where, YAML::Mark mark, std::vector<Entry> entries)
      : m_where(std::move(where)), m_mark(mark), m_entries(std::move(entries)) {}

  const Entry* find(std::string_view key) const {
    for (const auto& e : m_entries) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }
  // What the map is, for messages: `channel "oncall"`, `defaults`.
  const std::string& where() const { return m_where; }
  // Where the map starts: missing keys are reported there.
  const YAML::Mark& mark() const { return m_mark; }
  const std::vector<Entry>& entries() const { return m_entries; }

 private:
  std::string m_where;
  YAML::Mark m_mark;
  std::vector<Entry> m_entries;
};

enum class Empty { is_error, is_empty };  // how to take a key written with no value
enum class Zero { allowed, refused };     // whether a duration may be 0s

class Checker {
 public:
  Checker(Reporter& report, const EnvLookup& env) : m_report(report), m_env(env) {}

  Reporter& report() { return m_report; }

  // The entries of a map whose keys are unique strings; a duplicate or non-string key is
  // reported and skipped.
  std::optional<std::vector<Entry>> entries(const YAML::Node& node, const YAML::Mark& at,
                                            std::string_view where, Empty empty);

  // entries() limited to `allowed` keys: any other key is reported and skipped.
  std::optional<Fields> fields(const YAML::Node& node, const YAML::Mark& at, std::string where,
                               Keys allowed, Empty empty = Empty::is_error);

  // Reports a missing key; `hint` (optional) says what to write.
  bool require(const Fields& f, std::string_view key, std::string_view hint = {});

  void error(const Entry& e, const Fields& f, std::string_view message);

  // A scalar where `label` (already quoted) expects `expected`.
  std::optional<std::string> scalar(const YAML::Node& node, const YAML::Mark& at,
                                    std::string_view where, std::string_view label,
                                    std::string_view expected);

  // --- Typed values of a map. Each returns nullopt when the key is absent or its value is
  // wrong; a wrong value has been reported.

  std::optional<std::string> text(const Fields& f, std::string_view key,
                                  std::string_view expected = "a string");

  // A string that names something and so cannot be empty.
  std::optional<std::string> name(const Fields& f, std::string_view key, std::string_view expected);

  std::optional<bool> boolean(const Fields& f, std::string_view key);

  std::optional<long long> integer(const Fields& f, std::string_view key, long long min,
                                   long long max);

  std::optional<double> number(const Fields& f, std::string_view key, double min, double max);

  std::optional<Duration> duration(const Fields& f, std::string_view key, Zero zero);

  // A size in bytes: a whole number of bytes, or one with a binary unit (`512KiB`, `1MiB`,
  // `1GiB`). Decimal units (`1MB`) are refused rather than guessed at.
  std::optional<std::size_t> byte_size(const Fields& f, std::string_view key, std::size_t min,
                                       std::size_t max);

  template <typename E, std::size_t N>
  std::optional<E> choice(const Fields& f, std::string_view key,
                          const std::pair<std::string_view, E> (&options)[N]) {
    std::vector<std::string_view> spellings;
    for (const auto& [spelled, value] : options)
      spellings.push_back(spelled);
    const auto expected = "one of " + join(spellings);
    const auto value = text(f, key, expected);
    if (!value) return std::nullopt;
    for (const auto& [spelled, option] : options) {
      if (*value == spelled) return option;
    }
    error(*f.find(key), f,
          "expected " + expected + " for " + in_quotes(key) + ", got " + in_quotes(*value) +
              did_you_mean(*value, spellings));
    return std::nullopt;
  }

  // The items of a list. `example` shows what to write, e.g. `[oncall, alerts]`.
  std::optional<std::vector<YAML::Node>> list(const Fields& f, std::string_view key,
                                              std::string_view example,
                                              Empty empty = Empty::is_error);

  // An http:// or https:// URL.
  std::optional<std::string> url(const Fields& f, std::string_view key);

  // The name of an environment variable holding a secret or URL. An unset variable is a
  // warning saying what will not work (`consequence`), never an error: the file is still
  // valid, and `tocsin check` may run where the secrets are not. Without an EnvLookup nothing
  // is looked up.
  std::optional<std::string> env_var(const Fields& f, std::string_view key,
                                     std::string_view consequence);

 private:
  void unknown_key(const Entry& e, std::string_view where, Keys allowed);

  static std::string range_text(long long min, long long max);

  Reporter& m_report;
  const EnvLookup& m_env;
};

// One pass over the parser's events, before the loader sees any node:
// - Where a second document starts (a rules file holds one).
// - Where the parser stops making progress: yaml-cpp 0.7 answers a stray ',' outside a flow
//   collection with an empty document that consumes nothing, again and again
//   (jbeder/yaml-cpp#1040), which YAML::LoadAll would collect until memory runs out.
// - Where aliases take the file past k_max_nodes nodes as the loader walks it, an alias
//   counting as the whole node it names: yaml-cpp shares an aliased node rather than copying
//   it, but the loader visits it at every alias and builds its matchers again each time, so a
//   small file whose aliases nest or repeat a large map would take minutes and gigabytes.
// Throws what yaml-cpp throws for invalid YAML.
class DocumentScan : public YAML::EventHandler {
 public:
  static constexpr std::size_t k_max_nodes = 100000;

  static DocumentScan of(const std::string& text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentScan scan;
    while (!scan.stuck && !scan.aliases_past_limit && parser.HandleNextDocument(scan)) {
    }
    return scan;
  }

  int documents = 0;
  std::optional<YAML::Mark> second_document;     // its first node
  std::optional<YAML::Mark> stuck;               // where the parser stopped advancing
  std::optional<YAML::Mark> aliases_past_limit;  // the alias that crossed k_max_nodes

  void OnDocumentStart(const YAML::Mark& at) override {
    if (documents > 0 && at.pos == m_document_start.pos) stuck = at;
    m_document_start = at;
    ++documents;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& at, YAML::anchor_t anchor) override { leaf(at, anchor); }
  void OnScalar(const YAML::Mark& at, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    leaf(at, anchor);
  }
  void OnAlias(const YAML::Mark& at, YAML::anchor_t anchor) override {
    node_at(at);
    const auto it = m_anchored.find(anchor);
    add(it == m_anchored.end() ? 1 : it->second);
    if (m_total > k_max_nodes && !aliases_past_limit) aliases_past_limit = at;
  }
  void OnSequenceStart(const YAML::Mark& at, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(at, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& at, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(at, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Open {
    YAML::anchor_t anchor;
    std::size_t nodes;  // itself and what is inside so far
  };

  void node_at(const YAML::Mark& at) {
    if (documents == 2 && !second_document) second_document = at;
  }
  // Adds `n` nodes to the innermost open collection and to the total; saturating, as an
  // expansion can exceed any integer.
  void add(std::size_t n) {
    n = std::min(n, k_max_nodes + 1);
    if (!m_open.empty()) m_open.back().nodes = std::min(m_open.back().nodes + n, k_max_nodes + 1);
    m_total = std::min(m_total + n, k_max_nodes + 1);
  }
  void leaf(const YAML::Mark& at, YAML::anchor_t anchor) {
    node_at(at);
    add(1);
    if (anchor != YAML::NullAnchor) m_anchored[anchor] = 1;
  }
  void open(const YAML::Mark& at, YAML::anchor_t anchor) {
    node_at(at);
    add(1);
    m_open.push_back({anchor, 1});
  }
  void close() {
    const Open done = m_open.back();
    m_open.pop_back();
    // The total already counted its nodes one by one; its parent gets them in one sum.
    if (!m_open.empty()) {
      m_open.back().nodes = std::min(m_open.back().nodes + done.nodes - 1, k_max_nodes + 1);
    }
    if (done.anchor != YAML::NullAnchor) m_anchored[done.anchor] = done.nodes;
  }

  YAML::Mark m_document_start;
  std::vector<Open> m_open;
  std::map<YAML::anchor_t, std::size_t> m_anchored;  // anchor -> nodes of the node it names
  std::size_t m_total = 0;
};

// Reads `text` as one YAML document, strictly: a parser that stops advancing, aliases past
// DocumentScan::k_max_nodes, an empty file (`empty_hint` says what it needs) and a second
// document are reported to `report` with their line and column, as is invalid YAML; `load` is
// called with the document's root when it can be read. `kind` names the file in messages
// ("rules file", "test file").
void read_document(const std::string& text, std::string_view kind, std::string_view empty_hint,
                   Reporter& report, const std::function<void(const YAML::Node&)>& load);

}  // namespace tocsin::rules::checked_yaml
