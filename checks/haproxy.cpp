#include "checks/haproxy.h"

#include "agent/net.h"
#include "agent/units.h"

namespace kw {
namespace {

std::vector<std::string> SplitCsvLine(std::string_view line) {
  // HAProxy's stats CSV never quotes (names cannot hold commas): a plain split.
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t comma = line.find(',', start);
    out.emplace_back(
        line.substr(start, comma == std::string_view::npos ? line.npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

template <class F>
void ForEachLine(std::string_view text, F f) {
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    f(line);
    start = nl + 1;
  }
}

long long ToInt(const std::string& s) {
  auto v = ParseInt(s, 0, 1LL << 40);
  return v.ok() ? *v : 0;
}

}  // namespace

Result<HaproxyStats> HaproxyStats::Parse(std::string_view csv) {
  HaproxyStats st;
  bool header = false;
  Status error = Status::Ok();
  ForEachLine(csv, [&](std::string_view line) {
    if (line.empty()) return;
    if (!header) {
      if (line.substr(0, 9) != "# pxname,") return;
      std::vector<std::string> names = SplitCsvLine(line.substr(2));
      for (size_t i = 0; i < names.size(); ++i)
        if (!names[i].empty()) st.columns_[names[i]] = i;
      header = true;
      return;
    }
    st.rows_.push_back(SplitCsvLine(line));
  });
  if (!header) return Status::Error("no '# pxname,...' header in 'show stat' output");
  for (const char* need : {"pxname", "svname", "status", "act", "bck"})
    if (!st.columns_.count(need))
      return Status::Error(std::string("'show stat' has no '") + need + "' column");
  return st;
}

std::string HaproxyStats::Field(size_t row, const std::string& column) const {
  auto c = columns_.find(column);
  if (row >= rows_.size() || c == columns_.end() || c->second >= rows_[row].size()) return "";
  return rows_[row][c->second];
}

long HaproxyStats::Find(const std::string& pxname, const std::string& svname) const {
  for (size_t i = 0; i < rows_.size(); ++i)
    if (Field(i, "pxname") == pxname && Field(i, "svname") == svname) return static_cast<long>(i);
  return -1;
}

std::map<std::string, std::string> ParseHaproxyInfo(std::string_view text) {
  std::map<std::string, std::string> out;
  ForEachLine(text, [&](std::string_view line) {
    if (line.empty() || line[0] == '#') return;
    size_t colon = line.find(": ");
    if (colon == std::string_view::npos) return;
    out.emplace(std::string(line.substr(0, colon)), std::string(line.substr(colon + 2)));
  });
  return out;
}

std::string_view HaproxyStatPart(std::string_view answer) {
  size_t at = answer.find("# pxname,");
  return at == std::string_view::npos ? std::string_view() : answer.substr(at);
}

namespace {

class HaproxyCheck final : public Check {
 public:
  HaproxyCheck(std::string socket, std::vector<std::string> backends)
      : socket_(std::move(socket)), backends_(std::move(backends)) {}

  CheckResult Run(TimePoint deadline) override {
    auto answer = Ask(deadline);
    if (!answer.ok()) {
      const Status& s = answer.status();
      if (IsTimeout(s))
        return CheckResult::Timeout("haproxy stats socket: " + s.message())
            .Label("reason", "timeout");
      return CheckResult::Fail("haproxy stats socket: " + s.message()).Label("reason", "down");
    }
    std::string_view text = *answer;
    std::string_view stat_part = HaproxyStatPart(text);
    auto info = ParseHaproxyInfo(text.substr(0, text.size() - stat_part.size()));
    auto stats = HaproxyStats::Parse(stat_part);
    if (info.find("Pid") == info.end() || !stats.ok())
      return CheckResult::Error("haproxy answered something else than show info/show stat: " +
                                (stats.ok() ? std::string("no Pid") : stats.status().message()))
          .Label("reason", "bad_response");

    CheckResult r = CheckResult::Pass("haproxy " + info["Version"] + " pid " + info["Pid"] + " up");
    r.Label("version", info["Version"]).Label("pid", info["Pid"]);
    r.Value("uptime_seconds", static_cast<double>(ToInt(info["Uptime_sec"])));
    if (info["Stopping"] == "1") {
      r.outcome = Outcome::kFail;
      r.detail = "haproxy pid " + info["Pid"] + " is stopping (old process after a reload?)";
      return r.Label("reason", "stopping");
    }
    std::string summary;
    std::string failure;
    const char* reason = nullptr;
    for (const std::string& b : backends_) {
      long row = stats->Find(b, "BACKEND");
      if (row < 0) {
        if (failure.empty()) {
          failure = "backend " + b + " does not exist in haproxy";
          reason = "no_backend";
        }
        continue;
      }
      long long act = ToInt(stats->Field(row, "act"));
      long long bck = ToInt(stats->Field(row, "bck"));
      int servers = 0;
      for (size_t i = 0; i < stats->rows(); ++i)
        if (stats->Field(i, "pxname") == b && stats->Field(i, "svname") != "BACKEND" &&
            stats->Field(i, "svname") != "FRONTEND")
          ++servers;
      std::string state = stats->Field(row, "status") + " " + std::to_string(act) + "/" +
                          std::to_string(servers) + " active, " + std::to_string(bck) + " backup";
      r.Label("backend." + b, state).Value("backend." + b + ".active", static_cast<double>(act));
      summary += (summary.empty() ? "" : "; ") + b + " " + state;
      if (act == 0 && failure.empty()) {
        failure = "backend " + b + " has no active server up (" + state + ")";
        reason = "backend_down";
      }
    }
    if (!failure.empty()) {
      r.outcome = Outcome::kFail;
      r.detail = failure;
      return r.Label("reason", reason);
    }
    if (!summary.empty()) r.detail += ": " + summary;
    return r;
  }

 private:
  Result<std::string> Ask(TimePoint deadline) {
    auto fd = ConnectUnix(socket_, deadline);
    if (!fd.ok()) return fd.status();
    if (Status s = SendAll(fd->get(), "show info;show stat\n", deadline); !s.ok()) return s;
    return ReadToEof(fd->get(), 8 << 20, deadline);
  }

  std::string socket_;
  std::vector<std::string> backends_;
};

}  // namespace

std::unique_ptr<Check> MakeHaproxyCheck(KeyReader& keys, const CheckEnv&) {
  std::string socket = keys.String("socket", "/run/haproxy/admin.sock");
  std::vector<std::string> backends = keys.List("backends");
  if (socket.empty() || socket.front() != '/') {
    keys.Error("socket", "must be an absolute path to haproxy's stats socket");
    return nullptr;
  }
  return std::make_unique<HaproxyCheck>(std::move(socket), std::move(backends));
}

}  // namespace kw
