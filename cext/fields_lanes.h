/* Multigrid-preconditioned CG for up to MG_LANES_MAX fields of one coefficient set at once, on
 * line grids (a 2-D section with a periodic lateral axis): the lane-interleaved twin of
 * _pcg_field / _vcycle in fields.pyx.
 *
 * Layout. The scratch arrays (xs, bs, p, ap) hold the fields of a group side by side: element
 * (row z, column c, lane k) of a level whose pointer is already offset to its first column is
 * at ((z * rs + c) * L + k), rs being the row stride n_total. The coefficient arrays (diag,
 * depth, lateral, inv_pivot, decoupled) are the set's, read once per voxel for all lanes; conc
 * and rhs stay one field after another (row stride nc).
 *
 * Same bits. Every lane performs the scalar kernel's operations on its own values, in the same
 * order and with the same parenthesisation (including the "0.0 + (...)" of a lateral pair),
 * and the build uses -ffp-contract=off, so vectorising across lanes cannot change a result.
 * The fields of a group iterate in lockstep; a field leaves the group exactly where its own
 * loop would stop (converged, iteration limit or lost positivity) and its conc is never touched
 * again, while its lane keeps being swept with the others (results ignored). Loads of a voxel's
 * lanes come before its stores, so the compiler need not assume that they overlap.
 *
 * L (lanes per voxel, 2 or 4) is a compile-time constant of each specialisation: the static
 * inline functions take it as an argument and are forced inline into mg_lanes_pcg2/4.
 */
#ifndef MSCABM_FIELDS_LANES_H
#define MSCABM_FIELDS_LANES_H

#include <stddef.h>
#include <stdint.h>

#define MG_LANES_MAX 4

/* A field stops once ||rhs - A x||^2 <= max(rtol^2 ||rhs||^2, MG_RESIDUAL_SQ_FLOOR): a field
 * whose values are near 1e-150 (a cytokine decayed for weeks without a source) would
 * otherwise iterate on squares at the underflow limit of doubles, where r.z rounds to 0. */
#define MG_RESIDUAL_SQ_FLOOR 1e-300

#if defined(__GNUC__) || defined(__clang__)
#define MG_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define MG_INLINE static __forceinline
#else
#define MG_INLINE static inline
#endif

typedef ptrdiff_t mg_index;

/* Grid of a line hierarchy (the fields of _Grid that line kernels read). */
typedef struct {
    mg_index nz;
    mg_index n_total;
    mg_index n_levels;
    mg_index n_colours;
    const int64_t *level_cols;
    const int64_t *level_offsets;
} mg_lanes_grid;

/* The end of a forward-elimination voxel: t += depth x (the row below), x = t / pivot. */
MG_INLINE void mg_lanes_eliminate(const int L, const double *depth, const double *inv_pivot,
                                  double *x, mg_index row, mg_index rs, mg_index c, int below,
                                  double *t)
{
    const double ip = inv_pivot[row + c];
    int k;
    if (below) {
        const double d = depth[row - rs + c];
        for (k = 0; k < L; k++)
            t[k] = t[k] + d * x[(row - rs + c) * L + k];
    }
    for (k = 0; k < L; k++)
        x[(row + c) * L + k] = t[k] * ip;
}

/* One depth line of a colour, forward elimination of one row: the lanes' _line_forward_row. */
MG_INLINE void mg_lanes_sweep_voxel(const int L, const double *depth, const double *lateral,
                                    const double *inv_pivot, const double *b, double *x,
                                    mg_index row, mg_index rs, mg_index c, mg_index plus,
                                    mg_index minus, int below)
{
    double t[MG_LANES_MAX];
    const double lp = lateral[row + c], lm = lateral[row + minus];
    int k;
    for (k = 0; k < L; k++)
        t[k] = b[(row + c) * L + k]
               + (0.0 + (lp * x[(row + plus) * L + k] + lm * x[(row + minus) * L + k]));
    mg_lanes_eliminate(L, depth, inv_pivot, x, row, rs, c, below, t);
}

