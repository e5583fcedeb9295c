/* Global-norm gradient clipping over a parameter set, as PyTorch 1.13's
 * torch.nn.utils.clip_grad_norm_ (L2 norm only): total = ||all grads||_2,
 * coef = max_norm / (total + 1e-6), grads *= min(coef, 1). The norm is
 * accumulated in double; for sparse parameters only the touched rows can be
 * non-zero, so only those are read and scaled. */
#include "triad/optim.h"

static void scale(float *g, int64_t n, float coef)
{
    for (int64_t i = 0; i < n; i++)
        g[i] *= coef;
}

double tr_clip_grad_norm(tr_params *ps, double max_norm)
{
    const double norm = tr_params_grad_norm(ps);
    if (!(max_norm > 0.0))
        return norm;
    const double coef = max_norm / (norm + 1e-6);
    /* Torch multiplies by clamp(coef, max=1), a no-op at 1, so skip it. A
     * non-finite norm fails the test and leaves the gradients alone (torch
     * would spread the NaN); the caller sees the norm it returned. */
    if (!(coef < 1.0))
        return norm;
    const float cf = (float)coef;
    for (int i = 0; i < ps->n; i++) {
        tr_param *p = &ps->p[i];
        if (!p->sparse) {
            scale(p->grad.data, p->grad.size, cf);
            continue;
        }
        if (p->grad.shape[0] == 0)
            continue;
        const int64_t row = p->grad.size / p->grad.shape[0];
        for (int64_t k = 0; k < p->ntouched; k++)
            scale(p->grad.data + p->touched[k] * row, row, cf);
    }
    return norm;
}
