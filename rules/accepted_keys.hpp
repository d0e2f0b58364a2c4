#pragma once
// The keys each map of the rules file accepts: the loader's own tables (rules/loader.cpp,
// rules/mapped_loader.cpp), listed so that docs/rules.schema.json can be checked against them
// (README "Editing the rules file with a schema"). Apart from rules/loader.hpp, so that the
// code reading rules files is not rebuilt for it.

#include <string>
#include <string_view>
#include <vector>

namespace tocsin::rules {

// `path` names the map: "" is the top level, a dot goes into a key, `*` is any name (a channel,
// a mapped hook) and `[]` each item of a list: "sources.sns", "channels.*", "rules[].match".
struct AcceptedKeys {
  std::string path;
  std::vector<std::string_view> keys;
};
std::vector<AcceptedKeys> accepted_keys();

}  // namespace tocsin::rules
