// The outbox row splitter (common/outbox_pack.hpp): plain rows, packs of
// 2..n changes, and every malformation packformat names.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/outbox_pack.hpp"
#include "pack_writer.hpp"
#include "tablepub.pb.h"

namespace tablepub {
namespace {

std::string change_bytes(std::int64_t id, std::size_t pad = 0) {
    v1::Change c;
    c.set_op(v1::INSERT);
    auto* k = c.add_key();
    k->set_name("id");
    k->mutable_value()->set_integer(id);
    if (pad > 0) {
        auto* v = c.add_values();
        v->set_name("v");
        v->mutable_value()->set_text(std::string(pad, 'x'));
    }
    return c.SerializeAsString();
}

std::vector<std::string> split(std::string_view row) {
    std::vector<std::string> out;
    for (const auto c : OutboxChanges(row)) out.emplace_back(c);
    return out;
}

void expect_malformed(const std::string& row, const std::string& what) {
    const OutboxChanges changes(row);
    EXPECT_FALSE(changes.ok());
    EXPECT_TRUE(changes.packed());
    EXPECT_EQ(changes.size(), 0u);
    EXPECT_EQ(changes.begin(), changes.end()) << "a malformed pack yields no change";
    EXPECT_NE(changes.error().find(what), std::string::npos) << changes.error();
}

TEST(OutboxPack, PlainRowIsOneChangeItself) {
    const auto c = change_bytes(1);
    const OutboxChanges changes(c);
    EXPECT_TRUE(changes.ok());
    EXPECT_FALSE(changes.packed());
    EXPECT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes.error(), "");
    ASSERT_EQ(split(c), std::vector<std::string>{c});
    // A view into the row, not a copy.
    EXPECT_EQ((*changes.begin()).data(), c.data());
}

TEST(OutboxPack, LargePlainRowIsOneChange) {
    // Over the pack limit and not starting with 0x00: plain, whatever its size.
    const auto c = change_bytes(1, 5000);
    const OutboxChanges changes(c);
    EXPECT_TRUE(changes.ok());
    EXPECT_EQ(split(c), std::vector<std::string>{c});
}

TEST(OutboxPack, EmptyRowIsOnePlainChange) {
    // Not something the extension writes; read as today (one empty change).
    const OutboxChanges changes(std::string_view{});
    EXPECT_TRUE(changes.ok());
    EXPECT_EQ(changes.size(), 1u);
    EXPECT_EQ(split({}), std::vector<std::string>{""});
}

TEST(OutboxPack, PacksOfTwoToManyGiveTheirChangesInOrder) {
    for (std::size_t n = 2; n <= 40; ++n) {
        SCOPED_TRACE(n);
        std::vector<std::string> in;
        for (std::size_t i = 0; i < n; ++i) in.push_back(change_bytes(static_cast<std::int64_t>(i) * 1000, i % 3));
        const auto row = test::pack_changes(in);
        ASSERT_LE(row.size(), MAX_PACK_BYTES);
        const OutboxChanges changes(row);
        ASSERT_TRUE(changes.ok()) << changes.error();
        EXPECT_TRUE(changes.packed());
        EXPECT_EQ(changes.size(), n);
        EXPECT_EQ(split(row), in);
        // Every change a view into the row.
        for (const auto c : changes) {
            EXPECT_GE(c.data(), row.data());
            EXPECT_LE(c.data() + c.size(), row.data() + row.size());
        }
    }
}

TEST(OutboxPack, TwoByteLengthsAndAPackOfExactlyTheLimit) {
    // The splitter never parses a change: any bytes not starting with 0x00.
    // Entries of 128+ bytes take a 2-byte length: 1 + (2 + 401) * 2 + 2 + 191
    // = 1000 bytes.
    const std::string a = "\x08" + std::string(400, 'a'), b = "\x08" + std::string(400, 'b');
    const std::string c = "\x08" + std::string(190, 'c');
    const auto row = test::pack_changes({a, b, c});
    ASSERT_EQ(row.size(), MAX_PACK_BYTES);
    EXPECT_EQ(split(row), (std::vector<std::string>{a, b, c}));
    // One byte more is over the limit.
    expect_malformed(test::pack_changes({a, b, c + "c"}), "larger than the 1000 bytes");
}

TEST(OutboxPack, OverlongButValidVarintIsAccepted) {
    // Protobuf's readers accept a non-minimal varint; so does the splitter.
    const auto a = change_bytes(1), b = change_bytes(2);
    std::string row(1, '\0');
    row += static_cast<char>(0x80 | a.size());
    row += '\0';
    row += a;
    test::put_varint(row, b.size());
    row += b;
    EXPECT_EQ(split(row), (std::vector<std::string>{a, b}));
}

TEST(OutboxPack, MarkerAloneIsMalformed) { expect_malformed(std::string(1, '\0'), "fewer than 2 changes"); }

TEST(OutboxPack, OneEntryIsMalformed) {
    expect_malformed(test::pack_changes({change_bytes(1)}), "the pack (");
    expect_malformed(test::pack_changes({change_bytes(1)}), "fewer than 2 changes");
}

TEST(OutboxPack, ZeroLengthIsMalformed) {
    std::string row = test::pack_changes({change_bytes(1)});
    row += '\0';
    expect_malformed(row, "entry 2 at byte");
    expect_malformed(row, "is empty");
    expect_malformed(std::string(2, '\0') + test::pack_changes({change_bytes(1), change_bytes(2)}).substr(1),
                     "entry 1 at byte 1 ");
}

TEST(OutboxPack, TruncatedVarintIsMalformed) {
    std::string row = test::pack_changes({change_bytes(1), change_bytes(2)});
    row += static_cast<char>(0x85);  // continuation bit, then nothing
    expect_malformed(row, "entry 3");
    expect_malformed(row, "truncated length");
}

TEST(OutboxPack, LengthPastTheEndIsMalformed) {
    const auto row = test::pack_changes({change_bytes(1), change_bytes(2)});
    // Every cut of a well-formed pack inside its last entry.
    const auto first_entry = 1 + 1 + change_bytes(1).size();
    for (std::size_t cut = first_entry + 1; cut < row.size(); ++cut) {
        SCOPED_TRACE(cut);
        expect_malformed(row.substr(0, cut), "entry 2");
    }
    // A length over 4 GB is not cut to 32 bits.
    std::string huge(1, '\0');
    test::put_varint(huge, (1ULL << 32) + 3);
    huge += "abc";
    test::put_varint(huge, 3);
    huge += "def";
    expect_malformed(huge, "ends past the row");
}

TEST(OutboxPack, NestedPackIsMalformed) {
    const auto inner = test::pack_changes({change_bytes(1), change_bytes(2)});
    expect_malformed(test::pack_changes({change_bytes(0), inner}), "entry 2");
    expect_malformed(test::pack_changes({change_bytes(0), inner}), "is itself a pack");
}

TEST(OutboxPack, PackOverTheLimitIsMalformed) {
    // Large rows are always plain: one that starts like a pack is corrupt.
    const auto row = test::pack_changes({change_bytes(1, 600), change_bytes(2, 600)});
    ASSERT_GT(row.size(), MAX_PACK_BYTES);
    expect_malformed(row, "larger than the 1000 bytes");
}

TEST(OutboxPack, IteratorsCompareAndAdvance) {
    const auto row = test::pack_changes({change_bytes(1), change_bytes(2), change_bytes(3)});
    const OutboxChanges changes(row);
    auto it = changes.begin();
    const auto first = it++;
    EXPECT_EQ(*first, change_bytes(1));
    EXPECT_EQ(*it, change_bytes(2));
    EXPECT_NE(first, it);
    EXPECT_EQ(std::distance(changes.begin(), changes.end()), 3);
    ++it;
    ++it;
    EXPECT_EQ(it, changes.end());
}

}  // namespace
}  // namespace tablepub