MG_INLINE void mg_lanes_forward_row(const int L, mg_index nc, mg_index rs, mg_index row,
                                    mg_index first, mg_index end, const double *depth,
                                    const double *lateral, const double *inv_pivot,
                                    const double *b, double *x, int below, int from_zero)
{
    mg_index c = first, last = nc - 1;
    const mg_index stop = end < last ? end : last;
    int k;
    if (from_zero) {
        for (; c < end; c += 2) {
            double t[MG_LANES_MAX];
            for (k = 0; k < L; k++)
                t[k] = b[(row + c) * L + k];
            mg_lanes_eliminate(L, depth, inv_pivot, x, row, rs, c, below, t);
        }
        return;
    }
    if (c == 0) {
        mg_lanes_sweep_voxel(L, depth, lateral, inv_pivot, b, x, row, rs, 0, nc > 1 ? 1 : 0, last,
                             below);
        c = 2;
    }
    for (; c < stop; c += 2)
        mg_lanes_sweep_voxel(L, depth, lateral, inv_pivot, b, x, row, rs, c, c + 1, c - 1, below);
    if (c == last && c < end)
        mg_lanes_sweep_voxel(L, depth, lateral, inv_pivot, b, x, row, rs, c, 0, c - 1, below);
}

/* _line_sweep_columns: columns first, first + 2, ... < end of one level, all lanes. */
MG_INLINE void mg_lanes_sweep_columns(const int L, const mg_lanes_grid *g, mg_index level,
                                      mg_index first, mg_index end, const double *depth,
                                      const double *lateral, const double *inv_pivot,
                                      const double *b, double *x, int from_zero)
{
    const mg_index nc = g->level_cols[level], rs = g->n_total;
    mg_index z, c, row;
    int k;
    if (first >= end)
        return;
    mg_lanes_forward_row(L, nc, rs, 0, first, end, depth, lateral, inv_pivot, b, x, 0,
                         from_zero);
    for (z = 1; z < g->nz; z++)
        mg_lanes_forward_row(L, nc, rs, z * rs, first, end, depth, lateral, inv_pivot, b, x, 1,
                             from_zero);
    for (z = g->nz - 2; z >= 0; z--) {
        row = z * rs;
        for (c = first; c < end; c += 2) {
            const double factor = depth[row + c] * inv_pivot[row + c];
            double above[MG_LANES_MAX];
            for (k = 0; k < L; k++)
                above[k] = x[(row + rs + c) * L + k];
            for (k = 0; k < L; k++)
                x[(row + c) * L + k] = x[(row + c) * L + k] + factor * above[k];
        }
    }
}

/* _line_sweep of a line level: colour 0 even columns (an odd level's last column has colour 2),
 * colour 1 odd columns. */
MG_INLINE void mg_lanes_sweep(const int L, const mg_lanes_grid *g, mg_index level,
                              mg_index colour, const double *depth, const double *lateral,
                              const double *inv_pivot, const double *b, double *x, int from_zero)
{
    const mg_index nc = g->level_cols[level];
    if (colour == 0)
        mg_lanes_sweep_columns(L, g, level, 0, (nc % 2 == 1 && nc > 1) ? nc - 1 : nc, depth,
                               lateral, inv_pivot, b, x, from_zero);
    else if (colour == 1)
        mg_lanes_sweep_columns(L, g, level, 1, nc, depth, lateral, inv_pivot, b, x, from_zero);
    else if (colour == 2 && nc % 2 == 1 && nc > 1)
        mg_lanes_sweep_columns(L, g, level, nc - 1, nc, depth, lateral, inv_pivot, b, x,
                               from_zero);
}

/* _line_residual_voxel for every lane: r = b - A x at (row, c). */
MG_INLINE void mg_lanes_residual_voxel(const int L, const double *diag, const double *depth,
                                       const double *lateral, const double *b, const double *x,
                                       mg_index row, mg_index rs, mg_index c, mg_index plus,
                                       mg_index minus, int below, int above, double *r)
{
    const double dg = diag[row + c], lp = lateral[row + c], lm = lateral[row + minus];
    int k;
    for (k = 0; k < L; k++)
        r[k] = b[(row + c) * L + k] - dg * x[(row + c) * L + k]
               + (0.0 + (lp * x[(row + plus) * L + k] + lm * x[(row + minus) * L + k]));
    if (below) {
        const double d = depth[row - rs + c];
        for (k = 0; k < L; k++)
            r[k] = r[k] + d * x[(row - rs + c) * L + k];
    }
    if (above) {
        const double d = depth[row + c];
        for (k = 0; k < L; k++)
            r[k] = r[k] + d * x[(row + rs + c) * L + k];
    }
}

