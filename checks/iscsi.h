// `iscsi`: the node's iSCSI session to the shared disk, from sysfs only.
//
// Keys:
//   target   IQN of the target (required), e.g. iqn.2019-02.lb2:odcfs2
//   portal   host[:port] of the target (optional, port 3260): when the session is not
//            healthy, a TCP connect to it tells "target down" from "local session broken"
//
// Reads, under the injected root (never block I/O, never iscsiadm):
//   /sys/class/iscsi_session/sessionN/{targetname,state,recovery_tmo}
//   /sys/class/iscsi_connection/connectionN:C/{state,persistent_address,persistent_port}
//     (`state` exists only on kernels from about 5.7: absent = unknown, not a failure)
//   /sys/class/iscsi_session/sessionN/device/targetH:C:T/H:C:T:L/{state,block/sdX}
// Passes when a session for the target is LOGGED_IN, its connection is not known to be
// down and every LUN is `running` with at least one block device.  With several
// sessions for the target (multipath) one healthy session is enough.
//
// Labels: session, state, recovery_tmo, connection, portal, device, and
// portal_reachable when probed.  Run() is called from one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "checks/registry.h"

namespace kw {

struct IscsiLun {
  std::string hctl;   // "2:0:0:1"
  std::string state;  // running, blocked, transport-offline, offline, ...
  std::string disk;   // "sdb"; empty for a LUN without a block device (tgt's LUN 0)
};

struct IscsiSession {
  std::string name;          // "session1"
  std::string target;        // targetname
  std::string state;         // LOGGED_IN, FAILED, FREE
  std::string recovery_tmo;  // seconds, as text
  std::string connection;    // connection state; empty = unknown (older kernels)
  std::string portal;        // "192.168.55.112:3260" from the connection, if known
  std::vector<IscsiLun> luns;

  // Empty when healthy, else why not (one phrase).
  std::string Problem() const;
  std::string Disks() const;  // "sdb,sdc"
};

// Every session under <root>/sys/class/iscsi_session, in session number order.
std::vector<IscsiSession> ReadIscsiSessions(const std::string& root);

std::unique_ptr<Check> MakeIscsiCheck(KeyReader& keys, const CheckEnv& env);

}  // namespace kw
