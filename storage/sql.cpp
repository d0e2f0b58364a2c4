#include "storage/sql.hpp"

namespace tocsin::storage::sql {

std::string_view to_string(ErrorClass error_class) {
  switch (error_class) {
    case ErrorClass::busy:
      return "busy";
    case ErrorClass::unavailable:
      return "unavailable";
    case ErrorClass::read_only:
      return "read_only";
    case ErrorClass::io_error:
      return "io_error";
    case ErrorClass::full:
      return "full";
    case ErrorClass::corrupt:
      return "corrupt";
    case ErrorClass::permanent:
      return "permanent";
  }
  return "permanent";
}

}  // namespace tocsin::storage::sql
