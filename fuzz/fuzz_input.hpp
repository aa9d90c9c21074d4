// What the fuzz targets share: the byte format they read, shared with the
// seed corpus generator (capture_corpus.py): a stream of records, each an
// op byte followed, for ops that carry a frame, by a 2-byte little-endian
// length and that many bytes (fewer at the end of the input); and how they
// report a broken invariant. Their LLVMFuzzerInitialize is fuzz_init.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace tablepub::fuzz {

// A crash with a message the fuzzer's report shows.
inline void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "invariant violated: %s\n", what);
        std::abort();
    }
}

class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) noexcept : p_(data), n_(size) {}

    [[nodiscard]] bool empty() const noexcept { return n_ == 0; }

    std::uint8_t byte() noexcept {
        if (n_ == 0) return 0;
        --n_;
        return *p_++;
    }

    std::string_view frame() noexcept {
        std::size_t len = byte();
        len |= static_cast<std::size_t>(byte()) << 8;
        if (len > n_) len = n_;
        std::string_view out(reinterpret_cast<const char*>(p_), len);
        p_ += len;
        n_ -= len;
        return out;
    }

private:
    const std::uint8_t* p_;
    std::size_t n_;
};

}  // namespace tablepub::fuzz
