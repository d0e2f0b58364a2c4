#pragma once
// The `inbound.body` column on each backend (storage/compression.hpp): SQLite tells a frame from
// the received text by storage class (BLOB or TEXT), PostgreSQL by the frame's text form. Private
// to storage/: Transaction writes bodies, Reader's export and copy_database read them.

#include <string>

#include "storage/compression.hpp"
#include "storage/detail/dialect.hpp"
#include "storage/records.hpp"
#include "storage/sql.hpp"

namespace tocsin::storage {

// A body as stored: the text as received, or a zstd frame of it.
struct StoredBody {
  bool compressed = false;
  std::string bytes;

  friend bool operator==(const StoredBody&, const StoredBody&) = default;
};

// How a received body is stored: compressed when that pays.
inline StoredBody stored_body_of(const std::string& received) {
  if (auto frame = compress_body(received)) return {true, std::move(*frame)};
  return {false, received};
}

// How a record's body is stored: as prepared off the writer when it was.
inline StoredBody stored_body_of(const InboundRecord& r) {
  if (!r.body_frame) return stored_body_of(r.body);
  if (r.body_frame->empty()) return {false, r.body};
  return {true, *r.body_frame};
}

// The body as received.
inline std::string received_body(const StoredBody& body) {
  return body.compressed ? decompress_body(body.bytes) : body.bytes;
}

inline StoredBody read_stored_body(sql::Statement& q, int column, sql::Backend backend) {
  if (dialect::is_postgres(backend)) {
    std::string text = q.get_text(column);
    if (auto frame = frame_in_text(text)) return {true, std::move(*frame)};
    return {false, std::move(text)};
  }
  if (q.is_blob(column)) return {true, q.get_blob(column)};
  return {false, q.get_text(column)};
}

// On PostgreSQL, a text that would read back as a frame is stored as a frame of itself.
inline void bind_stored_body(sql::Statement& q, int index, const StoredBody& body,
                             sql::Backend backend) {
  if (!dialect::is_postgres(backend)) {
    if (body.compressed) {
      q.bind_blob(index, body.bytes.data(), body.bytes.size());
    } else {
      q.bind_text(index, body.bytes);
    }
    return;
  }
  if (body.compressed) {
    q.bind_text(index, frame_as_text(body.bytes));
  } else if (frame_in_text(body.bytes)) {
    q.bind_text(index, frame_as_text(compress_body_always(body.bytes)));
  } else {
    q.bind_text(index, body.bytes);
  }
}

}  // namespace tocsin::storage
