// libFuzzer's start-up hook, the same for every target.
#include <google/protobuf/stubs/logging.h>

// protobuf logs every string field that is not UTF-8; the fuzzer makes
// thousands a second, which would only slow it down.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    google::protobuf::SetLogHandler(nullptr);
    return 0;
}
