/* shape.c — data movement: reshape, permute, concat, slice, pad, broadcast_to, patchify.
 * Copies go row by row (memcpy where the source run is contiguous), rows split over the
 * OpenMP threads. */
#include <string.h>

#include "internal.h"
#include "shim.h"

void dino_copy(float *dst, const float *src, int64_t n) {
    // dst and src are (n) and do not overlap.
    int nch = dino_chunks(n);
#pragma omp parallel for schedule(static) if (nch > 1)
    for (int t = 0; t < nch; t++) {
        int64_t lo = n * t / nch, hi = n * (t + 1) / nch;
        memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
    }
}

/** y = x (same elements); copies only when the buffers differ. */
static void dino_reshape_fwd(float *y, const float *x, int64_t n) {
    // x and y hold the same n elements; nothing to do when they share a buffer.
    if (y != x) dino_copy(y, x, n);
}

/** Tile edge of the blocked transpose. */
enum { DINO_TILE = 32 };

/* The permute case whose last output dimension is strided in x: y viewed as dims ext[]
 * (input strides str[]), where dim q has input stride 1. Copies DINO_TILE² tiles of the
 * (q, last) plane so that reads run along q and writes along the last dimension. */
static void transpose_tiled(float *restrict y, const float *restrict x, const int64_t *ext,
                            const int64_t *str, int r, int64_t n) {
    int q = 0;
    while (str[q] != 1) q++;
    int64_t ostr[DINO_MAX_RANK], s = 1;
    for (int d = r - 1; d >= 0; d--) {
        ostr[d] = s;
        s *= ext[d];
    }
    int64_t eq = ext[q], el = ext[r - 1], sl = str[r - 1], oq = ostr[q];
    int64_t tq = (eq + DINO_TILE - 1) / DINO_TILE, tl = (el + DINO_TILE - 1) / DINO_TILE;
    int64_t planes = n / (eq * el), units = planes * tq * tl;
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t u = 0; u < units; u++) {
        int64_t plane = u / (tq * tl), i0 = (u / tl % tq) * DINO_TILE, j0 = (u % tl) * DINO_TILE;
        int64_t xo = 0, yo = 0, rest = plane;
        for (int d = r - 2; d >= 0; d--) {
            if (d == q) continue;
            int64_t idx = rest % ext[d];
            rest /= ext[d];
            xo += idx * str[d];
            yo += idx * ostr[d];
        }
        int64_t i1 = i0 + DINO_TILE < eq ? i0 + DINO_TILE : eq;
        int64_t j1 = j0 + DINO_TILE < el ? j0 + DINO_TILE : el;
        for (int64_t i = i0; i < i1; i++)
            for (int64_t j = j0; j < j1; j++) y[yo + i * oq + j] = x[xo + i + j * sl];
    }
}

/** y = x transposed by perm (y's dim d is x's dim perm[d]); rank ≤ 6. */
static void dino_permute_fwd(float *restrict y, const float *restrict x, const int64_t *shape,
                             const int64_t *perm, int rank) {
    // x is (shape), y is (shape[perm[0]], …, shape[perm[rank-1]]).
    // Simplify first: drop extent-1 dimensions and merge output neighbours that are
    // also neighbours in x, so that e.g. [B,N,3,H,d] → [3,B,H,N,d] copies runs of d.
    int64_t in_stride[DINO_MAX_RANK], ext[DINO_MAX_RANK], str[DINO_MAX_RANK];
    int64_t n = 1;
    for (int d = rank - 1; d >= 0; d--) {
        in_stride[d] = n;
        n *= shape[d];
    }
    if (n == 0) return;
    int r = 0;
    for (int d = 0; d < rank; d++) {
        int64_t e = shape[perm[d]], s = in_stride[perm[d]];
        if (e == 1) continue;
        if (r > 0 && str[r - 1] == s * e) {
            ext[r - 1] *= e;
            str[r - 1] = s;
        } else {
            ext[r] = e;
            str[r] = s;
            r++;
        }
    }
    if (r == 0) {
        y[0] = x[0];
        return;
    }
    int64_t len = ext[r - 1], step = str[r - 1], rows = n / len;
    if (step != 1) {
        transpose_tiled(y, x, ext, str, r, n);
        return;
    }
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t row = 0; row < rows; row++) {
        int64_t off = 0, rest = row;
        for (int d = r - 2; d >= 0; d--) {
            off += (rest % ext[d]) * str[d];
            rest /= ext[d];
        }
        memcpy(y + row * len, x + off, (size_t)len * sizeof(float));
    }
}

