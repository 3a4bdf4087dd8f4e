// Calibration statistics: streaming accumulation against sums taken token by token on the
// host (float64 plain loops), chunking and row strides, the two-stream cross-Gram, NaN/Inf
// rows, merging (also from threads); the STATS.safetensors writer/reader round trip and its
// strict validation of untrusted files.
#include "compress_test_util.hpp"
#include "io/io_test_util.hpp"

#include <filesystem>
#include <thread>

using namespace lrtest;
using lowrank::test::scratch_dir;

namespace {

double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
    REQUIRE(a.size() == b.size());
    double top = 0, worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        top = std::max(top, std::abs(b[i]));
        worst = std::max(worst, std::abs(a[i] - b[i]));
    }
    return top > 0 ? worst / top : worst;
}

std::vector<double> abs_sums(const hmat& rows) {
    std::vector<double> s(rows.cols, 0.0);
    for (std::size_t t = 0; t < rows.rows; ++t)
        for (std::size_t j = 0; j < rows.cols; ++j) s[j] += std::abs(rows(t, j));
    return s;
}

const std::string sha_a(64, 'a'), sha_b(64, 'b');

}  // namespace

TEST_CASE_TEMPLATE("stats accumulator: Gram, |x| sums and token count equal token-by-token float64 sums", C,
                   LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    typename B::context ctx;
    const std::size_t N = 53, n = 7;
    const hmat rows = activation_rows(N, n, 3);
    const auto f = to_float(rows);
    for (std::size_t chunk : {1u, 8u, 1000u}) {
        CAPTURE(chunk);
        stats_accumulator<typename B::context> acc(ctx, n, false, chunk);
        REQUIRE(acc.add(f.data(), 20) == status::ok);                 // three calls of uneven length
        REQUIRE(acc.add(std::span<const float>(f.data() + 20 * n, 13 * n)) == status::ok);
        REQUIRE(acc.add(f.data() + 33 * n, 20, n) == status::ok);
        CHECK(acc.tokens() == N);
        const input_stats s = acc.take();
        CHECK(s.tokens == N);
        CHECK(s.channels == n);
        CHECK_FALSE(s.two_stream());
        CHECK(max_rel_diff(s.gram, gram_of_rows(rows)) < 1e-14);
        CHECK(max_rel_diff(s.abs_sum, abs_sums(rows)) < 1e-14);
        const auto mean = s.mean_abs();
        CHECK(mean[2] == doctest::Approx(abs_sums(rows)[2] / double(N)));
        CHECK(acc.tokens() == 0);  // take() restarts
        CHECK(acc.take().gram == std::vector<double>(n * n, 0.0));
    }
}

TEST_CASE_TEMPLATE("stats accumulator: padded rows, two-stream cross-Gram, NaN rows and misuse", C, LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using Ctx = typename B::context;
    Ctx ctx;
    const std::size_t N = 19, n = 5, ld = 8;
    const hmat x = activation_rows(N, n, 5), xr = activation_rows(N, n, 6);
    std::vector<float> px(N * ld, 1e30f), pr(N * ld, -1e30f);  // padding must never be read
    for (std::size_t t = 0; t < N; ++t)
        for (std::size_t j = 0; j < n; ++j) {
            px[t * ld + j] = float(x(t, j));
            pr[t * ld + j] = float(xr(t, j));
        }
    stats_accumulator<Ctx> two(ctx, n, true, 4);
    REQUIRE(two.add_pair(px.data(), pr.data(), N, ld) == status::ok);
    const input_stats s = two.take();
    REQUIRE(s.two_stream());
    CHECK(max_rel_diff(s.gram, gram_of_rows(x)) < 1e-14);
    CHECK(max_rel_diff(s.ref_gram, gram_of_rows(xr)) < 1e-14);
    CHECK(max_rel_diff(s.cross, cross_of_rows(xr, x)) < 1e-14);  // C = Σ x̄ xᵀ
    CHECK(max_rel_diff(s.abs_sum, abs_sums(x)) < 1e-14);

    stats_accumulator<Ctx> one(ctx, n);
    CHECK_THROWS_AS(one.add_pair(px.data(), pr.data(), N, ld), lowrank::invalid_argument);
    CHECK_THROWS_AS(two.add(px.data(), N, ld), lowrank::invalid_argument);
    CHECK_THROWS_AS(one.add(std::span<const float>(px.data(), n + 1)), shape_error);
    CHECK_THROWS_AS(one.add(px.data(), 1, n - 1), shape_error);
    CHECK_THROWS_AS(stats_accumulator<Ctx>(ctx, 0), shape_error);

    REQUIRE(one.add(px.data(), 3, ld) == status::ok);
    px[1 * ld + 2] = std::numeric_limits<float>::quiet_NaN();
    CHECK(one.add(px.data(), 3, ld) == status::nonfinite_input);  // nothing of this call is added
    px[1 * ld + 2] = std::numeric_limits<float>::infinity();
    CHECK(one.add(px.data(), 3, ld) == status::nonfinite_input);
    CHECK(one.tokens() == 3);
    px[1 * ld + 2] = float(x(1, 2));
    const input_stats part = one.take();
    hmat first3{3, n, std::vector<double>(x.a.begin(), x.a.begin() + 3 * n)};
    CHECK(max_rel_diff(part.gram, gram_of_rows(first3)) < 1e-14);
}

