// weft.log through the SDK, from C++ with the standard library.
#include <string>
#include <vector>
#include <weft.h>

namespace {
template <typename T> T twice(T value) { return value + value; }
}

int main() {
    std::vector<std::string> words{"hello", "from", "C++"};
    std::string line;
    for (const auto &word : words) {
        if (!line.empty())
            line += ' ';
        line += word;
    }
    line += ", twice 21 is " + std::to_string(twice(21));
    weft_log(line.data(), line.size());
}
