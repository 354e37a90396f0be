// kw-blockfs: a FUSE filesystem for tests whose operations block while a gate is closed,
// the way a filesystem over a lost iSCSI path leaves callers waiting in the kernel.
//
//   kw-blockfs MOUNTPOINT GATE_FILE LOG_FILE
//
// A flat in-memory directory (regular files only).  Every operation except the root's
// getattr first appends "OP PATH" to LOG_FILE (so tests can count what reached the
// filesystem), then waits while GATE_FILE exists (the gate is closed), then runs.  The
// getattr of "/" never blocks so that the mount itself stays visible and unmountable.
// Runs in the foreground, single-threaded (one hung request holds the whole filesystem,
// as a hung disk does); exits when unmounted (fusermount3 -u) or on SIGTERM.
//
// Built only for the tests (Makefile: $(BUILD)/kw-blockfs); the daemon never links libfuse.
#define FUSE_USE_VERSION 35
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>

namespace {

std::string g_gate;
std::string g_log;
std::map<std::string, std::string> g_files;

void Enter(const char* op, const char* path) {
  if (FILE* f = std::fopen(g_log.c_str(), "a")) {
    std::fprintf(f, "%s %s\n", op, path);
    std::fclose(f);
  }
  struct stat st;
  while (::stat(g_gate.c_str(), &st) == 0) ::usleep(10 * 1000);
}

int GetAttr(const char* path, struct stat* st, struct fuse_file_info*) {
  memset(st, 0, sizeof *st);
  if (strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  Enter("getattr", path);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  st->st_mode = S_IFREG | 0600;
  st->st_nlink = 1;
  st->st_size = static_cast<off_t>(it->second.size());
  return 0;
}

int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, struct fuse_file_info*,
            enum fuse_readdir_flags) {
  Enter("readdir", path);
  fill(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  for (const auto& [name, data] : g_files)
    fill(buf, name.c_str() + 1, nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  return 0;
}

int Create(const char* path, mode_t, struct fuse_file_info*) {
  Enter("create", path);
  g_files[path];
  return 0;
}

int Open(const char* path, struct fuse_file_info* fi) {
  Enter("open", path);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  if (fi->flags & O_TRUNC) it->second.clear();
  return 0;
}

int Truncate(const char* path, off_t size, struct fuse_file_info*) {
  Enter("truncate", path);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  it->second.resize(static_cast<size_t>(size));
  return 0;
}

int Read(const char* path, char* buf, size_t size, off_t off, struct fuse_file_info*) {
  Enter("read", path);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  const std::string& d = it->second;
  if (static_cast<size_t>(off) >= d.size()) return 0;
  size_t n = std::min(size, d.size() - static_cast<size_t>(off));
  memcpy(buf, d.data() + off, n);
  return static_cast<int>(n);
}

int Write(const char* path, const char* buf, size_t size, off_t off, struct fuse_file_info*) {
  Enter("write", path);
  auto it = g_files.find(path);
  if (it == g_files.end()) return -ENOENT;
  std::string& d = it->second;
  if (d.size() < static_cast<size_t>(off) + size) d.resize(static_cast<size_t>(off) + size);
  memcpy(d.data() + off, buf, size);
  return static_cast<int>(size);
}

int Fsync(const char* path, int, struct fuse_file_info*) {
  Enter("fsync", path);
  return 0;
}

int Unlink(const char* path) {
  Enter("unlink", path);
  return g_files.erase(path) ? 0 : -ENOENT;
}

// No caching in the kernel: every access is a request that the gate can hold.
void* Init(struct fuse_conn_info*, struct fuse_config* cfg) {
  cfg->direct_io = 1;
  cfg->kernel_cache = 0;
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s MOUNTPOINT GATE_FILE LOG_FILE\n", argv[0]);
    return 2;
  }
  g_gate = argv[2];
  g_log = argv[3];
  struct fuse_operations ops = {};
  ops.getattr = GetAttr;
  ops.readdir = ReadDir;
  ops.create = Create;
  ops.open = Open;
  ops.truncate = Truncate;
  ops.read = Read;
  ops.write = Write;
  ops.fsync = Fsync;
  ops.unlink = Unlink;
  ops.init = Init;
  // -f foreground, -s single-threaded.
  char* args[] = {argv[0],
                  argv[1],
                  const_cast<char*>("-f"),
                  const_cast<char*>("-s"),
                  const_cast<char*>("-o"),
                  const_cast<char*>("fsname=kw-blockfs,subtype=kw-blockfs"),
                  nullptr};
  return fuse_main(6, args, &ops, nullptr);
}
