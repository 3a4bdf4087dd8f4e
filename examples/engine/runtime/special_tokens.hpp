// Special-token matching shared by the tokenizers: where the next special token starts.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lowrank::runtime {

/// The earliest occurrence at or after `start` of one of the `specials` token strings
/// (`tokens[id]`), the longest one when several start there: {position, id}, or
/// {text.size(), -1} when none occurs. Empty token strings never match.
inline std::pair<std::size_t, int> find_special(std::string_view text, std::size_t start, const std::vector<int>& specials,
                                                const std::vector<std::string>& tokens) {
    std::size_t hit = text.size();
    int hit_id = -1;
    for (int id : specials) {
        const std::string& s = tokens[static_cast<std::size_t>(id)];
        if (s.empty()) continue;
        const std::size_t p = text.find(s, start);
        if (p != std::string_view::npos &&
            (p < hit || (p == hit && s.size() > tokens[static_cast<std::size_t>(hit_id)].size())))
            hit = p, hit_id = id;
    }
    return {hit, hit_id};
}

}  // namespace lowrank::runtime
