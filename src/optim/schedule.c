/* Learning-rate schedule: divide the rate by a factor whenever validation
 * perplexity stops improving (the rule of Zaremba et al.'s and LightRNN's
 * training scripts). Not PyTorch's ReduceLROnPlateau: no patience or
 * cooldown, one evaluation without improvement decays at once. */
#include "triad/optim.h"

#include <math.h>

void tr_plateau_init(tr_plateau *p, float factor, float threshold)
{
    TR_ASSERT(factor > 0.0f);
    p->factor = factor;
    p->threshold = threshold;
    p->best = INFINITY;
}

int tr_plateau_update(tr_plateau *p, tr_optim *o, double valid_ppl)
{
    /* best starts at +inf; inf * (1 - threshold) is NaN when threshold is 1,
     * so the first finite value counts as an improvement explicitly. */
    const int improved = isinf(p->best) && p->best > 0
                             ? valid_ppl < p->best
                             : valid_ppl < p->best * (1.0 - (double)p->threshold);
    if (improved) {
        p->best = valid_ppl;
        return 0;
    }
    o->cfg.lr = (float)((double)o->cfg.lr / (double)p->factor);
    return 1;
}
