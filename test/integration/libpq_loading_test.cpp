// The real keepwatchd loads libpq (and OpenSSL, Kerberos, LDAP behind it) only on a node
// with PostgreSQL (agent/pq_loader.h), read from /proc/PID/maps; without libpq, a
// postgres check is a configuration error that says so, and other nodes run as usual.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "agent/gossip/crypto.h"
#include "test/support/agent.h"

using namespace kw;
using namespace kw::test;

namespace {

// The files mapped by `pid` whose name starts with one of `prefixes`, as "name name ".
std::string MappedLibraries(pid_t pid, const std::vector<std::string>& prefixes) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line, found;
  while (std::getline(maps, line)) {
    std::string base = line.substr(line.rfind('/') + 1);
    for (const std::string& p : prefixes)
      if (line.find('/') != std::string::npos && base.rfind(p, 0) == 0 &&
          found.find(base + " ") == std::string::npos)
        found += base + " ";
  }
  return found;
}

// The path of a file this process maps whose name starts with `prefix` ("" if none).
std::string MappedPath(const std::string& prefix) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    size_t slash = line.find('/');
    if (slash != std::string::npos && line.substr(line.rfind('/') + 1).rfind(prefix, 0) == 0)
      return line.substr(slash);
  }
  return "";
}

const std::vector<std::string> kLibpqAndDeps = {"libpq.",   "libssl.",         "libcrypto.",
                                                "libkrb5.", "libgssapi_krb5.", "libldap"};

// A load balancer of the reference cluster (packaging/examples/keepwatch-lb.ini and
// keepwatch-cluster.ini): a haproxy check, and failover on with this node a voter and a
// rejoin_conninfo in the [cluster] it shares with the PostgreSQL nodes.
std::string LoadBalancerSections(const TempDir& dir) {
  std::string key = dir.Write("cluster.key", gossip::GenerateKeyHex() + "\n");
  chmod(key.c_str(), 0600);
  auto member = [](const std::string& name, const std::string& extra) {
    return "[member." + name + "]\naddress = 127.0.0.1:" + std::to_string(FreePort()) +
           "\nvoter = yes\n" + extra;
  };
  return "[check.haproxy]\ntype = haproxy\nsocket = " + dir.path() +
         "/admin.sock\nbackends = postgres_rw postgres_ro\ninterval = 200ms\n"
         "[cluster]\nname = lab\nbind = 127.0.0.1:" +
         std::to_string(FreePort()) + "\nkey_file = " + key +
         "\nfailover = auto\nprobe_interval = 200ms\nprobe_timeout = 100ms\nlease = 1s\n"
         "drift_margin = 100ms\nelection_timeout = 500ms\n"
         "rejoin_conninfo = user=rewind dbname=postgres\n" +
         member("test", "") + member("pg1", "postgres = yes\npriority = 100\n") +
         member("pg2", "postgres = yes\npriority = 50\n");
}

std::string PostgresSection() {
  return "[check.pg]\ntype = postgres\nconninfo = host=127.0.0.1 port=" +
         std::to_string(FreePort()) + " dbname=postgres connect_timeout=1\ninterval = 200ms\n";
}

// keepwatchd --check-config on `sections` with LD_LIBRARY_PATH=`libdir`: exit code and
// output.
int CheckConfig(const TempDir& dir, const std::string& sections, const std::string& libdir,
                std::string* out) {
  static int n = 0;
  std::string ini = dir.Write("c" + std::to_string(n++) + ".ini",
                              "[agent]\nnode = test\nlisten = 127.0.0.1:1\n" + sections);
  Process p({BuildDir() + "/keepwatchd", "--check-config", "-c", ini},
            {{"LD_LIBRARY_PATH", libdir}});
  int status = p.Wait(seconds(10));
  *out = p.Log();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("a node without PostgreSQL never maps libpq; a node with a postgres check does") {
  TempDir dir;
  Agent lb(LoadBalancerSections(dir));
  REQUIRE_MESSAGE(lb.WaitStatus("/readiness", 200), lb.process().Log());
  // Failover rounds (the voter's elections, an actuator made and never used) and probes.
  std::this_thread::sleep_for(seconds(1));
  REQUIRE(lb.process().Running());
  CHECK(MappedLibraries(lb.process().pid(), {"libmicrohttpd."}) != "");  // maps are readable
  CHECK_MESSAGE(MappedLibraries(lb.process().pid(), kLibpqAndDeps) == "", lb.process().Log());

  Agent pg(PostgresSection());
  REQUIRE_MESSAGE(pg.WaitStatus("/readiness", 200), pg.process().Log());
  CHECK(pg.Call("/check/pg").status == 503);  // nothing listens: a result, not a crash
  std::string libs = MappedLibraries(pg.process().pid(), kLibpqAndDeps);
  CHECK_MESSAGE(libs.find("libpq.so.5") != std::string::npos, libs);
  CHECK_MESSAGE(libs.find("libssl.so") != std::string::npos, libs);
}

TEST_CASE("without a loadable libpq a postgres check is a configuration error, not a crash") {
  TempDir dir;
  std::string out;
  // An empty file where the loader looks first.
  std::string empty = dir.path() + "/empty";
  mkdir(empty.c_str(), 0755);
  std::ofstream(empty + "/libpq.so.5").close();
  CHECK(CheckConfig(dir, PostgresSection(), empty, &out) == 1);
  CHECK_MESSAGE(
      out.find(": conninfo: cannot load libpq.so.5 (package libpq5): ") != std::string::npos, out);
  CHECK_MESSAGE(out.find("file too short") != std::string::npos, out);
  // The load balancer's configuration needs no libpq.
  CHECK_MESSAGE(CheckConfig(dir, LoadBalancerSections(dir), empty, &out) == 0, out);

  // A real library without libpq's functions under libpq's name.
  std::string other = dir.path() + "/other";
  mkdir(other.c_str(), 0755);
  std::string sodium = MappedPath("libsodium.so");  // the test binary links it too
  REQUIRE(!sodium.empty());
  REQUIRE(symlink(sodium.c_str(), (other + "/libpq.so.5").c_str()) == 0);
  CHECK(CheckConfig(dir, PostgresSection(), other, &out) == 1);
  CHECK_MESSAGE(out.find(": conninfo: cannot load libpq.so.5 (package libpq5): it has no "
                         "PQconnectStartParams") != std::string::npos,
                out);
}
