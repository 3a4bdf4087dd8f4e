// The JSON-reading parts of the installed package (lowrank::lowrank): a catalog architecture,
// a γ read from its JSON form and walked by the model layer. Exits non-zero if anything is wrong.
#include <lowrank/design/design.hpp>
#include <lowrank/model/plan.hpp>

#include <cstdio>

int main() {
    const auto& a = lowrank::design::find_architecture("llama2-7b");
    const auto g = lowrank::design::from_json(a, nlohmann::json::parse(
        R"({"model": "llama2-7b", "method": "svd", "indexing": 1, "layers": [3], "tensors": ["q"], "ranks": {"q": 64}})"));
    const auto ws = lowrank::model::weights_of(a, g);
    const bool ok = a.total_parameters() == 6738415616ull && ws.size() == 1 && ws[0].layer == 2 &&
                    ws[0].role == lowrank::model::role::q && ws[0].parameters_after() == (4096u + 4096u) * 64u &&
                    ws[0].saves();
    std::printf("consumer_model: %s %s\n", lowrank::design::stable_id(a, g).c_str(), ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
}
