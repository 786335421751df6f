// Vector loops written with GCC's vector extension (16 lanes: one AVX-512
// register, two AVX2 ones, four SSE ones) are built once per instruction set
// and chosen when the library loads (target_clones), so that a baseline
// x86-64 build still runs them on the machine's widest registers. Only the
// width changes between the builds: each lane's operations, and so every
// result's bits, are the same. Elsewhere (another architecture or compiler,
// AddressSanitizer builds) the one baseline build remains.
#pragma once

#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define OPENAMCT_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define OPENAMCT_VECTOR_CLONES
#endif

namespace openamct::algorithms::detail {

typedef float Floats16 __attribute__((vector_size(64)));
typedef uint32_t Uints16 __attribute__((vector_size(64)));
typedef int32_t Ints16 __attribute__((vector_size(64)));
constexpr unsigned kVectorLanes = 16;

}  // namespace openamct::algorithms::detail
