#include "storage/compression.hpp"

#include <zstd.h>

#include "storage/records.hpp"

#include <memory>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

namespace tocsin::storage {

namespace generated {
extern const unsigned char k_body_dictionary_1[];
extern const std::size_t k_body_dictionary_1_size;
}  // namespace generated

namespace {

constexpr std::size_t k_min_body = 128;  // below this the frame header eats the gain
constexpr int k_level = 3;               // zstd's default: ~100 MB/s a core, ample for ingest

// A dictionary a frame may name. Append-only, like the migrations: a row written with a
// dictionary reads back only with it, so a released one is never changed or dropped; a
// better one is added with the next id and becomes k_current.
struct Dictionary {
  unsigned id;
  const unsigned char* bytes;
  const std::size_t& size;
};
const Dictionary k_dictionaries[] = {
    {32769, generated::k_body_dictionary_1, generated::k_body_dictionary_1_size},
};
const Dictionary& k_current = k_dictionaries[0];

struct CDictDeleter {
  void operator()(ZSTD_CDict* d) const { ZSTD_freeCDict(d); }
};
struct DDictDeleter {
  void operator()(ZSTD_DDict* d) const { ZSTD_freeDDict(d); }
};
struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

// The current dictionary digested for compression once per process (read-only, shared by
// every thread).
const ZSTD_CDict* current_cdict() {
  static const std::unique_ptr<ZSTD_CDict, CDictDeleter> cdict(
      ZSTD_createCDict(k_current.bytes, k_current.size, k_level));
  if (!cdict) throw std::runtime_error("zstd: cannot load the body dictionary");
  return cdict.get();
}

// The dictionary a frame names, digested once per process; nullptr for a frame without one.
const ZSTD_DDict* ddict_for(unsigned id) {
  if (id == 0) return nullptr;
  static const auto ddicts = [] {
    std::vector<std::pair<unsigned, std::unique_ptr<ZSTD_DDict, DDictDeleter>>> out;
    for (const auto& d : k_dictionaries)
      out.emplace_back(d.id, ZSTD_createDDict(d.bytes, d.size));
    return out;
  }();
  for (const auto& [known, ddict] : ddicts) {
    if (known == id && ddict) return ddict.get();
  }
  throw std::runtime_error("stored body was compressed with zstd dictionary " +
                           std::to_string(id) + ", which this build of tocsin does not have");
}

// One context per thread, reused: creating one costs more than compressing a small body.
ZSTD_CCtx* thread_cctx() {
  thread_local const std::unique_ptr<ZSTD_CCtx, CCtxDeleter> cctx(ZSTD_createCCtx());
  if (!cctx) throw std::bad_alloc();
  return cctx.get();
}

ZSTD_DCtx* thread_dctx() {
  thread_local const std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx(ZSTD_createDCtx());
  if (!dctx) throw std::bad_alloc();
  return dctx.get();
}

// The frame of `body` with the current dictionary, or nullopt when zstd fails.
std::optional<std::string> compress(const std::string& body) {
  std::string frame(ZSTD_compressBound(body.size()), '\0');
  const std::size_t n = ZSTD_compress_usingCDict(thread_cctx(), frame.data(), frame.size(),
                                                 body.data(), body.size(), current_cdict());
  if (ZSTD_isError(n)) return std::nullopt;
  frame.resize(n);
  return frame;
}

}  // namespace

std::optional<std::string> compress_body(const std::string& body) {
  if (body.size() < k_min_body) return std::nullopt;
  auto frame = compress(body);
  // Keep the text when the frame saves less than a tenth: not worth a decompression.
  if (!frame || frame->size() * 10 > body.size() * 9) return std::nullopt;
  return frame;
}

std::string compress_body_always(const std::string& body) {
  auto frame = compress(body);
  if (!frame) throw std::runtime_error("zstd: cannot compress a body");
  return std::move(*frame);
}

unsigned body_dictionary_id() {
  return k_current.id;
}

void prepare_inbound_body(InboundRecord& r) {
  auto frame = compress_body(r.body);
  r.body_frame = frame ? std::move(*frame) : std::string();
}

std::string frame_as_text(const std::string& frame) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + frame.size() * 2);
  for (const char c : frame) {
    const auto b = static_cast<unsigned char>(c);
    out += k_digits[b >> 4];
    out += k_digits[b & 0xf];
  }
  return out;
}

std::optional<std::string> frame_in_text(const std::string& text) {
  // "\x" and at least the four bytes of the magic number, 28 b5 2f fd.
  if (text.size() < 10 || text.size() % 2 != 0 || text.compare(0, 10, "\\x28b52ffd") != 0)
    return std::nullopt;
  std::string frame;
  frame.reserve((text.size() - 2) / 2);
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 2; i < text.size(); i += 2) {
    const int high = digit(text[i]);
    const int low = digit(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    frame += static_cast<char>(high * 16 + low);
  }
  return frame;
}

std::string decompress_body(const std::string& frame) {
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    throw std::runtime_error("stored body is not a zstd frame");
  }
  // Frames from before the dictionary name none (id 0) and decompress without one.
  const ZSTD_DDict* ddict = ddict_for(ZSTD_getDictID_fromFrame(frame.data(), frame.size()));
  std::string body(static_cast<std::size_t>(size), '\0');
  const std::size_t n = ZSTD_decompress_usingDDict(thread_dctx(), body.data(), body.size(),
                                                   frame.data(), frame.size(), ddict);
  if (ZSTD_isError(n) || n != body.size()) {
    throw std::runtime_error(std::string("stored body cannot be decompressed: ") +
                             (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
  }
  return body;
}

}  // namespace tocsin::storage