/** y = the n_in tensors xs joined along an axis; each is (outer, axis_sizes[i], inner). */
static void dino_concat_fwd(float *restrict y, const float *const *xs, const int64_t *axis_sizes,
                            int n_in, int64_t outer, int64_t inner) {
    // xs[i] is (outer, axis_sizes[i], inner); y is (outer, Σ axis_sizes, inner).
    int64_t start[DINO_MAX_OPERANDS], total = 0;
    for (int i = 0; i < n_in; i++) {
        start[i] = total;
        total += axis_sizes[i];
    }
    int64_t units = outer * n_in;
#pragma omp parallel for schedule(static) if (outer * total * inner >= DINO_PAR_MIN)
    for (int64_t u = 0; u < units; u++) {
        int64_t o = u / n_in;
        int i = (int)(u % n_in);
        int64_t run = axis_sizes[i] * inner;
        memcpy(y + (o * total + start[i]) * inner, xs[i] + o * run, (size_t)run * sizeof(float));
    }
}

/** y = x[:, start:end, :] with x (outer, len, inner). */
static void dino_slice_fwd(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                           int64_t inner, int64_t start, int64_t end) {
    // x is (outer, len, inner), y is (outer, end − start, inner).
    // The output is cut into one flat static chunk per thread (not by outer rows: a
    // slice of the leading axis has outer = 1 and would run on one thread).
    int64_t run = (end - start) * inner, n = outer * run;
    int nch = dino_chunks(n);
#pragma omp parallel for schedule(static) if (nch > 1)
    for (int t = 0; t < nch; t++) {
        int64_t lo = n * t / nch, hi = n * (t + 1) / nch;
        while (lo < hi) {
            int64_t o = lo / run, at = lo % run;
            int64_t seg = run - at < hi - lo ? run - at : hi - lo;
            memcpy(y + lo, x + (o * len + start) * inner + at, (size_t)seg * sizeof(float));
            lo += seg;
        }
    }
}

/** y = x zero-padded on one axis: x (outer, len, inner) → (outer, before+len+after, inner). */
static void dino_pad_fwd(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                         int64_t inner, int64_t before, int64_t after) {
    // x is (outer, len, inner), y is (outer, before + len + after, inner), zeros around x.
    // The output is cut into one flat static chunk per thread (not by outer rows: padding
    // the leading axis has outer = 1 and would run on one thread); each chunk walks its
    // zero and copy segments.
    int64_t row = (before + len + after) * inner, head = before * inner, body = len * inner;
    int64_t n = outer * row;
    int nch = dino_chunks(n);
#pragma omp parallel for schedule(static) if (nch > 1)
    for (int t = 0; t < nch; t++) {
        int64_t lo = n * t / nch, hi = n * (t + 1) / nch;
        while (lo < hi) {
            int64_t o = lo / row, at = lo % row, seg_end;
            if (at < head) {
                seg_end = head;
            } else if (at < head + body) {
                seg_end = head + body;
            } else {
                seg_end = row;
            }
            int64_t seg = seg_end - at < hi - lo ? seg_end - at : hi - lo;
            if (at >= head && at < head + body)
                memcpy(y + lo, x + o * body + (at - head), (size_t)seg * sizeof(float));
            else
                memset(y + lo, 0, (size_t)seg * sizeof(float));
            lo += seg;
        }
    }
}

