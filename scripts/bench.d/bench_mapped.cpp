// scripts/bench --only mapped: the cost per event of a mapped source's interpreter
// (docs/formats.md §14), timing ingest::parse_mapped (the strict JSON parse and the mapping)
// and ingest::apply_mapping (the mapping alone) on each shipped mapping of examples/mappings/
// with a payload of its tool, and on a 1000-event array. No HTTP, no database. The target
// bench_mapped of CMakeLists.txt (not part of `all`), built and run by scripts/bench.d/mapped.py.
//
//   bench_mapped RUNS MAPPING_FILE=PAYLOAD_FILE...
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "ingest/mapped.hpp"
#include "rules/loader.hpp"

using namespace tocsin;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The mapping of a file of examples/mappings (a fragment under sources.mapped), compiled by
// the rules loader as `serve` compiles it.
const rules::MappedSource* load(const std::string& file, rules::RulesSnapshot& keep) {
  std::string text = "version: 1\nsources:\n  mapped:\n";
  std::istringstream lines(read(file));
  for (std::string line; std::getline(lines, line);)
    text += line.empty() ? "\n" : "    " + line + "\n";
  auto loaded = rules::load_rules_text(text, file, rules::EnvLookup{});
  for (const auto& d : loaded.diagnostics)
    std::fprintf(stderr, "%s\n", d.format().c_str());
  if (!loaded.ok() || loaded.rules->sources.mapped.size() != 1) return nullptr;
  keep = loaded.rules;
  return &keep->sources.mapped.begin()->second;
}

// Median nanoseconds of `f` over `runs` rounds of `inner` calls each, per call.
template <typename F>
double median_ns(int runs, int inner, F&& f) {
  std::vector<double> ns;
  for (int r = 0; r < runs; ++r) {
    const auto start = SteadyClock::now();
    for (int i = 0; i < inner; ++i)
      f();
    ns.push_back(std::chrono::duration<double, std::nano>(SteadyClock::now() - start).count() /
                 inner);
  }
  std::sort(ns.begin(), ns.end());
  return ns[ns.size() / 2];
}

void row(const char* label, const std::string& what, const rules::MappedSource& source,
         const std::string& body, int runs) {
  const Json parsed = Json::parse(body);
  auto once = ingest::parse_mapped(source.mapping, "bench", body);
  if (!once) {
    std::printf("%-24s %-44s refused: %s\n", label, what.c_str(), once.error().detail.c_str());
    return;
  }
  const std::size_t events = std::max<std::size_t>(1, once->events.size() + once->ignored.size());
  const int inner = std::max<int>(1, static_cast<int>(20000 / events));
  const double whole =
      median_ns(runs, inner, [&] { (void)ingest::parse_mapped(source.mapping, "bench", body); });
  const double mapping =
      median_ns(runs, inner, [&] { (void)ingest::apply_mapping(source.mapping, "bench", parsed); });
  std::printf("%-24s %-44s %7zu %6zu %12.0f %12.0f\n", label, what.c_str(), body.size(), events,
              whole / static_cast<double>(events), mapping / static_cast<double>(events));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const int runs = std::max(1, std::atoi(argv[1]));
  std::printf("%-24s %-44s %7s %6s %12s %12s\n", "mapping", "payload", "bytes", "events",
              "parse+map ns", "map ns");
  std::printf("%-24s %-44s %7s %6s %12s %12s\n", "", "", "", "", "per event", "per event");
  const rules::MappedSource* last = nullptr;
  std::vector<rules::RulesSnapshot> keep(static_cast<std::size_t>(argc));
  std::string last_body;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto eq = arg.find('=');
    if (eq == std::string::npos) return 2;
    const std::string file = arg.substr(0, eq), payload = arg.substr(eq + 1);
    const auto* source = load(file, keep[static_cast<std::size_t>(i)]);
    if (!source) return 1;
    const auto name = file.substr(file.find_last_of('/') + 1);
    row(name.c_str(), payload.substr(payload.find_last_of('/') + 1), *source, read(payload), runs);
    last = source;
    last_body = read(payload);
  }
  // The last mapping over an array of 1000 copies of its payload, as `events: ""` would take.
  if (last) {
    rules::MappedSource batch = *last;
    batch.mapping.events = *mapping::JsonPointer::parse("");
    Json many = Json::array();
    const Json one = Json::parse(last_body);
    for (int i = 0; i < 1000; ++i)
      many.push_back(one);
    row("(the last, events: \"\")", "1000 copies in one array", batch, many.dump(), runs);
  }
  return 0;
}
