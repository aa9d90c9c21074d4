#pragma once

// tablepub-tail's standard output: lines are appended to one large buffer
// that goes out with one write(2) when it is full or when the tail has
// nothing more to read, instead of a flush per line (issue 15: the tail
// must keep up with a relay draining a backlog).

#include <cstddef>
#include <string>

namespace tablepub {

class TailOutput {
public:
    explicit TailOutput(int fd, std::size_t flush_bytes = 256u << 10) : fd_(fd), flush_bytes_(flush_bytes) {
        buffer_.reserve(flush_bytes_ + (flush_bytes_ >> 2));
    }
    TailOutput(const TailOutput&) = delete;
    TailOutput& operator=(const TailOutput&) = delete;

    // Append a line's text here, then call end_line().
    [[nodiscard]] std::string& buffer() noexcept { return buffer_; }
    void end_line() {
        buffer_ += '\n';
        if (buffer_.size() >= flush_bytes_) flush();
    }
    // Writes everything buffered (blocks while a slow reader holds the
    // pipe); throws std::system_error when the output cannot be written.
    void flush();
    [[nodiscard]] bool pending() const noexcept { return !buffer_.empty(); }

private:
    int fd_;
    std::size_t flush_bytes_;
    std::string buffer_;
};

}  // namespace tablepub