/* _line_restrict_row: coarse_b = pair sums of (b - A x) on one row (nc > 1). */
MG_INLINE void mg_lanes_restrict_row(const int L, mg_index nc, mg_index rs, mg_index row,
                                     const double *diag, const double *depth,
                                     const double *lateral, const double *b, const double *x,
                                     double *coarse_b, int below, int above)
{
    double r0[MG_LANES_MAX], r1[MG_LANES_MAX];
    const mg_index last = nc - 1;
    mg_index j = 1;
    int k;
    mg_lanes_residual_voxel(L, diag, depth, lateral, b, x, row, rs, 0, 1, last, below, above, r0);
    mg_lanes_residual_voxel(L, diag, depth, lateral, b, x, row, rs, 1, nc == 2 ? 0 : 2, 0, below,
                            above, r1);
    for (k = 0; k < L; k++)
        coarse_b[row * L + k] = (0.0 + r0[k]) + r1[k];
    for (; 2 * j + 1 < last; j++) {
        mg_lanes_residual_voxel(L, diag, depth, lateral, b, x, row, rs, 2 * j, 2 * j + 1,
                                2 * j - 1, below, above, r0);
        mg_lanes_residual_voxel(L, diag, depth, lateral, b, x, row, rs, 2 * j + 1, 2 * j + 2,
                                2 * j, below, above, r1);
        for (k = 0; k < L; k++)
            coarse_b[(row + j) * L + k] = (0.0 + r0[k]) + r1[k];
    }
    if (2 * j == last) {
        mg_lanes_residual_voxel(L, diag, depth, lateral, b, x, row, rs, last, 0, last - 1, below,
                                above, r0);
        for (k = 0; k < L; k++)
            coarse_b[(row + j) * L + k] = 0.0 + r0[k];
    } else if (2 * j + 1 == last) {
        mg_lanes_residual_voxel(L, diag, depth, lateral, b, x, row, rs, 2 * j, last, 2 * j - 1,
                                below, above, r0);
        mg_lanes_residual_voxel(L, diag, depth, lateral, b, x, row, rs, last, 0, last - 1, below,
                                above, r1);
        for (k = 0; k < L; k++)
            coarse_b[(row + j) * L + k] = (0.0 + r0[k]) + r1[k];
    }
}

MG_INLINE void mg_lanes_residual_restrict(const int L, const mg_lanes_grid *g, mg_index level,
                                          const double *diag, const double *depth,
                                          const double *lateral, const double *b,
                                          const double *x, double *coarse_b)
{
    const mg_index nc = g->level_cols[level], rs = g->n_total;
    mg_index z;
    if (g->nz == 1) {
        mg_lanes_restrict_row(L, nc, rs, 0, diag, depth, lateral, b, x, coarse_b, 0, 0);
        return;
    }
    mg_lanes_restrict_row(L, nc, rs, 0, diag, depth, lateral, b, x, coarse_b, 0, 1);
    for (z = 1; z < g->nz - 1; z++)
        mg_lanes_restrict_row(L, nc, rs, z * rs, diag, depth, lateral, b, x, coarse_b, 1, 1);
    mg_lanes_restrict_row(L, nc, rs, (g->nz - 1) * rs, diag, depth, lateral, b, x, coarse_b, 1,
                          0);
}

/* _line_apply_voxel for every lane: out = A x at (row, c). */
MG_INLINE void mg_lanes_apply_voxel(const int L, const double *diag, const double *depth,
                                    const double *lateral, const double *x, double *out,
                                    mg_index row, mg_index rs, mg_index c, mg_index plus,
                                    mg_index minus, int below, int above)
{
    double v[MG_LANES_MAX];
    const double dg = diag[row + c], lp = lateral[row + c], lm = lateral[row + minus];
    int k;
    for (k = 0; k < L; k++)
        v[k] = dg * x[(row + c) * L + k]
               - (0.0 + (lp * x[(row + plus) * L + k] + lm * x[(row + minus) * L + k]));
    if (below) {
        const double d = depth[row - rs + c];
        for (k = 0; k < L; k++)
            v[k] = v[k] - d * x[(row - rs + c) * L + k];
    }
    if (above) {
        const double d = depth[row + c];
        for (k = 0; k < L; k++)
            v[k] = v[k] - d * x[(row + rs + c) * L + k];
    }
    for (k = 0; k < L; k++)
        out[(row + c) * L + k] = v[k];
}

