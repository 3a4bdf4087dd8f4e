// .npy reader/writer. Reference: the NumPy format specification (numpy.lib.format) — the
// exact header bytes numpy writes are spelled out below, and hand-built files stand in for
// numpy-written ones (Fortran order, versions 2.0/3.0, other dtypes), so no numpy is needed.
#include "lowrank/io/npy.hpp"

#include "io/io_test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <numeric>

using lowrank::io_error;
using lowrank::npy_convert;
using lowrank::shape_t;
using lowrank::test::expect_io_error;
using lowrank::test::le;
using lowrank::test::raw;
using lowrank::test::scratch_dir;
using lowrank::test::write_bytes;

namespace {

// A .npy file as numpy would write it (version 1.0, 64-byte aligned header).
std::string npy_bytes(const std::string& descr, const std::string& shape, bool fortran, const std::string& data,
                      int major = 1) {
    std::string h = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                    ", 'shape': " + shape + ", }";
    const std::size_t prefix = major == 1 ? 10 : 12;
    std::size_t total = prefix + h.size() + 1;
    h.append((64 - total % 64) % 64, ' ');
    h += '\n';
    std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0' +
                      le(h.size(), major == 1 ? 2 : 4) + h + data;
    return out;
}

}  // namespace

TEST_CASE("npy: writer emits numpy's exact header bytes") {
    scratch_dir dir;
    const std::string p = dir.file("a.npy");
    const float v[6] = {1, 2, 3, 4, 5, 6};
    lowrank::npy_save(p, v, shape_t{2, 3});
    const std::string bytes = lowrank::test::read_bytes(p);
    // np.save of np.arange(1,7,dtype='<f4').reshape(2,3): 128-byte header, data after it.
    std::string expected = npy_bytes("<f4", "(2, 3)", false, raw(v, 6));
    CHECK(bytes.size() == 128 + 24);
    CHECK(bytes == expected);
    CHECK(bytes.substr(10, 59) == "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    CHECK(bytes[127] == '\n');
    CHECK(lowrank::test::no_temp_files(dir.path));

    // 1-d shapes are written as 1-tuples "(n,)", 0-d as "()".
    lowrank::npy_save(p, v, shape_t{6});
    CHECK(lowrank::test::read_bytes(p).find("'shape': (6,), }") != std::string::npos);
    lowrank::npy_save(p, v, shape_t{});
    CHECK(lowrank::test::read_bytes(p).find("'shape': (), }") != std::string::npos);
}

TEST_CASE_TEMPLATE("npy: round trips", T, float, double) {
    scratch_dir dir;
    const std::string p = dir.file("x.npy");
    for (const shape_t& shape : {shape_t{}, shape_t{1}, shape_t{7}, shape_t{3, 5}, shape_t{2, 3, 4},
                                 shape_t{2, 1, 3, 1, 2}, shape_t{0}, shape_t{4, 0, 3}, shape_t{1, 100000}}) {
        CAPTURE(lowrank::to_string(shape));
        std::vector<T> x(lowrank::numel(shape));
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(std::sin(0.37 * double(i)) * 1e3);
        lowrank::npy_save(p, x, shape);
        shape_t got;
        std::vector<T> y = lowrank::npy_load_as<T>(p, got);
        CHECK(got == shape);
        CHECK(y == x);  // bit-exact

        lowrank::npy_array a = lowrank::npy_load(p);
        CHECK(a.dtype == (sizeof(T) == 4 ? "f4" : "f8"));
        CHECK(a.shape == shape);
        CHECK(a.data.size() == x.size() * sizeof(T));
    }
    CHECK(lowrank::test::no_temp_files(dir.path));
}

TEST_CASE("npy: 0-d array holds one element") {
    scratch_dir dir;
    const std::string p = dir.file("s.npy");
    const double v = 3.25;
    lowrank::npy_save(p, &v, shape_t{});
    shape_t got{9};
    auto y = lowrank::npy_load_as<double>(p, got);
    CHECK(got.empty());
    REQUIRE(y.size() == 1);
    CHECK(y[0] == 3.25);
}

TEST_CASE("npy: header too long for version 1.0 is written as version 2.0 and read back") {
    scratch_dir dir;
    const std::string p = dir.file("many_dims.npy");
    shape_t shape(30000, 1);  // "1, " * 30000 > 65535 header bytes
    shape[7] = 2;
    std::vector<float> x = {1.5f, -2.5f};
    lowrank::npy_save(p, x, shape);
    const std::string bytes = lowrank::test::read_bytes(p);
    CHECK(static_cast<int>(bytes[6]) == 2);
    // NEP 1: version 2.0 stores the header length as a 4-byte little-endian integer at offset 8,
    // and the data starts on a 64-byte boundary (read here byte by byte, not with the reader's code)
    std::uint32_t header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    CHECK((12 + header_len) % 64 == 0);
    shape_t got;
    CHECK(lowrank::npy_load_as<float>(p, got) == x);
    CHECK(got == shape);
}

TEST_CASE("npy: Fortran-order input is returned in C order") {
    scratch_dir dir;
    const std::string p = dir.file("f.npy");
    // C-order A[i][j][k] = 100 i + 10 j + k for shape (2, 3, 4); Fortran order stores it with i fastest.
    const shape_t shape{2, 3, 4};
    std::vector<double> fortran;
    for (int k = 0; k < 4; ++k)
        for (int j = 0; j < 3; ++j)
            for (int i = 0; i < 2; ++i) fortran.push_back(100 * i + 10 * j + k);
    write_bytes(p, npy_bytes("<f8", "(2, 3, 4)", true, raw(fortran.data(), fortran.size())));
    shape_t got;
    auto c = lowrank::npy_load_as<double>(p, got);
    CHECK(got == shape);
    std::size_t n = 0;
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 4; ++k) CHECK(c[n++] == 100 * i + 10 * j + k);

    // 2-d float32 (a transposed matrix), through npy_load too.
    const float m[6] = {1, 4, 2, 5, 3, 6};  // Fortran order of [[1,2,3],[4,5,6]]
    write_bytes(p, npy_bytes("<f4", "(2, 3)", true, raw(m, 6)));
    auto a = lowrank::npy_load(p);
    std::vector<float> v(6);
    std::memcpy(v.data(), a.data.data(), 24);
    CHECK(v == std::vector<float>{1, 2, 3, 4, 5, 6});
    // 1-d Fortran is the same as C.
    write_bytes(p, npy_bytes("<f4", "(6,)", true, raw(m, 6)));
    CHECK(lowrank::npy_load_as<float>(p, got) == std::vector<float>(m, m + 6));
}

