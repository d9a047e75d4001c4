// errors.cpp - exceptions thrown by JIT'd code, passing through frames of
// libstdc++ (a host library) and caught in JIT'd code again.
#include "common.h"

#include <algorithm>
#include <streambuf>

static Tracer errors_global("errors.o global");

namespace {
// A stream buffer that holds `capacity` characters and then throws. Writing
// to a std::ostream over it calls libstdc++'s compiled ostream code, which
// calls back our overflow()/xsputn(); with exceptions(badbit) libstdc++
// catches our exception, sets badbit and rethrows it.
class SmallBuf : public std::streambuf {
  public:
    explicit SmallBuf(size_t cap) : cap_(cap) {}
    const std::string &data() const { return data_; }

  protected:
    int_type overflow(int_type ch) override {
        if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
        if (data_.size() >= cap_) throw BufferFull(data_.size());
        data_ += traits_type::to_char_type(ch);
        return ch;
    }
    std::streamsize xsputn(const char *s, std::streamsize n) override {
        for (std::streamsize i = 0; i < n; ++i) overflow(traits_type::to_int_type(s[i]));
        return n;
    }

  private:
    size_t cap_;
    std::string data_;
};

// An input buffer that fails (throws) when reading position `fail_at`.
class FailingInBuf : public std::streambuf {
  public:
    FailingInBuf(const std::string &text, size_t fail_at) : text_(text), fail_at_(fail_at) {}

  protected:
    int_type underflow() override {
        if (pos_ >= text_.size()) return traits_type::eof();
        if (pos_ >= fail_at_) throw std::runtime_error("read error at " + std::to_string(pos_));
        ch_ = text_[pos_++];
        setg(&ch_, &ch_, &ch_ + 1); // one character at a time
        return traits_type::to_int_type(ch_);
    }

  private:
    std::string text_;
    size_t fail_at_, pos_ = 0;
    char ch_ = 0;
};
} // namespace

std::string stream_into_small_buffer(const std::string &text, size_t capacity) {
    SmallBuf buf(capacity);
    std::ostream os(&buf);
    os.exceptions(std::ios::badbit);
    os << text << ' ' << 12345 << '\n'; // throws BufferFull out of libstdc++
    return buf.data();
}

std::vector<int> sort_refusing(std::vector<int> v, int poison) {
    std::sort(v.begin(), v.end(), [poison](int a, int b) {
        if (a == poison || b == poison) throw ParseError("poisoned value " + std::to_string(poison), poison);
        return a < b;
    });
    return v;
}

int getline_until_failure(const std::string &text, size_t fail_at, std::vector<std::string> &lines) {
    FailingInBuf buf(text, fail_at);
    std::istream in(&buf);
    in.exceptions(std::ios::badbit);
    std::string line;
    try {
        while (std::getline(in, line)) lines.push_back(line); // libstdc++'s getline
    } catch (const std::runtime_error &e) {
        std::printf("  getline: caught \"%s\" after %zu lines, bad=%d\n", e.what(), lines.size(), int(in.bad()));
        return -1;
    }
    return int(lines.size());
}
