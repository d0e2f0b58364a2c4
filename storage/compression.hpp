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

// The zstd frame of `body`, whatever it saves.
std::string compress_body_always(const std::string& body);

// PostgreSQL's `inbound.body` is TEXT (the columns are SQLite's), which cannot hold a frame's
// bytes (a NUL among them): there a frame is written in PostgreSQL's bytea text form, `\x` and
// its bytes in lowercase hex. frame_in_text reads it back: the frame when `text` is that form
// and the bytes start with zstd's magic number, nullopt for any other text. A body received as
// text that would read as a frame is stored compressed instead (storage/detail/body.hpp), so
// what is read back is always what was received.
std::string frame_as_text(const std::string& frame);
std::optional<std::string> frame_in_text(const std::string& text);

}  // namespace tocsin::storage