TEST_CASE("npy: versions 2.0 and 3.0 are read") {
    scratch_dir dir;
    const std::string p = dir.file("v.npy");
    const float x[3] = {1, 2, 3};
    for (int major : {2, 3}) {
        write_bytes(p, npy_bytes("<f4", "(3,)", false, raw(x, 3), major));
        shape_t got;
        CHECK(lowrank::npy_load_as<float>(p, got) == std::vector<float>{1, 2, 3});
    }
}

TEST_CASE("npy: other dtypes, and conversion only when asked") {
    scratch_dir dir;
    const std::string p = dir.file("t.npy");
    shape_t got;

    const double d[2] = {0.1, -7.0};
    write_bytes(p, npy_bytes("<f8", "(2,)", false, raw(d, 2)));
    CHECK_THROWS_AS(lowrank::npy_load_as<float>(p, got), io_error);
    auto f = lowrank::npy_load_as<float>(p, got, npy_convert::to_requested);
    CHECK(f == std::vector<float>{0.1f, -7.0f});

    const std::int32_t i[3] = {-3, 0, 70000};
    write_bytes(p, npy_bytes("<i4", "(3,)", false, raw(i, 3)));
    CHECK(lowrank::npy_load_as<std::int32_t>(p, got) == std::vector<std::int32_t>{-3, 0, 70000});
    CHECK(lowrank::npy_load_as<double>(p, got, npy_convert::to_requested) == std::vector<double>{-3, 0, 70000});
    CHECK_THROWS_AS(lowrank::npy_load_as<std::int64_t>(p, got), io_error);

    const std::uint8_t u[2] = {255, 7};
    write_bytes(p, npy_bytes("|u1", "(2,)", false, raw(u, 2)));
    CHECK(lowrank::npy_load_as<double>(p, got, npy_convert::to_requested) == std::vector<double>{255, 7});
    CHECK(lowrank::npy_load(p).dtype == "u1");

    // float16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 2^-24 = 0x0001.
    const std::uint16_t h[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
    write_bytes(p, npy_bytes("<f2", "(2, 2)", false, raw(h, 4)));
    auto hf = lowrank::npy_load_as<float>(p, got, npy_convert::to_requested);
    CHECK(got == shape_t{2, 2});
    CHECK(hf == std::vector<float>{1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24)});

    const std::int64_t l[2] = {-1, 5};
    lowrank::npy_save(p, l, shape_t{2});
    CHECK(lowrank::test::read_bytes(p).find("'<i8'") != std::string::npos);
    CHECK(lowrank::npy_load_as<std::int64_t>(p, got) == std::vector<std::int64_t>{-1, 5});

    // A whole npy_array round-trips unchanged.
    auto a = lowrank::npy_load(p);
    lowrank::npy_save(dir.file("copy.npy"), a);
    CHECK(lowrank::test::read_bytes(dir.file("copy.npy")) == lowrank::test::read_bytes(p));
}

