#pragma once
// Conversions between records and column values, shared by the writer and the readers. The
// readers of whole rows, which take the statement layer's statements (storage/sql.hpp), are
// storage/detail/rows.hpp.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/event.hpp"
#include "storage/records.hpp"

namespace tocsin::storage {

std::string labels_to_json(const std::map<std::string, std::string>& labels);
std::map<std::string, std::string> labels_from_json(const std::string& text);

std::string names_to_json(const std::vector<std::string>& names);
std::vector<std::string> names_from_json(const std::string& text);

// An alert's noise state as stored in alerts.noise_state (compact text; "" or unreadable:
// the empty state).
std::string noise_to_text(const rules::NoiseState& s);
rules::NoiseState noise_from_text(const std::string& text);

}  // namespace tocsin::storage
