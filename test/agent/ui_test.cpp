#include "agent/ui.h"

#include <doctest/doctest.h>

#include <string>

#include "agent/api.h"

using namespace kw;

TEST_CASE("/ui serves the status page as HTML for GET, HEAD and OPTIONS") {
  SnapshotBox box{std::make_shared<Snapshot>()};
  ApiSources src;
  src.snapshots = &box;
  for (const char* method : {"GET", "HEAD", "OPTIONS"}) {
    Answer a = HandleRequest(src, method, "/ui", {});
    CHECK(a.status == 200);
    CHECK(a.content_type == "text/html; charset=utf-8");
    CHECK(a.body == StatusPageHtml());
  }
  CHECK(HandleRequest(src, "POST", "/ui", {}).status == 405);
  CHECK(HandleRequest(src, "GET", "/ui/", {}).status == 404);
}

TEST_CASE("the status page is self-contained and reads /status and /cluster") {
  std::string page(StatusPageHtml());
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find("</html>") != std::string::npos);
  CHECK(page.find("<meta charset=\"utf-8\">") != std::string::npos);
  // Same origin only: no absolute URL, no external stylesheet, script or font.
  CHECK(page.find("http://") == std::string::npos);
  CHECK(page.find("https://") == std::string::npos);
  CHECK(page.find("<link") == std::string::npos);
  CHECK(page.find("src=") == std::string::npos);
  CHECK(page.find("getJson(\"/status\")") != std::string::npos);
  CHECK(page.find("getJson(\"/cluster\")") != std::string::npos);
  CHECK(page.find("setInterval(refresh, 2000)") != std::string::npos);
  // Strings from probes are never parsed as markup.
  CHECK(page.find("innerHTML") == std::string::npos);
}