TEST_CASE("npy: malformed files are rejected with the file and offset named") {
    scratch_dir dir;
    const std::string p = dir.file("bad.npy");
    shape_t got;
    const float x[6] = {};
    auto load = [&] { (void)lowrank::npy_load_as<float>(p, got); };

    expect_io_error([&] { (void)lowrank::npy_load(dir.file("missing.npy")); }, dir.file("missing.npy"),
                   "cannot open");

    write_bytes(p, "");
    expect_io_error(load, p, "too short", 0);
    write_bytes(p, "PK\x03\x04 this is a zip");
    expect_io_error(load, p, "bad magic", 0);
    write_bytes(p, std::string("\x93NUMPX", 6) + "\x01");
    expect_io_error(load, p, "bad magic", 5);
    write_bytes(p, std::string("\x93NUMPY\x01\x00", 8));
    expect_io_error(load, p, "truncated");
    write_bytes(p, std::string("\x93NUMPY\x04\x00", 8) + le(10, 2) + "0123456789");
    expect_io_error(load, p, "unsupported .npy format version 4.0", 6);

    std::string good = npy_bytes("<f4", "(2, 3)", false, raw(x, 6));
    write_bytes(p, good.substr(0, 40));  // header cut short
    expect_io_error(load, p, "runs past the end of the file", 8);

    auto with_header = [&](const std::string& h) {
        write_bytes(p, std::string("\x93NUMPY\x01\x00", 8) + le(h.size(), 2) + h);
    };
    with_header("not a dict\n");
    expect_io_error(load, p, "expected '{'", 10);
    with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)\n");
    expect_io_error(load, p, "expected '}'");
    with_header("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }\n");
    expect_io_error(load, p, "True or False");
    with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }\n");
    expect_io_error(load, p, "malformed shape");
    with_header("{'descr': '<f4', 'fortran_order': False, }\n");
    expect_io_error(load, p, "no 'shape'");
    with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}\n");
    expect_io_error(load, p, "unexpected key 'extra'");
    with_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n");
    expect_io_error(load, p, "structured");

    // Unsupported dtypes: offset points at the descr value (10 + 10 bytes into the header).
    for (const char* d : {">f4", "|O", "<c8", "<c16", "<U3", "|V8", "<f16", "|f4"}) {
        CAPTURE(d);
        write_bytes(p, npy_bytes(d, "(2,)", false, std::string(64, '\0')));
        expect_io_error(load, p, "unsupported dtype", 20);
    }

    // Shape whose element or byte count overflows size_t.
    write_bytes(p, npy_bytes("<f4", "(4294967296, 4294967296, 2)", false, ""));
    expect_io_error(load, p, "more elements than size_t", 10);
    write_bytes(p, npy_bytes("<f8", "(4611686018427387904,)", false, ""));
    expect_io_error(load, p, "overflows size_t bytes", 10);
    write_bytes(p, npy_bytes("<f4", "(99999999999999999999999,)", false, ""));
    expect_io_error(load, p, "dimension overflows");

    // Data shorter / longer than the shape implies.
    write_bytes(p, good.substr(0, good.size() - 1));
    expect_io_error(load, p, "data is truncated", good.size() - 1);
    write_bytes(p, good + "xx");
    expect_io_error(load, p, "trailing bytes", good.size());

    // Exact dtype requested but the file holds another.
    write_bytes(p, good);
    expect_io_error([&] { (void)lowrank::npy_load_as<double>(p, got); }, p, "holds dtype f4, expected f8", 20);
    CHECK_NOTHROW(load());
}

TEST_CASE("npy: a failed save leaves no file and no temp file behind") {
    scratch_dir dir;
    const float x[2] = {1, 2};
    CHECK_THROWS_AS(lowrank::npy_save(dir.file("no/such/dir/x.npy"), x, shape_t{2}), io_error);
    CHECK_THROWS_AS(lowrank::npy_save(dir.file("y.npy"), std::vector<float>{1, 2, 3}, shape_t{2}),
                    lowrank::shape_error);
    CHECK(std::filesystem::is_empty(dir.path));
}
