#include "storage/compression.hpp"

#include <zstd.h>

#include <stdexcept>

namespace tocsin::storage {

namespace {

constexpr std::size_t k_min_body = 128;  // below this the frame header eats the gain
constexpr int k_level = 3;               // zstd's default: ~100 MB/s a core, ample for ingest

}  // namespace

std::optional<std::string> compress_body(const std::string& body) {
  if (body.size() < k_min_body) return std::nullopt;
  std::string frame(ZSTD_compressBound(body.size()), '\0');
  const std::size_t n = ZSTD_compress(frame.data(), frame.size(), body.data(), body.size(), k_level);
  // Keep the text when the frame saves less than a tenth: not worth a decompression.
  if (ZSTD_isError(n) || n * 10 > body.size() * 9) return std::nullopt;
  frame.resize(n);
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
