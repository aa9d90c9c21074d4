#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "relay/relay_config.hpp"
#include "relay/relay_options.hpp"

namespace tablepub {
namespace {

using namespace std::chrono_literals;

// Every test writes its config file into a fresh temp dir and clears the
// variables it sets.
class ConfigTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ =
            std::filesystem::temp_directory_path() / ("tablepub-config-test-" + std::to_string(::getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override {
        for (const char* v : {"TABLEPUB_CONFIG", "TABLEPUB_POLL_INTERVAL", "TABLEPUB_FETCH_ROWS", "TABLEPUB_METRICS"})
            ::unsetenv(v);
        std::filesystem::remove_all(dir_);
    }
    std::string write(const std::string& text) {
        const auto path = dir_ / "relay.toml";
        std::ofstream(path) << text;
        return path.string();
    }
    RelayParse parse(std::vector<std::string> args) {
        out.str("");
        err.str("");
        return parse_relay_options(args, out, err);
    }
    std::filesystem::path dir_;
    std::ostringstream out, err;
};

TEST_F(ConfigTest, FileSetsOptions) {
    const auto file = write(
        "db = \"dbname=nova\"\n"
        "publish = [\"tcp://127.0.0.1:6000\", \"ipc:///tmp/x\"]\n"
        "poll-interval = \"2s\"\n"
        "fetch-rows = 500\n"
        "fetch-bytes = \"16MB\"\n"
        "metrics = \"127.0.0.1:9187\"\n"
        "metrics-max-tables = 7\n"
        "log-format = \"json\"\n");
    const auto r = parse({"--config", file});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    const auto& o = std::get<RelayOptions>(r);
    EXPECT_EQ(o.db, "dbname=nova");
    EXPECT_EQ(o.publish, (std::vector<std::string>{"tcp://127.0.0.1:6000", "ipc:///tmp/x"}));
    EXPECT_EQ(o.poll_interval, 2s);
    EXPECT_EQ(o.fetch_rows, 500);
    EXPECT_EQ(o.fetch_bytes, 16 << 20);
    EXPECT_EQ(o.metrics.endpoint, "127.0.0.1:9187");
    EXPECT_EQ(o.metrics.max_table_labels, 7u);
    EXPECT_EQ(o.log_format, "json");
}

TEST_F(ConfigTest, FlagBeatsEnvironmentBeatsFile) {
    const auto file = write("poll-interval = \"2s\"\nfetch-rows = 500\nmetrics = \"127.0.0.1:1\"\n");
    ::setenv("TABLEPUB_POLL_INTERVAL", "3s", 1);
    ::setenv("TABLEPUB_FETCH_ROWS", "600", 1);
    const auto r = parse({"--config", file, "--fetch-rows", "700"});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    const auto& o = std::get<RelayOptions>(r);
    EXPECT_EQ(o.fetch_rows, 700);                  // flag over variable and file
    EXPECT_EQ(o.poll_interval, 3s);                // variable over file
    EXPECT_EQ(o.metrics.endpoint, "127.0.0.1:1");  // file over default
}

TEST_F(ConfigTest, ConfigFromEnvironment) {
    ::setenv("TABLEPUB_CONFIG", write("fetch-rows = 42\n").c_str(), 1);
    const auto r = parse({});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    EXPECT_EQ(std::get<RelayOptions>(r).fetch_rows, 42);
}

TEST_F(ConfigTest, UnknownKeyIsAnError) {
    const auto r = parse({"--config", write("poll-intervall = \"2s\"\n")});
    ASSERT_TRUE(std::holds_alternative<int>(r));
    EXPECT_EQ(std::get<int>(r), 2);
    EXPECT_NE(err.str().find("poll-intervall"), std::string::npos) << err.str();
}

TEST_F(ConfigTest, BadValueInFileIsAnError) {
    const auto r = parse({"--config", write("poll-interval = \"soon\"\n")});
    ASSERT_TRUE(std::holds_alternative<int>(r));
    EXPECT_EQ(std::get<int>(r), 2);
}

TEST_F(ConfigTest, MissingFileIsAnError) {
    const auto r = parse({"--config", (dir_ / "nope.toml").string()});
    ASSERT_TRUE(std::holds_alternative<int>(r));
    EXPECT_EQ(std::get<int>(r), 2);
}

// --print-config writes a file that reads back to the same configuration.
TEST_F(ConfigTest, PrintConfigReadsBack) {
    auto r = parse({"--print-config", "--publish", "tcp://127.0.0.1:6000", "--snapshot", "tcp://127.0.0.1:6001",
                    "--poll-interval", "250ms", "--metrics", "127.0.0.1:9187"});
    ASSERT_TRUE(std::holds_alternative<int>(r)) << err.str();
    EXPECT_EQ(std::get<int>(r), 0);
    const auto printed = out.str();
    r = parse({"--config", write(printed), "--print-config"});
    ASSERT_TRUE(std::holds_alternative<int>(r)) << err.str();
    EXPECT_EQ(out.str(), printed);
    r = parse({"--config", write(printed)});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    const auto& o = std::get<RelayOptions>(r);
    EXPECT_EQ(o.publish, std::vector<std::string>{"tcp://127.0.0.1:6000"});
    EXPECT_EQ(o.snapshot, std::vector<std::string>{"tcp://127.0.0.1:6001"});
    EXPECT_EQ(o.poll_interval, 250ms);
    EXPECT_EQ(o.metrics.endpoint, "127.0.0.1:9187");
    EXPECT_TRUE(o.curve_secret_key.empty());
}

TEST_F(ConfigTest, DefaultsReadBack) {
    auto r = parse({"--print-config"});
    ASSERT_TRUE(std::holds_alternative<int>(r));
    r = parse({"--config", write(out.str())});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    const auto& o = std::get<RelayOptions>(r);
    const RelayOptions d;
    EXPECT_EQ(o.publish, d.publish);
    EXPECT_TRUE(o.snapshot.empty());
    EXPECT_EQ(o.fetch_bytes, d.fetch_bytes);
    EXPECT_EQ(o.heartbeat_interval, d.heartbeat_interval);
    EXPECT_TRUE(o.metrics.endpoint.empty());
}

TEST_F(ConfigTest, PrintConfigMasksPassword) {
    ASSERT_TRUE(std::holds_alternative<int>(parse({"--print-config", "--db", "host=h password=s3cret dbname=d"})));
    EXPECT_EQ(out.str().find("s3cret"), std::string::npos) << out.str();
}

TEST(MaskPassword, Forms) {
    EXPECT_EQ(mask_password("host=h password=s3cret dbname=d"), "host=h password=******** dbname=d");
    EXPECT_EQ(mask_password("password = 'a b\\' c' user=u"), "password = ******** user=u");
    EXPECT_EQ(mask_password("postgresql://u:s3cret@h/db"), "postgresql://u:********@h/db");
    EXPECT_EQ(mask_password("postgres://h/db?password=s3cret"), "postgres://h/db?password=********");
    EXPECT_EQ(mask_password("host=h dbname=d"), "host=h dbname=d");
}

// The example in packaging/ parses, and holds the documented defaults.
TEST(ExampleConfig, Parses) {
    std::ostringstream out, err;
    const auto r = parse_relay_options({"--config", TABLEPUB_EXAMPLE_CONFIG}, out, err);
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    const auto& o = std::get<RelayOptions>(r);
    const RelayOptions d;
    EXPECT_EQ(o.publish, d.publish);
    EXPECT_EQ(o.poll_interval, d.poll_interval);
    EXPECT_EQ(o.metrics.endpoint, "127.0.0.1:9187");
}

std::string read_example() {
    std::ifstream in(TABLEPUB_EXAMPLE_CONFIG);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Every option the relay has is explained in the example: a key missing
// there is an option an operator cannot discover from the packaged file.
TEST(ExampleConfig, NamesEveryOption) {
    std::ostringstream out, err;
    ASSERT_TRUE(std::holds_alternative<int>(parse_relay_options({"--print-config"}, out, err)));
    const auto example = read_example();
    std::istringstream printed(out.str());
    int keys = 0;
    for (std::string line; std::getline(printed, line);) {
        if (line.rfind("# ", 0) == 0 && line.find(" (not set)") != std::string::npos) {
            line = line.substr(2, line.find(" (not set)") - 2) + "=";
        }
        const auto eq = line.find('=');
        if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
        const auto key = line.substr(0, eq);
        ++keys;
        if (example.find("\n" + key + " = ") == std::string::npos) {
            EXPECT_NE(example.find("\n# " + key + " = "), std::string::npos) << key << " is not in the example";
        }
    }
    EXPECT_GE(keys, 30);
}

// Each commented-out setting of the example is valid when uncommented.
TEST(ExampleConfig, CommentedSettingsParse) {
    std::istringstream in(read_example());
    std::string uncommented;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("# ", 0) == 0 && line.find(" = ") != std::string::npos &&
            line.find_first_of(" ", 2) == line.find(" = ")) {
            line = line.substr(2);
        }
        uncommented += line + "\n";
    }
    const auto path = std::filesystem::temp_directory_path() / ("tablepub-example-" + std::to_string(::getpid()));
    std::ofstream(path) << uncommented;
    std::ostringstream out, err;
    const auto r = parse_relay_options({"--config", path.string()}, out, err);
    std::filesystem::remove(path);
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str() << uncommented;
    const auto& o = std::get<RelayOptions>(r);
    const RelayOptions d;
    EXPECT_EQ(o.poll_interval, d.poll_interval);
    EXPECT_EQ(o.maintain_interval, d.maintain_interval);
    EXPECT_EQ(o.fetch_bytes, d.fetch_bytes);
    EXPECT_EQ(o.snapshot_idle_timeout, d.snapshot_idle_timeout);
    EXPECT_EQ(o.metrics.ready_lag, MetricsOptions{}.ready_lag);
    EXPECT_EQ(o.groups.size(), 2u);  // default + policy
}

}  // namespace
}  // namespace tablepub
