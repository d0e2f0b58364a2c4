#include "storage/compression.hpp"

#include <zstd.h>

#include <new>
#include <stdexcept>

namespace tocsin::storage {

namespace {

constexpr std::size_t k_min_body = 128;  // below this the frame header eats the gain
constexpr int k_level = 3;               // zstd's default: ~100 MB/s a core, ample for ingest

// This thread's compression context, kept for its life: ZSTD_compress makes and frees one per
// call, which (its tables allocated and cleared) cost about as much as compressing a 2 KB body.
ZSTD_CCtx* thread_context() {
  struct Owned {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ~Owned() { ZSTD_freeCCtx(cctx); }
  };
  thread_local const Owned owned;
  if (!owned.cctx) throw std::bad_alloc();
  return owned.cctx;
}

}  // namespace

std::optional<std::string> compress_body(const std::string& body) {
  if (body.size() < k_min_body) return std::nullopt;
  std::string frame(ZSTD_compressBound(body.size()), '\0');
  const std::size_t n = ZSTD_compressCCtx(thread_context(), frame.data(), frame.size(),
                                          body.data(), body.size(), k_level);
  // Keep the text when the frame saves less than a tenth: not worth a decompression.
  if (ZSTD_isError(n) || n * 10 > body.size() * 9) return std::nullopt;
  frame.resize(n);
  return frame;
}

std::string compress_body_always(const std::string& body) {
  std::string frame(ZSTD_compressBound(body.size()), '\0');
  const std::size_t n = ZSTD_compressCCtx(thread_context(), frame.data(), frame.size(),
                                          body.data(), body.size(), k_level);
  if (ZSTD_isError(n)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(n));
  frame.resize(n);
  return frame;
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
  std::string body(static_cast<std::size_t>(size), '\0');
  const std::size_t n = ZSTD_decompress(body.data(), body.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != body.size()) {
    throw std::runtime_error(std::string("stored body cannot be decompressed: ") +
                             (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
  }
  return body;
}

}  // namespace tocsin::storage
