// text.cpp - strings, unordered_map, map, algorithms; throws ParseError for
// main.cpp to catch.
#include "common.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

static Tracer text_global("text.o global");

std::vector<std::string> split(const std::string &s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

std::vector<std::pair<std::string, int>> top_words(const std::string &text, size_t n) {
    std::unordered_map<std::string, int> counts;
    std::string word;
    auto flush = [&] {
        if (!word.empty()) {
            ++counts[word];
            word.clear();
        }
    };
    for (char c : text) {
        if (std::isalpha(static_cast<unsigned char>(c)))
            word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        else
            flush();
    }
    flush();
    std::vector<std::pair<std::string, int>> v(counts.begin(), counts.end());
    std::sort(v.begin(), v.end(), [](const auto &a, const auto &b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (v.size() > n) v.resize(n);
    Stats<int> st;
    for (const auto &p : v) st.add(p.second);
    registry().add("top_words", int(st.sum()));
    return v;
}

static std::string trim(const std::string &s) {
    auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    auto e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

std::map<std::string, std::string> parse_config(const std::string &src) {
    std::map<std::string, std::string> out;
    int line_no = 0;
    for (const std::string &raw : split(src, '\n')) {
        ++line_no;
        std::string line = trim(raw);
        if (line.empty() || line[0] == '#') continue;
        auto eq = line.find('=');
        if (eq == std::string::npos) throw ParseError("missing '=' in \"" + line + "\"", line_no);
        std::string key = trim(line.substr(0, eq));
        if (key.empty()) throw ParseError("empty key", line_no);
        if (out.count(key)) throw ParseError("duplicate key " + key, line_no);
        out[key] = trim(line.substr(eq + 1));
    }
    return out;
}

std::string rot13(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](char c) -> char {
        if (c >= 'a' && c <= 'z') return char('a' + (c - 'a' + 13) % 26);
        if (c >= 'A' && c <= 'Z') return char('A' + (c - 'A' + 13) % 26);
        return c;
    });
    return s;
}

std::unique_ptr<Shape> square_from_text(const std::string &s) {
    size_t pos = 0;
    double side = std::stod(s, &pos); // std::invalid_argument from libstdc++
    if (pos != s.size()) throw ParseError("trailing characters after " + s.substr(0, pos), 1);
    return std::make_unique<Square>(side);
}