TEST_CASE_TEMPLATE("stats merge: per-thread accumulators merged into shared statistics equal one pass", C,
                   LOWRANK_CPU_CONFIGS) {
    using B = typename C::backend;
    using Ctx = typename B::context;
    const std::size_t N = 64, n = 6, threads = 4;
    const hmat rows = activation_rows(N, n, 9);
    const auto f = to_float(rows);
    shared_input_stats shared(n);
    std::vector<std::thread> pool;
    for (std::size_t p = 0; p < threads; ++p)
        pool.emplace_back([&, p] {
            Ctx ctx;
            stats_accumulator<Ctx> acc(ctx, n);
            const std::size_t per = N / threads;
            (void)acc.add(f.data() + p * per * n, per);
            shared.merge(acc.take());
        });
    for (auto& t : pool) t.join();
    const input_stats s = shared.take();
    CHECK(s.tokens == N);
    CHECK(max_rel_diff(s.gram, gram_of_rows(rows)) < 1e-14);
    CHECK(max_rel_diff(s.abs_sum, abs_sums(rows)) < 1e-14);
    CHECK(shared.take().tokens == 0);
    input_stats a = input_stats::zeros(n), b = input_stats::zeros(n + 1), c = input_stats::zeros(n, true);
    CHECK_THROWS_AS(a.merge(b), shape_error);
    CHECK_THROWS_AS(a.merge(c), shape_error);
}

