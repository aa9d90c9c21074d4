// Snapshot progress of tablepub-tail, driven with explicit times.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "tail/tail_progress.hpp"

namespace tablepub {
namespace {

using namespace std::chrono_literals;
using Clock = SnapshotProgress::Clock;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

TEST(TailProgress, PlainLinesEveryIntervalThenDone) {
    std::ostringstream err;
    SnapshotProgress p(err, false, 5000ms);
    const auto t0 = Clock::time_point{} + 1h;
    p.begin("public.t", t0);
    // 1000 rows in the first 4.9 s: no line yet.
    for (int i = 0; i < 1000; ++i) p.row("public.t", t0 + 4900ms);
    EXPECT_EQ(err.str(), "");
    // The first row at or after 5 s writes one line with the count so far.
    p.row("public.t", t0 + 5000ms);
    for (int i = 0; i < 999; ++i) p.row("public.t", t0 + 6000ms);
    EXPECT_EQ(lines_of(err.str()),
              std::vector<std::string>{"tablepub-tail: public.t: snapshot 1001 rows, 200 rows/s, 5.0 s"});
    p.row("public.t", t0 + 10000ms);
    p.end("public.t", 2001, t0 + 10000ms);
    const auto lines = lines_of(err.str());
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[1], "tablepub-tail: public.t: snapshot 2001 rows, 200 rows/s, 10.0 s");
    EXPECT_EQ(lines[2], "tablepub-tail: public.t: snapshot 2001 rows, 200 rows/s, 10.0 s, done");
    EXPECT_EQ(err.str().find('\r'), std::string::npos);
}

TEST(TailProgress, ResyncStartsTheCountAgain) {
    std::ostringstream err;
    SnapshotProgress p(err, false, 1000ms);
    const auto t0 = Clock::time_point{} + 1h;
    p.begin("public.t", t0);
    for (int i = 0; i < 10; ++i) p.row("public.t", t0 + 500ms);
    p.begin("public.t", t0 + 600ms);
    p.row("public.t", t0 + 1600ms);
    EXPECT_EQ(lines_of(err.str()),
              std::vector<std::string>{"tablepub-tail: public.t: snapshot 1 rows, 1 rows/s, 1.0 s"});
}

TEST(TailProgress, TerminalRedrawsOneLineAndClearsIt) {
    std::ostringstream err;
    SnapshotProgress p(err, true, 200ms);
    const auto t0 = Clock::time_point{} + 1h;
    p.begin("public.a", t0);
    p.begin("public.b", t0);
    p.row("public.a", t0 + 200ms);
    EXPECT_EQ(err.str(),
              "\r\x1b[Kpublic.a: snapshot 1 rows, 5 rows/s, 0.2 s; public.b: snapshot 0 rows, 0 rows/s, 0.2 s");
    err.str("");
    p.end("public.a", 1, t0 + 300ms);
    // The line is erased, the result written, the other table drawn again.
    EXPECT_EQ(err.str(),
              "\r\x1b[Ktablepub-tail: public.a: snapshot 1 rows, 3 rows/s, 0.3 s, done\n"
              "\r\x1b[Kpublic.b: snapshot 0 rows, 0 rows/s, 0.3 s");
    err.str("");
    p.clear();
    EXPECT_EQ(err.str(), "\r\x1b[K");
}

}  // namespace
}  // namespace tablepub
