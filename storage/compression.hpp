#pragma once
// The raw body of a stored request, compressed with zstd when that pays (bench-storage: an
// SNS notification shrinks by about half, an Alertmanager group by two thirds). In the
// `inbound.body` column a TEXT value is the body as received and a BLOB value is a zstd frame
// of it; SQLite keeps the two apart by storage class, so rows from before compression read
// unchanged and no migration is needed.

#include <optional>
#include <string>

namespace tocsin::storage {

// The zstd frame of `body`, or nullopt when compressing saves too little to be worth a
// decompression on export (small bodies, already dense ones).
std::optional<std::string> compress_body(const std::string& body);

// The body a frame holds. Throws std::runtime_error for a corrupt frame.
std::string decompress_body(const std::string& frame);

}  // namespace tocsin::storage
