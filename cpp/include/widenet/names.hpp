// Tables of the names by which callers choose an option (an activation, a parametrization,
// a kernel, ...). Each option's table is the one list of its names: the parser reads it,
// its error message is written from it, and the Python module exposes it as a tuple.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace widenet {

template <typename E>
struct Named {
  E value;
  const char* name;
};

// "a, b, c": every name of `table`, e.g. for "expected one of a, b, c".
template <typename E, std::size_t N>
std::string listed(const Named<E> (&table)[N]) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) out += (i ? ", " : "") + std::string(table[i].name);
  return out;
}

// "'a', 'b' or 'c'": every name of `table`, quoted, the last two joined by "or".
template <typename E, std::size_t N>
std::string alternatives(const Named<E> (&table)[N]) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) {
    out += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + ("'" + std::string(table[i].name) + "'");
  }
  return out;
}

// The option named `name`, or std::invalid_argument("<what>: expected <expected>; got '<name>'").
template <typename E, std::size_t N>
E parse_name(const Named<E> (&table)[N], const std::string& name, const std::string& what,
             const std::string& expected) {
  for (const Named<E>& entry : table) {
    if (name == entry.name) return entry.value;
  }
  throw std::invalid_argument(what + ": expected " + expected + "; got '" + name + "'");
}

// The name of `value` in `table` (the empty string for a value not listed).
template <typename E, std::size_t N>
const char* name_of(const Named<E> (&table)[N], E value) {
  for (const Named<E>& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "";
}

}  // namespace widenet