/* _level_apply of level 0 of a line grid, every lane. */
MG_INLINE void mg_lanes_apply(const int L, const mg_lanes_grid *g, const double *diag,
                              const double *depth, const double *lateral, const double *x,
                              double *out)
{
    const mg_index nc = g->level_cols[0], rs = g->n_total, last = nc - 1;
    mg_index z, c, row;
    for (z = 0; z < g->nz; z++) {
        const int below = z > 0, above = z < g->nz - 1;
        row = z * rs;
        if (nc == 1) {
            mg_lanes_apply_voxel(L, diag, depth, lateral, x, out, row, rs, 0, 0, 0, below, above);
            continue;
        }
        mg_lanes_apply_voxel(L, diag, depth, lateral, x, out, row, rs, 0, 1, last, below, above);
        for (c = 1; c < last; c++)
            mg_lanes_apply_voxel(L, diag, depth, lateral, x, out, row, rs, c, c + 1, c - 1, below,
                                 above);
        mg_lanes_apply_voxel(L, diag, depth, lateral, x, out, row, rs, last, 0, last - 1, below,
                             above);
    }
}

/* _vcycle of a line grid for every lane: xs (level 0) = M^-1 bs (level 0). */
MG_INLINE void mg_lanes_vcycle(const int L, const mg_lanes_grid *g, const double *diag,
                               const double *depth, const double *lateral,
                               const double *inv_pivot, double *xs, double *bs)
{
    const mg_index top = g->n_levels - 1, rs = g->n_total;
    mg_index level, colour, z, c, row, off, coff, nc;
    int k;
    for (level = 0; level <= top; level++) {
        off = g->level_offsets[level];
        nc = g->level_cols[level];
        /* colour 0 reads no lateral neighbour; only colour 2 must start at zero */
        if (nc % 2 == 1 && nc > 1)
            for (z = 0; z < g->nz; z++)
                for (k = 0; k < L; k++)
                    xs[(z * rs + off + nc - 1) * L + k] = 0.0;
        mg_lanes_sweep(L, g, level, 0, depth + off, lateral + off, inv_pivot + off, bs + off * L,
                       xs + off * L, 1);
        for (colour = 1; colour < g->n_colours; colour++)
            mg_lanes_sweep(L, g, level, colour, depth + off, lateral + off, inv_pivot + off,
                           bs + off * L, xs + off * L, 0);
        if (level < top) {
            coff = g->level_offsets[level + 1];
            mg_lanes_residual_restrict(L, g, level, diag + off, depth + off, lateral + off,
                                       bs + off * L, xs + off * L, bs + coff * L);
        }
    }
    for (level = top - 1; level >= 0; level--) {
        off = g->level_offsets[level];
        coff = g->level_offsets[level + 1];
        nc = g->level_cols[level];
        for (z = 0; z < g->nz; z++) {
            row = z * rs;
            for (c = 0; c < nc; c++)
                for (k = 0; k < L; k++)
                    xs[(row + off + c) * L + k] = xs[(row + off + c) * L + k]
                                                  + xs[(row + coff + (c >> 1)) * L + k];
        }
        for (colour = g->n_colours - 1; colour >= 0; colour--)
            mg_lanes_sweep(L, g, level, colour, depth + off, lateral + off, inv_pivot + off,
                           bs + off * L, xs + off * L, 0);
    }
}

/* _level0_dot for every lane: four accumulators per lane, rows in order. */
MG_INLINE void mg_lanes_dot(const int L, const mg_lanes_grid *g, const double *a,
                            const double *b, double *out)
{
    const mg_index nc = g->level_cols[0];
    double acc0[MG_LANES_MAX], acc1[MG_LANES_MAX], acc2[MG_LANES_MAX], acc3[MG_LANES_MAX];
    mg_index z, c, row;
    int k;
    for (k = 0; k < L; k++)
        acc0[k] = acc1[k] = acc2[k] = acc3[k] = 0.0;
    for (z = 0; z < g->nz; z++) {
        row = z * g->n_total;
        for (c = 0; c + 4 <= nc; c += 4)
            for (k = 0; k < L; k++) {
                acc0[k] = acc0[k] + a[(row + c) * L + k] * b[(row + c) * L + k];
                acc1[k] = acc1[k] + a[(row + c + 1) * L + k] * b[(row + c + 1) * L + k];
                acc2[k] = acc2[k] + a[(row + c + 2) * L + k] * b[(row + c + 2) * L + k];
                acc3[k] = acc3[k] + a[(row + c + 3) * L + k] * b[(row + c + 3) * L + k];
            }
        for (; c < nc; c++)
            for (k = 0; k < L; k++)
                acc0[k] = acc0[k] + a[(row + c) * L + k] * b[(row + c) * L + k];
    }
    for (k = 0; k < L; k++)
        out[k] = (acc0[k] + acc1[k]) + (acc2[k] + acc3[k]);
}

