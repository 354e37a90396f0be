#include "agent/failover/pg_layout.h"

#include "agent/failover/state_file.h"

namespace kw {
namespace {

constexpr char kLayoutFileName[] = "postgres.layout";

}  // namespace

std::string PgLayoutPath(const std::string& dir) { return dir + "/" + kLayoutFileName; }

Result<std::optional<PgLayout>> LoadPgLayout(const std::string& dir) {
  std::string path = PgLayoutPath(dir);
  auto text = ReadStateFile(path);
  if (!text.ok()) return text.status();
  if (!*text) return std::optional<PgLayout>();
  auto kv = Unsealed(**text);
  if (!kv.ok()) return Status::Error(path + ": " + kv.status().message());
  if ((*kv)["version"] != "1")
    return Status::Error(path + ": unknown version '" + (*kv)["version"] + "'");
  PgLayout l{(*kv)["data_directory"], (*kv)["config_file"], (*kv)["major"]};
  if (l.data_directory.empty() || l.config_file.empty() || l.major.empty())
    return Status::Error(path + ": data_directory, config_file or major is missing");
  return std::optional<PgLayout>(l);
}

Status SavePgLayout(const std::string& dir, const PgLayout& l) {
  std::string body = "# keepwatch: the local PostgreSQL as it last answered; do not edit\n";
  body += "version=1\ndata_directory=" + l.data_directory + "\nconfig_file=" + l.config_file +
          "\nmajor=" + l.major + "\n";
  for (const std::string* v : {&l.data_directory, &l.config_file, &l.major})
    if (v->find('\n') != std::string::npos)
      return Status::Error("not saved in " + PgLayoutPath(dir) + ": '" + *v +
                           "' holds a line break");
  return WriteStateFile(dir, kLayoutFileName, Sealed(body));
}

}  // namespace kw
