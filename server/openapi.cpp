#include "server/openapi.hpp"

#include <cstddef>

namespace tocsin::server {

namespace generated {
extern const unsigned char k_openapi_document[];
extern const std::size_t k_openapi_document_size;
}  // namespace generated

std::string_view openapi_document() {
  return {reinterpret_cast<const char*>(generated::k_openapi_document),
          generated::k_openapi_document_size};
}

}  // namespace tocsin::server
