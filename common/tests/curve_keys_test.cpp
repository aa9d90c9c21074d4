#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/curve_keys.hpp"
#include "common/error.hpp"

namespace tablepub {
namespace {

class CurveKeysTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/tablepub-keys.XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
        const auto path = dir_ + "/" + name;
        std::ofstream(path) << text;
        ::chmod(path.c_str(), mode);
        return path;
    }
    // The ConfigError message of f(), or "" when it did not throw.
    template <typename F>
    static std::string error_of(F f) {
        try {
            f();
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "";
    }

    std::string dir_;
};

TEST_F(CurveKeysTest, Z85Keys) {
    const auto k = generate_key_pair();
    EXPECT_TRUE(is_z85_key(k.public_key));
    EXPECT_TRUE(is_z85_key(k.secret_key));
    EXPECT_FALSE(is_z85_key(k.public_key.substr(1)));
    EXPECT_FALSE(is_z85_key(std::string(40, ' ')));  // not in the alphabet
    EXPECT_FALSE(is_z85_key(""));
}

TEST_F(CurveKeysTest, WrittenPairReadsBack) {
    const auto k = generate_key_pair();
    write_key_pair(dir_ + "/relay", k);
    const auto loaded = load_secret_key_file(dir_ + "/relay.key_secret");
    EXPECT_EQ(loaded.secret_key, k.secret_key);
    EXPECT_EQ(loaded.public_key, k.public_key);
    EXPECT_EQ(load_public_key_file(dir_ + "/relay.key"), k.public_key);
    EXPECT_NE(error_of([&] { write_key_pair(dir_ + "/relay", generate_key_pair()); }).find("File exists"),
              std::string::npos);
    EXPECT_EQ(load_secret_key_file(dir_ + "/relay.key_secret").secret_key, k.secret_key);
}

TEST_F(CurveKeysTest, BareKeysAndCertificates) {
    const auto k = generate_key_pair();
    // A bare key as zmq_curve_keypair prints it; Z85 may start with '#'.
    EXPECT_EQ(load_secret_key_file(write("bare", "# comment\n\n" + k.secret_key + "\n")).public_key, k.public_key);
    EXPECT_EQ(load_public_key_file(write("bare.pub", k.public_key, 0644)), k.public_key);
    // pyzmq's certificate with metadata lines.
    EXPECT_EQ(load_public_key_file(write(
                  "py.key", "metadata\n    name = \"x\"\ncurve\n    public-key = \"" + k.public_key + "\"\n", 0644)),
              k.public_key);
    const auto other = generate_key_pair();
    EXPECT_NE(error_of([&] {
                  (void)load_secret_key_file(write(
                      "mixed", "public-key = \"" + other.public_key + "\"\nsecret-key = \"" + k.secret_key + "\"\n"));
              }).find("does not belong"),
              std::string::npos);
    EXPECT_NE(error_of([&] {
                  (void)load_secret_key_file(write("two", k.secret_key + "\n" + other.secret_key));
              }).find("exactly one"),
              std::string::npos);
    EXPECT_NE(error_of([&] { (void)load_secret_key_file(write("junk", "hello world\n")); }).find("line 1"),
              std::string::npos);
    EXPECT_NE(error_of([&] {
                  (void)load_public_key_file(write("sec.key", "secret-key = \"" + k.secret_key + "\"\n"));
              }).find("holds a secret key"),
              std::string::npos);
}

TEST_F(CurveKeysTest, SecretKeyPermissions) {
    const auto k = generate_key_pair();
    for (const mode_t mode : {0640, 0604, 0644, 0660, 0666}) {
        const auto path = write("s" + std::to_string(mode), k.secret_key, mode);
        // Owned by the user running the test: no group or world access.
        EXPECT_NE(error_of([&] { (void)load_secret_key_file(path); }).find("group or world access"), std::string::npos)
            << std::oct << mode;
    }
    EXPECT_EQ(load_secret_key_file(write("ok", k.secret_key, 0400)).secret_key, k.secret_key);
    EXPECT_NE(error_of([&] { (void)load_secret_key_file(dir_ + "/missing"); }).find("No such file"), std::string::npos);
    EXPECT_NE(error_of([&] { (void)load_secret_key_file(dir_); }).find("not a regular file"), std::string::npos);
    if (::geteuid() != 0) {
        const auto path = write("unreadable", k.secret_key, 0000);
        EXPECT_NE(error_of([&] { (void)load_secret_key_file(path); }).find("Permission denied"), std::string::npos);
    }
}

TEST_F(CurveKeysTest, AllowLists) {
    const auto a = generate_key_pair(), b = generate_key_pair(), c = generate_key_pair();
    std::filesystem::create_directory(dir_ + "/clients");
    write_key_pair(dir_ + "/clients/a", a);  // a.key_secret is not a *.key file: skipped
    write("clients/b.key", b.public_key + "\n", 0644);
    write("clients/notes.txt", "not a key", 0644);
    EXPECT_EQ(load_allow_list(dir_ + "/clients"), (std::set<std::string>{a.public_key, b.public_key}));
    EXPECT_EQ(load_allow_list(write("list", "# clients\n" + a.public_key + "\n" + c.public_key + "\n", 0644)),
              (std::set<std::string>{a.public_key, c.public_key}));
    std::filesystem::create_directory(dir_ + "/empty");
    EXPECT_NE(error_of([&] { (void)load_allow_list(dir_ + "/empty"); }).find("holds no public key"), std::string::npos);
    EXPECT_NE(error_of([&] { (void)load_allow_list(dir_ + "/clients/a.key_secret"); }).find("holds a secret key"),
              std::string::npos);
    EXPECT_NE(error_of([&] { (void)load_allow_list(dir_ + "/nowhere"); }).find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace tablepub
