#pragma once
// A minimal expected<T, E>: a value or an error, for failures that are part of normal
// operation (bad input, a busy database). Exceptions stay for what cannot be handled locally.
// (std::expected is C++23; Debian 12 ships no tl::expected.)

#include <cassert>
#include <utility>
#include <variant>

namespace tocsin {

template <typename E>
struct Unexpected {
  E error;
};

template <typename E>
Unexpected<std::decay_t<E>> unexpected(E&& e) {
  return {std::forward<E>(e)};
}

template <typename T, typename E>
class Expected {
 public:
  Expected(T value)
      : m_v(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  template <typename G>
  Expected(Unexpected<G> e) : m_v(std::in_place_index<1>, E(std::move(e.error))) {}  // NOLINT

  bool has_value() const { return m_v.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(m_v);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(m_v);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(m_v));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  E& error() & {
    assert(!has_value());
    return std::get<1>(m_v);
  }
  const E& error() const& {
    assert(!has_value());
    return std::get<1>(m_v);
  }

 private:
  std::variant<T, E> m_v;
};

}  // namespace tocsin
