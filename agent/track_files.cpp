#include "agent/track_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "agent/net.h"

namespace kw {

TrackFiles::TrackFiles(std::string dir) : dir_(std::move(dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

std::string TrackFiles::PathFor(const std::string& check) const {
  return dir_ + "/" + check + ".state";
}

Status TrackFiles::Write(const std::string& check, int value) {
  std::string path = PathFor(check);
  std::string tmp = dir_ + "/." + check + ".state.tmp";
  std::string text = std::to_string(value) + "\n";
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd.valid()) return ErrnoStatus("track file " + tmp, errno);
    ssize_t n = ::write(fd.get(), text.data(), text.size());
    if (n != static_cast<ssize_t>(text.size())) {
      int err = n < 0 ? errno : EIO;
      ::unlink(tmp.c_str());
      return ErrnoStatus("track file " + tmp, err);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("track file " + path, err);
  }
  return Status::Ok();
}

void TrackFiles::Update(const Snapshot& snap) {
  last_ = Status::Ok();
  for (const CheckState& c : snap.checks) {
    if (c.name.empty() || c.name.find('/') != std::string::npos) continue;
    int value = c.has_result && c.up ? 0 : 1;
    auto it = written_.find(c.name);
    if (it != written_.end() && it->second == value) continue;
    Status s = Write(c.name, value);
    if (s.ok()) {
      written_[c.name] = value;
    } else {
      written_.erase(c.name);  // unknown on disk: write again next time
      if (last_.ok()) last_ = s;
    }
  }
}

}  // namespace kw
