// Parts of a CPU training step, each with the result of the torch operator it stands in for, bit for bit
// (saesanity/sae/kernels.py: which, and how that is checked): the selections over the [B, d_sae]
// pre-activations, and the weight gradient of a sum of selected rows. Built on first use with the machine's C++
// compiler, -ffp-contract=off: the one float operation is the explicit fused multiply-add of the gradient.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>
#if defined(__AVX__) || defined(__SSE__)
#include <immintrin.h>
#endif

namespace {

typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));

__attribute__((always_inline)) inline f8 load8(const float* p) {
    f8 v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

// Bit s set when x[s] > t[s] (Strict) or x[s] >= t[s], for s in [0, 8).
template <bool Strict>
__attribute__((always_inline)) inline unsigned above_mask8(const float* x, const float* t) {
#if defined(__AVX__)
    const __m256 c = Strict ? _mm256_cmp_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(t), _CMP_GT_OQ)
                            : _mm256_cmp_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(t), _CMP_GE_OQ);
    return static_cast<unsigned>(_mm256_movemask_ps(c));
#elif defined(__SSE__)
    const __m128 a = _mm_loadu_ps(x), b = _mm_loadu_ps(x + 4), ta = _mm_loadu_ps(t), tb = _mm_loadu_ps(t + 4);
    return Strict ? static_cast<unsigned>(_mm_movemask_ps(_mm_cmpgt_ps(a, ta)) | (_mm_movemask_ps(_mm_cmpgt_ps(b, tb)) << 4))
                  : static_cast<unsigned>(_mm_movemask_ps(_mm_cmpge_ps(a, ta)) | (_mm_movemask_ps(_mm_cmpge_ps(b, tb)) << 4));
#else
    unsigned m = 0;
    for (int s = 0; s < 8; ++s) m |= static_cast<unsigned>(Strict ? x[s] > t[s] : x[s] >= t[s]) << s;
    return m;
#endif
}

// Calls emit(s) for each s in [0, n), ascending, with x[s] > t[s] (Strict) or x[s] >= t[s]; `t` is read
// with stride 0 (one threshold) when Scalar.
template <bool Strict, bool Scalar, typename Emit>
inline void each_above(const float* x, const float* t, int64_t n, Emit emit) {
    float t8[8];
    if (Scalar) std::fill(t8, t8 + 8, t[0]);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        unsigned m = above_mask8<Strict>(x + j, Scalar ? t8 : t + j);
        while (m) {
            emit(j + __builtin_ctz(m));
            m &= m - 1;
        }
    }
    for (; j < n; ++j) {
        const float tj = Scalar ? t[0] : t[j];
        if (Strict ? x[j] > tj : x[j] >= tj) emit(j);
    }
}

// How many of v[0, n8) are > c (n8 a multiple of 8).
__attribute__((always_inline)) inline int64_t count_greater(const float* v, int64_t n8, float c) {
    i8 acc = {};
    const f8 cc = {c, c, c, c, c, c, c, c};
    for (int64_t j = 0; j < n8; j += 8) acc += load8(v + j) > cc;  // true is -1
    int64_t n = 0;
    for (int s = 0; s < 8; ++s) n -= acc[s];
    return n;
}

// Up to this many values, a value's rank is counted (n^2 / 8 vector compares, no data-dependent branch);
// beyond it, sorting and selection cost less.
constexpr int64_t COUNT_UP_TO = 64;

// Working space of one row, kept across rows.
struct Scratch {
    std::vector<float> maxima, cand_v;
    std::vector<int64_t> cand_i;
    std::vector<uint8_t> filled;
    std::vector<std::pair<float, int64_t>> pairs;
};