namespace {

stats_provenance prov() {
    stats_provenance p;
    p.model_sha256 = sha_a;
    p.text_sha256 = sha_b;
    p.windows = 4;
    p.context = 128;
    p.seed = 7;
    p.mode = "sequential";
    p.extra = {{"text", "austen.txt"}};
    return p;
}

input_stats sample_stats(std::size_t n, bool two, std::uint64_t seed) {
    xtensor_backend::context ctx;
    const hmat x = activation_rows(11, n, seed), xr = activation_rows(11, n, seed + 1);
    stats_accumulator<xtensor_backend::context> acc(ctx, n, two);
    const auto fx = to_float(x), fr = to_float(xr);
    if (two)
        (void)acc.add_pair(fx.data(), fr.data(), 11);
    else
        (void)acc.add(fx.data(), 11);
    return acc.take();
}

/// Writes a stats-like safetensors file with the given tensors and the manifest of `inputs`.
void write_raw(const std::string& path, const std::vector<stats_entry>& inputs,
               const std::vector<std::pair<std::string, std::vector<double>>>& f64, const std::vector<shape_t>& shapes,
               std::uint64_t tokens = 11, const std::string& format = stats_format) {
    std::vector<safetensors_tensor> ts;
    for (std::size_t i = 0; i < f64.size(); ++i)
        ts.push_back({f64[i].first, safetensors_dtype::F64, shapes[i], std::as_bytes(std::span<const double>(f64[i].second))});
    static std::uint64_t tok;
    tok = tokens;
    for (const auto& e : inputs)
        ts.push_back({e.name + ".tokens", safetensors_dtype::U64, {1}, std::as_bytes(std::span<const std::uint64_t>(&tok, 1))});
    safetensors_save(path, ts,
                     {{"format", format},
                      {"lowrank.version", "1"},
                      {"lowrank.stats", detail::stats_io::manifest(prov(), inputs).dump()}});
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const lowrank::error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("stats file: round trip of provenance and statistics, one input at a time") {
    scratch_dir dir;
    const std::string path = dir.file("STATS.safetensors");
    const input_stats a = sample_stats(5, false, 1), b = sample_stats(3, true, 2);
    {
        stats_writer w(path, prov(), {{"layers.0.attn_in", 5, false}, {"layers.0.mlp_in", 3, true}});
        CHECK(w.next_name() == "layers.0.attn_in");
        w.write("layers.0.attn_in", a);
        CHECK_FALSE(std::filesystem::exists(path));  // nothing under the final name before commit
        w.write("layers.0.mlp_in", b);
        CHECK(w.next_name().empty());
        w.commit();
    }
    stats_file f(path);
    CHECK(f.provenance().model_sha256 == sha_a);
    CHECK(f.provenance().text_sha256 == sha_b);
    CHECK(f.provenance().windows == 4);
    CHECK(f.provenance().context == 128);
    CHECK(f.provenance().seed == 7);
    CHECK(f.provenance().mode == "sequential");
    CHECK(f.provenance().extra["text"] == "austen.txt");
    REQUIRE(f.inputs().size() == 2);
    CHECK(f.inputs()[1].name == "layers.0.mlp_in");
    CHECK(f.inputs()[1].two_stream);
    const input_stats la = f.load("layers.0.attn_in"), lb = f.load("layers.0.mlp_in");
    CHECK(la.gram == a.gram);
    CHECK(la.abs_sum == a.abs_sum);
    CHECK(la.tokens == a.tokens);
    CHECK(lb.cross == b.cross);
    CHECK(lb.ref_gram == b.ref_gram);
    CHECK_NOTHROW(f.require_model(sha_a));
    const std::string e = error_of([&] { f.require_model(sha_b); });
    CHECK(e.find(path) != std::string::npos);
    CHECK(e.find("computed for the model") != std::string::npos);
    CHECK_THROWS_AS(f.load("nope"), io_error);
}

TEST_CASE("stats writer: misuse is refused and leaves no file") {
    scratch_dir dir;
    const std::string path = dir.file("s.safetensors");
    const input_stats a = sample_stats(4, false, 3);
    stats_provenance bad = prov();
    bad.model_sha256 = "xyz";
    CHECK_THROWS_AS(stats_writer(path, bad, {{"x", 4, false}}), lowrank::invalid_argument);
    bad = prov();
    bad.mode = "other";
    CHECK_THROWS_AS(stats_writer(path, bad, {{"x", 4, false}}), lowrank::invalid_argument);
    CHECK_THROWS_AS(stats_writer(path, prov(), {}), lowrank::invalid_argument);
    CHECK_THROWS_AS(stats_writer(path, prov(), {{"x", 4, false}, {"x", 4, false}}), lowrank::invalid_argument);
    {
        stats_writer w(path, prov(), {{"x", 4, false}, {"y", 4, false}});
        CHECK_THROWS_AS(w.write("y", a), lowrank::invalid_argument);          // out of order
        CHECK_THROWS_AS(w.write("x", sample_stats(5, false, 4)), lowrank::invalid_argument);  // wrong n
        input_stats nan = a;
        nan.gram[3] = std::numeric_limits<double>::quiet_NaN();
        CHECK_THROWS_AS(w.write("x", nan), lowrank::invalid_argument);
        input_stats none = a;
        none.tokens = 0;
        CHECK_THROWS_AS(w.write("x", none), lowrank::invalid_argument);
        w.write("x", a);
        CHECK_THROWS_AS(w.commit(), lowrank::invalid_argument);  // "y" missing
    }
    CHECK_FALSE(std::filesystem::exists(path));
    CHECK(lowrank::test::no_temp_files(dir.path));
}

TEST_CASE("stats reader: untrusted files get an io_error naming the file and the tensor") {
    scratch_dir dir;
    const std::string path = dir.file("bad.safetensors");
    const std::size_t n = 3;
    const std::vector<stats_entry> one{{"in", n, false}};
    std::vector<double> g = {4, 1, 0, 1, 3, 1, 0, 1, 2}, s = {1, 2, 3};
    const std::vector<shape_t> shapes{{n, n}, {n}};

    write_raw(path, one, {{"in.gram", g}, {"in.abs_sum", s}}, shapes);
    CHECK_NOTHROW(stats_file(path).load("in"));

    auto load_error = [&](std::vector<double> gg, std::vector<double> ss, std::uint64_t tokens = 11) {
        write_raw(path, one, {{"in.gram", gg}, {"in.abs_sum", ss}}, shapes, tokens);
        return error_of([&] { (void)stats_file(path).load("in"); });
    };
    auto nan = g;
    nan[4] = std::numeric_limits<double>::quiet_NaN();
    std::string e = load_error(nan, s);
    CHECK(e.find(path) != std::string::npos);
    CHECK(e.find("in.gram") != std::string::npos);
    CHECK(e.find("NaN/Inf") != std::string::npos);
    CHECK(e.find("byte offset") != std::string::npos);
    auto inf = s;
    inf[0] = std::numeric_limits<double>::infinity();
    CHECK(load_error(g, inf).find("in.abs_sum") != std::string::npos);
    auto asym = g;
    asym[1] = 1.5;
    CHECK(load_error(asym, s).find("not symmetric") != std::string::npos);
    auto negdiag = g;
    negdiag[8] = -1;
    CHECK(load_error(negdiag, s).find("diagonal entry 2 is negative") != std::string::npos);
    auto negsum = s;
    negsum[1] = -1;
    CHECK(load_error(g, negsum).find("negative") != std::string::npos);
    CHECK(load_error(g, s, 0).find("token count is 0") != std::string::npos);

    // Structural problems are found when the file is opened.
    auto open_error = [&] { return error_of([&] { stats_file f(path); }); };
    write_raw(path, one, {{"in.gram", g}}, {{n, n}});
    CHECK(open_error().find("'in.abs_sum' declared by the manifest is missing") != std::string::npos);
    write_raw(path, one, {{"in.gram", g}, {"in.abs_sum", s}, {"stray", s}}, {{n, n}, {n}, {n}});
    CHECK(open_error().find("'stray' is not part of any declared input") != std::string::npos);
    write_raw(path, one, {{"in.gram", g}, {"in.abs_sum", g}}, {{n, n}, {n, n}});
    CHECK(open_error().find("expected F64 (3)") != std::string::npos);
    write_raw(path, one, {{"in.gram", g}, {"in.abs_sum", s}}, shapes, 11, "lowrank.factorized");
    CHECK(open_error().find("not a calibration stats file") != std::string::npos);
    {
        const std::vector<float> gf(g.begin(), g.end());
        static std::uint64_t tok = 11;
        safetensors_save(path,
                         {{"in.gram", safetensors_dtype::F32, {n, n}, std::as_bytes(std::span<const float>(gf))},
                          {"in.abs_sum", safetensors_dtype::F64, {n}, std::as_bytes(std::span<const double>(s))},
                          {"in.tokens", safetensors_dtype::U64, {1}, std::as_bytes(std::span<const std::uint64_t>(&tok, 1))}},
                         {{"format", stats_format}, {"lowrank.version", "1"},
                          {"lowrank.stats", detail::stats_io::manifest(prov(), one).dump()}});
        CHECK(open_error().find("'in.gram' is F32") != std::string::npos);
    }
    for (const std::string& manifest :
         {std::string("{not json"), std::string("[]"), std::string(R"({"model_sha256": "abc"})")}) {
        static std::uint64_t tok = 11;
        safetensors_save(path,
                         {{"in.gram", safetensors_dtype::F64, {n, n}, std::as_bytes(std::span<const double>(g))},
                          {"in.abs_sum", safetensors_dtype::F64, {n}, std::as_bytes(std::span<const double>(s))},
                          {"in.tokens", safetensors_dtype::U64, {1}, std::as_bytes(std::span<const std::uint64_t>(&tok, 1))}},
                         {{"format", stats_format}, {"lowrank.version", "1"}, {"lowrank.stats", manifest}});
        const std::string m = open_error();
        CHECK(m.find(path) != std::string::npos);
        CHECK(m.find("manifest") != std::string::npos);
    }
}
