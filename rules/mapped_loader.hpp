#pragma once
// `sources.mapped` of the rules file (docs/formats.md §14): each named hook's
// token and its mapping, compiled here so that a bad JSON Pointer or template is reported by
// `tocsin check` with its line and column like any other mistake in the file.
//
// Internal to rules/ (it speaks the checked-YAML toolkit of rules/checked_yaml.hpp).

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules/checked_yaml.hpp"
#include "rules/rules.hpp"

namespace tocsin::rules {

// Reads the value of `sources.mapped` into `out`. `serving` as LoadOptions::serving: then
// every mapped hook must say how it authenticates.
void load_mapped_sources(checked_yaml::Checker& check, const checked_yaml::Entry& entry,
                         bool serving, std::map<std::string, MappedSource>& out);

// The keys a mapped hook accepts ("") and those of its maps ("status", "severity",
// "timestamp"), for accepted_keys() (rules/accepted_keys.hpp).
std::vector<std::pair<std::string_view, checked_yaml::Keys>> mapped_source_keys();

}  // namespace tocsin::rules
