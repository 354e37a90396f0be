// [cluster] gossip keys and SettingsFromConfig (key files, timings).
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>

#include "agent/config.h"
#include "agent/gossip/service.h"

using namespace kw;
using namespace kw::gossip;

namespace {

std::string Ini(const std::string& cluster_extra, const std::string& key_file) {
  // failover = off: these cases are about gossip; failover's own rules (voters, a lease
  // of at least 3 probe intervals) are tested in config_test.cpp.
  return "[agent]\nnode = a\n[cluster]\nname = c1\nfailover = off\nkey_file = " + key_file + "\n" +
         cluster_extra + "[member.a]\naddress = 127.0.0.1:7950\n[member.b]\naddress = 127.0.0.2\n";
}

struct KeyDir {
  std::string path;
  KeyDir() {
    char t[] = "/tmp/kw-settings-XXXXXX";
    REQUIRE(mkdtemp(t) != nullptr);
    path = t;
  }
  ~KeyDir() { (void)!system(("rm -rf '" + path + "'").c_str()); }
  std::string Key(const std::string& name, mode_t mode) {
    std::string p = path + "/" + name;
    std::ofstream(p) << GenerateKeyHex() << "\n";
    chmod(p.c_str(), mode);
    return p;
  }
};

}  // namespace

TEST_CASE("gossip settings: [cluster] timings default to memberlist's and are validated") {
  KeyDir dir;
  std::string key = dir.Key("k", 0600);
  Diagnostics diag("t.ini");
  Config cfg = LoadConfigText(Ini("", key), diag);
  REQUIRE(diag.ok());
  CHECK(cfg.cluster.probe_interval == seconds(1));
  CHECK(cfg.cluster.probe_timeout == milliseconds(500));
  CHECK(cfg.cluster.indirect_checks == 3);
  CHECK(cfg.cluster.suspicion_mult == 4);
  auto s = SettingsFromConfig(cfg);
  REQUIRE(s.ok());
  CHECK(s->self == "a");
  CHECK(s->members.size() == 2);
  CHECK(s->members[1].address == HostPort{"127.0.0.2", 7950});
  CHECK(s->swim.probe_timeout == milliseconds(500));
  CHECK_FALSE(s->secondary_key);

  Diagnostics d2("t.ini");
  Config c2 = LoadConfigText(Ini("probe_interval = 2s\nprobe_timeout = 300ms\nindirect_checks = 2\n"
                                 "suspicion_mult = 5\nsecondary_key_file = " +
                                     dir.Key("k2", 0400) + "\n",
                                 key),
                             d2);
  REQUIRE(d2.ok());
  CHECK(c2.cluster.probe_interval == seconds(2));
  CHECK(c2.cluster.suspicion_mult == 5);
  auto s2 = SettingsFromConfig(c2);
  REQUIRE(s2.ok());
  CHECK(s2->secondary_key.has_value());
  CHECK(s2->swim.indirect_checks == 2);

  Diagnostics d3("t.ini");
  (void)LoadConfigText(Ini("probe_timeout = 1s\nsuspicion_mult = 0\nprobe_intervall = 1s\n", key),
                       d3);
  CHECK(d3.errors() == 3);
  std::string all;
  for (const std::string& m : d3.messages()) all += m + "\n";
  CHECK(all.find("t.ini:7: probe_timeout: must be shorter than probe_interval (1s)") !=
        std::string::npos);
  CHECK(all.find("suspicion_mult") != std::string::npos);
  CHECK(all.find("probe_intervall") != std::string::npos);
}

TEST_CASE("gossip settings: a key file readable by others stops start-up with a clear message") {
  KeyDir dir;
  std::string key = dir.Key("open", 0644);
  Diagnostics diag("t.ini");
  Config cfg = LoadConfigText(Ini("", key), diag);
  REQUIRE(diag.ok());
  auto s = SettingsFromConfig(cfg);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().message().find("is readable by group or others (mode 0644)") !=
        std::string::npos);
}
