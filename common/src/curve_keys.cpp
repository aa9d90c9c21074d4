#include "common/curve_keys.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <zmq.h>

#include "common/error.hpp"

namespace tablepub {

namespace {

constexpr std::size_t KEY_TEXT_LEN = 40;
// Key files are a few lines; anything larger is not one.
constexpr off_t MAX_KEY_FILE = 64 * 1024;

std::string quoted(const std::string& path) { return "\"" + path + "\""; }

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// Reads a key file after fstat-ing the opened file (no race between the
// permission check and the read).
std::string read_key_file(const std::string& path, const char* what, bool secret) {
    Fd f;
    f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd < 0)
        throw ConfigError(std::string("cannot open ") + what + " " + quoted(path) + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) {
        throw ConfigError(std::string("cannot stat ") + what + " " + quoted(path) + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) throw ConfigError(std::string(what) + " " + quoted(path) + " is not a regular file");
    if (st.st_size > MAX_KEY_FILE)
        throw ConfigError(std::string(what) + " " + quoted(path) + " is too large to be a key file");
    if (secret) {
        const bool mine = st.st_uid == ::geteuid();
        const bool root = st.st_uid == 0;
        if (!mine && !root) {
            throw ConfigError(std::string(what) + " " + quoted(path) +
                              " must be owned by the user running this program or by root");
        }
        if ((mine && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) ||
            (root && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0)) {
            throw ConfigError(std::string(what) + " " + quoted(path) + " has group or world access (chmod 0600 " +
                              path + ", or 0640 if owned by root)");
        }
    }
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t done = 0;
    while (done < text.size()) {
        const auto n = ::read(f.fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            throw ConfigError(std::string("cannot read ") + what + " " + quoted(path) + ": " + std::strerror(errno));
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    text.resize(done);
    return text;
}

std::string_view trim(std::string_view s) {
    const auto ws = " \t\r";
    const auto b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    const auto e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

// The keys a file names: public-key/secret-key lines of a certificate, and
// bare keys. Other certificate lines (comments, section names, metadata
// "name = value") are skipped; anything else is an error.
struct KeyText {
    std::vector<std::string> public_keys;
    std::vector<std::string> secret_keys;
    std::vector<std::string> bare;
};

KeyText parse_key_text(const std::string& text, const char* what, const std::string& path) {
    KeyText k;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        const auto line = trim(std::string_view(text).substr(pos, nl - pos));
        pos = nl + 1;
        ++line_no;
        const auto where = [&] { return "line " + std::to_string(line_no) + " of " + what + " " + quoted(path); };
        // Z85 uses '#' and '=': a whole line that is a key is a key.
        if (is_z85_key(line)) {
            k.bare.emplace_back(line);
            continue;
        }
        if (line.empty() || line.front() == '#' || line == "metadata" || line == "curve") continue;
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) throw ConfigError(where() + " is not a Z85 key or a certificate line");
        const auto name = trim(line.substr(0, eq));
        auto value = trim(line.substr(eq + 1));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
            value = value.substr(1, value.size() - 2);
        }
        if (name == "public-key" || name == "secret-key") {
            // Never echo the value: it may be a secret.
            if (!is_z85_key(value))
                throw ConfigError(where() + ": " + std::string(name) + " is not 40 characters of Z85");
            (name == "public-key" ? k.public_keys : k.secret_keys).emplace_back(value);
        }
    }
    return k;
}

std::string public_of(const std::string& secret) {
    std::array<char, KEY_TEXT_LEN + 1> pub{};
    if (zmq_curve_public(pub.data(), secret.c_str()) != 0) {
        throw ConfigError(std::string("cannot derive a CURVE public key: ") + zmq_strerror(zmq_errno()) +
                          (zmq_has("curve") ? "" : " (libzmq was built without CURVE)"));
    }
    return std::string(pub.data(), KEY_TEXT_LEN);
}

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool is_z85_key(std::string_view text) noexcept {
    if (text.size() != KEY_TEXT_LEN) return false;
    std::array<char, KEY_TEXT_LEN + 1> z{};
    std::copy(text.begin(), text.end(), z.begin());
    std::array<std::uint8_t, 32> raw{};
    return zmq_z85_decode(raw.data(), z.data()) != nullptr;
}

CurveKeyPair load_secret_key_file(const std::string& path) {
    constexpr const char* what = "CURVE secret key file";
    const auto k = parse_key_text(read_key_file(path, what, true), what, path);
    CurveKeyPair pair;
    if (k.secret_keys.size() == 1 && k.bare.empty()) {
        pair.secret_key = k.secret_keys.front();
    } else if (k.secret_keys.empty() && k.public_keys.empty() && k.bare.size() == 1) {
        pair.secret_key = k.bare.front();
    } else {
        throw ConfigError(std::string(what) + " " + quoted(path) +
                          " must hold exactly one secret key (a secret-key line, or the key alone)");
    }
    pair.public_key = public_of(pair.secret_key);
    if (k.public_keys.size() > 1 || (k.public_keys.size() == 1 && k.public_keys.front() != pair.public_key)) {
        throw ConfigError(std::string(what) + " " + quoted(path) +
                          ": its public-key does not belong to its secret-key");
    }
    return pair;
}

std::string load_public_key_file(const std::string& path) {
    constexpr const char* what = "CURVE public key file";
    const auto k = parse_key_text(read_key_file(path, what, false), what, path);
    if (!k.secret_keys.empty()) {
        throw ConfigError(std::string(what) + " " + quoted(path) + " holds a secret key; give the public key file");
    }
    if (k.public_keys.size() + k.bare.size() != 1) {
        throw ConfigError(std::string(what) + " " + quoted(path) + " must hold exactly one public key");
    }
    return k.public_keys.empty() ? k.bare.front() : k.public_keys.front();
}

std::set<std::string> load_allow_list(const std::string& path) {
    constexpr const char* what = "CURVE allow-list";
    std::vector<std::string> files;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw ConfigError(std::string("cannot open ") + what + " " + quoted(path) + ": " + std::strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), ::closedir);
        if (!dir)
            throw ConfigError(std::string("cannot open ") + what + " " + quoted(path) + ": " + std::strerror(errno));
        while (const auto* e = ::readdir(dir.get())) {
            const std::string name = e->d_name;
            if (name.front() != '.' && ends_with(name, ".key")) files.push_back(path + "/" + name);
        }
        std::sort(files.begin(), files.end());
    } else {
        files.push_back(path);
    }
    std::set<std::string> keys;
    for (const auto& f : files) {
        const auto k = parse_key_text(read_key_file(f, what, false), what, f);
        if (!k.secret_keys.empty()) {
            throw ConfigError(std::string(what) + " file " + quoted(f) +
                              " holds a secret key; allow-lists hold public keys only");
        }
        keys.insert(k.public_keys.begin(), k.public_keys.end());
        keys.insert(k.bare.begin(), k.bare.end());
    }
    if (keys.empty()) {
        throw ConfigError(std::string(what) + " " + quoted(path) + " holds no public key" +
                          (S_ISDIR(st.st_mode) ? " (no *.key file)" : ""));
    }
    return keys;
}

