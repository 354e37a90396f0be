// libpq is loaded when it is first used, not linked: only PostgreSQL nodes need it, and
// with OpenSSL, Kerberos and LDAP behind it, it would cost every other node 2.6 MiB of
// resident memory (test/bench/RESULTS.md, "Memory").
//
// agent/pq_loader.cpp defines the libpq functions keepwatch calls (PQconnectStartParams,
// PQconninfoParse, ...) with libpq-fe.h's own signatures, so callers include libpq-fe.h
// and call them as usual.  The first call from any thread dlopen()s libpq.so.5 and
// resolves them all; a later call costs a check that this happened and an indirect call.
// When libpq cannot be loaded, nothing aborts: PQconnectStartParams returns nullptr,
// PQconninfoParse returns nullptr with LoadLibpq()'s message in *errmsg, and callers
// report that as they report any libpq failure.  To add a function, add it to the list
// in pq_loader.cpp.
#pragma once

#include "agent/status.h"

namespace kw {

// Loads libpq once per process (thread-safe; every call after the first returns the
// first one's answer).  Not OK when libpq.so.5 cannot be opened or lacks a function:
// "cannot load libpq.so.5 (package libpq5): ...".
Status LoadLibpq();

}  // namespace kw
