#pragma once
// The raw body of a stored request, compressed with zstd when that pays. In the `inbound.body`
// column a TEXT value is the body as received and a BLOB value is a zstd frame of it; SQLite
// keeps the two apart by storage class, so rows from before compression read unchanged.
//
// A small JSON body compresses poorly alone: frames are written with a dictionary trained from
// the repository's payload fixtures (storage/dictionaries/, scripts/make-body-dictionary) and
// compiled into the binary. Each frame names its dictionary's id; frames from before the
// dictionary name none and still read. Dictionaries are append-only, like migrations: a build
// reads every frame any earlier build wrote.

#include <optional>
#include <string>

namespace tocsin::storage {

// The zstd frame of `body`, or nullopt when compressing saves too little to be worth a
// decompression on export (small bodies, already dense ones).
std::optional<std::string> compress_body(const std::string& body);

// The body a frame holds, with the dictionary the frame names (or none). Throws
// std::runtime_error for a corrupt frame or one naming a dictionary this build does not have.
std::string decompress_body(const std::string& frame);

// The zstd frame of `body`, whatever it saves.
std::string compress_body_always(const std::string& body);

// The id new frames name: their dictionary's.
unsigned body_dictionary_id();

struct InboundRecord;

// Compresses `r.body` into `r.body_frame`, so that Transaction::insert_inbound only binds bytes.
// Called on the thread that builds the record (an HTTP worker), before the write job is
// submitted: compression is the single writer thread's largest cost per request otherwise.
void prepare_inbound_body(InboundRecord& r);

// PostgreSQL's `inbound.body` is TEXT (the columns are SQLite's), which cannot hold a frame's
// bytes (a NUL among them): there a frame is written in PostgreSQL's bytea text form, `\x` and
// its bytes in lowercase hex. frame_in_text reads it back: the frame when `text` is that form
// and the bytes start with zstd's magic number, nullopt for any other text. A body received as
// text that would read as a frame is stored compressed instead (storage/detail/body.hpp), so
// what is read back is always what was received.
std::string frame_as_text(const std::string& frame);
std::optional<std::string> frame_in_text(const std::string& text);

}  // namespace tocsin::storage
