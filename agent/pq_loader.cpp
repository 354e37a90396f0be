#include "agent/pq_loader.h"

#include <dlfcn.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

namespace kw {
namespace {

constexpr const char* kSoname = "libpq.so.5";

// Every libpq function keepwatch calls: X(return type, name, (parameters), (arguments)).
// The definitions below redeclare libpq-fe.h's extern "C" functions, so a parameter list
// that differs from the header's is a compile error, and each pointer's type is taken
// from the header with decltype.  PQconninfoParse and PQfreemem, which must also work
// without libpq, are written out by hand after the list.
#define KW_LIBPQ_FUNCTIONS(X)                                                                    \
  X(PGconn*, PQconnectStartParams,                                                               \
    (const char* const* keywords, const char* const* values, int expand_dbname),                 \
    (keywords, values, expand_dbname))                                                           \
  X(PostgresPollingStatusType, PQconnectPoll, (PGconn * conn), (conn))                           \
  X(ConnStatusType, PQstatus, (const PGconn* conn), (conn))                                      \
  X(char*, PQerrorMessage, (const PGconn* conn), (conn))                                         \
  X(int, PQsocket, (const PGconn* conn), (conn))                                                 \
  X(int, PQsetnonblocking, (PGconn * conn, int arg), (conn, arg))                                \
  X(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn * conn, PQnoticeProcessor proc, void* arg), \
    (conn, proc, arg))                                                                           \
  X(void, PQfinish, (PGconn * conn), (conn))                                                     \
  X(int, PQsendQuery, (PGconn * conn, const char* query), (conn, query))                         \
  X(int, PQflush, (PGconn * conn), (conn))                                                       \
  X(int, PQconsumeInput, (PGconn * conn), (conn))                                                \
  X(int, PQisBusy, (PGconn * conn), (conn))                                                      \
  X(PGresult*, PQgetResult, (PGconn * conn), (conn))                                             \
  X(ExecStatusType, PQresultStatus, (const PGresult* res), (res))                                \
  X(char*, PQresultErrorMessage, (const PGresult* res), (res))                                   \
  X(char*, PQresultErrorField, (const PGresult* res, int fieldcode), (res, fieldcode))           \
  X(int, PQntuples, (const PGresult* res), (res))                                                \
  X(int, PQnfields, (const PGresult* res), (res))                                                \
  X(char*, PQfname, (const PGresult* res, int field_num), (res, field_num))                      \
  X(char*, PQgetvalue, (const PGresult* res, int tup_num, int field_num),                        \
    (res, tup_num, field_num))                                                                   \
  X(int, PQgetisnull, (const PGresult* res, int tup_num, int field_num),                         \
    (res, tup_num, field_num))                                                                   \
  X(void, PQclear, (PGresult * res), (res))                                                      \
  X(void, PQconninfoFree, (PQconninfoOption * options), (options))

struct Libpq {
  Status status;
#define KW_POINTER(ret, name, params, args) decltype(&::name) name = nullptr;
  KW_LIBPQ_FUNCTIONS(KW_POINTER)
  KW_POINTER(, PQconninfoParse, , )
  KW_POINTER(, PQfreemem, , )
#undef KW_POINTER
};

// Opens libpq and looks every function up.  On any failure the answer has none of them
// and says why, so that no caller can reach half a library.
Libpq Open() {
  Libpq lib;
  auto fail = [](const std::string& why) {
    Libpq failed;
    failed.status =
        Status::Error("cannot load " + std::string(kSoname) + " (package libpq5): " + why);
    return failed;
  };
  // RTLD_NOW: a symbol missing from libpq's own dependencies fails here, not in a probe.
  // RTLD_LOCAL: only Open() looks libpq's symbols up.  Never closed: connections and
  // their memory may live until exit.
  void* handle = dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
  if (!handle) return fail(dlerror());
#define KW_RESOLVE(ret, name, params, args)                              \
  lib.name = reinterpret_cast<decltype(lib.name)>(dlsym(handle, #name)); \
  if (!lib.name) {                                                       \
    dlclose(handle);                                                     \
    return fail("it has no " #name);                                     \
  }
  KW_LIBPQ_FUNCTIONS(KW_RESOLVE)
  KW_RESOLVE(, PQconninfoParse, , )
  KW_RESOLVE(, PQfreemem, , )
#undef KW_RESOLVE
  return lib;
}

// A function-local static is initialised once, by the first thread to get here, while
// any other waits for it (C++11 [stmt.dcl]): the same guarantee as std::call_once.  It is
// never destroyed: a probe thread still inside libpq at exit may call in afterwards.
const Libpq& Lib() {
  static const Libpq* const lib = new Libpq(Open());
  return *lib;
}

// What a function returns when libpq is not loaded.  Only PQconnectStartParams and the
// freeing functions can be reached then (no PGconn or PGresult exists without libpq):
// nullptr, and nothing to free.
template <class R>
R Missing() {
  if constexpr (!std::is_void_v<R>) return R{};
}

}  // namespace

Status LoadLibpq() { return Lib().status; }

}  // namespace kw

extern "C" {

#define KW_TRAMPOLINE(ret, name, params, args)            \
  ret name params {                                       \
    const kw::Libpq& lib = kw::Lib();                     \
    return lib.name ? lib.name args : kw::Missing<ret>(); \
  }
KW_LIBPQ_FUNCTIONS(KW_TRAMPOLINE)
#undef KW_TRAMPOLINE

// Without libpq, the answer is the reason, in memory that PQfreemem (free()) releases.
PQconninfoOption* PQconninfoParse(const char* conninfo, char** errmsg) {
  const kw::Libpq& lib = kw::Lib();
  if (lib.PQconninfoParse) return lib.PQconninfoParse(conninfo, errmsg);
  if (errmsg) *errmsg = strdup(lib.status.message().c_str());
  return nullptr;
}

// libpq's own PQfreemem is free(); used without libpq on PQconninfoParse's message.
void PQfreemem(void* ptr) {
  const kw::Libpq& lib = kw::Lib();
  if (lib.PQfreemem)
    lib.PQfreemem(ptr);
  else
    free(ptr);
}

}  // extern "C"
