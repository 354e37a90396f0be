#include "agent/failover/state_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <sstream>

#include "agent/units.h"

namespace kw {
namespace {

constexpr char kStateFileName[] = "failover.state";

std::string Digest(const std::string& body) {
  if (sodium_init() < 0) return "";  // idempotent; only fails without a usable RNG
  unsigned char h[16];
  crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(body.data()), body.size(),
                     nullptr, 0);
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return hex;
}

bool ValidName(const std::string& s) {
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

Status WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write", errno);
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

std::string StateFilePath(const std::string& dir) { return dir + "/" + kStateFileName; }

std::string EncodeState(const DurableState& s) {
  std::string body = "# keepwatch failover state: written atomically; do not edit\n";
  body += "version=1\nterm=" + std::to_string(s.term) + "\nvoted_for=" + s.voted_for +
          "\nleader=" + s.leader + "\npaused=" + (s.paused ? "1" : "0") +
          "\npause_version=" + std::to_string(s.pause_version) + "\n";
  return Sealed(body);
}

Result<DurableState> DecodeState(const std::string& text) {
  auto fields = Unsealed(text);
  if (!fields.ok()) return fields.status();
  std::map<std::string, std::string>& kv = *fields;
  if (kv["version"] != "1") return Status::Error("unknown version '" + kv["version"] + "'");
  auto term = ParseInt(kv["term"], 0, INT64_MAX);
  if (!term.ok()) return Status::Error("term: " + term.status().message());
  DurableState s;
  s.term = static_cast<uint64_t>(*term);
  s.voted_for = kv["voted_for"];
  s.leader = kv["leader"];
  if (!ValidName(s.voted_for) || !ValidName(s.leader)) return Status::Error("invalid member name");
  // Absent in files written before pause existed: not paused.
  if (kv.count("paused")) {
    if (kv["paused"] != "0" && kv["paused"] != "1") return Status::Error("paused: expected 0 or 1");
    s.paused = kv["paused"] == "1";
    auto v = ParseInt(kv["pause_version"], 0, INT64_MAX);
    if (!v.ok()) return Status::Error("pause_version: " + v.status().message());
    s.pause_version = static_cast<uint64_t>(*v);
  }
  return s;
}

Result<DurableState> LoadState(const std::string& dir) {
  std::string path = StateFilePath(dir);
  auto text = ReadStateFile(path);
  if (!text.ok()) return text.status();
  if (!*text) {
    DurableState s;
    s.fresh = true;
    return s;
  }
  auto s = DecodeState(**text);
  if (!s.ok())
    return Status::Error(path + ": " + s.status().message() +
                         "; refusing to start (remove the file to start with a fresh state)");
  return s;
}

Status SaveState(const std::string& dir, const DurableState& s) {
  return WriteStateFile(dir, kStateFileName, EncodeState(s));
}

std::string Sealed(const std::string& body) { return body + "checksum=" + Digest(body) + "\n"; }

Result<std::map<std::string, std::string>> Unsealed(const std::string& text) {
  size_t pos = text.rfind("checksum=");
  if (pos == std::string::npos) return Status::Error("no checksum line (truncated?)");
  std::string body = text.substr(0, pos);
  std::string sum(Trim(text.substr(pos + 9)));
  if (sum != Digest(body)) return Status::Error("checksum mismatch (damaged or edited)");
  std::map<std::string, std::string> kv;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) return Status::Error("malformed line '" + line + "'");
    kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

Result<std::optional<std::string>> ReadStateFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return ErrnoStatus(path, errno);
  }
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  int err = errno;
  ::close(fd);
  if (n < 0) return ErrnoStatus(path, err);
  return std::optional<std::string>(std::move(text));
}

Status WriteStateFile(const std::string& dir, const std::string& name, const std::string& text) {
  std::string path = dir + "/" + name;
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(tmp, errno);
  Status w = WriteAll(fd, text);
  if (w.ok() && ::fsync(fd) != 0) w = ErrnoStatus("fsync " + tmp, errno);
  ::close(fd);
  if (!w.ok()) return w;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename " + tmp, errno);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ErrnoStatus(dir, errno);
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0) return ErrnoStatus("fsync " + dir, err);
  return Status::Ok();
}

}  // namespace kw