CurveKeyPair generate_key_pair() {
    std::array<char, KEY_TEXT_LEN + 1> pub{}, sec{};
    if (zmq_curve_keypair(pub.data(), sec.data()) != 0) {
        throw ConfigError(std::string("cannot generate a CURVE key pair: ") + zmq_strerror(zmq_errno()) +
                          (zmq_has("curve") ? "" : " (libzmq was built without CURVE)"));
    }
    return {std::string(pub.data(), KEY_TEXT_LEN), std::string(sec.data(), KEY_TEXT_LEN)};
}

namespace {

void write_new_file(const std::string& path, const std::string& text, mode_t mode) {
    Fd f;
    f.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (f.fd < 0) throw ConfigError("cannot create " + quoted(path) + ": " + std::strerror(errno));
    // The umask may only have removed bits; set exactly the mode we mean.
    if (::fchmod(f.fd, mode) != 0) throw ConfigError("cannot chmod " + quoted(path) + ": " + std::strerror(errno));
    std::size_t done = 0;
    while (done < text.size()) {
        const auto n = ::write(f.fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw ConfigError("cannot write " + quoted(path) + ": " + std::strerror(errno));
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(f.fd) != 0) throw ConfigError("cannot fsync " + quoted(path) + ": " + std::strerror(errno));
}

}  // namespace

void write_key_pair(const std::string& base, const CurveKeyPair& keys) {
    const std::string header = "#   ****  Generated by tablepub-keygen  ****\n";
    // The secret first: a public file without its secret is harmless, the
    // reverse leaves the operator with a key nobody can be given.
    write_new_file(base + ".key_secret",
                   header +
                       "#   ZeroMQ CURVE **Secret** Certificate\n"
                       "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n"
                       "metadata\ncurve\n    public-key = \"" +
                       keys.public_key + "\"\n    secret-key = \"" + keys.secret_key + "\"\n",
                   0600);
    write_new_file(base + ".key",
                   header +
                       "#   ZeroMQ CURVE Public Certificate\n"
                       "#   Give it to the peers that must trust this key (relay: its clients;\n"
                       "#   client: the relay's allow-list).\n\n"
                       "metadata\ncurve\n    public-key = \"" +
                       keys.public_key + "\"\n",
                   0644);
}

}  // namespace tablepub
