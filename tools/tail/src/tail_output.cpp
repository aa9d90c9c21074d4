#include "tail/tail_output.hpp"

#include <cerrno>
#include <system_error>

#include <unistd.h>

namespace tablepub {

void TailOutput::flush() {
    std::size_t done = 0;
    while (done < buffer_.size()) {
        const auto n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            buffer_.clear();
            throw std::system_error(err, std::generic_category(), "cannot write the output");
        }
        done += static_cast<std::size_t>(n);
    }
    buffer_.clear();
}

}  // namespace tablepub