// One row's k largest entries, largest first, when they and the (k+1)-th are distinct and no entry is NaN
// (returns true); otherwise false, and the caller takes the row to torch.topk. Only entries >= t are ranked,
// t being the k-th largest of the maxima of nb >= k disjoint sets of entries (the strided columns of the row
// read as [F / nb, nb], nb a multiple of 8): k distinct entries are >= t, so each of the k largest is. Both
// the k-th largest maximum and each candidate's place come from counting the values above it (vectorised,
// no branch on the data), which on rows of a few thousand entries costs less than sorting.
bool topk_row(const float* x, int64_t F, int64_t k, int64_t nb, Scratch& w, float* out_v, int64_t* out_i) {
    const int64_t rows = F / nb;
    i8 bad = {};
    for (int64_t g = 0; g < nb; g += 8) {  // 8 sets at a time, down the rows: no horizontal step
        f8 m = load8(x + g);
        bad |= m != m;
        for (int64_t r = 1; r < rows; ++r) {
            const f8 v = load8(x + r * nb + g);
            bad |= v != v;
            m = v > m ? v : m;
        }
        __builtin_memcpy(&w.maxima[g], &m, sizeof m);
    }
    bool nan = false;
    for (int s = 0; s < 8; ++s) nan |= bad[s] != 0;
    for (int64_t j = rows * nb; j < F; ++j) nan |= x[j] != x[j];
    if (nan) return false;
    // The k-th largest maximum: the smallest of those with at most k - 1 maxima above them; counting costs
    // nb^2 / 8 vector compares, so for many sets a selection is cheaper.
    float t = std::numeric_limits<float>::infinity();
    if (nb <= COUNT_UP_TO) {
        for (int64_t b = 0; b < nb; ++b)
            if (count_greater(w.maxima.data(), nb, w.maxima[b]) < k && w.maxima[b] < t) t = w.maxima[b];
    } else {
        std::nth_element(w.maxima.begin(), w.maxima.begin() + (k - 1), w.maxima.end(), std::greater<float>());
        t = w.maxima[k - 1];
    }
    w.cand_v.clear();
    w.cand_i.clear();
    each_above<false, true>(x, &t, F, [&](int64_t s) {
        w.cand_v.push_back(x[s]);
        w.cand_i.push_back(s);
    });
    const int64_t n = static_cast<int64_t>(w.cand_v.size());
    const int64_t n8 = (n + 7) / 8 * 8;
    w.cand_v.resize(n8, -std::numeric_limits<float>::infinity());  // never above a candidate
    if (n > COUNT_UP_TO) {  // sorted instead; ties among the first k + 1 as below
        auto& c = w.pairs;
        c.resize(n);
        for (int64_t i = 0; i < n; ++i) c[i] = {w.cand_v[i], w.cand_i[i]};
        const int64_t m = std::min(n, k + 1);
        std::partial_sort(c.begin(), c.begin() + m, c.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        for (int64_t i = 1; i < m; ++i)
            if (!(c[i - 1].first > c[i].first)) return false;
        for (int64_t i = 0; i < k; ++i) {
            out_v[i] = c[i].first;
            out_i[i] = c[i].second;
        }
        return true;
    }
    // A candidate with r values above it goes to place r; two in one place among the first k + 1 are a tie.
    std::fill(w.filled.begin(), w.filled.begin() + k + 1, 0);
    for (int64_t c = 0; c < n; ++c) {
        const int64_t r = count_greater(w.cand_v.data(), n8, w.cand_v[c]);
        if (r > k) continue;
        if (w.filled[r]) return false;
        w.filled[r] = 1;
        if (r < k) {
            out_v[r] = w.cand_v[c];
            out_i[r] = w.cand_i[c];
        }
    }
    return true;
}

}  // namespace

