// libFuzzer target for the gossip datagram path: unsealing (crypto.h) and decoding
// (wire.h) of arbitrary bytes.  Properties: never crash, never trip a sanitizer; every
// accepted message re-encodes to exactly the bytes it came from (the format has one
// encoding per message) and decodes again to the same value.
//   make fuzz            (clang++, -fsanitize=fuzzer,address,undefined; FUZZ_TIME=60)
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/gossip/crypto.h"
#include "agent/gossip/wire.h"

using namespace kw::gossip;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  static const Keyring keyring("fuzz-cluster", Key{});
  DropReason why = DropReason::kCount;
  (void)keyring.Open(in, &why);

  kw::Result<Message> msg = Decode(in);
  if (!msg.ok()) return 0;
  kw::Result<std::string> again = Encode(*msg);
  if (!again.ok() || *again != in) std::abort();
  kw::Result<Message> back = Decode(*again);
  if (!back.ok() || !(*back == *msg)) std::abort();
  return 0;
}