/* _contiguous_dot: sum of squares of n values, four accumulators. */
MG_INLINE double mg_lanes_sum_squares(const double *a, mg_index n)
{
    double acc0 = 0.0, acc1 = 0.0, acc2 = 0.0, acc3 = 0.0;
    mg_index i = 0;
    for (; i + 4 <= n; i += 4) {
        acc0 = acc0 + a[i] * a[i];
        acc1 = acc1 + a[i + 1] * a[i + 1];
        acc2 = acc2 + a[i + 2] * a[i + 2];
        acc3 = acc3 + a[i + 3] * a[i + 3];
    }
    for (; i < n; i++)
        acc0 = acc0 + a[i] * a[i];
    return (acc0 + acc1) + (acc2 + acc3);
}

/* _pcg_field for the n <= L fields of one coefficient set, in lockstep.
 *
 * Lane k solves field fields[k]: conc and rhs at fields[k] * field_voxels (row stride nc),
 * outputs indexed by field. work holds xs, bs, p and ap, nz * n_total * L values each.
 */
MG_INLINE void mg_lanes_pcg(const int L, const mg_lanes_grid *g, const double *diag,
                            const double *depth, const double *lateral, const double *inv_pivot,
                            const uint8_t *decoupled, double *conc, const double *rhs,
                            mg_index field_voxels, const int64_t *fields, int n, double *work,
                            double rtol, mg_index max_iterations, int64_t *iterations,
                            int64_t *status, double *residual_sq, double *rhs_sq)
{
    const mg_index nc = g->level_cols[0], rs = g->n_total, size = g->nz * g->n_total * L;
    double *xs = work, *bs = work + size, *p = work + 2 * size, *ap = work + 3 * size;
    double *cf[MG_LANES_MAX];
    const double *rf[MG_LANES_MAX];
    double tol_sq[MG_LANES_MAX], r_sq[MG_LANES_MAX], rz[MG_LANES_MAX], dots[MG_LANES_MAX];
    double alpha[MG_LANES_MAX], beta[MG_LANES_MAX];
    mg_index it[MG_LANES_MAX];
    int live[MG_LANES_MAX];
    mg_index z, c, v, u;
    int k, n_live = 0;

    for (k = 0; k < L; k++) {
        live[k] = 0;
        it[k] = 0;
        tol_sq[k] = r_sq[k] = rz[k] = 0.0;
        cf[k] = NULL;
        rf[k] = NULL;
        if (k < n) {
            const int64_t f = fields[k];
            double b_sq;
            cf[k] = conc + f * field_voxels;
            rf[k] = rhs + f * field_voxels;
            b_sq = mg_lanes_sum_squares(rf[k], field_voxels);
            rhs_sq[f] = b_sq;
            status[f] = 0;
            iterations[f] = 0;
            if (b_sq == 0.0) {
                for (v = 0; v < g->nz * nc; v++)
                    cf[k][v] = 0.0;
                residual_sq[f] = 0.0;
            } else {
                tol_sq[k] = rtol * rtol * b_sq;
                if (tol_sq[k] < MG_RESIDUAL_SQ_FLOOR)
                    tol_sq[k] = MG_RESIDUAL_SQ_FLOOR;
                live[k] = 1;
            }
        }
    }
    /* Decoupled voxels take their exact value; p starts at conc (zero on idle lanes). */
    for (z = 0; z < g->nz; z++)
        for (c = 0; c < nc; c++) {
            v = z * nc + c;
            u = z * rs + c;
            for (k = 0; k < L; k++) {
                if (live[k]) {
                    if (decoupled[v])
                        cf[k][v] = rf[k][v] / diag[u];
                    p[u * L + k] = cf[k][v];
                } else {
                    p[u * L + k] = 0.0;
                }
            }
        }
    mg_lanes_apply(L, g, diag, depth, lateral, p, ap);
    for (z = 0; z < g->nz; z++)
        for (c = 0; c < nc; c++) {
            v = z * nc + c;
            u = z * rs + c;
            for (k = 0; k < L; k++)
                bs[u * L + k] = (!live[k] || decoupled[v]) ? 0.0 : rf[k][v] - ap[u * L + k];
        }
    mg_lanes_dot(L, g, bs, bs, r_sq);
    for (k = 0; k < L; k++) {
        if (!live[k])
            continue;
        if (r_sq[k] > tol_sq[k]) {
            n_live++;
        } else {
            live[k] = 0;
            residual_sq[fields[k]] = r_sq[k];
        }
    }
    if (n_live == 0)
        return;
    mg_lanes_vcycle(L, g, diag, depth, lateral, inv_pivot, xs, bs);
    mg_lanes_dot(L, g, bs, xs, rz);
    for (z = 0; z < g->nz; z++)
        for (u = z * rs * L; u < (z * rs + nc) * L; u++)
            p[u] = xs[u];
    for (;;) {
        for (k = 0; k < L; k++)
            if (live[k] && !(rz[k] > 0.0)) {
                status[fields[k]] = 2;
                iterations[fields[k]] = it[k];
                residual_sq[fields[k]] = r_sq[k];
                live[k] = 0;
                n_live--;
            }
        if (n_live == 0)
            break;
        mg_lanes_apply(L, g, diag, depth, lateral, p, ap);
        mg_lanes_dot(L, g, p, ap, dots);
        for (k = 0; k < L; k++)
            alpha[k] = live[k] ? rz[k] / dots[k] : 0.0;
        for (z = 0; z < g->nz; z++) {
            for (k = 0; k < L; k++) {
                if (!live[k])
                    continue;
                for (c = 0; c < nc; c++)
                    cf[k][z * nc + c] = cf[k][z * nc + c] + alpha[k] * p[(z * rs + c) * L + k];
            }
            for (u = z * rs * L; u < (z * rs + nc) * L; u += L)
                for (k = 0; k < L; k++)
                    bs[u + k] = bs[u + k] - alpha[k] * ap[u + k];
        }
        mg_lanes_dot(L, g, bs, bs, dots);
        for (k = 0; k < L; k++) {
            if (!live[k])
                continue;
            r_sq[k] = dots[k];
            it[k]++;
            if (r_sq[k] <= tol_sq[k] || it[k] >= max_iterations) {
                status[fields[k]] = r_sq[k] <= tol_sq[k] ? 0 : 1;
                iterations[fields[k]] = it[k];
                residual_sq[fields[k]] = r_sq[k];
                live[k] = 0;
                n_live--;
            }
        }
        if (n_live == 0)
            break;
        mg_lanes_vcycle(L, g, diag, depth, lateral, inv_pivot, xs, bs);
        mg_lanes_dot(L, g, bs, xs, dots);
        for (k = 0; k < L; k++) {
            if (live[k]) {
                beta[k] = dots[k] / rz[k];
                rz[k] = dots[k];
            } else {
                beta[k] = 0.0;
            }
        }
        for (z = 0; z < g->nz; z++)
            for (u = z * rs * L; u < (z * rs + nc) * L; u += L)
                for (k = 0; k < L; k++)
                    p[u + k] = xs[u + k] + beta[k] * p[u + k];
    }
}

/* The specialisations called from fields.pyx: mg_lanes_pcg with L = 2 and L = 4. */
#define MG_LANES_PCG_OF_WIDTH(NAME, LANES)                                                        \
    static void NAME(const mg_lanes_grid *g, const double *diag, const double *depth,            \
                     const double *lateral, const double *inv_pivot, const uint8_t *decoupled,   \
                     double *conc, const double *rhs, mg_index field_voxels,                     \
                     const int64_t *fields, int n, double *work, double rtol,                    \
                     mg_index max_iterations, int64_t *iterations, int64_t *status,              \
                     double *residual_sq, double *rhs_sq)                                        \
    {                                                                                            \
        mg_lanes_pcg(LANES, g, diag, depth, lateral, inv_pivot, decoupled, conc, rhs,            \
                     field_voxels, fields, n, work, rtol, max_iterations, iterations, status,    \
                     residual_sq, rhs_sq);                                                       \
    }

MG_LANES_PCG_OF_WIDTH(mg_lanes_pcg2, 2)
MG_LANES_PCG_OF_WIDTH(mg_lanes_pcg4, 4)

#endif /* MSCABM_FIELDS_LANES_H */
