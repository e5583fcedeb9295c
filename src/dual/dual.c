/* The three dual-learning signals as per-sequence weights and scores: the
 * closed loop's rewards and policy-gradient weights, the duality
 * regulariser's weights, and dual inference's re-ranking. */
#include "triad/dual.h"

double tr_dual_loop_weights(const double *lm_mid, const double *rec, const double *c, int b, int K, double alpha,
                            tr_baseline baseline, double *reward, float *w_ab, float *w_ba)
{
    TR_ASSERT(b >= 0 && K >= 1 && alpha >= 0.0 && alpha <= 1.0);
    double total = 0.0;
    for (int i = 0; i < b; i++) {
        double expect = 0.0, mass = 0.0;
        for (int k = 0; k < K; k++) {
            int j = i * K + k;
            reward[j] = alpha * lm_mid[j] + (1.0 - alpha) * rec[j];
            expect += c[j] * reward[j];
            mass += c[j];
        }
        double base = baseline == TR_BASELINE_MEAN && mass > 0.0 ? expect / mass : 0.0;
        for (int k = 0; k < K; k++) {
            int j = i * K + k;
            w_ab[j] = (float)((reward[j] - base) * c[j]);
            w_ba[j] = (float)((1.0 - alpha) * c[j]);
        }
        total += expect;
    }
    return b > 0 ? total / b : 0.0;
}

double tr_dsl_weights(const double *lm_x, const double *lm_y, const double *nll_xy, const double *nll_yx, int b,
                      double lambda, double *gap, float *w_xy, float *w_yx)
{
    TR_ASSERT(lambda >= 0.0);
    double sq = 0.0;
    for (int i = 0; i < b; i++) {
        gap[i] = lm_x[i] - nll_xy[i] - lm_y[i] + nll_yx[i];
        w_xy[i] = (float)(1.0 - 2.0 * lambda * gap[i]);
        w_yx[i] = (float)(1.0 + 2.0 * lambda * gap[i]);
        sq += gap[i] * gap[i];
    }
    return sq;
}

int tr_dual_rerank(const double *fwd, const double *bwd, const double *lm_y, double lm_x, int k, double alpha)
{
    TR_ASSERT(k >= 1);
    int best = 0;
    double best_s = 0.0;
    for (int j = 0; j < k; j++) {
        double s = alpha * -fwd[j];
        if (alpha < 1.0)
            s += (1.0 - alpha) * (-bwd[j] - lm_y[j] + lm_x);
        if (j == 0 || s < best_s) {
            best = j;
            best_s = s;
        }
    }
    return best;
}
