#include "common/error.hpp"

#include <utility>

namespace tablepub {

Error::Error(const std::string& message, std::string sqlstate, std::string context)
    : std::runtime_error(message), sqlstate_(std::move(sqlstate)), context_(std::move(context)) {}

}  // namespace tablepub
