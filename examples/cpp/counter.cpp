// counter: logs `count 1` .. `count N` (N = argv[1], default 10), one line
// every 10 ms. The last count is kept in the key-value store under "count"
// (as decimal text), so a restarted copy goes on where it stopped. The C++
// version of examples/c/counter.c: the same SDK header, from C++.
#include <weft.h>

#include <cstdlib>
#include <string>

namespace {

// A decimal count, or `fallback` if `text` is not one.
long parse_count(const std::string &text, long fallback) {
    char *end = nullptr;
    long n = std::strtol(text.c_str(), &end, 10);
    return !text.empty() && *end == '\0' && n >= 0 ? n : fallback;
}

class Counter {
  public:
    explicit Counter(long limit) : limit_(limit) {
        char stored[32];
        if (weft_kv_get_str("count", stored, sizeof stored) >= 0)
            count_ = parse_count(stored, 0);
    }

    void run() {
        while (count_ < limit_) {
            ++count_;
            const std::string line = "count " + std::to_string(count_);
            weft_log(line.data(), line.size());
            weft_kv_set_str("count", std::to_string(count_).c_str());
            if (count_ < limit_)
                weft_sleep_ms(10);
        }
    }

  private:
    long limit_;
    long count_ = 0;
};

} // namespace

int main(int argc, char **argv) {
    Counter(argc > 1 ? parse_count(argv[1], 10) : 10).run();
    return 0;
}
