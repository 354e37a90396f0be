// A kw-blockfs FUSE mount (test/helpers/blockfs.cpp) for tests of a hanging filestore.
//
// The constructor mounts it on a fresh temporary directory and waits (bounded) until it
// shows in /proc/self/mountinfo as fstype "fuse.kw-blockfs".  Close() makes every
// operation on it block until Open(); the destructor opens the gate first (a request
// blocked in FUSE is not ended by SIGTERM: the caller would hang), then unmounts and
// removes everything.
#pragma once

#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "checks/mountinfo.h"
#include "test/support/process.h"

namespace kw::testing {

class BlockFsMount {
 public:
  BlockFsMount() {
    mnt_ = dir_.path() + "/mnt";
    gate_ = dir_.path() + "/gate";
    log_ = dir_.path() + "/ops.log";
    std::filesystem::create_directory(mnt_);
    proc_ = std::make_unique<kw::test::Process>(
        std::vector<std::string>{kw::test::BuildDir() + "/kw-blockfs", mnt_, gate_, log_},
        std::map<std::string, std::string>{}, dir_.path() + "/blockfs.out");
    mounted_ = kw::test::WaitFor(
        [&] {
          auto m = ReadMountinfo("/");
          const MountEntry* e = m.ok() ? FindMountAt(*m, mnt_) : nullptr;
          return e && e->fstype == "fuse.kw-blockfs";
        },
        seconds(5));
  }
  ~BlockFsMount() {
    Open();
    if (mounted_) {
      std::string out;
      if (kw::test::RunCommand({"fusermount3", "-u", mnt_}, &out, seconds(5)) != 0)
        ::umount2(mnt_.c_str(), MNT_DETACH);
    }
    proc_->Wait(seconds(3));
  }
  BlockFsMount(const BlockFsMount&) = delete;
  BlockFsMount& operator=(const BlockFsMount&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& path() const { return mnt_; }
  void Close() { std::ofstream(gate_) << "closed\n"; }
  void Open() { std::filesystem::remove(gate_); }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // How many operations reached the filesystem in all.
  int Ops() const {
    std::ifstream in(log_);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) ++n;
    return n;
  }
  // How many operations of this kind ("create", "fsync", ...) reached the filesystem.
  int Count(const std::string& op) const {
    std::ifstream in(log_);
    std::string line;
    int n = 0;
    while (std::getline(in, line))
      if (line.rfind(op + " ", 0) == 0) ++n;
    return n;
  }

 private:
  kw::test::TempDir dir_;
  std::string mnt_, gate_, log_;
  std::unique_ptr<kw::test::Process> proc_;
  bool mounted_ = false;
};

}  // namespace kw::testing