extern "C" {

// The k largest entries of each row of a contiguous float32 [B, F] tensor, largest first: torch.topk(x, k,
// dim=1) wherever its result is unambiguous. The rows left to the caller (a NaN, or a tie among the k + 1
// largest) are written to tie_rows; returns their number. Needs k <= nb <= F, nb a multiple of 8.
int64_t saesanity_topk_rows(const float* x, int64_t B, int64_t F, int64_t k, int64_t nb, float* out_v,
                            int64_t* out_i, int64_t* tie_rows) {
    Scratch w;
    w.maxima.resize(nb);
    w.cand_v.reserve(8 * k + 64);
    w.cand_i.reserve(8 * k + 64);
    w.filled.resize(k + 1);
    int64_t n_tie = 0;
    for (int64_t b = 0; b < B; ++b)
        if (!topk_row(x + b * F, F, k, nb, w, out_v + b * k, out_i + b * k)) tie_rows[n_tie++] = b;
    return n_tie;
}

// (x >= t).nonzero() of a float32 x[0, n): the indices ascending. Returns their number; only the first
// `capacity` are written.
int64_t saesanity_indices_ge(const float* x, int64_t n, float t, int64_t* out, int64_t capacity) {
    int64_t c = 0;
    each_above<false, true>(x, &t, n, [&](int64_t s) {
        if (c < capacity) out[c] = s;
        ++c;
    });
    return c;
}

// (x > t).nonzero(as_tuple=True) of a contiguous float32 [B, F] x and a threshold per column t[F]: rows and
// columns, row-major. Returns their number; only the first `capacity` are written.
int64_t saesanity_entries_gt(const float* x, int64_t B, int64_t F, const float* t, int64_t* rows,
                             int64_t* cols, int64_t capacity) {
    int64_t c = 0;
    for (int64_t b = 0; b < B; ++b)
        each_above<true, false>(x + b * F, t, F, [&](int64_t s) {
            if (c < capacity) {
                rows[c] = b;
                cols[c] = s;
            }
            ++c;
        });
    return c;
}

// BatchTopK's selection (saesanity/sae/batchtopk.py, batch_topk_indices) as sorted flat indices and their
// values: t = the n_sample-th largest of x[::stride]; if t > 0 and at least n_keep entries are >= t, the
// n_keep largest of those, which is what torch's top-k over them keeps when no entry outside them equals the
// smallest kept. Returns n_keep, or -1 wherever the caller must run the torch expression itself (a NaN in the
// sample, t <= 0, too few candidates, a tie at the cut).
int64_t saesanity_batch_topk(const float* x, int64_t n, int64_t stride, int64_t n_sample, int64_t n_keep,
                             int64_t* out_idx, float* out_val) {
    const int64_t ns = (n + stride - 1) / stride;
    if (!(0 < n_sample && n_sample < ns)) return -1;
    std::vector<float> sample(ns);
    for (int64_t j = 0; j < ns; ++j) {
        sample[j] = x[j * stride];
        if (sample[j] != sample[j]) return -1;
    }
    std::nth_element(sample.begin(), sample.begin() + (n_sample - 1), sample.end(), std::greater<float>());
    const float t = sample[n_sample - 1];
    if (!(t > 0)) return -1;
    std::vector<float> cand_v;
    std::vector<int64_t> cand_i;
    cand_v.reserve(2 * n_keep);
    cand_i.reserve(2 * n_keep);
    each_above<false, true>(x, &t, n, [&](int64_t s) {
        cand_v.push_back(x[s]);
        cand_i.push_back(s);
    });
    if (static_cast<int64_t>(cand_v.size()) < n_keep) return -1;
    std::vector<float> order(cand_v);
    std::nth_element(order.begin(), order.begin() + (n_keep - 1), order.end(), std::greater<float>());
    const float cut = order[n_keep - 1];
    int64_t c = 0;
    for (size_t i = 0; i < cand_v.size(); ++i) {
        if (!(cand_v[i] >= cut)) continue;
        if (c == n_keep) return -1;  // one more at the cut: a tie
        out_idx[c] = cand_i[i];
        out_val[c] = cand_v[i];
        ++c;
    }
    return c;
}

// out[cols[n]] += w[n] * g[rows[n]] over n = order[0], order[1], ...: the weight gradient of
// embedding_bag(cols, W, offsets, mode="sum", per_sample_weights=w) given the output's gradient g [B, D],
// rows = each entry's bag. torch's CPU backward (ATen EmbeddingBag.cpp, _embedding_bag_dense_backward_cpu_sum_mean)
// visits the entries in the order of cols.sort() and adds each with BLAS axpy, one fused multiply-add per
// element; `order` is that sort's permutation, and `out` [F, D] starts at zero.
void saesanity_scatter_rows(const float* g, int64_t D, const int64_t* rows, const int64_t* cols, const float* w,
                            const int64_t* order, int64_t N, float* out) {
    for (int64_t j = 0; j < N; ++j) {
        const int64_t n = order[j];
        const float a = w[n];
        const float* x = g + rows[n] * D;
        float* y = out + cols[n] * D;
        for (int64_t d = 0; d < D; ++d) y[d] = __builtin_fmaf(a, x[d], y[d]);
    }
}

}  // extern "C"
