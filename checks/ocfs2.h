// `ocfs2`: the shared filestore mount (OCFS2 over iSCSI on the Odoo nodes).
//
// Keys:
//   path               mount point (required), e.g. /var/lib/odoo
//   fstype             expected filesystem type (default ocfs2; tests use tmpfs/fuse)
//   write_probe        yes/no (default no): create, write, fsync, read back and remove
//                      `.keepwatch-probe.<hostname>` under path
//   probe_dir          directory for the probe file (optional, default path): a directory
//                      on the same mount that the agent's user may write, e.g.
//                      /var/lib/odoo/.keepwatch owned by keepwatch; also keeps the probes'
//                      cluster locks off the filestore's top directory
//   heartbeat_max_age  duration (optional): fail when this node's o2hb heartbeat write
//                      is older (o2hb self-fences after ~60 s with default timeouts)
//   errors             expected errors= superblock option (optional), e.g. remount-ro
//   heartbeat          expected heartbeat= superblock option (optional): local|global|none
//
// What it reads, in order, stopping at the first failure:
//   1. <root>/proc/self/mountinfo: path is a mount point of `fstype`; neither the
//      superblock (OCFS2's error remount) nor the mount is read-only; errors=/heartbeat=
//      as configured.  No I/O on the filesystem, never statvfs() (a cluster lock).
//   2. heartbeat_max_age: the o2hb region whose configfs `dev`
//      (<root>/sys/kernel/config/cluster/*/heartbeat/<UUID>/dev) is this mount's block
//      device (found through <root>/sys/dev/block/MAJ:MIN/uevent), then its debugfs
//      <root>/sys/kernel/debug/o2hb/<UUID>/elapsed_time_in_ms.  With heartbeat=global
//      the regions are separate disks: every region counts and the oldest one is judged.
//   3. write_probe: real I/O, so it can block in the kernel (D state) for as long as the
//      iSCSI path is lost; the scheduler runs it on the check's own thread and reports
//      `timeout` past the deadline.
//
// Results: labels device, source, fstype, options (superblock), errors, heartbeat,
// o2hb_region; values heartbeat_age_seconds, write_probe_seconds.  Run() is called from
// one thread at a time (the check's probe thread).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "checks/mountinfo.h"
#include "checks/registry.h"

namespace kw {

struct Ocfs2Options {
  std::string path;
  std::string fstype = "ocfs2";
  bool write_probe = false;
  std::optional<Duration> heartbeat_max_age;
  std::string expect_errors;     // empty: not checked
  std::string expect_heartbeat;  // empty: not checked
  std::string probe_dir;         // where the probe file goes; empty: path
  std::string probe_name;        // file name created under probe_dir by the write probe
};

class Ocfs2Check final : public Check {
 public:
  // `root` prefixes /proc and /sys (fixture trees in tests); not the probe's path.
  Ocfs2Check(Ocfs2Options options, std::string root);
  CheckResult Run(TimePoint deadline) override;

 private:
  // Fills the heartbeat age into r; false (with r set to the failure) when judged bad.
  bool CheckHeartbeat(const MountEntry& m, CheckResult& r);
  CheckResult WriteProbe(CheckResult r, TimePoint deadline);

  Ocfs2Options opt_;
  std::string root_;
  unsigned long long probe_count_ = 0;
};

// ".keepwatch-probe.<hostname>": one name per node, so nodes sharing the filestore never
// collide and a probe file left behind by a crash is reused, not accumulated.
std::string DefaultProbeName();

std::unique_ptr<Check> MakeOcfs2Check(KeyReader& keys, const CheckEnv& env);

}  // namespace kw