/** y (shape_y) = x (shape_x) broadcast right-aligned. */
static void dino_broadcast_to_fwd(float *restrict y, const float *restrict x,
                                  const int64_t *shape_y, int rank_y, const int64_t *shape_x,
                                  int rank_x) {
    // x is (shape_x), y is (shape_y); x broadcasts to y right-aligned.
    struct dino_bcast p;
    dino_bcast_plan(&p, shape_y, rank_y, shape_x, rank_x);
    int64_t n = 1;
    for (int d = 0; d < rank_y; d++) n *= shape_y[d];
    if (n == 0) return;
    if (p.simple && p.i == 1) {
        // y viewed as (o, m): one copy of x per row
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
        for (int64_t o = 0; o < p.o; o++) memcpy(y + o * p.m, x, (size_t)p.m * sizeof(float));
        return;
    }
    if (p.simple) {
        // y viewed as (o, m, i), x as (m): rows of length i filled with one value
        int64_t rows = p.o * p.m;
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            float *yr = y + r * p.i;
            float v = x[r % p.m];
            for (int64_t j = 0; j < p.i; j++) yr[j] = v;
        }
        return;
    }
    int64_t len = shape_y[rank_y - 1], rows = n / len, sl = p.stride[rank_y - 1];
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t off = dino_bcast_row_offset(&p, r);
        float *yr = y + r * len;
        for (int64_t j = 0; j < len; j++) yr[j] = x[off + j * sl];
    }
}

void dino_patchify_fwd(float *restrict y, const float *restrict x, int batch, int channels,
                       int height, int width, int patch) {
    // x is (batch, channels, height, width); y is (batch, gh·gw, channels·patch·patch)
    // with gh = height/patch, gw = width/patch, tokens row-major over the patch grid and
    // each token's features in (c, i, j) order.
    int gh = height / patch, gw = width / patch;
    int64_t feat = (int64_t)channels * patch * patch;
    int64_t units = (int64_t)batch * gh;
#pragma omp parallel for schedule(static) if (units * gw * feat >= DINO_PAR_MIN)
    for (int64_t u = 0; u < units; u++) {
        int64_t b = u / gh, gi = u % gh;
        for (int gj = 0; gj < gw; gj++) {
            float *yt = y + ((b * gh + gi) * gw + gj) * feat;
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < patch; i++) {
                    const float *src =
                        x + ((b * channels + c) * height + gi * patch + i) * (int64_t)width +
                        (int64_t)gj * patch;
                    memcpy(yt + ((int64_t)c * patch + i) * patch, src,
                           (size_t)patch * sizeof(float));
                }
        }
    }
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

void dino_run_reshape(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    dino_reshape_fwd(F(OUT), F(IN(0)), numel(IN(0)));
}

void dino_run_permute(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0);
    dino_permute_fwd(F(OUT), F(x), x->shape, ATTRS(permute).perm, x->rank);
}

void dino_run_concat(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t axis = ATTRS(concat).axis, sizes[DINO_MAX_OPERANDS], outer, len, inner;
    const float *xs[DINO_MAX_OPERANDS];
    for (int i = 0; i < ins->n_in; i++) {
        sizes[i] = IN(i)->shape[axis];
        xs[i] = F(IN(i));
    }
    around_axis(IN(0), axis, &outer, &len, &inner);
    dino_concat_fwd(F(OUT), xs, sizes, ins->n_in, outer, inner);
}

void dino_run_slice(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_attrs_slice A = ATTRS(slice);
    int64_t outer, len, inner;
    around_axis(IN(0), A.axis, &outer, &len, &inner);
    dino_slice_fwd(F(OUT), F(IN(0)), outer, len, inner, A.start, A.end);
}

void dino_run_pad(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_attrs_pad A = ATTRS(pad);
    int64_t outer, len, inner;
    around_axis(IN(0), A.axis, &outer, &len, &inner);
    dino_pad_fwd(F(OUT), F(IN(0)), outer, len, inner, A.before, A.after);
}

void dino_run_broadcast_to(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0), *y = OUT;
    dino_broadcast_to_fwd(F(y), F(x), y->shape, y->rank, x->shape, x->rank);
}

void dino_run_patchify(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0);
    dino_patchify_fwd(F(OUT), F(x), (int)x->shape[0], (int)x->shape[1], (int)x->shape[2],
                      (int)x->shape[3], (int)ATTRS(patchify).patch);
}

void dino_run_result(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    // Nothing to do: the op with several results wrote this tensor (RESULT in shim.h).
    (void)ins;
    (void)ctx;
}
